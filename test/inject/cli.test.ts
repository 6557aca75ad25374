// `davtap --inject …` on the command line: bad specs and filters are one line and exit 2 before
// anything opens or listens, and --help documents the grammar.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { specForms } from '../../src/inject/index.js';
import { openReader } from '../../src/store/index.js';
import { startOrigin, response } from '../helpers/origin.js';
import { curl } from '../helpers/curl.js';
import { multistatus } from './harness.js';

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
  [['--inject-filter', '~c 207'], /^davtap: --inject-filter needs --inject$/],
  [['--inject', 'html', '--inject-filter', '~c 207 &'], /^davtap: --inject-filter: filter: /],
  [['--inject', 'html', '--inject-filter', '~f truncation'], /^davtap: --inject-filter: ~f is only known after the response/],
  [['--inject', 'html', '--inject-filter', '~c 207 & !~e'], /^davtap: --inject-filter: ~e is only known after the response/],
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

test('the proxy command wires it end to end: the client gets the fault, the flow log and the store mark the flow and its findings', async (t) => {
  const payload = Buffer.from(multistatus(3));
  const origin = await startOrigin((req, socket) => {
    const status = req.method === 'PROPFIND' ? 207 : 200;
    socket.write(response(status, { 'Content-Type': 'application/xml', 'Content-Length': payload.length }, payload));
  });
  t.teardown(() => origin.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-inject-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const args = ['--upstream', origin.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', 'flows.db', '--inject', 'truncate:bytes=80', '--inject-filter', '~m PROPFIND'];
  const running = main(args, { stdout, stderr, env: {}, cwd: dir });
  let url = '';
  for (let i = 0; i < 600 && !url; i++) {
    url = /davtap listening on (http:\/\/\S+?)\/? /.exec(err)?.[1] ?? '';
    if (!url) await new Promise((r) => setTimeout(r, 25));
  }
  t.truthy(url, err);
  const cut = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${url}/dav/`]);
  t.is(cut.code, 18, cut.stderr);
  t.deepEqual(cut.stdout, payload.subarray(0, 80));
  const get = await curl([`${url}/dav/`]);
  t.is(get.code, 0);
  t.deepEqual(get.stdout, payload);
  for (let i = 0; i < 600 && out.split('\n').length < 3; i++) await new Promise((r) => setTimeout(r, 25));
  // The command stops on SIGTERM like the binary does.
  process.emit('SIGTERM', 'SIGTERM');
  t.is(await running, 0);
  const lines = out.trim().split('\n');
  t.is(lines.length, 2, out);
  t.regex(lines.find((l) => l.includes('PROPFIND'))!, /\{injected: truncate:bytes=80\}/);
  t.false(lines.find((l) => l.includes('GET'))!.includes('injected'));
  const store = openReader(path.join(dir, 'flows.db'));
  try {
    const rows = store.listFlows({ order: 'asc' });
    t.deepEqual(rows.map((r) => r.injected), ['truncate:bytes=80', null]);
    const findings = store.findingsFor(rows[0]!.id);
    t.true(findings.some((f) => f.rule === 'MS001'));
    t.true(findings.every((f) => f.injected === 'truncate:bytes=80'));
    t.is(store.countFlows('~i'), 1);
  } finally {
    store.close();
  }
});
