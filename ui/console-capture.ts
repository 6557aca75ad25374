// While blessed owns the terminal, a stray console.log (ours or a library's) would scribble over the
// screen. Capture console.* and stderr writes into a small log instead, and restore them afterwards.
import { format } from 'node:util';

export interface CapturedLine {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug' | 'stderr';
  text: string;
}

const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;

/** Redirects console.* (and process.stderr when it is the terminal) to `sink`; returns the undo. */
export function captureConsole(sink: (line: CapturedLine) => void, options: { stderr?: boolean } = {}): () => void {
  const saved = methods.map((m) => [m, console[m]] as const);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => sink({ level: m, text: format(...args) });
  }
  const originalWrite = process.stderr.write;
  const takeStderr = options.stderr ?? process.stderr.isTTY === true;
  if (takeStderr) {
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      sink({ level: 'stderr', text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
      const callback = rest.find((r) => typeof r === 'function') as ((err?: Error) => void) | undefined;
      callback?.();
      return true;
    }) as typeof process.stderr.write;
  }
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    for (const [m, fn] of saved) console[m] = fn;
    if (takeStderr) process.stderr.write = originalWrite;
  };
}
