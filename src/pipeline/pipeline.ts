// The relay thread's side of the live pipeline: analysis and recording run on a worker thread
// (pipeline-worker.ts), so that relaying does not wait on them flow by flow. The hooks here only
// copy bytes into the next batch and post it every 8 ms (pipeline-protocol.ts).
//
// Paced: the relay thread counts the flows it posted that the worker has not analyzed. Past
// paceQueuedFlows, connections start no new request until the worker is down to 3/4 of it: a
// flood of requests is relayed at the pace it is analyzed (the flows under way go on).
// Bounded: above the limits (bytes posted and not handled, flows not analyzed), new flows are still
// recorded but not analyzed (a finding says so); far above (twice the byte limit), their bodies are
// not kept either. Inside one body: past the byte limit a streaming analysis halts (MS703) and the
// relay goes on at full speed, copying for the worker only what the capture keeps (--max-body), and
// waiting (hooks.bodyPace) while the worker is behind on that; with analyzeWhole the relay waits for
// the analysis instead, at the analysis's pace. Memory stays bounded whatever the worker's pace, and
// no flow goes missing without a trace.
import { Worker } from 'node:worker_threads';
import { StoreError } from '../errors.js';
import type { BodyPace, Pace, ProxyHooks } from '../proxy/index.js';
import type { Flow, FlowStart } from '../types.js';
import { isAnalyzable, mib } from './live.js';
import { pack, packTail, type WireEvent } from './pipeline-protocol.js';

/** Requests that may take members out of a collection (see src/analysis/history.ts). */
const REMOVING_METHODS = new Set(['DELETE', 'MOVE', 'COPY']);
import type { ClosedStats, FlowEvent, FlowTail, FromWorker, PipelineEvent, SkipReason, Span, ToWorker, WorkerSettings } from './pipeline-protocol.js';

export interface PipelineOptions extends WorkerSettings {
  /**
   * Receives the `--no-ui` flow lines (when `lines` is set), in the order flows finished: those
   * that came together at once, so that a busy proxy writes them with one write.
   */
  onLines(lines: string[]): void;
  log(line: string): void;
  /**
   * Bytes posted and not yet handled by the worker at which new flows are no longer analyzed and a
   * body streaming faster than the worker handles it waits or has its analysis halted (default
   * 16 MiB); at twice this, bodies are not kept either.
   */
  maxQueuedBytes?: number;
  /**
   * A body the worker analyzes more slowly than it arrives is relayed at the analysis's pace (its
   * upstream waits while the queue is over maxQueuedBytes), so that it is analyzed whole; by default
   * its analysis halts there (MS703) and the relay goes on at full speed.
   */
  analyzeWhole?: boolean;
  /** Flows posted and not yet analyzed at which new flows are no longer analyzed (default 20,000). */
  maxQueuedFlows?: number;
  /**
   * Flows posted and not yet analyzed at which the relay starts no new request until the worker is
   * down to three quarters of it (default 1,000, and at most half of maxQueuedFlows; 0: never): under a flood
   * of requests, relaying keeps the pace of the analysis instead of recording flows unanalyzed.
   */
  paceQueuedFlows?: number;
}

export interface PipelineStats extends ClosedStats {
  /** Flows the relay handed over that never reached the writer (the worker failed). */
  lost: number;
  /** Flows recorded without analysis because the worker was behind. */
  skipped: number;
  /** Flows whose analysis stopped in the middle of their body because the worker was behind. */
  halted: number;
  /** Times a connection's next request waited for the analysis to catch up (see paceQueuedFlows). */
  paced: number;
  lastStoreError: string;
}

export interface Pipeline {
  hooks: ProxyHooks;
  /** Flows whose response is still streaming. */
  inFlight(): number;
  /** Flows seen by the relay and not yet committed (or failed) by the writer. */
  pending(): number;
  /** What is posted and not yet handled by the worker. */
  queued(): { bytes: number; flows: number };
  /** Sends what is left, waits for every flow to be analyzed and committed, stops the worker. */
  close(): Promise<PipelineStats>;
}

