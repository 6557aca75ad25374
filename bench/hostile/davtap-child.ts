// A real davtap for the hostile-input checks: the built CLI (test/helpers/davtap-process.ts) in
// reverse mode with --no-ui, on a free port, recording to a temporary database; and a client that
// reads a whole response without decoding it.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startDavtap as startProcess, type DavtapProcess } from '../../test/helpers/davtap-process.js';

export interface DavtapChild {
  process: DavtapProcess;
  port: number;
  dir: string;
  /** SIGTERM; resolves with the exit status. Removes the database unless `keep`. */
  stop(keep?: boolean): Promise<number | null>;
}

export async function startDavtap(upstream: string): Promise<DavtapChild> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-hostile-'));
  const child = await startProcess(['--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'd.db')], { stdout: 'ignore', stopTimeoutMs: 120_000 });
  return {
    process: child,
    port: child.port,
    dir,
    async stop(keep = false) {
      const { code } = await child.stop();
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Sends one request and reads the whole response without decoding it; resolves with its length. */
export function responseLength(url: string, method: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let n = 0;
      res.on('data', (chunk: Buffer) => (n += chunk.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
