// Starts a relay script as its own process (so that it competes for CPU as davtap does) and waits
// for the "listening PORT" line it prints. Used for the bare node:http relay reference and the
// relay-only runs.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tiedToParent } from '../../test/helpers/davtap-process.js';

const SCRIPT = fileURLToPath(new URL('./bare-relay.ts', import.meta.url));

export interface BareRelay {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Spawns `node NODE_ARGS` and resolves once it prints "listening PORT" (bounded: 10 s). */
export async function startListeningChild(nodeArgs: string[], what: string): Promise<BareRelay> {
  const child = spawn(...tiedToParent(process.execPath, nodeArgs), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not listening after 10 s: ${out}`)), 10_000);
    child.stdout.on('data', (s: string) => {
      out += s;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${out}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop };
}

export function startBareRelay(upstream: string): Promise<BareRelay> {
  return startListeningChild(['--import', 'tsx', SCRIPT, upstream], 'bare relay');
}
