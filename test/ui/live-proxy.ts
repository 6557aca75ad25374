// The proxy in a real terminal (tmux) in reverse mode in front of a fresh in-process WebDAV server,
// with a database and CA directory of its own: the set-up the intercept, hold, edit and replay
// terminal tests share. Everything started is stopped by the test's teardown.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/apache.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';
import { tempDir } from './db.js';
import { Tmux, sh } from './tmux.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = path.join(root, 'src/cli/main.ts');

export interface LiveProxyOptions {
  /** A directory of the test's own to use (and clean up) instead of a new one. */
  dir?: string;
  /** Shell assignments or commands run before davtap, e.g. `unset VISUAL; EDITOR=…`. */
  env?: string;
  /** More davtap arguments, already shell-quoted. */
  args?: string;
  width?: number;
  /** What the screen shows once davtap is up (default: the empty list). */
  ready?: RegExp;
}

export interface LiveProxy {
  dir: string;
  db: string;
  dav: DavServer;
  term: Tmux;
  /** The proxy's own URL, `http://127.0.0.1:PORT`. */
  proxy: string;
}

export async function startLiveProxy(t: { teardown(fn: () => void | Promise<void>): void }, options: LiveProxyOptions = {}): Promise<LiveProxy> {
  let dir = options.dir;
  if (dir === undefined) {
    const made = tempDir();
    t.teardown(made.cleanup);
    dir = made.dir;
  }
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const port = await freePort();
  const db = path.join(dir, 'flows.db');
  const env = options.env === undefined ? '' : `${options.env} `;
  const term = Tmux.start(
    `cd ${sh(root)} && ${env}LANG=C.UTF-8 node --import tsx ${sh(cli)} --upstream ${sh(`${dav.url}/`)} --listen 127.0.0.1:${port} --db ${sh(db)} --ca-dir ${sh(path.join(dir, 'ca'))} ${options.args ?? ''}; echo davtap-exit=$?; sleep 60`,
    options.width === undefined ? undefined : { width: options.width },
  );
  t.teardown(() => term.kill());
  await term.waitFor(options.ready ?? /No flows yet/, 30_000);
  return { dir, db, dav, term, proxy: `http://127.0.0.1:${port}` };
}
