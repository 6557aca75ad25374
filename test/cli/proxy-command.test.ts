// `davtap [proxy]` and `davtap ca` as users run them: the real binary in a child process.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../helpers/davtap-process.js';
import { startDavServer } from '../helpers/webdav.js';
import { curl } from '../helpers/curl.js';

function davtap(args: string[], env: NodeJS.ProcessEnv = withoutProxyEnv()) {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, ...args], { env, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const [args, pattern] of [
  [['--upstream', 'not a url'], /^davtap: --upstream: 'not a url' is not a URL/],
  [['--upstream', 'ftp://127.0.0.1/'], /must be an http:\/\/ or https:\/\/ URL/],
  [['--listen', '127.0.0.1:99999', '--upstream', 'http://127.0.0.1:1/'], /^davtap: --listen: '127\.0\.0\.1:99999' is not HOST:PORT/],
  [['--listen', 'nonsense'], /--listen/],
  [['--frobnicate'], /^davtap: proxy: Unknown option '--frobnicate'/],
  [['--max-body', 'lots', '--upstream', 'http://127.0.0.1:1/'], /--max-body: 'lots' is not a size/],
  [['--upstream', 'http://127.0.0.1:18999/', '--listen', '127.0.0.1:18999'], /would loop/],
] as const) {
  test(`a bad command line is one line and exit 2: ${args.join(' ')}`, (t) => {
    const r = davtap([...args]);
    t.is(r.code, 2);
    t.regex(r.stderr, pattern);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.is(r.stdout, '');
  });
}

test('a port in use is a clear one-line error and exit 2', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = davtap(['--upstream', 'http://127.0.0.1:1/', '--listen', `127.0.0.1:${port}`, '--no-ui', '--db', path.join(tempDir(t), 'x.db')]);
  t.is(r.code, 2);
  t.regex(r.stderr, new RegExp(`^davtap: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use .*\\(EADDRINUSE\\)\\n$`));
});

test('--help tells the options and the defaults', (t) => {
  const r = davtap(['--help']);
  t.is(r.code, 0);
  for (const opt of ['--upstream URL', '--listen HOST:PORT', 'default 127.0.0.1:8080', '--db FILE', '--no-ui', '--max-body', '--max-request-body', '--ca-dir', '--insecure-upstream']) {
    t.true(r.stdout.includes(opt), opt);
  }
  t.is(davtap(['ca', '--help']).code, 0);
});

