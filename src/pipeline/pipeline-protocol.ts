// The messages between the relay thread and the pipeline worker (see pipeline.ts).
//
// The relay thread batches everything it has to say over 8 ms (or 1 MiB) into one message: the
// events below plus one ArrayBuffer holding every byte they refer to (body chunks, request bodies,
// captured bodies of flows that were not streamed). That buffer is the one copy of the bytes made
// on the relay thread, and it is transferred, not cloned. Buffers never appear in the events
// themselves: cloning a Buffer that is a slice of Node's pool would copy the whole pool.
import type { CapturedBody, Flow, FlowStart, FlowTimings, Outcome, ResponseRecord } from '../types.js';

/** Where some bytes sit in the batch's buffer: [offset, length]. */
export type Span = [number, number];

/**
 * A response started; its body chunks follow as `chunk` events (all of them when it is analyzed,
 * else up to the capture cap: the worker keeps the captured body, the relay holds no copy).
 */
export interface StartEvent {
  k: 'start';
  start: FlowStart;
  requestBody: Span;
  /** Analyze it as it streams (an analyzable response, and the worker is not behind). */
  analyze: boolean;
}

export interface ChunkEvent {
  k: 'chunk';
  id: string;
  at: Span;
}

/**
 * The analysis of a streaming flow stops here (the worker was too far behind): its analysis
 * reports what it read (MS703 says why); the body's chunks go on up to the capture cap.
 */
export interface HaltEvent {
  k: 'halt';
  id: string;
  why: string;
}

/**
 * A DELETE, MOVE or COPY went upstream (the live listing history counts it as in flight until its
 * flow ends). Sent as it is: few requests remove anything.
 */
export interface WriteEvent {
  k: 'write';
  id: string;
  method: string;
  url: string;
  target: string;
  rawHeaders: string[];
  at: number;
}

/**
 * The end of a streamed flow: only what its start event did not say (the request and response
 * heads are not sent twice; cloning them was most of the posting cost).
 */
export interface FlowTail {
  id: string;
  client: Flow['client'];
  timings: FlowTimings;
  outcome: Outcome;
  injected?: string;
  /** Sandwich mode: the flow's leg, pair and gateway differences (Flow.leg, pairedWith, pairFindings). */
  sandwich?: Pick<Flow, 'leg' | 'pairedWith' | 'pairFindings'>;
  requestBody: Omit<CapturedBody, 'bytes'>;
  response: Pick<ResponseRecord, 'informational' | 'rawTrailers' | 'decodeError' | 'surplus'> & {
    body: Omit<CapturedBody, 'bytes'>;
    decoded: Omit<CapturedBody, 'bytes'> | null;
  };
}

/**
 * A finished flow, its bodies replaced by spans. `response: 'streamed'` means the worker rebuilds
 * the captured response body from the chunks it was sent (the first `responseLength` bytes).
 */
export interface FlowEvent {
  k: 'flow';
  /** The whole flow (bodies replaced by spans), or for a streamed flow its tail. */
  flow?: Flow;
  tail?: FlowTail;
  requestBody: Span;
  response: Span | 'streamed' | null;
  responseLength: number;
  decoded: Span | null;
  /** Set when the worker was behind: why the flow is recorded without analysis. */
  skipped?: SkipReason;
}

export interface SkipReason {
  /** 'analysis': analysis skipped; 'bodies': analysis skipped and bodies not kept either. */
  what: 'analysis' | 'bodies';
  queuedBytes: number;
  queuedFlows: number;
}

export type PipelineEvent = StartEvent | ChunkEvent | HaltEvent | WriteEvent | FlowEvent;

export type ToWorker = { batch: WireEvent[]; bytes: ArrayBuffer } | { close: true };

// ---------------------------------------------------------------------------------------------
// The wire form. A structured clone writes every property name of every object and costs per
// string: the events of every analyzed flow (start, chunks, tail) go as flat arrays with header
// lists joined into one string, 4x cheaper to clone than the objects (measured with
// v8.serialize: 0.65 vs 2.6 µs per start event). Whole flows (not analyzed) keep the object form.

