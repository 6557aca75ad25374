// The pipeline worker: owns the analyzers and the store writer, off the relay thread. It rebuilds
// the relay's hook calls from the batches it is sent (pipeline-protocol.ts) and runs the same live
// pipeline a single-threaded davtap would, so the analysis and the record are the same.
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openStore, createFlowWriter, createSpooler, type BodySpool, type FlowWriter, type Spooler, type Store } from '../store/index.js';
import { DecodedCopy, decodableEncoding } from '../tap/decode.js';
import { Reclaimer, reclaimHeapNow } from '../proxy/reclaim.js';
import type { StoreError } from '../errors.js';
import type { CapturedBody, Flow, FlowStart } from '../types.js';
import { createLivePipeline, skippedAnalysis } from './live.js';
import { firstHeader } from '../http/headers.js';
import { flowLine } from './flow-line.js';
import { createRedactor } from '../redact/index.js';
import { ListingHistory } from './listing-history.js';
import { unpack, unpackTail, type WireEvent } from './pipeline-protocol.js';
import type { FlowEvent, FlowTail, FromWorker, Span, ToWorker, WorkerSettings, WriteEvent } from './pipeline-protocol.js';

// No lowered priority for this thread: under a flood the relay keeps the analysis's pace
// (pipeline.ts), so a worker that yielded the CPU to every other process would set that pace.
// On Linux the thread is named, so that `top -H` and the benchmarks tell its CPU from the relay's.
if (process.platform === 'linux') {
  try {
    writeFileSync('/proc/thread-self/comm', 'davtap-pipeline');
  } catch {
    /* an older kernel or a restricted /proc: the thread keeps Node's name */
  }
}
const port = parentPort!;
const settings = workerData as WorkerSettings;
const send = (msg: FromWorker) => port.postMessage(msg);

let store: Store;
let writer: FlowWriter;
let spooler: Spooler;
let lastStoreError = '';
const logs: string[] = [];
const lines: string[] = [];
let handledBytes = 0;
let doneFlows = 0;
/** Streaming flows whose analysis stopped reading (a limit): the relay need not send it their bytes. */
let doneReading: string[] = [];

try {
  store = openStore(settings.dbPath, settings.maxDbSize !== undefined ? { maxDbSize: settings.maxDbSize } : {});
  writer = createFlowWriter(store, {
    maxBodyBytes: settings.maxBody,
    onError: (err: StoreError) => {
      if (err.message !== lastStoreError) logs.push(`davtap: recording failed (relaying goes on): ${err.message}`);
      lastStoreError = err.message;
      report();
    },
    // Tells the relay thread how many flows are settled, for the UI's "pending" count.
    onCommit: () => reportSoon(),
  });
  spooler = createSpooler(store, {
    onError: (err: StoreError) => {
      logs.push(`davtap: recording failed (relaying goes on): ${err.message}`);
      report();
    },
  });
  spooler.removeOrphans();
} catch (err) {
  send({ fatal: err instanceof Error ? err.message : String(err) });
  port.close();
  process.exit(1);
}

let lastReport = 0;
let reportTimer: NodeJS.Timeout | null = null;

function report(): void {
  lastReport = performance.now();
  if (reportTimer) {
    clearTimeout(reportTimer);
    reportTimer = null;
  }
  const s = writer.stats();
  send({ handledBytes, doneFlows, settled: s.written + s.failed + s.dropped, lines: lines.splice(0), logs: logs.splice(0), ...(doneReading.length > 0 ? { doneReading } : {}) });
  doneReading = [];
  handledBytes = 0;
  doneFlows = 0;
}

// MS403 across time: each finished flow, in order, against the listings and removals seen before.
const history = new ListingHistory();
let historyFailed = false;

/** Adds the history's finding to the flow's analysis, as one more finding of the analyzer's. */
function checkHistory(flow: Flow): void {
  try {
    const finding = history.observe(flow);
    if (!finding || !flow.analysis) return;
    flow.analysis.findings.push(finding);
    flow.analysis.summary.findings[finding.severity]++;
  } catch (err) {
    // A bug here must not cost the record: the flow goes on without the comparison.
    if (!historyFailed) logs.push(`davtap: listing history failed (MS403 across listings is off from here): ${(err as Error).stack ?? String(err)}`);
    historyFailed = true;
  }
}

/** A removing request went upstream: the history counts it as in flight until its flow ends. */
function noteWrite(ev: WriteEvent): void {
  try {
    history.writeStarted({ id: ev.id, method: ev.method, url: ev.url, target: ev.target, requestHeaders: ev.rawHeaders, at: ev.at });
  } catch (err) {
    logs.push(`davtap: listing history failed (MS403 across listings is off from here): ${(err as Error).stack ?? String(err)}`);
    historyFailed = true;
  }
}

const lineRedactor = createRedactor({ enabled: settings.showSecrets !== true });

