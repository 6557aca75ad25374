// `davtap ui` argument and file errors: one line, exit 2, and the terminal never touched.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { tempDir, writeFlows } from './db.js';
import { plainGet } from './flows.js';

function terminalLike(tty: boolean, cwd: string): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = Object.assign(new Writable({ write(c, _e, cb) { out += String(c); cb(); } }), { isTTY: tty, columns: 80 });
  const stderr = new Writable({ write(c, _e, cb) { err += String(c); cb(); } });
  return { io: { stdout, stderr, env: {}, cwd }, out: () => out, err: () => err };
}

test('a database that does not exist is a one-line error with exit 2', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const c = terminalLike(true, dir);
  t.is(await main(['ui', '--db', 'nope.db'], c.io), 2);
  t.regex(c.err(), /^davtap: .*nope\.db.*no such database\n$/);
  t.is(c.out(), '');
  t.false(fs.existsSync(path.join(dir, 'nope.db')), 'the UI never creates a database');
});

test('a bad --filter is a usage error naming the position', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const c = terminalLike(true, dir);
  t.is(await main(['ui', '--filter', '~m PROPFIND & (', '--db', 'x.db'], c.io), 2);
  t.regex(c.err(), /^davtap: ui: --filter: .*position \d+.*\n$/);
  t.is(c.err().trim().split('\n').length, 1);
});

test('without a terminal on stdout the UI refuses to start', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  await writeFlows(path.join(dir, 'davtap.db'), [plainGet(Date.UTC(2026, 10, 21))]);
  const c = terminalLike(false, dir);
  t.is(await main(['ui'], c.io), 2);
  t.regex(c.err(), /^davtap: ui: stdout is not a terminal/);
});

test('an unknown flag is a one-line usage error; --help lists the options', async (t) => {
  const c = terminalLike(true, process.cwd());
  t.is(await main(['ui', '--frobnicate'], c.io), 2);
  t.regex(c.err(), /^davtap: ui: Unknown option '--frobnicate'/);
  const h = terminalLike(true, process.cwd());
  t.is(await main(['ui', '--help'], h.io), 0);
  t.regex(h.out(), /--db FILE/);
  t.regex(h.out(), /--filter EXPR/);
});