type PackedHeaders = string | string[];
type PackedStart = ['s', string, FlowStart['mode'], number, number | null, string, string, string, string, PackedHeaders, number, boolean, number, string, string, PackedHeaders, FlowStart['response']['framing'], number | null, number, number, boolean, boolean];
type PackedChunk = ['c', string, number, number];
export type PackedTail = ['t', string, string, number, FlowTail['client']['tls'], number, number | null, number | null, string, string | undefined, string | undefined, string | undefined, number, boolean, number, boolean, number | null, boolean, string | undefined, FlowTail['response']['informational'], PackedHeaders, number, number, number, number, number, SkipReason | undefined, ResponseRecord['surplus']];
export type WireEvent = PackedStart | PackedChunk | PackedTail | HaltEvent | WriteEvent | FlowEvent;

// Header names and values never hold NUL (Node's parser refuses it); a list that did would be
// sent as it is.
const packHeaders = (raw: string[]): PackedHeaders => (raw.some((s) => s.includes('\0')) ? raw : raw.join('\0'));
const unpackHeaders = (p: PackedHeaders): string[] => (typeof p === 'string' ? (p === '' ? [] : p.split('\0')) : p);

export function pack(ev: PipelineEvent): WireEvent {
  if (ev.k === 'chunk') return ['c', ev.id, ev.at[0], ev.at[1]];
  if (ev.k === 'halt' || ev.k === 'write') return ev;
  if (ev.k === 'start') {
    const { start, requestBody, analyze } = ev;
    const { request: q, response: r } = start;
    return ['s', start.id, start.mode, start.timings.start, start.timings.firstByte, q.method, q.url, q.target, q.httpVersion, packHeaders(q.rawHeaders), q.body.bytesSeen, q.body.captureComplete, r.status, r.reason, r.httpVersion, packHeaders(r.rawHeaders), r.framing, r.declaredLength, requestBody[0], requestBody[1], analyze, start.clientTls === true];
  }
  const t = ev.tail;
  // A sandwich flow's tail carries its leg and differences: it goes in the object form.
  if (!t || ev.response !== 'streamed' || t.sandwich) return ev;
  const d = t.response.decoded;
  return ['t', t.id, t.client.address, t.client.port, t.client.tls, t.timings.start, t.timings.firstByte, t.timings.end, t.outcome.kind, t.outcome.code, t.outcome.message, t.injected, t.requestBody.bytesSeen, t.requestBody.captureComplete, t.response.body.bytesSeen, t.response.body.captureComplete, d ? d.bytesSeen : null, d ? d.captureComplete : false, t.response.decodeError, t.response.informational, packHeaders(t.response.rawTrailers), ev.requestBody[0], ev.requestBody[1], ev.responseLength, ev.decoded ? ev.decoded[0] : -1, ev.decoded ? ev.decoded[1] : 0, ev.skipped, t.response.surplus];
}

/**
 * The tail of a streamed flow packed straight from the relay's Flow (what pack() makes of a
 * FlowEvent with a FlowTail, without building the tail first). Not for sandwich flows (their tail
 * goes in the object form).
 */
export function packTail(flow: Flow, response: ResponseRecord, cutShort: boolean, requestBody: Span, decoded: Span | null, skipped: SkipReason | undefined): WireEvent {
  const q = flow.request.body;
  const r = response.body;
  const d = response.decoded;
  const o = flow.outcome;
  return ['t', flow.id, flow.client.address, flow.client.port, flow.client.tls, flow.timings.start, flow.timings.firstByte, flow.timings.end, o.kind, o.code, o.message, flow.injected, q.bytesSeen, q.captureComplete, r.bytesSeen, r.captureComplete && !cutShort, d ? d.bytesSeen : null, d ? d.captureComplete : false, response.decodeError, response.informational, packHeaders(response.rawTrailers), requestBody[0], requestBody[1], r.bytes.length, decoded ? decoded[0] : -1, decoded ? decoded[1] : 0, skipped, response.surplus];
}

const NO_BYTES = Buffer.alloc(0);

/**
 * A packed tail joined with its flow's start event into the whole Flow (the worker's side of
 * packTail): built field by field, the start's heads reused, nothing copied.
 */