/**
 * Sandwich mode: the gateway differences found against the flow's back leg join its own findings,
 * and its own findings that one of them explains become that difference's consequences.
 */
function addPairFindings(flow: Flow): void {
  const pair = flow.pairFindings;
  delete flow.pairFindings;
  if (!pair) return;
  // A front flow that is no 207 (a 502 page for the origin's 207) has no analysis of its own.
  flow.analysis ??= { findings: [], resources: [], summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 0, warning: 0, info: 0 }, text: 'compared with the back leg' } };
  for (const f of flow.analysis.findings) {
    const cause = pair.consequences[f.rule];
    if (cause !== undefined && f.consequenceOf === undefined) f.consequenceOf = cause;
  }
  for (const f of pair.findings) {
    flow.analysis.findings.push(f);
    flow.analysis.summary.findings[f.severity]++;
  }
}

function record(flow: Flow): void {
  addPairFindings(flow);
  if (!historyFailed) checkHistory(flow);
  writer.enqueue(flow);
  doneFlows++;
  if (settings.lines) lines.push(flowLine(flow, lineRedactor));
  if ((flow.analysis?.resources.length ?? 0) >= LARGE_LEDGER || (flow.response?.body.bytesSeen ?? 0) >= LARGE_BODY) reclaimSoon();
}

/** A flow this large leaves tens of MiB of heap behind once recorded: memory is given back after it. */
const LARGE_LEDGER = 50_000;
const LARGE_BODY = 32 * 1024 * 1024;
let reclaimPending = false;

function reclaimSoon(): void {
  if (reclaimPending) return;
  reclaimPending = true;
  // Right after the batch that finished it (the next flow's bytes may be queued already): once
  // written, the flow and its ledger are garbage; commit, then collect them.
  setImmediate(() => {
    reclaimPending = false;
    writer.flush();
    reclaimHeapNow();
  });
}

const reclaimer = new Reclaimer();

const pipeline = createLivePipeline({ log: (line) => logs.push(line), onFlow: record });

/**
 * Per streamed flow: its start, whether it is analyzed, and its captured body (the relay keeps no
 * copy): spooled to the store in parts when large, and decoded here when content-encoded.
 */
interface Streamed {
  start: FlowStart;
  analyze: boolean;
  body: BodySpool;
  decoder: DecodedCopy | null;
  decoded: BodySpool | null;
}
const streamed = new Map<string, Streamed>();

function startStreamed(start: FlowStart, analyze: boolean): void {
  const encoding = decodableEncoding(firstHeader(start.response.rawHeaders, 'content-encoding'));
  const decoded = encoding ? spooler.open(start.id, 'decoded', settings.maxBody) : null;
  streamed.set(start.id, {
    start,
    analyze,
    body: spooler.open(start.id, 'response', settings.maxBody),
    decoder: encoding && decoded ? new DecodedCopy(encoding, settings.maxBody, (chunk) => decoded.add(chunk)) : null,
    decoded,
  });
}

/**
 * Puts a streamed flow's captured body (and decoded copy) on the flow. Async only when there is a
 * decoded copy to wait for (zlib runs off this thread).
 */
function completeStreamed(flow: Flow, s: Streamed): Promise<void> | null {
  const response = flow.response!;
  const body = s.body.finish();
  response.body.bytes = body.bytes;
  if (body.spooled !== undefined) {
    response.body.spooled = body.spooled;
    // A failed transfer of a body not analyzed as it streamed is analyzed from its capture
    // (live.ts): read the parts back for that, the rare case.
    if (!s.analyze && flow.outcome.kind !== 'complete' && response.body.captureComplete) response.body.bytes = store.spooledBody(flow.id, 'response');
  }
  if (!s.decoder || !s.decoded) return null;
  const decodedSpool = s.decoded;
  return s.decoder.finish(flow.outcome.kind === 'complete').then((result) => {
    const copy = decodedSpool.finish();
    response.decoded = { ...result.body, bytes: copy.bytes, ...(copy.spooled !== undefined ? { spooled: copy.spooled } : {}) };
    if (result.error !== undefined) response.decodeError = result.error;
  });
}

/** A streamed flow: its start event and its tail. */
function joined(tail: FlowTail): Flow {
  const start = streamed.get(tail.id)!.start;
  return {
    id: tail.id,
    mode: start.mode,
    client: tail.client,
    timings: tail.timings,
    request: { ...start.request, body: { ...tail.requestBody, bytes: Buffer.alloc(0) } },
    response: {
      ...start.response,
      body: { ...tail.response.body, bytes: Buffer.alloc(0) },
      decoded: tail.response.decoded ? { ...tail.response.decoded, bytes: Buffer.alloc(0) } : null,
      ...(tail.response.decodeError !== undefined ? { decodeError: tail.response.decodeError } : {}),
      informational: tail.response.informational,
      rawTrailers: tail.response.rawTrailers,
      ...(tail.response.surplus !== undefined ? { surplus: tail.response.surplus } : {}),
    },
    outcome: tail.outcome,
    ...(tail.injected !== undefined ? { injected: tail.injected } : {}),
    ...tail.sandwich,
  };
}

