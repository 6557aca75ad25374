// Large bodies through the real proxy and the live pipeline: the relay holds no copy of a response
// body (the pipeline takes every chunk), the worker writes large captures to the store in parts as
// they arrive, and what is read back is what the client received. Real origins in-process, a real
// database in a temp dir.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { PipelineOptions } from '../../src/pipeline/pipeline.js';
import { openReader } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { curl } from '../helpers/curl.js';
import { response, startOrigin } from '../helpers/origin.js';
import { startTestPipeline } from '../helpers/pipeline.js';
import { startTestProxy } from '../helpers/proxy.js';
import { noiseBytes } from '../helpers/random.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function setUp(t: ExecutionContext, origin: { url: string }, options: Partial<PipelineOptions> = {}, proxyOptions: { maxRequestBody?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-large-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, 'flows.db');
  const logs: string[] = [];
  const maxBody = options.maxBody ?? 64 * MiB;
  const relayed: Flow[] = [];
  const { pipeline, hooks, waitForFlows, close } = await startTestPipeline(
    t,
    { dbPath, maxBody, lines: false, onLines: () => {}, log: (l) => logs.push(l), ...options },
    { onFlow: (flow) => relayed.push(flow) },
  );
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), maxBody, ...proxyOptions, hooks });
  return {
    pipeline,
    proxy,
    logs,
    relayed,
    waitForFlows,
    async finish() {
      await proxy.close();
      const stats = await close();
      const store = openReader(dbPath);
      t.teardown(() => store.close());
      return { stats, store };
    },
  };
}

async function bigOrigin(t: ExecutionContext, body: Buffer, headers: Record<string, string | number> = {}, cutAt?: number) {
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, ...headers }));
    const end = cutAt ?? body.length;
    for (let at = 0; at < end; at += 256 * 1024) {
      if (!socket.write(body.subarray(at, Math.min(end, at + 256 * 1024)))) await new Promise((r) => socket.once('drain', r));
    }
    if (cutAt !== undefined) socket.destroy();
  });
  t.teardown(() => origin.close());
  return origin;
}

test('a 6 MiB download: the relay keeps no copy, the store has it in parts, byte for byte what the client got', async (t) => {
  const body = noiseBytes(6 * MiB + 17, 1);
  const origin = await bigOrigin(t, body);
  const { proxy, relayed, logs, waitForFlows, finish } = await setUp(t, origin);
  const got = await curl([`${proxy.url}big.bin`]);
  t.is(got.code, 0);
  t.is(sha(got.stdout), sha(body));
  await waitForFlows(1);
  // The flow the relay handed over carries the counts, not the bytes.
  const r = relayed[0]!.response!;
  t.is(r.body.bytes.length, 0);
  t.is(r.body.bytesSeen, body.length);
  t.true(r.body.captureComplete);
  const { stats, store } = await finish();
  t.is(stats.written, 1);
  t.deepEqual(logs, []);
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(flow.response!.body.bytes.length, body.length);
  t.is(sha(flow.response!.body.bytes), sha(body));
  t.true(flow.response!.body.captureComplete);
  t.true(store.listFlows({ limit: 1 })[0]!.captureComplete);
  t.is(store.spooledBody(flow.id, 'response').length, body.length);
});

test('past --max-body the store keeps the first bytes and the flow says the capture is incomplete', async (t) => {
  const body = noiseBytes(3 * MiB, 2);
  const origin = await bigOrigin(t, body);
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin, { maxBody: MiB });
  const got = await curl([`${proxy.url}big.bin`]);
  t.is(sha(got.stdout), sha(body));
  await waitForFlows(1);
  const { store } = await finish();
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(flow.response!.body.bytesSeen, body.length);
  t.true(flow.response!.body.bytes.equals(body.subarray(0, MiB)));
  // Under the 64 MiB capture cap, so only the bound can have cut it.
  t.false(flow.response!.body.captureComplete);
  t.false(store.listFlows({ limit: 1 })[0]!.captureComplete);
});

test('a large gzip response: the wire bytes and the decoded copy are both stored (decoded off the relay thread)', async (t) => {
  const text = Buffer.from('<line>davtap decoded copy</line>\n'.repeat(150_000)); // ~4.9 MB
  const gz = zlib.gzipSync(text);
  // Mixed with incompressible bytes so the wire body itself spans several parts.
  const noise = noiseBytes(MiB, 3);
  const wire = zlib.gzipSync(Buffer.concat([text, noise]));
  t.true(wire.length > gz.length);
  const origin = await bigOrigin(t, wire, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin);
  const got = await curl([`${proxy.url}text.txt`]);
  t.is(sha(got.stdout), sha(wire), 'the client gets the encoded bytes untouched');
  await waitForFlows(1);
  t.is(relayed[0]!.response!.decoded, null, 'the relay did not decode');
  const { store } = await finish();
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(sha(flow.response!.body.bytes), sha(wire));
  const decoded = flow.response!.decoded!;
  t.is(decoded.bytesSeen, text.length + noise.length);
  t.is(sha(decoded.bytes), sha(Buffer.concat([text, noise])));
  t.true(decoded.captureComplete);
  t.is(flow.response!.decodeError, undefined);
});

