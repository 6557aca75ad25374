import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import type { Finding } from '../../src/types.js';
import { withoutProxyEnv } from '../helpers/davtap-process.js';
import { captureFlow, refusedFlow, storeWith } from '../export/flows.js';
import { tempDir } from '../store/temp.js';

function capture(cwd: string): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  return { io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd }, out: () => out, err: () => err };
}

async function run(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture(cwd);
  const code = await main(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const flows = [captureFlow('lighttpd-proppatch-protected', 0), captureFlow('nginx-propfind-d1-named', 1), refusedFlow(2)];
  const { file } = await storeWith(t, flows);
  return { flows, db: file, cwd: path.dirname(file) };
}

const oneLineError = (t: Parameters<typeof tempDir>[0], r: { code: number; out: string; err: string }, pattern: RegExp) => {
  t.is(r.code, 2, r.err);
  t.is(r.err.trimEnd().split('\n').length, 1, r.err);
  t.regex(r.err, /^davtap: /);
  t.regex(r.err, pattern);
};

test('bad invocations are one line on stderr and exit 2, and write nothing', async (t) => {
  const { db, cwd } = await fixture(t);
  oneLineError(t, await run(cwd, ['export', '--db', db]), /exactly one of --har FILE, --report DIR, --jsonl/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--report', 'r']), /exactly one of/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--frobnicate']), /export: Unknown option '--frobnicate'/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--filter', '~s (']), /filter|expected/i);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--flow', 'no-such-flow']), /no flow with id 'no-such-flow'/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--flow', 'nginx-propfind-d1-named-001', '--flow', '']), /--flow needs a flow id/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--no-redact', '--redact', 'X']), /contradict/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'a.har', '--bodies']), /--bodies goes with --jsonl/);
  t.false(existsSync(path.join(cwd, 'a.har')));
});

test('a missing or foreign database is one line and exit 2', async (t) => {
  const dir = tempDir(t);
  oneLineError(t, await run(dir, ['export', '--db', 'missing.db', '--jsonl']), /missing\.db/);
  writeFileSync(path.join(dir, 'notes.db'), 'these are my notes, not SQLite\n'.repeat(50));
  oneLineError(t, await run(dir, ['export', '--db', 'notes.db', '--jsonl']), /notes\.db/);
  t.is(readFileSync(path.join(dir, 'notes.db'), 'utf8'), 'these are my notes, not SQLite\n'.repeat(50), 'left as it was');
});

test('an unwritable target is one line and exit 2', async (t) => {
  const { db, cwd } = await fixture(t);
  writeFileSync(path.join(cwd, 'plain-file'), 'x');
  oneLineError(t, await run(cwd, ['export', '--db', db, '--har', 'plain-file/out.har']), /cannot write HAR .*plain-file\/out\.har \(ENOTDIR\)/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--jsonl', 'plain-file/out.jsonl']), /cannot write plain-file\/out\.jsonl \(ENOTDIR\)/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--report', 'plain-file/dir']), /cannot create .*plain-file\/dir \(ENOTDIR\)/);
  oneLineError(t, await run(cwd, ['export', '--db', db, '--report', 'plain-file']), /exists and is not a directory/);
});

test('--jsonl writes to stdout when given no file, even before other options; a flow id prefix selects', async (t) => {
  const { db, cwd, flows } = await fixture(t);
  const all = await run(cwd, ['export', '--jsonl', '--db', db]);
  t.is(all.code, 0, all.err);
  t.deepEqual(all.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), flows.map((f) => f.id));
  const dash = await run(cwd, ['export', '--db', db, '--jsonl', '-', '--flow', 'nginx']);
  t.is(dash.code, 0, dash.err);
  t.deepEqual(dash.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), ['nginx-propfind-d1-named-001']);
  const prefixes = await run(cwd, ['export', '--db', db, '--jsonl', '--flow', 'ng', '--flow', 'l']);
  t.is(prefixes.code, 0, prefixes.err);
  t.is(prefixes.out.trimEnd().split('\n').length, 2, 'ng and l each name one flow');
  oneLineError(t, await run(cwd, ['export', '--db', db, '--jsonl', '--flow', '']), /--flow needs a flow id/);
  const file = await run(cwd, ['export', '--db', db, '--jsonl', 'out.jsonl', '--filter', '~c 207']);
  t.is(file.code, 0, file.err);
  t.regex(file.err, /2 flows written to out\.jsonl/);
  t.is(statSync(path.join(cwd, 'out.jsonl')).mode & 0o777, 0o600);
  t.is(readFileSync(path.join(cwd, 'out.jsonl'), 'utf8').trimEnd().split('\n').length, 2);
});