function flowOf(ev: FlowEvent, bytes: (at: Span) => Buffer): Flow {
  const flow = ev.tail ? joined(ev.tail) : ev.flow!;
  flow.request.body.bytes = bytes(ev.requestBody);
  if (flow.response && ev.response !== 'streamed') {
    const body: CapturedBody = flow.response.body;
    body.bytes = ev.response ? bytes(ev.response) : Buffer.alloc(0);
    if (flow.response.decoded) flow.response.decoded.bytes = ev.decoded ? bytes(ev.decoded) : Buffer.alloc(0);
  }
  return flow;
}

function settle(flow: Flow, ev: FlowEvent): void {
  if (ev.skipped) {
    flow.analysis = skippedAnalysis(ev.skipped.what, ev.skipped.queuedBytes, ev.skipped.queuedFlows);
    record(flow);
  } else {
    pipeline.hooks.onFlow(flow);
  }
}

// Flows go to the writer in the order they ended: one waiting for its decoded copy holds back
// those behind it.
let ordered: Promise<void> | null = null;
let waiting = 0;

function finishFlow(ev: FlowEvent, flow: Flow): void {
  const s = ev.response === 'streamed' ? streamed.get(flow.id) : undefined;
  if (s) streamed.delete(flow.id);
  const pending = s ? completeStreamed(flow, s) : null;
  if (!pending && !ordered) {
    settle(flow, ev);
    return;
  }
  waiting++;
  const previous = ordered ?? Promise.resolve();
  ordered = Promise.all([previous, pending]).then(() => {
    try {
      settle(flow, ev);
    } catch (err) {
      // Not expected (settling catches its own failures); the flows behind must not wait forever.
      logs.push(`davtap: internal error while recording flow ${flow.id}: ${(err as Error).stack ?? String(err)}`);
    }
    if (--waiting === 0) ordered = null;
  });
}

function handle(events: WireEvent[], buffer: ArrayBuffer): void {
  const bytes = (at: Span) => Buffer.from(buffer, at[0], at[1]);
  for (const wire of events) {
    if (Array.isArray(wire) && wire[0] === 't') {
      // A streamed flow's end: joined with its start event straight into the Flow.
      const s = streamed.get(wire[1]);
      if (s) {
        const ev = unpackTail(wire, s.start);
        finishFlow(ev, flowOf(ev, bytes));
        continue;
      }
    }
    const ev = unpack(wire);
    if (ev.k === 'halt') {
      const s = streamed.get(ev.id);
      if (s?.analyze) {
        s.analyze = false;
        pipeline.halt(ev.id, ev.why);
      }
    } else if (ev.k === 'chunk') {
      const chunk = bytes(ev.at);
      const s = streamed.get(ev.id);
      if (!s) continue;
      if (s.analyze) {
        pipeline.hooks.onResponseChunk!(ev.id, chunk);
        if (pipeline.doneReading(ev.id)) {
          s.analyze = false;
          doneReading.push(ev.id);
        }
      }
      s.body.add(chunk);
      s.decoder?.write(chunk);
    } else if (ev.k === 'write') {
      if (!historyFailed) noteWrite(ev);
    } else if (ev.k === 'start') {
      ev.start.request.body.bytes = bytes(ev.requestBody);
      startStreamed(ev.start, ev.analyze);
      if (ev.analyze) pipeline.hooks.onResponseStart!(ev.start);
    } else {
      finishFlow(ev, flowOf(ev, bytes));
    }
  }
}

// Progress goes back at most every 10 ms: each message costs the relay thread a turn.
function reportSoon(): void {
  if (performance.now() - lastReport >= 10) report();
  else reportTimer ??= setTimeout(report, 10);
}

// Under a steady stream of batches the writer's own timer was seen not to fire for seconds (the
// port's messages kept the loop busy): commits are driven from here too. A worker may hold its own
// loop for a whole transaction; nothing waits on it.
let lastFlush = performance.now();
function flushIfDue(): void {
  if (performance.now() - lastFlush < 50) return;
  writer.flush();
  lastFlush = performance.now();
}

port.on('message', (msg: ToWorker) => {
  if ('close' in msg) {
    if (reportTimer) clearTimeout(reportTimer);
    void Promise.resolve(ordered).then(() => writer.close()).then(() => {
      const s = writer.stats();
      report();
      store.close();
      send({ closed: { enqueued: s.enqueued, written: s.written, failed: s.failed, dropped: s.dropped }, lastStoreError });
      port.close();
    });
    return;
  }
  handle(msg.batch, msg.bytes);
  handledBytes += msg.bytes.byteLength;
  // The batch's buffer is garbage now: collected promptly rather than after tens of MiB.
  reclaimer.note(msg.bytes.byteLength);
  flushIfDue();
  reportSoon();
});

send({ ready: true });