test('a large 207 is analyzed as it streams and stored in parts', async (t) => {
  let xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  const n = 12_000;
  for (let i = 0; i < n; i++) {
    xml += `<D:response><D:href>/dav/f-${i}.txt</D:href><D:propstat><D:prop><D:getcontentlength>${i}</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  }
  const body = Buffer.from(`${xml}</D:multistatus>\n`);
  t.true(body.length > MiB);
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': body.length }, body));
  });
  t.teardown(() => origin.close());
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin);
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  t.is(sha(got.stdout), sha(body));
  await waitForFlows(1);
  const { store } = await finish();
  const row = store.listFlows({ limit: 1 })[0]!;
  t.true(row.analyzed);
  t.is(row.resources, n);
  t.is(row.findings.error, 0);
  t.is(sha(store.getFlow(relayed[0]!.id)!.response!.body.bytes), sha(body));
  t.true(store.spooledBody(relayed[0]!.id, 'response').length === body.length);
});

test('a large download cut mid-body is recorded as cut, with the bytes that came, analyzed from its capture', async (t) => {
  // Larger than a spool part (256 KiB), so the capture is read back from the store for analysis.
  const body = noiseBytes(MiB, 4);
  const cutAt = 600 * 1024;
  const origin = await bigOrigin(t, body, {}, cutAt);
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin);
  const got = await curl([`${proxy.url}big.bin`]);
  t.is(got.code, 18, 'curl sees the transfer cut');
  await waitForFlows(1);
  const { store } = await finish();
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(flow.outcome.kind, 'upstream-aborted');
  t.is(flow.response!.body.bytesSeen, cutAt);
  t.true(flow.response!.body.bytes.equals(body.subarray(0, cutAt)));
  t.true(store.listFlows({ limit: 1 })[0]!.analyzed);
  const rules = store.findingsFor(flow.id).map((f) => f.rule);
  t.true(rules.includes('MS001'), rules.join(' '));
});

test('a multiget whose request body the capture cap cut is analyzed without it, so its answer is not blamed for hrefs the cut list lacks', async (t) => {
  const hrefs = ['/cal/a.ics', '/cal/b.ics', '/cal/c.ics'];
  const request =
    '<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>' +
    hrefs.map((h) => `<D:href>${h}</D:href>`).join('') +
    '</C:calendar-multiget>\n';
  const answer =
    '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">' +
    hrefs.map((h, i) => `<D:response><D:href>${h}</D:href><D:propstat><D:prop><D:getetag>"${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`).join('') +
    '</D:multistatus>\n';
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(answer) }, answer));
  });
  t.teardown(() => origin.close());
  const rulesWith = async (maxRequestBody: number) => {
    const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin, {}, { maxRequestBody });
    const got = await curl(['-X', 'REPORT', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', request, `${proxy.url}cal/`]);
    t.is(got.stdout.toString(), answer);
    await waitForFlows(1);
    t.is(relayed[0]!.request.body.captureComplete, maxRequestBody >= Buffer.byteLength(request));
    const { store } = await finish();
    t.true(store.listFlows({ limit: 1 })[0]!.analyzed);
    return store.findingsFor(relayed[0]!.id).map((f) => f.rule);
  };
  // Whole, the request is read and the answer matches it; cut after the first href, it is left out.
  const whole = await rulesWith(1024 * 1024);
  t.false(whole.includes('MS601'), whole.join(' '));
  const cut = await rulesWith(request.indexOf('/cal/b.ics'));
  t.false(cut.includes('MS601'), cut.join(' '));
});

/**
 * An origin streaming a 207 of small <response>s (500 per chunk) as fast as the socket takes it,
 * `total` bytes of them: far faster than the worker analyzes it. Resolves with how many it sent.
 */
async function fast207(t: ExecutionContext, total: number) {
  const part = (from: number) => {
    let s = '';
    for (let i = from; i < from + 500; i++) s += `<D:response><D:href>/dav/f-${i}.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>`;
    return Buffer.from(s);
  };
  let responses = 0;
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml', 'Transfer-Encoding': 'chunked' }));
    socket.write(chunkOf(Buffer.from('<D:multistatus xmlns:D="DAV:">')));
    for (let sent = 0; sent < total; responses += 500) {
      const c = part(responses);
      sent += c.length;
      if (!socket.write(chunkOf(c))) await new Promise((r) => socket.once('drain', r));
    }
    socket.write(chunkOf(Buffer.from('</D:multistatus>')));
    socket.write('0\r\n\r\n');
  });
  t.teardown(() => origin.close());
  return { origin, responses: () => responses };
}