export function unpackTail(w: PackedTail, start: FlowStart): FlowEvent {
  const [, id, address, port, tls, begin, firstByte, end, kind, code, message, injected, qSeen, qComplete, rSeen, rComplete, dSeen, dComplete, decodeError, informational, trailers, qOff, qLen, responseLength, dOff, dLen, skipped, surplus] = w;
  const q = start.request;
  const h = start.response;
  const outcome: Outcome = { kind: kind as Outcome['kind'] };
  if (code !== undefined) outcome.code = code;
  if (message !== undefined) outcome.message = message;
  const client: Flow['client'] = { address, port };
  if (tls !== undefined) client.tls = tls;
  const response: ResponseRecord = {
    status: h.status,
    reason: h.reason,
    httpVersion: h.httpVersion,
    rawHeaders: h.rawHeaders,
    framing: h.framing,
    declaredLength: h.declaredLength,
    body: { bytes: NO_BYTES, bytesSeen: rSeen, captureComplete: rComplete },
    decoded: dSeen !== null ? { bytes: NO_BYTES, bytesSeen: dSeen, captureComplete: dComplete } : null,
    informational,
    rawTrailers: unpackHeaders(trailers),
  };
  if (decodeError !== undefined) response.decodeError = decodeError;
  if (surplus !== undefined) response.surplus = surplus;
  const flow: Flow = {
    id,
    mode: start.mode,
    client,
    timings: { start: begin, firstByte, end },
    request: { method: q.method, url: q.url, target: q.target, httpVersion: q.httpVersion, rawHeaders: q.rawHeaders, body: { bytes: NO_BYTES, bytesSeen: qSeen, captureComplete: qComplete } },
    response,
    outcome,
  };
  if (injected !== undefined) flow.injected = injected;
  const ev: FlowEvent = { k: 'flow', flow, requestBody: [qOff, qLen], response: 'streamed', responseLength, decoded: dOff >= 0 ? [dOff, dLen] : null };
  if (skipped) ev.skipped = skipped;
  return ev;
}

export function unpack(w: WireEvent): PipelineEvent {
  if (!Array.isArray(w)) return w;
  if (w[0] === 'c') return { k: 'chunk', id: w[1], at: [w[2], w[3]] };
  if (w[0] === 's') {
    const [, id, mode, start, firstByte, method, url, target, qVersion, qHeaders, qSeen, qComplete, status, reason, rVersion, rHeaders, framing, declaredLength, off, len, analyze, clientTls] = w;
    return {
      k: 'start',
      start: {
        id,
        mode,
        ...(clientTls ? { clientTls } : {}),
        timings: { start, firstByte, end: null },
        request: { method, url, target, httpVersion: qVersion, rawHeaders: unpackHeaders(qHeaders), body: { bytes: Buffer.alloc(0), bytesSeen: qSeen, captureComplete: qComplete } },
        response: { status, reason, httpVersion: rVersion, rawHeaders: unpackHeaders(rHeaders), framing, declaredLength },
      },
      requestBody: [off, len],
      analyze,
    };
  }
  const [, id, address, port, tls, start, firstByte, end, kind, code, message, injected, qSeen, qComplete, rSeen, rComplete, dSeen, dComplete, decodeError, informational, trailers, qOff, qLen, responseLength, dOff, dLen, skipped, surplus] = w;
  const tail: FlowTail = {
    id,
    client: { address, port, ...(tls !== undefined ? { tls } : {}) },
    timings: { start, firstByte, end },
    outcome: { kind: kind as Outcome['kind'], ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) },
    ...(injected !== undefined ? { injected } : {}),
    requestBody: { bytesSeen: qSeen, captureComplete: qComplete },
    response: {
      body: { bytesSeen: rSeen, captureComplete: rComplete },
      decoded: dSeen !== null ? { bytesSeen: dSeen, captureComplete: dComplete } : null,
      ...(decodeError !== undefined ? { decodeError } : {}),
      informational,
      rawTrailers: unpackHeaders(trailers),
      ...(surplus !== undefined ? { surplus } : {}),
    },
  };
  return { k: 'flow', tail, requestBody: [qOff, qLen], response: 'streamed', responseLength, decoded: dOff >= 0 ? [dOff, dLen] : null, ...(skipped ? { skipped } : {}) };
}

export interface WorkerSettings {
  dbPath: string;
  maxDbSize?: number;
  /** The proxy's --max-body: the capture cap, also the store's body cap. */
  maxBody: number;
  /** Print one line per flow (`--no-ui`): the worker formats them. */
  lines: boolean;
  /** Flow lines show credentials as recorded (`--show-secrets`); masked otherwise. */
  showSecrets?: boolean;
}

export interface ClosedStats {
  enqueued: number;
  written: number;
  failed: number;
  dropped: number;
}

export type FromWorker =
  | { ready: true }
  | { fatal: string }
  /** Progress: the batch bytes handled, flows handed to the writer, flows the writer settled, flow lines, log lines. */
  | { handledBytes: number; doneFlows: number; settled: number; lines: string[]; logs: string[]; doneReading?: string[] }
  | { closed: ClosedStats; lastStoreError: string };
