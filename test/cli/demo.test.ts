// `davtap demo` as a real process: --no-ui runs the scripted client through the real proxy and
// exits 0 with every broken path flagged by its rule and every clean flow without findings (read
// back from the database too); without --no-ui it stays up for a client of one's own. Its options
// and broken paths are one table each, tested against --help and the README.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openReader } from '../../src/store/index.js';
import { brokenPaths } from '../../src/demo/faults.js';
import { demoOptions } from '../../src/cli/demo.js';
import { main } from '../../src/cli/main.js';
import { DAVTAP_BIN, startDavtap, testConfigHome, tiedToParent, waitForExit, withoutProxyEnv } from '../helpers/davtap-process.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-demo-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `davtap ARGS` to its end (bounded), with TMPDIR in `dir` so that nothing is left behind. */
async function runDavtap(args: string[], dir: string, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(...tiedToParent(process.execPath, [DAVTAP_BIN, ...args]), {
    cwd: dir,
    env: { ...withoutProxyEnv(), XDG_CONFIG_HOME: testConfigHome(), TMPDIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  if (!(await waitForExit(child, timeoutMs))) {
    child.kill('SIGKILL');
    throw new Error(`davtap ${args.join(' ')} still running after ${timeoutMs} ms\nstderr: ${stderr}`);
  }
  return { code: child.exitCode, stdout, stderr };
}

test('davtap demo --no-ui runs the client through davtap, flags each broken path with its rule, the clean flows with none, and exits 0', async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'demo.db');
  const started = Date.now();
  const run = await runDavtap(['demo', '--no-ui', '--db', db], dir);
  t.is(run.code, 0, run.stderr);
  t.true(Date.now() - started < 20_000, 'a few seconds, not more');
  t.regex(run.stderr, /davtap listening on http:\/\/127\.0\.0\.1:\d+\/ \(reverse → http:\/\/127\.0\.0\.1:\d+\/; http only\)/);

  // The flow lines: the proxy's --no-ui format, the broken flows marked injected with errors.
  const lines = run.stdout.split('\n');
  for (const b of brokenPaths) {
    const line = lines.find((l) => l.includes(`  ${b.method}  207  ${b.path}  `) && l.includes(`{injected: ${b.inject}`));
    t.truthy(line, `${b.method} ${b.path} has an injected flow line`);
    t.regex(line ?? '', /\[\d+\/\d+ failed; E\d/, `${b.method} ${b.path} shows errors`);
  }
  // The summary names every expected rule, with its category and severity.
  const findings = lines.find((l) => l.startsWith('findings: '))!;
  t.truthy(findings);
  for (const b of brokenPaths) t.regex(findings, new RegExp(`${b.rule} ×\\d+ \\([a-z-]+, error`), b.rule);
  for (const b of brokenPaths) {
    const line = lines.find((l) => l.startsWith(`broken: ${b.method} ${b.path}`));
    t.regex(line ?? '', new RegExp(`flagged .*${b.rule}`), `${b.method} ${b.path}`);
  }
  t.regex(run.stdout, /^clean: \d+ flows without findings$/m);
  t.notRegex(run.stdout, /unexpected|NOT flagged|not requested/);
  t.true(run.stdout.includes(`demo: recorded in ${db}`));

  // The same from the database: each injected flow carries its rule, no other flow has findings.
  const store = openReader(db);
  try {
    const rows = store.listFlows({ order: 'asc', limit: 1000 });
    t.true(rows.length >= 15, `the client made its requests (${rows.length})`);
    const methods = new Set(rows.map((r) => r.method));
    for (const m of ['OPTIONS', 'PROPFIND', 'REPORT', 'PUT', 'PROPPATCH', 'GET']) t.true(methods.has(m), m);
    for (const b of brokenPaths) {
      const flows = rows.filter((r) => r.injected !== null && r.method === b.method && r.path === b.path);
      t.is(flows.length, 1, `${b.method} ${b.path}`);
      t.true(store.findingsFor(flows[0]!.id).some((f) => f.rule === b.rule && f.injected !== undefined), `${b.method} ${b.path} → ${b.rule}`);
    }
    const clean = rows.filter((r) => r.injected === null);
    t.true(clean.filter((r) => r.status === 207).length >= 8, 'clean 207s were analyzed');
    t.deepEqual(clean.filter((r) => r.findings.error + r.findings.warning + r.findings.info > 0).map((r) => `${r.method} ${r.path}`), []);
    t.true(clean.every((r) => r.outcome.kind === 'complete'));
  } finally {
    store.close();
  }
});

test('without --no-ui and without a terminal the demo stays up: a client of ones own gets a 207 from its root, and the PUT it makes is there', async (t) => {
  const dir = tempDir(t);
  const demo = await startDavtap(['demo', '--db', path.join(dir, 'demo.db')], { cwd: dir, env: { ...withoutProxyEnv(), XDG_CONFIG_HOME: testConfigHome(), TMPDIR: dir } });
  t.teardown(() => demo.stop().then(() => undefined));
  const deadline = Date.now() + 10_000;
  while (!/demo: WebDAV\/CalDAV\/CardDAV at http:\/\/127\.0\.0\.1:\d+\/ \(try: curl -X PROPFIND -H 'Depth: 1' /.test(demo.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.regex(demo.stderr(), new RegExp(`demo: WebDAV/CalDAV/CardDAV at ${demo.url}/ `));
  const request = (method: string, target: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${demo.url}${target}`, { method, headers, agent: false, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  // Like `curl -X PROPFIND -H 'Depth: 1' http://…/`, some seconds after the scripted client.
  await new Promise((r) => setTimeout(r, 1000));
  const root = await request('PROPFIND', '/', { Depth: '1' });
  t.is(root.status, 207);
  for (const href of ['/files/', '/calendars/', '/contacts/', '/readme.txt']) t.true(root.body.includes(`<D:href>${href}</D:href>`), href);
  t.is((await request('PUT', '/files/mine.txt', { 'Content-Type': 'text/plain' }, 'my own file\n')).status, 201);
  const files = await request('PROPFIND', '/files/', { Depth: '1' });
  t.is(files.status, 207);
  t.true(files.body.includes('<D:href>/files/mine.txt</D:href>'));
  const ended = await demo.stop();
  t.is(ended.code, 0);
  t.false(ended.killed);
  // The flows it printed include the ones of the user's own client, and the summary follows.
  t.regex(demo.stdout(), /PUT {2}201 {2}\/files\/mine\.txt/);
  t.regex(demo.stdout(), /^findings: .*MS001/m);
});

test('a bad option or --listen is a one-line usage error, exit 2', async (t) => {
  const out: string[] = [];
  const sink = { write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
  const io = { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} };
  t.is(await main(['demo', '--bogus'], io), 2);
  t.regex(out.join(''), /^davtap: demo: Unknown option '--bogus' \(see 'davtap demo --help'\)\n$/);
  out.length = 0;
  t.is(await main(['demo', '--listen', 'nowhere'], io), 2);
  t.regex(out.join(''), /^davtap: --listen: 'nowhere' is not HOST:PORT/);
});

test('a --listen address in use is one line and exit 2, and leaves no temporary database behind', async (t) => {
  const dir = tempDir(t);
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const port = (busy.address() as net.AddressInfo).port;
  const run = await runDavtap(['demo', '--no-ui', '--listen', `127.0.0.1:${port}`], dir);
  t.is(run.code, 2);
  t.is(run.stderr, `davtap: cannot listen on 127.0.0.1:${port}: the address is already in use (another davtap or server on that port?) (EADDRINUSE)\n`);
  t.deepEqual(readdirSync(dir).filter((f) => f.startsWith('davtap-demo-')), []);
});

/** Option name → its argument as --help shows it ('' for a flag). */
async function fromHelp(): Promise<Map<string, string>> {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const code = await main(['demo', '--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} });
  if (code !== 0) throw new Error(`--help exited ${code}`);
  const options = text.slice(text.indexOf('Options:'), text.indexOf('\n\n', text.indexOf('Options:')));
  const out = new Map<string, string>();
  for (const m of options.matchAll(/^ {2}(?:-h, )?--([a-z-]+)(?: ([A-Z][^\s]*))?/gm)) out.set(m[1]!, m[2] ?? '');
  return out;
}

test('--help and the README options table list exactly the demo options, with the same argument, default and meaning', async (t) => {
  const help = await fromHelp();
  t.deepEqual([...help.keys()].sort(), [...demoOptions.map((o) => o.name), 'help'].sort());
  for (const o of demoOptions) t.is(help.get(o.name), o.arg ?? '', `--${o.name}`);
  const block = readme.slice(readme.indexOf('<!-- demo-options:begin -->'), readme.indexOf('<!-- demo-options:end -->'));
  const rows = [...block.matchAll(/^\| `--([a-z-]+)(?: ([^`]+))?` \| (.*?) \| (.*) \|$/gm)].map((m) => ({ name: m[1]!, arg: m[2], default: m[3]!, help: m[4]! }));
  t.deepEqual(
    rows,
    demoOptions.map((o) => ({ name: o.name, arg: o.arg, default: o.default, help: o.help })),
  );
});

test('the README lists exactly the broken paths of the demo, with their faults and rules, and so does --help', async (t) => {
  const block = readme.slice(readme.indexOf('<!-- demo-faults:begin -->'), readme.indexOf('<!-- demo-faults:end -->'));
  const rows = [...block.matchAll(/^\| `(\S+) (\S+)`(?: \(([a-z-]+)\))? \| `([^`]+)` \| (.*?) \| (MS\d{3}) \|$/gm)].map((m) => ({
    method: m[1]!,
    path: m[2]!,
    ...(m[3] ? { report: m[3] } : {}),
    inject: m[4]!,
    story: m[5]!,
    rule: m[6]!,
  }));
  t.deepEqual(rows, brokenPaths.map((b) => ({ method: b.method, path: b.path, ...(b.report ? { report: b.report } : {}), inject: b.inject, story: b.story, rule: b.rule })));
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  t.is(await main(['demo', '--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} }), 0);
  for (const b of brokenPaths) t.regex(text, new RegExp(`${b.method} ${b.path.replace(/\//g, '\\/')}.* ${b.inject.replace(/[.:/]/g, '\\$&')} → ${b.rule}`));
  t.regex(text, /^Usage: davtap demo \[--listen HOST:PORT\] \[--no-ui\] \[--db FILE\]$/m);
});

test('the README quick start starts with npm ci, then ./bin/davtap demo; davtap --help lists the demo command', async (t) => {
  const quick = readme.slice(readme.indexOf('## Quick start'));
  const block = /```sh\n([\s\S]*?)```/.exec(quick)![1]!;
  const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  t.is(commands[0], 'npm ci');
  t.is(commands[1], './bin/davtap demo');
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  t.is(await main(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} }), 0);
  t.regex(text, /^ {2}demo {5}a demo server/m);
});
