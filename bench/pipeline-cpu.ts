// `node --import tsx bench/pipeline-cpu.ts [FLOWS]`: the live pipeline's CPU per flow without the
// wire: the built pipeline (dist/) is driven through its proxy hooks, as the relay calls them, with
// small PROPFIND Depth 0 flows answered by Apache's 207 (the flood of bench/perf.bench.ts), 8 flows
// per event-loop turn, paced to stay under the backlog bound. Prints the relay thread's CPU per flow
// (posting, plus this driver's own cost measured with hooks that do nothing) and the pipeline
// threads' (analysis and recording). Quieter than a wrk run: no client, server or sockets share the
// cores. `--cpu-prof` on this command profiles both threads.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as PipelineModule from '../src/pipeline/pipeline.js';
import type { ProxyHooks } from '../src/proxy/index.js';
import type { Flow, FlowStart } from '../src/types.js';
import { threadCpu } from './lib/threads.js';

const FLOWS = Number(process.argv[2] ?? 40_000);
const PER_TURN = 8;
const DIST = new URL('../dist/src/', import.meta.url);

const REQUEST_BODY = Buffer.from(
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
    '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n',
);
const RESPONSE_BODY = Buffer.from(
  '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">\n<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:g0="DAV:">\n' +
    '<D:href>/bench/</D:href>\n<D:propstat>\n<D:prop>\n<lp1:resourcetype><D:collection/></lp1:resourcetype>\n<lp1:getlastmodified>Mon, 07 Dec 2026 21:46:34 GMT</lp1:getlastmodified>\n' +
    '<lp1:getetag>"1000-6621228d39e2f"</lp1:getetag>\n<D:getcontenttype>httpd/unix-directory</D:getcontenttype>\n</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n' +
    '<D:propstat>\n<D:prop>\n<g0:getcontentlength/>\n</D:prop>\n<D:status>HTTP/1.1 404 Not Found</D:status>\n</D:propstat>\n</D:response>\n</D:multistatus>\n',
);

/** One flow through the hooks, as the relay makes it (objects built per flow, as the relay does). */
function oneFlow(hooks: ProxyHooks, port: number): void {
  const id = randomUUID();
  const start = Date.now();
  const request = {
    method: 'PROPFIND',
    url: 'http://127.0.0.1:8081/bench/',
    target: '/bench/',
    httpVersion: '1.1',
    rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '0', 'Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(REQUEST_BODY.length)],
    body: { bytes: REQUEST_BODY, bytesSeen: REQUEST_BODY.length, captureComplete: true },
  };
  const rawHeaders = ['Date', 'Mon, 07 Dec 2026 21:46:35 GMT', 'Server', 'Apache/2.4.71 (Debian)', 'Vary', 'Accept-Encoding', 'Content-Length', String(RESPONSE_BODY.length), 'Content-Type', 'text/xml; charset="utf-8"'];
  hooks.onRequestStart?.({ id, method: request.method, url: request.url, target: request.target, rawHeaders: request.rawHeaders, at: start });
  const head = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders, framing: 'content-length' as const, declaredLength: RESPONSE_BODY.length };
  const fs: FlowStart = { id, mode: 'reverse', timings: { start, firstByte: start, end: null }, request, response: head };
  hooks.onResponseStart?.(fs);
  hooks.onResponseChunk?.(id, RESPONSE_BODY);
  const flow: Flow = {
    id,
    mode: 'reverse',
    client: { address: '127.0.0.1', port },
    timings: { start, firstByte: start, end: Date.now() },
    request,
    response: { ...head, body: { bytes: Buffer.alloc(0), bytesSeen: RESPONSE_BODY.length, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
    outcome: { kind: 'complete' },
  };
  hooks.onFlow(flow);
}

async function drive(hooks: ProxyHooks, backlog: () => number): Promise<number> {
  const before = threadCpu(process.pid)!;
  for (let sent = 0; sent < FLOWS; ) {
    for (let i = 0; i < PER_TURN && sent < FLOWS; i++, sent++) oneFlow(hooks, 40000 + (sent % 8));
    await new Promise((r) => setImmediate(r));
    while (backlog() > 2000) await new Promise((r) => setTimeout(r, 5));
  }
  return threadCpu(process.pid)!.relayMs - before.relayMs;
}

const work = await mkdtemp(path.join(tmpdir(), 'davtap-pipeline-cpu-'));
try {
  const idle = await drive({ onFlow: () => {} }, () => 0);
  const { startPipeline } = (await import(new URL('pipeline/pipeline.js', DIST).href)) as typeof PipelineModule;
  void pathToFileURL;
  const pipeline = await startPipeline({ dbPath: path.join(work, 'p.db'), maxBody: 64 * 1024 * 1024, lines: false, onLines: () => {}, log: (l) => process.stderr.write(`${l}\n`) });
  const before = threadCpu(process.pid)!;
  const t0 = performance.now();
  const relayMs = await drive(pipeline.hooks, () => pipeline.queued().flows);
  while (pipeline.pending() > 0) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - t0) / 1000;
  const after = threadCpu(process.pid)!;
  const stats = await pipeline.close();
  const per = (ms: number) => (ms / FLOWS).toFixed(4);
  process.stdout.write(
    `pipeline-cpu: ${FLOWS} flows in ${seconds.toFixed(1)} s (${(FLOWS / seconds).toFixed(0)} flows/s), skipped ${stats.skipped}; CPU ms/flow: ` +
      `relay thread ${per(relayMs - idle)} (posting; the driver's own ${per(idle)} taken off), pipeline threads ${per(after.pipelineMs - before.pipelineMs)}, other ${per(after.otherMs - before.otherMs)}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
