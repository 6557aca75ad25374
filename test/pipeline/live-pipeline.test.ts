// The live pipeline on its worker thread: the relay posts heads, chunks and flows; the worker
// analyzes and records them. Real servers in-process, a real database in a temp dir.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startPipeline, type Pipeline, type PipelineOptions } from '../../src/pipeline/pipeline.js';
import { startTestPipeline } from '../helpers/pipeline.js';
import { openReader } from '../../src/store/index.js';
import { StoreError } from '../../src/errors.js';
import { startDavServer } from '../helpers/webdav.js';
import { startOrigin, response } from '../helpers/origin.js';
import { startTestProxy } from '../helpers/proxy.js';
import type { ProxyHooks } from '../../src/proxy/index.js';
import { curl } from '../helpers/curl.js';

function tempDb(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-live-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'flows.db');
}

interface Started {
  pipeline: Pipeline;
  /** The pipeline's hooks, also counting flows and chunks for the test. */
  hooks: ProxyHooks;
  chunks: Map<string, number>;
  waitForFlows(n: number): Promise<void>;
  lines: string[];
  logs: string[];
  dbPath: string;
}

async function pipelineFor(t: ExecutionContext, options: Partial<PipelineOptions> = {}): Promise<Started> {
  const dbPath = tempDb(t);
  const lines: string[] = [];
  const logs: string[] = [];
  const chunks = new Map<string, number>();
  const started = await startTestPipeline(
    t,
    { dbPath, maxBody: 64 * 1024 * 1024, lines: true, onLines: (ls) => lines.push(...ls), log: (l) => logs.push(l), ...options },
    { onChunk: (id) => chunks.set(id, (chunks.get(id) ?? 0) + 1) },
  );
  return { pipeline: started.pipeline, hooks: started.hooks, chunks, waitForFlows: started.waitForFlows, lines, logs, dbPath };
}

function multistatus(n: number): string {
  let body = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  body += '<D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n';
  for (let i = 1; i < n; i++) {
    body += `<D:response><D:href>/dav/item-${i}.txt</D:href><D:propstat><D:prop><D:getcontentlength>${i}</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  }
  return body + '</D:multistatus>\n';
}

/** An origin that sends `body` as a 207 in pieces of `piece` bytes, one per event-loop turn. */
async function piecewiseOrigin(t: ExecutionContext, body: Buffer, piece: number, declared = body.length) {
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': declared }));
    for (let at = 0; at < body.length; at += piece) {
      socket.write(body.subarray(at, at + piece));
      await new Promise((r) => setTimeout(r, 1));
    }
    if (declared > body.length) socket.end();
  });
  t.teardown(() => origin.close());
  return origin;
}

test('flows through a real WebDAV server are analyzed and recorded by the worker, with their bodies and flow lines', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const { pipeline, hooks, waitForFlows, lines, logs, dbPath } = await pipelineFor(t);
  const proxy = await startTestProxy(t, { upstream: new URL(server.url), hooks });
  await curl(['-X', 'MKCOL', `${proxy.url}dav/live/`]);
  await curl(['-X', 'PUT', '--data-binary', 'hello', `${proxy.url}dav/live/a.txt`]);
  const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/live/`]);
  await curl([`${proxy.url}dav/live/a.txt`]);
  await waitForFlows(4);
  await proxy.close();
  const stats = await pipeline.close();
  t.deepEqual({ enqueued: stats.enqueued, written: stats.written, lost: stats.lost, skipped: stats.skipped }, { enqueued: 4, written: 4, lost: 0, skipped: 0 });
  t.deepEqual(logs, []);

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const rows = store.listFlows({ order: 'asc' });
  t.deepEqual(rows.map((r) => `${r.method} ${r.status} ${r.analyzed}`), ['MKCOL 201 false', 'PUT 201 false', 'PROPFIND 207 true', 'GET 200 false']);
  const propfind = store.getFlow(rows[2]!.id)!;
  // The captured body was rebuilt in the worker from the streamed chunks: the bytes the client got.
  t.is(propfind.response!.body.bytes.toString('utf8'), listing.stdout.toString('utf8'));
  t.true(propfind.response!.body.captureComplete);
  t.is(rows[2]!.resources, 2);
  t.deepEqual(
    store.resourcesFor(rows[2]!.id).map((r) => r.href.replace(/^https?:\/\/[^/]+/, '')),
    ['/dav/live/', '/dav/live/a.txt'],
  );
  // Flows that are not streamed carry their bodies in the final message.
  t.is(store.getFlow(rows[1]!.id)!.request.body.bytes.toString(), 'hello');
  t.is(store.getFlow(rows[3]!.id)!.response!.body.bytes.toString(), 'hello');
  t.is(lines.length, 4);
  // The line carries the worker's analysis summary (webdav-server's absolute hrefs name the
  // upstream's own port, which the analyzer reports: the counts come from the record).
  const f = rows[2]!.findings;
  t.true(lines[2]!.endsWith(`[0/2 failed; ${[f.error ? `E${f.error}` : '', f.warning ? `W${f.warning}` : '', f.info ? `I${f.info}` : ''].filter(Boolean).join(' ')}]`), lines[2]);
  t.regex(lines[2]!, /PROPFIND {2}207 {2}\/dav\/live\/ /);
});

