// A real davtap for the hostile-input checks: the built CLI in reverse mode with --no-ui, on a
// free port, recording to a temporary database.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface DavtapChild {
  child: ChildProcess;
  port: number;
  dir: string;
  stderr(): string;
  /** SIGTERM; resolves with the exit status. Removes the database unless `keep`. */
  stop(keep?: boolean): Promise<number | null>;
}

export async function startDavtap(upstream: string): Promise<DavtapChild> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-hostile-'));
  const child = spawn(process.execPath, [path.join(root, 'bin/davtap'), '--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'd.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`davtap did not start: ${stderr}`)), 15_000);
    child.stderr!.on('data', () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    child,
    port,
    dir,
    stderr: () => stderr,
    async stop(keep = false) {
      if (exited === undefined) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      return exited ?? null;
    },
  };
}
