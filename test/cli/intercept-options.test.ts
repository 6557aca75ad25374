// --intercept and --intercept-patience need the terminal UI, which releases what is held: a run
// without it (--no-ui, or stdout not a terminal) is refused in one line, exit 2, before anything
// is created; a bad filter or number is a one-line usage error too.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAVTAP_BIN, withoutProxyEnv } from '../helpers/davtap-process.js';

function davtap(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, '--upstream', 'http://127.0.0.1:9/', '--listen', '127.0.0.1:0', '--db', path.join(dir, 'flows.db'), '--ca-dir', path.join(dir, 'ca'), ...args], { env: withoutProxyEnv(), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-intercept-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const args of [
  ['--no-ui', '--intercept', '~m PUT'],
  // stdout is a pipe here: no UI either.
  ['--intercept', '~m PROPFIND & ~s'],
  ['--no-ui', '--intercept-patience', '10'],
]) {
  test(`${args.join(' ')}: refused without the terminal UI, one line, exit 2, nothing created`, (t) => {
    const dir = tempDir(t);
    const r = davtap(dir, args);
    t.is(r.code, 2);
    const flag = args.includes('--intercept') ? '--intercept' : '--intercept-patience';
    t.is(r.stderr, `davtap: ${flag} needs the terminal UI, which releases what is held (a, A, X): not with --no-ui or when stdout is not a terminal\n`);
    t.is(r.stdout, '');
    t.deepEqual(fs.readdirSync(dir), []);
  });
}