test('a 207 streamed in many pieces is rebuilt byte for byte; the capture cap cuts the record, not the analysis', async (t) => {
  const body = Buffer.from(multistatus(400));
  const origin = await piecewiseOrigin(t, body, 997);
  const { pipeline, hooks, waitForFlows, chunks, dbPath } = await pipelineFor(t, { maxBody: 10_000 });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks, maxBody: 10_000 });
  const got = await curl(['-s', '-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  t.is(got.stdout.length, body.length);
  await waitForFlows(1);
  t.true([...chunks.values()][0]! > 5, 'the body arrived in several chunks');
  await proxy.close();
  await pipeline.close();

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const row = store.listFlows()[0]!;
  const stored = store.getFlow(row.id)!;
  t.true(stored.response!.body.bytes.equals(body.subarray(0, 10_000)));
  t.false(stored.response!.body.captureComplete);
  t.is(stored.response!.body.bytesSeen, body.length);
  // The analyzer saw every chunk, past the capture cap.
  t.is(row.resources, 400);
  t.deepEqual(store.findingsFor(row.id).map((f) => f.rule), []);
});

test('a 207 cut mid-body is recorded with its truncation findings', async (t) => {
  const body = Buffer.from(multistatus(50));
  const cut = body.subarray(0, Math.floor(body.length / 2));
  const origin = await piecewiseOrigin(t, cut, 500, body.length);
  const { pipeline, hooks, waitForFlows, lines, dbPath } = await pipelineFor(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks });
  await curl(['-s', '-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  await waitForFlows(1);
  await proxy.close();
  await pipeline.close();

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const row = store.listFlows()[0]!;
  t.is(row.outcome.kind, 'upstream-aborted');
  t.true(row.analyzed);
  const findings = store.findingsFor(row.id);
  t.true(findings.some((f) => f.category === 'truncation' && f.severity === 'error'), JSON.stringify(findings.map((f) => f.rule)));
  t.true(store.getFlow(row.id)!.response!.body.bytes.equals(cut));
  t.regex(lines[0]!, /upstream-aborted.*\[\d+\/\d+ failed; E\d+/);
});

test('a worker that is behind: flows are still recorded, their analysis skipped and marked (MS703)', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  // No flow may wait for analysis: every analyzable flow counts as arriving while the worker is behind.
  const { pipeline, hooks, waitForFlows, dbPath } = await pipelineFor(t, { maxQueuedFlows: 0 });
  const proxy = await startTestProxy(t, { upstream: new URL(server.url), hooks });
  await curl(['-X', 'MKCOL', `${proxy.url}dav/busy/`]);
  const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/busy/`]);
  await waitForFlows(2);
  await proxy.close();
  const stats = await pipeline.close();
  t.is(stats.skipped, 1);
  t.is(stats.written, 2);

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const [mkcol, propfind] = store.listFlows({ order: 'asc' });
  t.false(mkcol!.analyzed, 'a flow that is never analyzed is not marked');
  t.is(propfind!.resources, 0);
  const findings = store.findingsFor(propfind!.id);
  t.deepEqual(findings.map((f) => [f.rule, f.evidence.skipped]), [['MS703', 'analysis']]);
  t.regex(findings[0]!.message, /^not analyzed: davtap's analysis was behind/);
  // The body is kept: it can be analyzed later (davtap check on an export).
  t.is(store.getFlow(propfind!.id)!.response!.body.bytes.toString(), listing.stdout.toString());
});

test('a flood of small 207s is paced to the analysis: no flow is recorded unanalyzed, and requests did wait', async (t) => {
  const body = multistatus(3);
  const origin = await startOrigin((_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  // Without the pace, 8 connections would queue past 16 unanalyzed flows at once and be skipped.
  const { pipeline, hooks, waitForFlows, dbPath } = await pipelineFor(t, { maxQueuedFlows: 16, paceQueuedFlows: 4 });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());
  const n = 400;
  const statuses = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(`${proxy.url}dav/${i}/`, { method: 'PROPFIND', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        }),
    ),
  );
  t.true(statuses.every((s) => s === 207));
  await waitForFlows(n);
  await proxy.close();
  const stats = await pipeline.close();
  t.like(stats, { skipped: 0, written: n, lost: 0 });
  t.true(stats.paced > 0, 'requests waited for the analysis');
  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const rows = store.listFlows({ limit: 1000 });
  t.is(rows.length, n);
  t.true(rows.every((r) => r.analyzed && r.resources === 3));
});

test('a worker far behind: bodies are not kept either, and the flow says so', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const { pipeline, hooks, waitForFlows, dbPath } = await pipelineFor(t, { maxQueuedBytes: 0 });
  const proxy = await startTestProxy(t, { upstream: new URL(server.url), hooks });
  await curl(['-X', 'MKCOL', `${proxy.url}dav/far/`]);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/far/`]);
  await waitForFlows(2);
  await proxy.close();
  const stats = await pipeline.close();
  t.is(stats.written, 2);

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const propfind = store.listFlows({ order: 'asc' })[1]!;
  t.is(propfind.method, 'PROPFIND');
  t.false(propfind.captureComplete);
  t.is(store.getFlow(propfind.id)!.response!.body.bytes.length, 0);
  t.deepEqual(store.findingsFor(propfind.id).map((f) => [f.rule, f.evidence.skipped]), [['MS703', 'bodies']]);
});