test('an endless 207 cannot queue more than the pipeline bound: its analysis stops with MS703 (why), relaying goes on, the capture waits for the store and is kept whole', async (t) => {
  const total = 24 * MiB;
  const { origin } = await fast207(t, total);
  const bound = 2 * MiB;
  const { pipeline, proxy, relayed, waitForFlows, finish } = await setUp(t, origin, { maxQueuedBytes: bound });
  let peakQueued = 0;
  const sampler = setInterval(() => (peakQueued = Math.max(peakQueued, pipeline.queued().bytes)), 5);
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  clearInterval(sampler);
  // The bound, and at most one batch (1 MiB) and one read more: the relay waits past it.
  t.true(peakQueued <= bound + 2 * MiB, `queued up to ${peakQueued} bytes`);
  t.true(got.stdout.length > total, 'the whole body reached the client');
  t.true(got.stdout.subarray(-40).toString().includes('</D:multistatus>'));
  await waitForFlows(1);
  const { stats, store } = await finish();
  t.is(stats.halted, 1);
  const findings = store.findingsFor(relayed[0]!.id);
  const limit = findings.find((f) => f.rule === 'MS703');
  t.truthy(limit, JSON.stringify(findings.map((f) => f.rule)));
  t.regex(limit!.message, /analysis stopped at byte [\d,]+ .*davtap's analysis was behind/);
  // Stopped on purpose: no truncation is claimed for a body that ended well.
  t.false(findings.some((f) => f.category === 'truncation'));
  const flow = store.getFlow(relayed[0]!.id)!;
  // Under the 64 MiB capture cap: the relay waited for the store rather than cut the capture.
  t.true(flow.response!.body.captureComplete);
  t.is(sha(flow.response!.body.bytes), sha(got.stdout));
  t.is(flow.outcome.kind, 'complete');
});

test('a Content-Length 207 whose analysis halted is not called truncated: the relay passed it whole (no MS001)', async (t) => {
  let xml = '<D:multistatus xmlns:D="DAV:">';
  for (let i = 0; xml.length < 12 * MiB; i++) xml += `<D:response><D:href>/dav/f-${i}.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>`;
  const body = Buffer.from(xml + '</D:multistatus>');
  const origin = await bigOrigin(t, body, { 'Content-Type': 'application/xml' });
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin, { maxQueuedBytes: MiB / 2 });
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  t.is(sha(got.stdout), sha(body));
  await waitForFlows(1);
  const { stats, store } = await finish();
  t.is(stats.halted, 1);
  const rules = store.findingsFor(relayed[0]!.id).map((f) => f.rule);
  t.true(rules.includes('MS703'), rules.join(' '));
  t.false(rules.includes('MS001'), rules.join(' '));
});

test('an analysis stopped by its own limit (100,000 responses) is not called truncated when the body goes on, and the capture is whole', async (t) => {
  let xml = '<D:multistatus xmlns:D="DAV:">';
  for (let i = 0; i < 110_000; i++) xml += `<D:response><D:href>/dav/f-${i}.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>`;
  const body = Buffer.from(xml + '</D:multistatus>');
  const origin = await bigOrigin(t, body, { 'Content-Type': 'application/xml' });
  // analyzeWhole: nothing halts it for being behind; only its own limit stops it.
  const { proxy, relayed, waitForFlows, finish } = await setUp(t, origin, { maxQueuedBytes: MiB, analyzeWhole: true });
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  t.is(sha(got.stdout), sha(body));
  await waitForFlows(1);
  const { stats, store } = await finish();
  t.is(stats.halted, 0);
  const findings = store.findingsFor(relayed[0]!.id);
  const rules = findings.map((f) => f.rule);
  t.regex(findings.find((f) => f.rule === 'MS703')?.message ?? '', /maxResponses 100,000/, rules.join(' '));
  t.false(rules.includes('MS001'), rules.join(' '));
  t.false(findings.some((f) => f.category === 'truncation'), rules.join(' '));
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(flow.analysis!.summary.resources, 100_000);
  t.true(flow.response!.body.captureComplete);
  t.is(sha(flow.response!.body.bytes), sha(body));
});

test('with analyzeWhole a 207 faster than the analysis is relayed at its pace: analyzed whole, no MS703, the queue within its bound', async (t) => {
  const { origin, responses } = await fast207(t, 4 * MiB);
  const bound = MiB;
  const { pipeline, proxy, relayed, waitForFlows, finish } = await setUp(t, origin, { maxQueuedBytes: bound, analyzeWhole: true });
  let peakQueued = 0;
  const sampler = setInterval(() => (peakQueued = Math.max(peakQueued, pipeline.queued().bytes)), 5);
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  clearInterval(sampler);
  t.true(peakQueued <= bound + 2 * MiB, `queued up to ${peakQueued} bytes`);
  t.true(got.stdout.subarray(-40).toString().includes('</D:multistatus>'));
  await waitForFlows(1);
  const { stats, store } = await finish();
  t.is(stats.halted, 0);
  t.is(stats.skipped, 0);
  const findings = store.findingsFor(relayed[0]!.id);
  t.false(findings.some((f) => f.rule === 'MS703'), JSON.stringify(findings.map((f) => f.rule)));
  t.is(store.getFlow(relayed[0]!.id)!.analysis!.summary.resources, responses(), JSON.stringify(findings.map((f) => [f.rule, f.message])));
});

function chunkOf(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
}