const EMPTY = Buffer.alloc(0);
/**
 * How long the relay gathers events before posting them. Each message costs both threads a turn
 * (the structured clone, the worker's dispatch, its progress report): under a flood of small
 * flows, one message per event-loop turn carried one or two flows. Relaying never waits on it.
 * 8 ms rather than 2: a quarter of the messages, and both threads spend less per flow (relay
 * 0.112 -> 0.100 ms, worker 0.185 -> 0.159 ms per small PROPFIND under wrk -t2 -c8, interleaved
 * A/B, bench/relay-ab.ts); a flow is recorded at most 6 ms later, which nobody sees.
 */
const BATCH_MS = 8;
/** A batch holding this many body bytes goes at once (large bodies: bounded copies, steady flow). */
const BATCH_BYTES = 1024 * 1024;

function startWorker(settings: WorkerSettings): Worker {
  if (import.meta.url.endsWith('.ts')) {
    // Under tsx (tests, bench) this module is TypeScript and so is the worker. A worker does not
    // get the parent's loader hooks, and `--import tsx` in its execArgv registers them too late
    // for its entry file (Node 20): register tsx's hooks first, then import the entry.
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./pipeline-worker.ts', import.meta.url).href;
    const source = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(source, { eval: true, workerData: settings, execArgv: [] });
  }
  return new Worker(new URL('./pipeline-worker.js', import.meta.url), { workerData: settings });
}

function tailOf(flow: Flow, response: NonNullable<Flow['response']>): FlowTail {
  const { bytesSeen, captureComplete } = flow.request.body;
  return {
    id: flow.id,
    client: flow.client,
    timings: flow.timings,
    outcome: flow.outcome,
    ...(flow.injected !== undefined ? { injected: flow.injected } : {}),
    ...(flow.leg !== undefined ? { sandwich: { leg: flow.leg, ...(flow.pairedWith !== undefined ? { pairedWith: flow.pairedWith } : {}), ...(flow.pairFindings ? { pairFindings: flow.pairFindings } : {}) } } : {}),
    requestBody: { bytesSeen, captureComplete },
    response: {
      body: { bytesSeen: response.body.bytesSeen, captureComplete: response.body.captureComplete },
      decoded: response.decoded ? { bytesSeen: response.decoded.bytesSeen, captureComplete: response.decoded.captureComplete } : null,
      ...(response.decodeError !== undefined ? { decodeError: response.decodeError } : {}),
      informational: response.informational,
      rawTrailers: response.rawTrailers,
      ...(response.surplus !== undefined ? { surplus: response.surplus } : {}),
    },
  };
}