test('--no-ui prints one line per flow, binds 127.0.0.1, nothing else reaches the console, SIGTERM exits 0', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const dir = tempDir(t);
  const proc = await startDavtap(['--upstream', server.url, '--listen', '0', '--no-ui', '--db', path.join(dir, 'flows.db')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  await curl(['-X', 'MKCOL', `${proc.url}/dav/cli/`]);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proc.url}/dav/cli/`]);
  await curl(['-X', 'ORDERPATCH', `${proc.url}/dav/cli/`]);
  await curl([`${proc.url}/dav/missing`]);
  const deadline = Date.now() + 10_000;
  while (proc.stdout().trim().split('\n').filter(Boolean).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const lines = proc.stdout().trim().split('\n');
  t.is(lines.length, 4, proc.stdout());
  t.regex(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} {2}MKCOL {2}201 {2}\/dav\/cli\/ {2}\S+ {2}\d+ms {2}complete$/);
  t.regex(lines[1]!, /^\S+ {2}PROPFIND {2}207 {2}\/dav\/cli\/ {2}/);
  // A method outside Node's parser table is relayed like any other (the server judges it).
  t.regex(lines[2]!, /ORDERPATCH {2}\d{3} {2}\/dav\/cli\/ {2}.* {2}complete/);
  t.regex(lines[3]!, /GET {2}404 {2}\/dav\/missing/);
  const result = await proc.stop();
  t.is(result.code, 0);
  t.false(result.killed);
  t.deepEqual(proc.stderr().trim().split('\n').length, 1, proc.stderr());
  t.regex(proc.stderr(), /^davtap listening on http:\/\/127\.0\.0\.1:\d+\/ \(reverse → /);
});

test('davtap ca shows the path, fingerprint, expiry and how to trust it; --path prints the path', (t) => {
  const dir = tempDir(t);
  const r = davtap(['ca', '--ca-dir', dir]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`certificate  ${dir}/davtap-ca\\.pem`));
  t.regex(r.stdout, /SHA-256 {6}([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  t.regex(r.stdout, /valid until {2}\d{4}-\d\d-\d\dT/);
  t.regex(r.stdout, /curl --cacert/);
  t.regex(r.stdout, /update-ca-certificates/);
  t.is(fs.statSync(path.join(dir, 'davtap-ca-key.pem')).mode & 0o777, 0o600);
  const p = davtap(['ca', '--ca-dir', dir, '--path']);
  t.is(p.stdout, `${dir}/davtap-ca.pem\n`);
  const exported = path.join(dir, 'exported.pem');
  const e = davtap(['ca', '--ca-dir', dir, '--export', exported]);
  t.is(e.code, 0);
  t.is(fs.readFileSync(exported, 'utf8'), fs.readFileSync(path.join(dir, 'davtap-ca.pem'), 'utf8'));
  t.false(fs.readFileSync(exported, 'utf8').includes('PRIVATE KEY'));
});

test('SIGTERM commits every flow seen so far before exit', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const db = path.join(tempDir(t), 'flows.db');
  const proc = await startDavtap(['--upstream', server.url, '--listen', '0', '--no-ui', '--db', db]);
  t.teardown(() => proc.stop().then(() => undefined));
  const n = 25;
  await Promise.all(Array.from({ length: n }, (_, i) => curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', `${proc.url}/dav/?i=${i}`])));
  // Stop at once: the writer's tick has not necessarily run yet.
  const result = await proc.stop();
  t.is(result.code, 0);
  const { openReader } = await import('../../src/store/index.js');
  const reader = openReader(db);
  t.teardown(() => reader.close());
  t.is(reader.countFlows(), n);
  t.is(fs.statSync(db).mode & 0o777, 0o600);
});

test('a database davtap cannot write is a one-line error and exit 2, before listening', (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o500);
  t.teardown(() => fs.chmodSync(dir, 0o700));
  const asRoot = process.getuid?.() === 0;
  const target = asRoot ? path.join(dir, 'missing-dir', 'flows.db') : path.join(dir, 'flows.db');
  const r = davtap(['--upstream', 'http://127.0.0.1:1/', '--listen', '0', '--no-ui', '--db', target]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^davtap: .*flows\.db/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.notRegex(r.stderr, /listening/);
});

test('a database from a newer davtap is refused with exit 2 and left untouched', async (t) => {
  const db = path.join(tempDir(t), 'newer.db');
  const { default: Database } = await import('better-sqlite3');
  const raw = new Database(db);
  raw.pragma('user_version = 999');
  raw.exec('CREATE TABLE keep (x)');
  raw.close();
  const before = fs.readFileSync(db);
  const r = davtap(['--upstream', 'http://127.0.0.1:1/', '--listen', '0', '--no-ui', '--db', db]);
  t.is(r.code, 2);
  t.regex(r.stderr, /newer/i);
  t.true(fs.readFileSync(db).equals(before));
});

test('a line reader that goes away (davtap --no-ui | head -1) stops the proxy as SIGTERM would: flows committed, no crash', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const db = path.join(tempDir(t), 'flows.db');
  const proc = await startDavtap(['--upstream', server.url, '--listen', '0', '--no-ui', '--db', db]);
  t.teardown(() => proc.stop().then(() => undefined));
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', `${proc.url}/dav/`]);
  for (let i = 0; i < 100 && !proc.stdout().includes('PROPFIND'); i++) await new Promise((r) => setTimeout(r, 20));
  t.regex(proc.stdout(), /PROPFIND {2}207/);
  // Like head(1) after its first line: the pipe's reading end closes.
  proc.child.stdout!.destroy();
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  // The next flow lines meet a closed pipe: several at once, so that more than one write fails
  // (only the first failure may count as the reader going away).
  await Promise.all(Array.from({ length: 8 }, (_, i) => curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', `${proc.url}/dav/?n=${i}`])));
  const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
  t.is(code, 0, proc.stderr());
  t.notRegex(proc.stderr(), /EPIPE|internal error|at /);
  const { openReader } = await import('../../src/store/index.js');
  const reader = openReader(db);
  t.teardown(() => reader.close());
  t.true(reader.countFlows() >= 2, `${reader.countFlows()} flows`);
});
