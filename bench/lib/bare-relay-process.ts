// Starts bench/lib/bare-relay.ts as its own process (so that it competes for CPU as davtap does).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tiedToParent } from '../../test/helpers/davtap-process.js';

const SCRIPT = fileURLToPath(new URL('./bare-relay.ts', import.meta.url));

export interface BareRelay {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startBareRelay(upstream: string): Promise<BareRelay> {
  const child = spawn(...tiedToParent(process.execPath, ['--import', 'tsx', SCRIPT, upstream]), { stdio: ['ignore', 'pipe', 'pipe'] });
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
    const timer = setTimeout(() => reject(new Error(`bare relay not listening after 10 s: ${out}`)), 10_000);
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
      reject(new Error(`bare relay exited with ${code}: ${out}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop };
}
