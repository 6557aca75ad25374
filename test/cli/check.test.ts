// `davtap check` end to end through the CLI entry: raw captures with their requests, bare XML,
// HAR files, --json, --fail-on, and the one-line errors with exit 2.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

const shared = new URL('../fixtures/shared/', import.meta.url).pathname;
const rules = new URL('../fixtures/rules/', import.meta.url).pathname;

function capture(cwd = process.cwd(), isTTY = false): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const stdout = Object.assign(sink((s) => (out += s)), { isTTY });
  return { io: { stdout, stderr: sink((s) => (err += s)), env: {}, cwd }, out: () => out, err: () => err };
}

async function check(args: string[], cwd?: string, isTTY?: boolean) {
  const c = capture(cwd, isTTY);
  const code = await main(['check', ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

interface JsonOut {
  results: { input: string; status: number; findings: { rule: string; severity: string; category: string; blame: string; message: string; evidence: Record<string, unknown> }[]; resources: { href: string }[]; summary: { text: string; resources: number } }[];
}

/** Raw request files for the shared captures, written from INDEX.tsv into a temp dir. */
function sharedRequests(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const rows = readFileSync(join(shared, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  for (const [server, name, request] of rows) {
    const m = /^(\S+) :(\d+)(\S+) (\S+)(.*)$/.exec(request!);
    if (!m) throw new Error(`unreadable INDEX row ${request}`);
    const headers = [`Host: 127.0.0.1:${m[2]}`, ...m[5]!.split(/ -H /).slice(1).map((h) => h.trim())];
    const body = m[4] === '-' ? Buffer.alloc(0) : readFileSync(join(shared, 'requests', m[4]!));
    if (body.length > 0) headers.push('Content-Type: application/xml', `Content-Length: ${body.length}`);
    const file = join(dir, `${server}-${name}.req`);
    writeFileSync(file, Buffer.concat([Buffer.from(`${m[1]} ${m[3]} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`), body]));
    out.set(`${server}-${name}`, file);
  }
  return out;
}

test('every shared capture, checked with its request, gives no error finding and exit 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'davtap-check-'));
  try {
    const requests = sharedRequests(dir);
    t.true(requests.size >= 30);
    for (const [name, req] of requests) {
      const r = await check(['--json', '--request', req, join(shared, `${name}.http`)]);
      t.is(r.code, 0, `${name}: ${r.out.slice(0, 400)}`);
      const json = JSON.parse(r.out) as JsonOut;
      t.deepEqual(json.results[0]!.findings.filter((f) => f.severity === 'error'), [], name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--json prints results with input, status, findings, resources and summary', async (t) => {
  const file = join(rules, 'MS001.fire.http');
  const r = await check(['--json', '--request', join(rules, 'MS001.fire.req'), file]);
  t.is(r.code, 1);
  const json = JSON.parse(r.out) as JsonOut;
  t.is(json.results.length, 1);
  const res = json.results[0]!;
  t.is(res.input, file);
  t.is(res.status, 207);
  t.deepEqual(Object.keys(res.findings[0]!).slice(0, 6), ['rule', 'severity', 'category', 'blame', 'message', 'evidence']);
  const ms001 = res.findings.find((f) => f.rule === 'MS001')!;
  t.is(ms001.severity, 'error');
  t.is(ms001.blame, 'unknown', 'one vantage point and no relay signature');
  t.is(ms001.evidence['shortfall'], 400);
  t.deepEqual(res.resources.map((x) => x.href), ['/dav/', '/dav/a.txt']);
  t.is(res.summary.resources, 2);
});

test('human output lists resources and findings with evidence, without colour off a terminal', async (t) => {
  const r = await check(['--request', join(rules, 'MS501.fire.req'), join(rules, 'MS501.fire.http')]);
  t.is(r.code, 0);
  t.regex(r.out, /1 of 2 resources failed \(403 ×1\)/);
  t.regex(r.out, /href\s+status\s+failed properties/);
  t.regex(r.out, /\/dav\/a\.txt\s+403/);
  t.regex(r.out, /warning MS501 partial-failure/);
  t.false(r.out.includes('\x1b['));
  const tty = await check(['--request', join(rules, 'MS501.fire.req'), join(rules, 'MS501.fire.http')], undefined, true);
  t.true(tty.out.includes('\x1b[33m'));
});

test('--fail-on takes a severity or a category', async (t) => {
  const file = join(rules, 'MS501.fire.http');
  const req = join(rules, 'MS501.fire.req');
  t.is((await check(['--request', req, file])).code, 0);
  t.is((await check(['--fail-on', 'warning', '--request', req, file])).code, 1);
  t.is((await check(['--fail-on', 'partial-failure', '--request', req, file])).code, 1);
  t.is((await check(['--fail-on', 'truncation', '--request', req, file])).code, 0);
  const bad = await check(['--fail-on', 'sometimes', file]);
  t.is(bad.code, 2);
  t.regex(bad.err, /^davtap: check: --fail-on 'sometimes'/);
  t.is(bad.err.trim().split('\n').length, 1);
});

test('a missing file, an unknown flag and no FILE are one-line errors with exit 2', async (t) => {
  const missing = await check(['does-not-exist.http']);
  t.is(missing.code, 2);
  t.is(missing.err, 'davtap: check: cannot read does-not-exist.http: no such file\n');
  const flag = await check(['--frobnicate', 'x.http']);
  t.is(flag.code, 2);
  t.is(flag.err.trim().split('\n').length, 1);
  const none = await check([]);
  t.is(none.code, 2);
  t.regex(none.err, /no FILE given/);
});

test('a file that is not an HTTP response is an I/O error, not a crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'davtap-check-'));
  try {
    writeFileSync(join(dir, 'junk.http'), 'hello world\r\n\r\nbody');
    const r = await check(['junk.http'], dir);
    t.is(r.code, 2);
    t.regex(r.err, /^davtap: junk\.http: not a raw HTTP response/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bare .xml body is checked as a 207 with an XML content type', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'davtap-check-'));
  try {
    writeFileSync(join(dir, 'body.xml'), '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>');
    writeFileSync(join(dir, 'cut.xml'), '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href>');
    const ok = await check(['--json', 'body.xml'], dir);
    t.is(ok.code, 0);
    const json = JSON.parse(ok.out) as JsonOut;
    t.deepEqual(json.results[0]!.findings.map((f) => f.rule), ['MS501', 'MS504']);
    const cut = await check(['cut.xml'], dir);
    t.is(cut.code, 1);
    t.regex(cut.out, /error\s+MS006 truncation \[server\]: server-side truncation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a HAR file is checked entry by entry (207s only), each with its own request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'davtap-check-'));
  try {
    const body = readFileSync(join(rules, 'MS401.fire.http'), 'latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n');
    const reqBody = readFileSync(join(rules, 'MS401.fire.req'), 'latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n');
    const entry = (status: number, text: string, extra: object = {}) => ({
      request: { method: 'PROPFIND', url: 'http://127.0.0.1:8080/dav/', httpVersion: 'HTTP/1.1', headers: [{ name: 'Depth', value: '1' }], postData: { mimeType: 'application/xml', text: reqBody } },
      response: { status, statusText: 'Multi-Status', httpVersion: 'HTTP/1.1', headers: [{ name: 'Content-Type', value: 'application/xml' }, { name: 'Content-Encoding', value: 'gzip' }], content: { size: text.length, mimeType: 'application/xml', text, ...extra } },
    });
    const har = {
      log: {
        version: '1.2',
        creator: { name: 'test', version: '1' },
        entries: [
          entry(207, body),
          entry(200, 'not a multistatus'),
          // An exporter that kept the compressed bytes (base64) with their Content-Encoding.
          entry(207, gzipSync(Buffer.from(body)).toString('base64'), { encoding: 'base64' }),
          // davtap's own export says how the transfer ended: here, cut by a reset.
          { ...entry(207, body.slice(0, 300)), _davtap: { outcome: { kind: 'upstream-aborted', code: 'ECONNRESET' } } },
        ],
      },
    };
    writeFileSync(join(dir, 'flows.har'), JSON.stringify(har));
    const r = await check(['--json', 'flows.har'], dir);
    t.is(r.code, 1);
    const json = JSON.parse(r.out) as JsonOut;
    t.deepEqual(json.results.map((x) => x.input), ['flows.har#0', 'flows.har#2', 'flows.har#3']);
    const cut = json.results.pop()!;
    t.true(cut.findings.some((f) => f.rule === 'MS003' && /ECONNRESET/.test(f.message)));
    t.true(cut.findings.some((f) => f.rule === 'MS006'));
    for (const res of json.results) {
      // The entry's request named getetag, which the response lacks: the request was used.
      t.true(res.findings.some((f) => f.rule === 'MS401' && f.severity === 'error'));
      t.false(res.findings.some((f) => f.rule === 'MS004'));
      t.is(res.summary.resources, 2);
    }
    writeFileSync(join(dir, 'bad.har'), '{"log": 3}');
    const bad = await check(['bad.har'], dir);
    t.is(bad.code, 2);
    t.regex(bad.err, /not a HAR file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help describes the inputs, options and exit codes', async (t) => {
  const r = await check(['--help']);
  t.is(r.code, 0);
  for (const word of ['--json', '--request', '--fail-on', '.har', '.xml', 'Exit status', 'truncation', 'partial-failure']) t.true(r.out.includes(word), word);
  const top = capture();
  t.is(await main(['--help'], top.io), 0);
  t.regex(top.out(), /check\s+analyze saved 207 responses/);
});