test('closing right after a burst: every flow seen is analyzed and committed', async (t) => {
  const body = multistatus(30);
  const origin = await startOrigin((_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  const { pipeline, hooks, waitForFlows, dbPath } = await pipelineFor(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks });
  const n = 40;
  await Promise.all(Array.from({ length: n }, (_, i) => curl(['-s', '-o', '/dev/null', '-X', 'PROPFIND', `${proxy.url}dav/${i}/`])));
  await waitForFlows(n);
  await proxy.close();
  // No wait for the worker: close itself must drain the batches, the analyses and the writer.
  const stats = await pipeline.close();
  t.like(stats, { enqueued: n, written: n, failed: 0, dropped: 0, lost: 0 });
  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const rows = store.listFlows({ limit: 1000 });
  t.is(rows.length, n);
  t.true(rows.every((r) => r.analyzed && r.resources === 30));
});

test('a database that cannot be opened is a StoreError from startPipeline, before anything relays', async (t) => {
  const dir = path.dirname(tempDb(t));
  const error = await t.throwsAsync(
    startPipeline({ dbPath: dir, maxBody: 1024, lines: false, onLines: () => {}, log: () => {} }),
  );
  t.true(error instanceof StoreError, String(error));
});

test('a flow the store refuses is logged once and counted, and the rest are still recorded', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const { pipeline, hooks, waitForFlows, logs, dbPath } = await pipelineFor(t);
  const proxy = await startTestProxy(t, {
    upstream: new URL(server.url),
    // The same flow handed over twice: the store's unique flow id refuses the second copy.
    hooks: { ...hooks, onFlow: (flow) => (hooks.onFlow(flow), flow.request.method === 'MKCOL' ? hooks.onFlow(structuredClone(flow)) : undefined) },
  });
  await curl(['-X', 'MKCOL', `${proxy.url}dav/twice/`]);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy.url}dav/twice/`]);
  await waitForFlows(3);
  await proxy.close();
  const stats = await pipeline.close();
  t.like(stats, { enqueued: 3, written: 2, failed: 1, lost: 0 });
  t.is(logs.length, 1, logs.join('\n'));
  t.regex(logs[0]!, /^davtap: recording failed \(relaying goes on\): .*UNIQUE/);
  const store = openReader(dbPath);
  t.teardown(() => store.close());
  t.deepEqual(store.listFlows({ order: 'asc' }).map((r) => r.method), ['MKCOL', 'PROPFIND']);
});
