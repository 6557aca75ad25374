// `davtap check` on a HAR whose response body the capture cap (--max-body) cut: the prefix is
// analyzed as far as it goes and the cap is reported as MS703, never as the server's truncation.
// Flows come from a real proxy run (in-process proxy, pipeline worker and database) and go through
// `davtap export --har`, as a user would produce them.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { harInputs } from '../../src/readers/har.js';
import { checkOne } from '../../src/readers/saved.js';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import type { Finding } from '../../src/types.js';
import { curl } from '../helpers/curl.js';
import { response, startOrigin } from '../helpers/origin.js';
import { startTestPipeline } from '../helpers/pipeline.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer } from '../helpers/webdav.js';

const CAP = 2000;

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-capped-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function run(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const io: CliIO = { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd };
  const code = await main(args, io);
  return { code, out, err };
}

interface Result {
  input: string;
  findings: Finding[];
  resources: unknown[];
}

function multistatus(n: number): string {
  let body = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  for (let i = 0; i < n; i++) body += `<D:response><D:href>/dav/item-${i}.txt</D:href><D:propstat><D:prop><D:getcontentlength>${i}</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  return body + '</D:multistatus>\n';
}

test('a listing whose capture was capped is MS703 "capture capped at N of M bytes" in check, not truncation; a real cut still is', async (t) => {
  const dir = tempDir(t);
  const dbPath = path.join(dir, 'flows.db');
  const server = await startDavServer();
  t.teardown(() => server.close());
  // An origin that really cuts its answer: declared length, half the body, close.
  const whole = Buffer.from(multistatus(60));
  const origin = await startOrigin((_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': whole.length }, whole.subarray(0, 1500)));
    socket.end();
  });
  t.teardown(() => origin.close());

  const { hooks, waitForFlows, close } = await startTestPipeline(t, { dbPath, maxBody: CAP, lines: false, onLines: () => {}, log: () => {} });
  const dav = await startTestProxy(t, { upstream: new URL(server.url), hooks, maxBody: CAP });
  const cutting = await startTestProxy(t, { upstream: new URL(origin.url), hooks, maxBody: CAP });

  await curl(['-X', 'MKCOL', `${dav.url}dav/big/`]);
  for (let i = 0; i < 12; i++) await curl(['-X', 'PUT', '--data-binary', `file ${i}`, `${dav.url}dav/big/file-with-a-longish-name-${i}.txt`]);
  const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${dav.url}dav/big/`]);
  t.true(listing.stdout.length > 2 * CAP, `the listing (${listing.stdout.length} bytes) is well past the cap`);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${cutting.url}dav/`]);
  await waitForFlows(15);
  await dav.close();
  await cutting.close();
  await close();

  const exported = await run(dir, ['export', '--db', dbPath, '--har', 'trace.har']);
  t.is(exported.code, 0, exported.err);
  const checked = await run(dir, ['check', '--json', 'trace.har']);
  const results = (JSON.parse(checked.out) as { results: Result[] }).results;
  t.is(results.length, 2, 'two 207s in the trace');
  const [capped, cut] = results as [Result, Result];

  // The capped listing: analyzed up to the cap, MS703 for the rest, no truncation.
  t.deepEqual(capped.findings.filter((f) => f.category === 'truncation' || f.category === 'malformed').map((f) => f.rule), []);
  const ms703 = capped.findings.filter((f) => f.rule === 'MS703');
  t.is(ms703.length, 1);
  t.is(ms703[0]!.severity, 'warning');
  t.regex(ms703[0]!.message, new RegExp(`^capture capped at 2,000 of ${listing.stdout.length.toLocaleString('en-US')} bytes \\(davtap --max-body\\), not analyzed past it; the live analysis saw every byte`));
  t.like(ms703[0]!.evidence, { limit: 'capture', captured: CAP, bytesSeen: listing.stdout.length });
  t.true(capped.resources.length > 1, 'the responses before the cap are in the ledger');
  t.true(capped.resources.length < 13, 'and not those after it');

  // The real cut, also under the cap: still the server's truncation.
  t.true(cut.findings.some((f) => f.category === 'truncation' && f.severity === 'error'), JSON.stringify(cut.findings.map((f) => f.rule)));
  t.false(cut.findings.some((f) => f.rule === 'MS703'));
  t.is(checked.code, 1, 'the real cut is an error finding');
});

test('a capped HAR entry that still holds gzip bytes is decoded as far as it goes, not reported as a cut gzip stream', (t) => {
  const body = Buffer.from(multistatus(200));
  const gz = zlib.gzipSync(body);
  const prefix = gz.subarray(0, Math.floor(gz.length / 2));
  const entry = (complete: boolean) => ({
    request: { method: 'PROPFIND', url: 'http://127.0.0.1:8080/dav/', headers: [{ name: 'Depth', value: '1' }] },
    response: { status: 207, statusText: 'Multi-Status', httpVersion: 'HTTP/1.1', headers: [{ name: 'Content-Type', value: 'application/xml' }, { name: 'Content-Encoding', value: 'gzip' }], content: { size: gz.length, text: prefix.toString('base64'), encoding: 'base64' } },
    _davtap: { outcome: { kind: 'complete' }, responseComplete: complete, findings: [] },
  });
  const har = JSON.stringify({ log: { entries: [entry(false), entry(true)] } });
  const [capped, claimedWhole] = harInputs(har, 'gz.har').map(checkOne);
  t.deepEqual(capped!.findings.map((f) => f.rule), ['MS703']);
  t.regex(capped!.findings[0]!.message, new RegExp(`^capture capped at ${prefix.length.toLocaleString('en-US')} of ${gz.length.toLocaleString('en-US')} bytes .* recorded no finding`));
  t.true(capped!.resources.length > 10);
  // The same bytes said to be whole: a cut gzip stream is the server's (MS004).
  t.true(claimedWhole!.findings.some((f) => f.rule === 'MS004'), JSON.stringify(claimedWhole!.findings.map((f) => f.rule)));
});

test('a capped entry with nothing captured is MS703 and not analyzed', (t) => {
  const har = JSON.stringify({
    log: {
      entries: [{
        request: { method: 'PROPFIND', url: 'http://127.0.0.1:8080/dav/', headers: [] },
        response: { status: 207, headers: [{ name: 'Content-Type', value: 'application/xml' }], content: { size: 5000 } },
        _davtap: { outcome: { kind: 'complete' }, responseComplete: false },
      }],
    },
  });
  const [r] = harInputs(har, 'empty.har').map(checkOne);
  t.deepEqual(r!.findings.map((f) => [f.rule, f.evidence['captured'], f.evidence['bytesSeen']]), [['MS703', 0, 5000]]);
  t.regex(r!.findings[0]!.message, /^capture capped at 0 of 5,000 bytes .*the cut is davtap's, not the server's$/);
  t.is(r!.summary.text, 'not analyzed: the capture holds nothing to analyze');
});

test('a request body the capture cap cut is left out: the multiget answer is not blamed for hrefs the prefix lacks', (t) => {
  const hrefs = ['/cal/a.ics', '/cal/b.ics', '/cal/c.ics'];
  const request = `<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>${hrefs.map((h) => `<D:href>${h}</D:href>`).join('')}</C:calendar-multiget>`;
  const cutAt = request.indexOf('/cal/b.ics') + 3;
  const answer = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">${hrefs.map((h) => `<D:response><D:href>${h}</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`).join('')}</D:multistatus>`;
  const entry = (requestComplete: boolean) => ({
    request: { method: 'REPORT', url: 'http://127.0.0.1:8080/cal/', headers: [{ name: 'Depth', value: '1' }], postData: { text: request.slice(0, cutAt) } },
    response: { status: 207, headers: [{ name: 'Content-Type', value: 'application/xml' }], content: { size: answer.length, text: answer } },
    _davtap: { outcome: { kind: 'complete' }, requestComplete, responseComplete: true },
  });
  const [capped, claimedWhole] = harInputs(JSON.stringify({ log: { entries: [entry(false), entry(true)] } }), 'multiget.har').map(checkOne);
  t.deepEqual(capped!.findings.map((f) => f.rule), []);
  // The same prefix taken for the whole request is a request body that is not well-formed XML:
  // the client's fault (MS110), and the answer is not judged against it (no MS601).
  t.deepEqual(claimedWhole!.findings.map((f) => f.rule), ['MS110']);
  t.is(claimedWhole!.findings[0]!.blame, 'client');
  t.regex(claimedWhole!.findings[0]!.message, /REPORT body is not well-formed/);
});