/** Starts the worker; resolves once it has opened the store (a StoreError when it cannot). */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
  const analyzeWhole = options.analyzeWhole === true;
  const maxQueuedFlows = options.maxQueuedFlows ?? 20_000;
  const paceFlows = Math.min(options.paceQueuedFlows ?? 1_000, Math.floor(maxQueuedFlows / 2));
  const settings: WorkerSettings = {
    dbPath: options.dbPath,
    ...(options.maxDbSize !== undefined ? { maxDbSize: options.maxDbSize } : {}),
    maxBody: options.maxBody,
    lines: options.lines,
    ...(options.showSecrets === true ? { showSecrets: true } : {}),
  };
  const worker = startWorker(settings);

  let closed: ((stats: PipelineStats) => void) | null = null;
  let dead = false;
  let postedFlows = 0;
  let doneFlows = 0;
  let settled = 0;
  let queuedBytes = 0;
  let skipped = 0;
  /** Flows whose analysis stopped mid-body because the worker was behind. */
  let halted = 0;
  let pacedCount = 0;
  let final: (ClosedStats & { lastStoreError: string }) | null = null;

  const finalStats = (): PipelineStats => {
    const lost = postedFlows - doneFlows;
    const base = final ?? { enqueued: doneFlows, written: 0, failed: 0, dropped: 0, lastStoreError: '' };
    return { ...base, lost, skipped, halted, paced: pacedCount };
  };

  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number) => reject(new StoreError(`the pipeline worker exited (${code}) before opening the store`));
    worker.once('exit', onExit);
    worker.once('error', reject);
    worker.once('message', (msg: FromWorker) => {
      worker.off('exit', onExit);
      worker.off('error', reject);
      if ('fatal' in msg) {
        reject(new StoreError(msg.fatal));
        return;
      }
      resolve();
    });
  });

  // Requests held back by the pace (see paceQueuedFlows), released once the worker caught up.
  let paced: Array<() => void> = [];
  let stopping = false;
  // Bodies held while the worker is behind on their bytes (see bodyPace), released at half the bound.
  let bodiesWaiting: Array<() => void> = [];
  const releaseBodies = () => {
    const waiting = bodiesWaiting;
    bodiesWaiting = [];
    for (const resume of waiting) resume();
  };
  const release = () => {
    const waiting = paced;
    paced = [];
    for (const resume of waiting) resume();
    releaseBodies();
  };
  const pace: Pace | undefined =
    paceFlows > 0
      ? {
          held: () => !dead && !stopping && postedFlows - doneFlows >= paceFlows,
          whenFree: (resume) => {
            if (dead || stopping || postedFlows - doneFlows < paceFlows) resume();
            else {
              pacedCount++;
              paced.push(resume);
            }
          },
        }
      : undefined;

  worker.on('message', (msg: FromWorker) => {
    if ('handledBytes' in msg) {
      queuedBytes -= msg.handledBytes;
      doneFlows += msg.doneFlows;
      if (paced.length > 0 && postedFlows - doneFlows <= (paceFlows * 3) / 4) release();
      // Analyses that stopped reading (a limit): their bodies are copied on only as far as the capture keeps.
      for (const id of msg.doneReading ?? []) {
        const s = streaming.get(id);
        if (s) s.analyze = false;
      }
      if (bodiesWaiting.length > 0 && queuedBytes + batchBytes <= maxQueuedBytes / 2) releaseBodies();
      settled = msg.settled;
      for (const line of msg.logs) options.log(line);
      if (msg.lines.length > 0) options.onLines(msg.lines);
    } else if ('closed' in msg) {
      final = { ...msg.closed, lastStoreError: msg.lastStoreError };
    }
  });
  worker.on('error', (err) => {
    dead = true;
    release();
    options.log(`davtap: the analysis and recording worker failed (relaying goes on; flows are no longer recorded): ${err.stack ?? err.message}`);
  });
  worker.once('exit', () => {
    dead = true;
    release();
    closed?.(finalStats());
  });

  // The batch being built: what the relay said over the last BATCH_MS (or up to BATCH_BYTES).
  let events: WireEvent[] = [];
  let chunks: Buffer[] = [];
  let batchBytes = 0;
  // One timer for every batch, restarted (refresh) rather than made anew for each: a batch may be
  // posted before it fires (BATCH_BYTES), it then finds nothing to post.
  let timer: NodeJS.Timeout | null = null;
  let armed = false;

  const flush = () => {
    armed = false;
    if (events.length === 0) return;
    // The one copy of the bytes on the relay thread, into a buffer that is then transferred.
    const bytes = Buffer.allocUnsafeSlow(batchBytes);
    let at = 0;
    for (const c of chunks) {
      c.copy(bytes, at);
      at += c.length;
    }
    const msg: ToWorker = { batch: events, bytes: bytes.buffer as ArrayBuffer };
    if (!dead) worker.postMessage(msg, [msg.bytes]);
    queuedBytes += batchBytes;
    events = [];
    chunks = [];
    batchBytes = 0;
  };

  const push = (ev: PipelineEvent) => pushPacked(pack(ev));
  const pushPacked = (ev: WireEvent) => {
    events.push(ev);
    if (batchBytes >= BATCH_BYTES) flush();
    else if (!armed) {
      armed = true;
      if (timer) timer.refresh();
      else timer = setTimeout(flush, BATCH_MS);
    }
  };

  const add = (buf: Buffer | Uint8Array): Span => {
    const at: Span = [batchBytes, buf.length];
    if (buf.length === 0) return at;
    chunks.push(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
    batchBytes += buf.length;
    return at;
  };

  const overload = (): SkipReason | null => {
    const bytes = queuedBytes + batchBytes;
    const flows = postedFlows - doneFlows;
    if (bytes >= 2 * maxQueuedBytes) return { what: 'bodies', queuedBytes: bytes, queuedFlows: flows };
    // With analyzeWhole a new body is analyzed anyway: it waits for the worker as it streams.
    if ((bytes >= maxQueuedBytes && !analyzeWhole) || flows >= maxQueuedFlows) return { what: 'analysis', queuedBytes: bytes, queuedFlows: flows };
    return null;
  };

  // Every response body streams to the worker, which keeps the capture (the relay holds no copy):
  // all of it when analyzed, else the first --max-body bytes. The bound applies inside a flow too:
  // an endless 207 cannot queue more than the limits allow (see onResponseChunk).
  const streaming = new Map<string, { analyze: boolean; sent: number; cut: boolean }>();
  const skippedAtStart = new Map<string, SkipReason>();
  let seen = 0;

  /** The worker is behind on a streaming flow's analysis: it stops where it is (MS703 says why). */
  const haltAnalysis = (flowId: string, s: { analyze: boolean; sent: number }, queued: number) => {
    s.analyze = false;
    halted++;
    push({ k: 'halt', id: flowId, why: `davtap's analysis was behind (${mib(queued)} queued for it) when this body reached ${mib(s.sent)}; relaying went on` });
  };

  // A streaming body waits while the worker is behind and the flow still sends it bytes: those its
  // analysis reads (analyzeWhole; otherwise that analysis halts here) or its capture keeps. Past its
  // capture a body not analyzed costs the worker nothing and never waits.
  const bodyPace: BodyPace = {
    held(flowId) {
      const queued = queuedBytes + batchBytes;
      if (dead || stopping || queued < maxQueuedBytes) return false;
      const s = streaming.get(flowId);
      if (s === undefined || s.cut) return false;
      if (s.analyze && !analyzeWhole) haltAnalysis(flowId, s, queued);
      return s.analyze || s.sent < options.maxBody;
    },
    whenFree(resume) {
      if (dead || stopping || queuedBytes + batchBytes <= maxQueuedBytes / 2) resume();
      else bodiesWaiting.push(resume);
    },
  };

  const hooks: ProxyHooks = {
    takesResponseBodies: true,
    bodyPace,
    requestStartMethods: REMOVING_METHODS,
    ...(pace ? { pace } : {}),
    onRequestStart(request) {
      // Only what may remove collection members matters to the worker (the listing history).
      if (!REMOVING_METHODS.has(request.method.toUpperCase())) return;
      push({ k: 'write', id: request.id, method: request.method, url: request.url, target: request.target, rawHeaders: request.rawHeaders, at: request.at });
    },
    onResponseStart(start: FlowStart) {
      const analyzable = isAnalyzable(start.response);
      const busy = overload();
      // Far behind, bodies are not kept: nothing streams. Behind, bodies are kept, analysis skipped.
      if (busy && (analyzable || busy.what === 'bodies')) skippedAtStart.set(start.id, busy);
      if (busy?.what === 'bodies') return;
      const analyze = analyzable && !busy;
      streaming.set(start.id, { analyze, sent: 0, cut: false });
      const body = start.request.body;
      // pack() reads the head fields only: the request body goes by its span, not in the event.
      push({ k: 'start', start, requestBody: add(body.bytes), analyze });
    },
    onResponseChunk(flowId: string, chunk: Buffer) {
      const s = streaming.get(flowId);
      if (!s || s.cut) return;
      const queued = queuedBytes + batchBytes;
      // (With analyzeWhole the relay waits instead, see bodyPace; past twice the bound, where the
      // capture is cut, the analysis halts in any case rather than read a body with a hole in it.)
      // The worker is behind and this flow keeps streaming: its analysis stops where it is (the
      // worker reports what it read, MS703), its capture goes on up to the cap (the relay waiting
      // for the worker on that only, see bodyPace), and past it the relay copies nothing more.
      if (s.analyze && queued >= (analyzeWhole ? 2 : 1) * maxQueuedBytes) haltAnalysis(flowId, s, queued);
      if (queued >= 2 * maxQueuedBytes) {
        // Far behind: the rest of this body is not kept either (the flow says its capture is cut).
        s.cut = true;
        return;
      }
      if (!s.analyze) {
        const room = options.maxBody - s.sent;
        if (room <= 0) return;
        if (chunk.length > room) chunk = chunk.subarray(0, room);
      }
      s.sent += chunk.length;
      push({ k: 'chunk', id: flowId, at: add(chunk) });
    },
    onFlow(flow: Flow) {
      seen++;
      const cutShort = streaming.get(flow.id)?.cut === true;
      const wasStreamed = streaming.delete(flow.id);
      let skip = skippedAtStart.get(flow.id);
      skippedAtStart.delete(flow.id);
      if (!wasStreamed) {
        const busy = overload();
        if (busy?.what === 'bodies' || (busy && skip)) skip = busy;
      }
      const dropBodies = skip?.what === 'bodies';
      const keep = (bytes: Buffer): Span => (dropBodies ? [0, 0] : add(bytes));
      const response = flow.response;
      if (skip) skipped++;
      postedFlows++;
      if (wasStreamed && response && flow.leg === undefined) {
        // The common case, packed straight from the flow: the worker has its heads from the start event.
        pushPacked(packTail(flow, response, cutShort, keep(flow.request.body.bytes), response.decoded ? keep(response.decoded.bytes) : null, skip));
        return;
      }
      const tail = wasStreamed && response ? tailOf(flow, response) : null;
      if (tail && cutShort) tail.response.body.captureComplete = false;
      const ev: FlowEvent = {
        k: 'flow',
        ...(tail ? { tail } : {}),
        ...(tail ? {} : { flow: {
          ...flow,
          request: { ...flow.request, body: { ...flow.request.body, bytes: EMPTY, ...(dropBodies && flow.request.body.bytes.length > 0 ? { captureComplete: false } : {}) } },
          response: response
            ? {
                ...response,
                body: { ...response.body, bytes: EMPTY, ...(dropBodies && response.body.bytesSeen > 0 ? { captureComplete: false } : {}) },
                decoded: response.decoded ? { ...response.decoded, bytes: EMPTY, ...(dropBodies ? { captureComplete: false } : {}) } : null,
              }
            : null,
        } }),
        requestBody: keep(flow.request.body.bytes),
        response: !response ? null : wasStreamed ? 'streamed' : keep(response.body.bytes),
        responseLength: response?.body.bytes.length ?? 0,
        decoded: response?.decoded ? keep(response.decoded.bytes) : null,
        ...(skip ? { skipped: skip } : {}),
      };
      push(ev);
    },
  };

  return {
    hooks,
    inFlight: () => streaming.size,
    pending: () => seen - settled,
    queued: () => ({ bytes: queuedBytes + batchBytes, flows: postedFlows - doneFlows }),
    close() {
      stopping = true;
      release();
      flush();
      if (timer) clearTimeout(timer);
      return new Promise<PipelineStats>((resolve) => {
        if (dead) {
          resolve(finalStats());
          return;
        }
        closed = resolve;
        worker.postMessage({ close: true } satisfies ToWorker);
      });
    },
  };
}
