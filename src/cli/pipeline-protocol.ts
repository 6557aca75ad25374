// The messages between the relay thread and the pipeline worker (see pipeline.ts).
//
// The relay thread batches everything it has to say in one event-loop turn into one message: the
// events below plus one ArrayBuffer holding every byte they refer to (body chunks, request bodies,
// captured bodies of flows that were not streamed). That buffer is the one copy of the bytes made
// on the relay thread, and it is transferred, not cloned. Buffers never appear in the events
// themselves: cloning a Buffer that is a slice of Node's pool would copy the whole pool.
import type { CapturedBody, Flow, FlowStart, FlowTimings, Outcome, ResponseRecord } from '../types.js';

/** Where some bytes sit in the batch's buffer: [offset, length]. */
export type Span = [number, number];

/** An analyzable response started; its body chunks follow as `chunk` events. */
export interface StartEvent {
  k: 'start';
  start: FlowStart;
  requestBody: Span;
}

export interface ChunkEvent {
  k: 'chunk';
  id: string;
  at: Span;
}

/**
 * A finished flow, its bodies replaced by spans. `response: 'streamed'` means the worker rebuilds
 * the captured response body from the chunks it was sent (the first `responseLength` bytes).
 */
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
  requestBody: Omit<CapturedBody, 'bytes'>;
  response: Pick<ResponseRecord, 'informational' | 'rawTrailers' | 'decodeError'> & {
    body: Omit<CapturedBody, 'bytes'>;
    decoded: Omit<CapturedBody, 'bytes'> | null;
  };
}

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

export type PipelineEvent = StartEvent | ChunkEvent | FlowEvent;

export type ToWorker = { batch: PipelineEvent[]; bytes: ArrayBuffer } | { close: true };

export interface WorkerSettings {
  dbPath: string;
  maxDbSize?: number;
  /** The proxy's --max-body: the capture cap, also the store's body cap. */
  maxBody: number;
  /** Print one line per flow (`--no-ui`): the worker formats them. */
  lines: boolean;
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
  | { handledBytes: number; doneFlows: number; settled: number; lines: string[]; logs: string[] }
  | { closed: ClosedStats; lastStoreError: string };
