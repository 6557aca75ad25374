import test from 'ava';
import { Writable } from 'node:stream';
import { main } from '../src/cli/main.js';
import type { CliIO } from '../src/cli/io.js';

function capture(): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  return {
    io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd: process.cwd() },
    out: () => out,
    err: () => err,
  };
}

test('an unknown command is a one-line error with exit 2', async (t) => {
  const c = capture();
  t.is(await main(['frobnicate'], c.io), 2);
  t.regex(c.err(), /^davtap: unknown command 'frobnicate'/);
  t.is(c.err().trim().split('\n').length, 1);
});

test('--version prints the version', async (t) => {
  const c = capture();
  t.is(await main(['--version'], c.io), 0);
  t.regex(c.out(), /^davtap \d+\.\d+\.\d+/);
});