test('an ambiguous id prefix names the candidates', async (t) => {
  const cwd = tempDir(t);
  const flows = [captureFlow('apache-propfind-d0-allprop', 0), captureFlow('apache-propfind-d0-named', 1)];
  const { file } = await storeWith(t, flows);
  oneLineError(t, await run(cwd, ['export', '--db', file, '--jsonl', '--flow', 'apache-propfind-d0-']), /prefix 'apache-propfind-d0-' is ambiguous \(apache-propfind-d0-allprop-000, apache-propfind-d0-named-001/);
});

test('help texts name the command and its formats', async (t) => {
  const h = await run(process.cwd(), ['export', '--help']);
  t.is(h.code, 0);
  t.regex(h.out, /^Usage: davtap export --har FILE \| --report DIR \| --jsonl/);
  const top = await run(process.cwd(), ['--help']);
  t.regex(top.out, /^ {2}export {3}write flows as HAR/m);
});

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Resolved here: the children run in temp dirs, where a bare 'tsx' would not resolve.
const tsxLoader = import.meta.resolve('tsx');

function davtap(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', tsxLoader, mainTs, ...args], { cwd, env: withoutProxyEnv(), timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

test('as processes: davtap export --har, then davtap check on the file finds what the proxy found', async (t) => {
  const { db, cwd, flows } = await fixture(t);
  const exp = await davtap(['export', '--db', db, '--har', 'trace.har'], cwd);
  t.is(exp.code, 0, exp.stderr);
  t.regex(exp.stderr, /^davtap export: 3 flows written to trace\.har\n$/);
  t.is(statSync(path.join(cwd, 'trace.har')).mode & 0o777, 0o600);
  const check = await davtap(['check', '--json', 'trace.har'], cwd);
  t.is(check.code, 1, 'the lighttpd capture carries an error finding (MS104)');
  const results = (JSON.parse(check.stdout) as { results: { findings: Finding[] }[] }).results;
  t.deepEqual(
    results.map((r) => r.findings.map((f) => f.rule)),
    flows.filter((f) => f.response?.status === 207).map((f) => f.analysis!.findings.map((x) => x.rule)),
  );
});

test('--redact NAME and --no-redact reach every exported header', async (t) => {
  const flows = [captureFlow('apache-propfind-d0-allprop', 0, { requestHeaders: ['Authorization', 'Basic c2VjcmV0', 'X-Tenant', 'tenant-42'] })];
  const { file } = await storeWith(t, flows);
  const cwd = tempDir(t);
  const header = (out: string, name: string) => (JSON.parse(out) as { requestHeaders: [string, string][] }).requestHeaders.find(([k]) => k === name)![1];
  const plain = await run(cwd, ['export', '--db', file, '--jsonl']);
  t.is(header(plain.out, 'Authorization'), '[redacted]');
  t.is(header(plain.out, 'X-Tenant'), 'tenant-42');
  const named = await run(cwd, ['export', '--db', file, '--jsonl', '--redact', 'x-tenant']);
  t.is(header(named.out, 'X-Tenant'), '[redacted]');
  const kept = await run(cwd, ['export', '--db', file, '--jsonl', '--no-redact']);
  t.is(header(kept.out, 'Authorization'), 'Basic c2VjcmV0');
});

test('a reader that went away (davtap export --jsonl - | head) ends the export quietly with the SIGPIPE status, not a crash', async (t) => {
  const { db, cwd } = await fixture(t);
  const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, 'export', '--db', db, '--jsonl', '-', '--bodies'], { cwd, env: withoutProxyEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  // The reading end is gone before davtap writes its first line.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.is(code, 141);
  t.is(stderr, '');
});
