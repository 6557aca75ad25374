import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { createLivePipeline } from '../../src/pipeline/live.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { exportReport, exportReportBundle, defaultExportDir } from '../../src/export/index.js';
import { startProxy } from '../../src/proxy/index.js';
import { createFlowWriter, openReader, openStore } from '../../src/store/index.js';
import type { Finding } from '../../src/types.js';
import { payloadOf } from '../helpers/corrupt.js';
import { curl } from '../helpers/curl.js';
import { withoutProxyEnv } from '../helpers/davtap-process.js';
import { startDavServer } from '../helpers/webdav.js';
import { tempDb, tempDir } from '../store/temp.js';
import { binaryPutFlow, captureFlow, loadCapture, refusedFlow, storeWith } from './flows.js';

function capture(cwd: string): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  return { io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd }, out: () => out, err: () => err };
}

function sh(script: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', [script, ...args], { cwd, env: { ...withoutProxyEnv(), ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

const comparable = (f: Finding) => ({ rule: f.rule, severity: f.severity, category: f.category, message: f.message, evidence: f.evidence });

test('the bundle holds report.md, raw request/response files, findings.json and replay scripts, owner-only', async (t) => {
  const flows = [
    captureFlow('lighttpd-proppatch-protected', 0, { responseHeaders: ['Via', '1.1 gateway.example (squid/6.1)', 'X-Cache', 'MISS from gateway.example', 'Age', '0'] }),
    captureFlow('rclone-propfind-d1-gzip', 1),
    captureFlow('apache-propfind-d1-allprop', 2, { cutAt: 3000 }),
    refusedFlow(3),
    binaryPutFlow(4),
    captureFlow('radicale-report-multiget-gzip', 5),
  ];
  const { store } = await storeWith(t, flows);
  const dir = path.join(tempDir(t), 'bundle');
  const r = exportReport(store, {}, dir, {}, { now: new Date('2026-11-21T07:00:00Z') });
  t.is(r.flows, 6);
  const files = readdirSync(dir).sort();
  t.deepEqual(files, [...r.files].sort());
  for (const n of ['001', '002', '003', '005']) for (const kind of ['request.http', 'response.http', 'replay.sh']) t.true(files.includes(`${n}-${kind}`), `${n}-${kind}`);
  t.true(files.includes('004-request.http'));
  t.false(files.includes('004-response.http'), 'no response arrived for the refused flow');
  t.true(files.includes('001-request.body'));
  t.false(files.includes('001-response.decoded.xml'), 'nothing to decode in a plain body');
  // Radicale's gzip answer: the decoded copy beside the raw bytes.
  t.deepEqual(readFileSync(path.join(dir, '006-response.decoded.xml')), gunzipSync(payloadOf(loadCapture('radicale-report-multiget-gzip').response)));
  t.true(files.includes('005-request.body'));
  for (const f of files) t.is(statSync(path.join(dir, f)).mode & 0o777, f.endsWith('.sh') ? 0o700 : 0o600, f);
  t.is(statSync(dir).mode & 0o777, 0o700);

  const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
  t.regex(md, /^# davtap report\n\nExported 2026-11-21T07:00:00\.000Z by davtap \d+\.\d+\.\d+ \(node v\d+/);
  t.regex(md, /## 001 · PROPPATCH \/dav\/b\.txt → 207 Multi-status/);
  t.regex(md, new RegExp(`Summary: \\*\\*${flows[0]!.analysis!.summary.text.replace(/[()×]/g, '.')}\\*\\*`));
  t.regex(md, /\*\*error MS104\*\* malformed \(blame: server\): /);
  t.regex(md, /\| Via \| 1\.1 gateway\.example \(squid\/6\.1\) \|/);
  t.regex(md, /\| X-Cache \| MISS from gateway\.example \|/);
  t.regex(md, /\| Server \| lighttpd\/1\.4\.69 \|/);
  // The failure table has exactly the k of "k of n resources failed".
  const failedRows = md.split('## 002')[0]!.split('### Failed resources')[1]!.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  t.is(failedRows.length, flows[0]!.analysis!.summary.failedResources);
  t.true(failedRows.length > 0);
  t.regex(md, /Outcome: upstream-aborted: ECONNRESET: upstream closed after 3000 of \d+ bytes/);
  t.regex(md, /## 004 · PROPFIND \/dav\/ → no response/);
  t.regex(md, /Outcome: error: ECONNREFUSED/);

  const json = JSON.parse(readFileSync(path.join(dir, 'findings.json'), 'utf8')) as { flows: { id: string; findings: Finding[]; failedResources: unknown[] }[] };
  t.deepEqual(json.flows.map((f) => f.id), flows.map((f) => f.id));
  t.deepEqual(json.flows[0]!.findings, flows[0]!.analysis!.findings);
  t.is(json.flows[0]!.failedResources.length, flows[0]!.analysis!.summary.failedResources);
});

test('davtap check on a saved response and request reproduces the recorded findings, truncation included', async (t) => {
  const flows = [
    captureFlow('lighttpd-proppatch-protected', 0),
    captureFlow('rclone-propfind-d1-gzip', 1), // chunked on the wire: framed again as one chunk
    captureFlow('apache-propfind-d1-allprop', 2, { cutAt: 3000 }), // Content-Length announced, body cut
    captureFlow('rclone-propfind-d1-gzip', 3, { cutAt: 900 }), // chunked, cut: no last chunk
    captureFlow('radicale-report-multiget-gzip', 4), // gzip on the wire
  ];
  const { store } = await storeWith(t, flows);
  const dir = path.join(tempDir(t), 'bundle');
  exportReport(store, {}, dir);
  for (const [i, flow] of flows.entries()) {
    const n = String(i + 1).padStart(3, '0');
    const c = capture(dir);
    await main(['check', '--json', '--request', `${n}-request.http`, `${n}-response.http`], c.io);
    const result = (JSON.parse(c.out()) as { results: { findings: Finding[] }[] }).results[0]!;
    const rules = result.findings.map((f) => f.rule);
    // A re-read of the raw file cannot know how the connection ended (the file just ends): rules
    // evidence and messages about that (MS002; "reset (RST)" and the error code in MS001) are left out.
    const same = (f: Finding) => {
      const { closedBy: _c, code: _k, ...evidence } = f.evidence;
      return { ...comparable(f), evidence, message: f.message.replace(/; connection [^)]*\)/, '') };
    };
    t.deepEqual(
      result.findings.filter((f) => f.rule !== 'MS002').map(same),
      flow.analysis!.findings.filter((f) => f.rule !== 'MS002').map(same),
      `${flow.id}: ${rules.join(',')}`,
    );
    if (i === 2) t.true(rules.includes('MS001'), 'a body shorter than its Content-Length is still truncated');
  }
});

test('the replay commands send each recorded request again; a fresh WebDAV server answers with the recorded statuses', async (t) => {
  const origin = await startDavServer();
  t.teardown(() => origin.close());
  const fresh = await startDavServer();
  t.teardown(() => fresh.close());

  // Record through the real proxy, pipeline and store writer, as `davtap proxy --upstream` does.
  const db = tempDb(t);
  const store = openStore(db);
  const writer = createFlowWriter(store, { tickMs: 5 });
  let seen = 0;
  const live = createLivePipeline({ onFlow: (f) => (writer.enqueue(f), seen++), log: () => {} });
  const proxy = await startProxy({ listenHost: '127.0.0.1', listenPort: 0, upstream: new URL(origin.url), maxBody: 1 << 20, maxRequestBody: 1 << 20, hooks: live.hooks, log: () => {} });
  t.teardown(() => proxy.close());
  const base = proxy.url.replace(/\/$/, '');
  const propfind = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:resourcetype/></D:prop></D:propfind>';
  const sent = [
    await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'MKCOL', `${base}/dav/docs/`]),
    await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'Content-Type: text/plain', '--data-binary', 'hello, replay\n', `${base}/dav/docs/a.txt`]),
    await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '-H', 'Cookie: sid=dXNlcjpodW50ZXIy', '--data-binary', propfind, `${base}/dav/docs/?token=SECRET`]),
    await curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/dav/docs/missing.txt`]),
    await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'DELETE', `${base}/dav/docs/a.txt`]),
  ];
  const statuses = sent.map((r) => r.stdout.toString());
  t.deepEqual(statuses.map((s) => s[0]), ['2', '2', '2', '4', '2']);
  for (let i = 0; i < 200 && seen < sent.length; i++) await new Promise((r) => setTimeout(r, 10));
  await proxy.close();
  await writer.close();
  store.close();

  const work = tempDir(t);
  const c = capture(work);
  t.is(await main(['export', '--db', db, '--report', 'bundle'], c.io), 0, c.err());
  t.regex(c.err(), /report of 5 flows written to bundle/);
  const dir = path.join(work, 'bundle');
  const flowScripts = readdirSync(dir).filter((f) => /^\d{3}-replay\.sh$/.test(f)).sort();
  t.is(flowScripts.length, 5);
  const propfindScript = readFileSync(path.join(dir, '003-replay.sh'), 'utf8');
  t.false(propfindScript.includes('dXNlcjpodW50ZXIy'));
  t.false(propfindScript.includes('SECRET'));
  t.regex(propfindScript, /-H "Cookie: \$\{DAVTAP_COOKIE:-\[redacted\]\}"/);
  t.regex(propfindScript, /--data-binary @003-request\.body/);
  t.is(readFileSync(path.join(dir, '003-request.body'), 'utf8'), propfind);

  // Against a fresh server, in order: the same statuses the origin gave.
  const replayed: string[] = [];
  for (const s of flowScripts) {
    const r = await sh(s, ['-o', '/dev/null', '-w', '%{http_code}'], { DAVTAP_BASE: fresh.url }, dir);
    t.is(r.code, 0, r.stderr);
    replayed.push(r.stdout);
  }
  t.deepEqual(replayed, statuses);
  // Without DAVTAP_BASE the request goes where it went (the origin, which now holds /dav/docs/).
  const again = await sh('003-replay.sh', ['-o', '/dev/null', '-w', '%{http_code}'], {}, dir);
  t.is(again.stdout, '207');
  // replay.sh runs them all, printing each response.
  const all = await sh('replay.sh', ['001', '003'], { DAVTAP_BASE: (await startFreshFor(t)).url }, dir);
  t.is(all.code, 0, all.stderr);
  t.regex(all.stdout, /=== 001 MKCOL http:\/\/127\.0\.0\.1:\d+\/dav\/docs\//);
  t.regex(all.stdout, /HTTP\/1\.1 201/);
  t.regex(all.stdout, /=== 003 PROPFIND/);
  t.regex(all.stdout, /HTTP\/1\.1 207/);
  const bad = await sh('replay.sh', ['999'], {}, dir);
  t.is(bad.code, 2);
});

async function startFreshFor(t: ExecutionContext): Promise<{ url: string }> {
  const s = await startDavServer();
  t.teardown(() => s.close());
  return s;
}

test('an export refuses a report directory that already holds files, and never mixes bundles', async (t) => {
  const { store } = await storeWith(t, [captureFlow('apache-propfind-d0-allprop', 0)]);
  const dir = path.join(tempDir(t), 'used');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  const err = t.throws(() => exportReport(store, {}, dir));
  t.regex(err!.message, /is not empty/);
  t.deepEqual(readdirSync(dir), ['notes.txt']);
});

test('the UI entry point writes a bundle of the selected flow into ./davtap-export-<time>/', async (t) => {
  const flows = [captureFlow('apache-propfind-d0-allprop', 0), captureFlow('nginx-propfind-d1-named', 1)];
  const { file } = await storeWith(t, flows);
  const cwd = tempDir(t);
  const now = new Date('2026-11-21T07:45:12Z');
  t.is(defaultExportDir(now), 'davtap-export-20261121-074512');
  const r = exportReportBundle({ dbPath: file, ids: [flows[1]!.id], cwd, now });
  t.is(r.dir, path.join(cwd, 'davtap-export-20261121-074512'));
  t.is(r.flows, 1);
  t.true(existsSync(path.join(r.dir, '001-response.http')));
  t.false(existsSync(path.join(r.dir, '002-response.http')));
  const second = exportReportBundle({ dbPath: file, ids: [flows[0]!.id], cwd, now });
  t.is(second.dir, path.join(cwd, 'davtap-export-20261121-074512-2'), 'a second export in the same second gets its own directory');
  const byFilter = exportReportBundle({ dbPath: file, filter: '~u nginx|~m PROPFIND', cwd, dir: 'filtered', now });
  t.is(byFilter.flows, 2);
  // The reader it opened is closed again: the database can be opened and read as before.
  const again = openReader(file);
  t.is(again.countFlows(), 2);
  again.close();
});
