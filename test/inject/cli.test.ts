// `davtap --inject …` on the command line: bad specs and filters are one line and exit 2 before
// anything opens or listens, and --help documents the grammar.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { specForms } from '../../src/inject/index.js';

async function run(args: string[]) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-inject-cli-'));
  try {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (d: Buffer) => out.push(d));
    stderr.on('data', (d: Buffer) => err.push(d));
    const code = await main(args, { stdout, stderr, env: {}, cwd });
    return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), files: fs.readdirSync(cwd) };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

const upstream = ['--upstream', 'http://127.0.0.1:9/', '--listen', '127.0.0.1:0', '--no-ui'];

for (const [args, pattern] of [
  [['--inject', 'explode'], /^davtap: --inject: 'explode' is not a known fault \(forms: truncate:bytes=N\[:chunked\], .*reset\[:after=BYTES\]\)$/],
  [['--inject', 'truncate:bytes=ten'], /^davtap: --inject: 'truncate:bytes=ten' needs bytes=N as a whole number/],
  [['--inject', 'html,stall:after=x'], /^davtap: --inject: 'stall:after=x' needs after=BYTES/],
  [['--inject', ''], /^davtap: --inject: '' is empty/],
  [['--inject-filter', '~s 207'], /^davtap: --inject-filter needs --inject$/],
  [['--inject', 'html', '--inject-filter', '~s 207 &'], /^davtap: --inject-filter: filter: /],
  [['--inject', 'html', '--inject-filter', '~f truncation'], /^davtap: --inject-filter: ~f is only known after the response/],
  [['--inject', 'html', '--inject-filter', '~s 207 & !~e'], /^davtap: --inject-filter: ~e is only known after the response/],
] as const) {
  test(`a bad injection is one line, exit 2, nothing created: ${args.join(' ')}`, async (t) => {
    const r = await run([...upstream, ...args]);
    t.is(r.code, 2);
    t.regex(r.stderr.trimEnd(), pattern);
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.is(r.stdout, '');
    t.deepEqual(r.files, [], 'no database was created');
  });
}

test('--help lists --inject, --inject-filter and every fault form', async (t) => {
  const r = await run(['proxy', '--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /--inject SPEC\[,SPEC…\]/);
  t.regex(r.stdout, /--inject-filter EXPR/);
  for (const form of ['truncate:bytes=N', 'truncate:bytes=N:chunked', 'truncate:responses=N:keep-length', 'truncate:responses=N:chunked', 'strip-ns:PREFIX', 'strip-ns:URI', 'drop:LOCALNAME', 'rewrite-href:/PREFIX', 'html', 'gzip-no-header', 'delay:MS', 'stall:after=BYTES[:ms=MS]', 'reset:after=BYTES']) {
    t.true(r.stdout.includes(form), form);
  }
  t.true(specForms.length >= 10);
});
