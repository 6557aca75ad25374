// The pipeline worker: owns the analyzers and the store writer, off the relay thread. It rebuilds
// the relay's hook calls from the batches it is sent (pipeline-protocol.ts) and runs the same live
// pipeline a single-threaded davtap would, so the analysis and the record are the same.
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openStore, createFlowWriter, type FlowWriter, type Store } from '../store/index.js';
import type { StoreError } from '../errors.js';
import type { CapturedBody, Flow, FlowStart } from '../types.js';
import { createLivePipeline, skippedAnalysis } from './live.js';
import { flowLine } from './flow-line.js';
import { unpack, type WireEvent } from './pipeline-protocol.js';
import type { FlowEvent, FlowTail, FromWorker, Span, ToWorker, WorkerSettings } from './pipeline-protocol.js';

// Relaying comes first: when the CPU is short (2 cores shared with the client and the server),
// this thread yields to the relay thread. On Linux a nice value is per thread, so this lowers only
// the worker's (and threads it starts); elsewhere it may apply to the process or fail: then the
// worker just runs at the usual priority.
if (process.platform === 'linux') {
  try {
    os.setPriority(10);
  } catch {
    /* not allowed here: the usual priority */
  }
}

const port = parentPort!;
const settings = workerData as WorkerSettings;
const send = (msg: FromWorker) => port.postMessage(msg);

let store: Store;
let writer: FlowWriter;
let lastStoreError = '';
const logs: string[] = [];
const lines: string[] = [];
let handledBytes = 0;
let doneFlows = 0;

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
  send({ handledBytes, doneFlows, settled: s.written + s.failed + s.dropped, lines: lines.splice(0), logs: logs.splice(0) });
  handledBytes = 0;
  doneFlows = 0;
}

function record(flow: Flow): void {
  writer.enqueue(flow);
  doneFlows++;
  if (settings.lines) lines.push(flowLine(flow));
}

const pipeline = createLivePipeline({ log: (line) => logs.push(line), onFlow: record });

/** Per streamed flow: its start, and its chunks up to the capture cap, to rebuild its captured body. */
const streamed = new Map<string, { start: FlowStart; chunks: Buffer[]; kept: number }>();

function rebuild(id: string, length: number): Buffer {
  const s = streamed.get(id);
  streamed.delete(id);
  if (!s) return Buffer.alloc(0);
  if (s.kept < length) logs.push(`davtap: internal error: flow ${id} has ${s.kept} of ${length} captured bytes`);
  return Buffer.concat(s.chunks, Math.min(length, s.kept));
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
    },
    outcome: tail.outcome,
    ...(tail.injected !== undefined ? { injected: tail.injected } : {}),
  };
}

function flowOf(ev: FlowEvent, bytes: (at: Span) => Buffer): Flow {
  const flow = ev.tail ? joined(ev.tail) : ev.flow!;
  flow.request.body.bytes = bytes(ev.requestBody);
  if (flow.response) {
    const body: CapturedBody = flow.response.body;
    body.bytes = ev.response === 'streamed' ? rebuild(flow.id, ev.responseLength) : ev.response ? bytes(ev.response) : Buffer.alloc(0);
    if (flow.response.decoded) flow.response.decoded.bytes = ev.decoded ? bytes(ev.decoded) : Buffer.alloc(0);
  }
  return flow;
}

function handle(events: WireEvent[], buffer: ArrayBuffer): void {
  const bytes = (at: Span) => Buffer.from(buffer, at[0], at[1]);
  for (const wire of events) {
    const ev = unpack(wire);
    if (ev.k === 'chunk') {
      const chunk = bytes(ev.at);
      pipeline.hooks.onResponseChunk!(ev.id, chunk);
      const s = streamed.get(ev.id);
      if (s && s.kept < settings.maxBody) {
        const part = chunk.length <= settings.maxBody - s.kept ? chunk : chunk.subarray(0, settings.maxBody - s.kept);
        s.chunks.push(part);
        s.kept += part.length;
      }
    } else if (ev.k === 'start') {
      ev.start.request.body.bytes = bytes(ev.requestBody);
      streamed.set(ev.start.id, { start: ev.start, chunks: [], kept: 0 });
      pipeline.hooks.onResponseStart!(ev.start);
    } else {
      const flow = flowOf(ev, bytes);
      if (ev.skipped) {
        flow.analysis = skippedAnalysis(ev.skipped.what, ev.skipped.queuedBytes, ev.skipped.queuedFlows);
        record(flow);
      } else {
        pipeline.hooks.onFlow(flow);
      }
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
    void writer.close().then(() => {
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
  flushIfDue();
  reportSoon();
});

send({ ready: true });
