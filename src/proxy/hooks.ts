// The contract between a relay and whatever listens to it (the live pipeline, tests, fault
// injection): which hook is called when, and what each may rely on. The relay (wire/, in every
// mode, with or without --inject) keeps it, and the transparency and fuzz suites check that it does.
//
// The lifecycle of one flow (one request and what became of it):
// 1. injectFor(start): only when fault injection is on, once, when the response head arrived and
//    before anything of it reached the client.
// 2. onResponseStart(start): once, when the final (non-1xx) response head arrived; never for a flow
//    that gets no response (refused request, upstream unreachable, reset before the head).
// 3. onResponseChunk(id, chunk): for each piece of the response body as it arrives and is relayed (a
//    response held by intercept reaches the client later, when released), in order,
//    after de-chunking and before any content decoding; only after onResponseStart.
// 4. onFlow(flow): exactly once per flow, every flow, last: with a response or with an error
//    outcome, never both left out (a refused request is a flow with `response: null` and an error
//    outcome; a cut body is a response with an aborted outcome). No hook is called for the flow after it.
// Steps 2 and 3 are told at the end of the upstream read that brought them, once its bytes are
// handed to the client's socket (unless the response is held), in order and before onFlow: the
// client never waits for a listener.
// A hook that throws is logged and never breaks relaying; the flow goes on to onFlow.
import type { Flow, FlowStart, RawHeaders } from '../types.js';

export interface ProxyHooks {
  /**
   * The request head went upstream (the server may act on it from now on, before it answers).
   * Said once per attempt; onFlow follows for the same id.
   */
  onRequestStart?(request: RequestStart): void;
  /**
   * The methods (upper case) onRequestStart wants to hear of; every request when unset. The relay
   * checks it before building the announcement, so that a listener that cares about few methods
   * costs the others nothing.
   */
  requestStartMethods?: ReadonlySet<string>;
  /**
   * Pacing: while `held()` is true, connections start no new request (what a client sent waits in
   * its socket buffer, its connection paused; exchanges under way go on), and `whenFree(resume)`
   * calls back once it is false again. The live pipeline holds new requests while its analysis is
   * behind, so that a flood is relayed at the pace it is analyzed rather than recorded unanalyzed.
   */
  pace?: Pace;
  /**
   * Pacing inside a response body: after an upstream read whose chunks went to onResponseChunk,
   * while `held(flowId)` is true that flow's upstream is read no further (what the server sends
   * waits in the socket buffers, as it does for a slow client) until `whenFree(resume)` calls back.
   * The live pipeline holds a body while what it queued for its worker is over its bound and the
   * flow still needs its bytes (its capture, or an analysis that must not stop): memory stays
   * bounded and nothing it records is cut. Not asked for injected responses.
   */
  bodyPace?: BodyPace;
  /** The response head arrived; body chunks for this flow follow through onResponseChunk. */
  onResponseStart?(flow: FlowStart): void;
  /** A response body chunk as relayed (after de-chunking, before any content decoding). */
  onResponseChunk?(flowId: string, chunk: Buffer): void;
  /** The exchange is over, one way or another. Called exactly once per flow, and last (step 4 above). */
  onFlow(flow: Flow): void;
  /**
   * Fault injection: asked once per response head (before anything is sent to the client); an
   * injection returned here replaces what the client receives. Undefined keeps the flow transparent.
   * For an injected flow, onResponseStart, onResponseChunk and the recorded response describe what
   * the client was sent, and Flow.injected names the injection.
   */
  injectFor?(start: FlowStart): ResponseInjection | undefined;
  /**
   * True when the hooks keep response bodies themselves from the chunks they are given: the relay
   * then holds no copy of a response announced through onResponseStart, and that flow's
   * `response.body.bytes` is empty and `response.decoded` null (the counts and captureComplete
   * stay right, measured against the capture cap). Bodies the relay makes up (502, 504) are kept
   * as usual. It keeps a long download from being held twice, once here and once by the consumer.
   */
  takesResponseBodies?: boolean;
  /**
   * Intercept: asked once per request, when its head arrived and before anything of it goes
   * upstream. A hold returned here keeps the request in davtap (its body bytes waiting, other
   * connections untouched) until the hold's decision: 'resume' sends it on, 'kill' answers 502 and
   * records the flow as killed (EKILLED), a replacement (an edit) is sent upstream in its place (the
   * client's body is read and dropped) and recorded as sent. Undefined lets it through. The client's connection is
   * still read while it waits (so that a client that gives up is seen) until the held body passes
   * 1 MiB; a request whose client has gone (closed, reset, or its sending side shut) is never sent:
   * 'resume' then records it as client-aborted (ECLIENTGONE), as nobody waits for its answer.
   */
  interceptRequest?(request: InterceptedRequest): ExchangeHold | undefined;
  /**
   * Intercept of responses: asked once per final response head of a flow that is not injected,
   * before anything of it reaches the client. Undefined streams it as usual. A ResponseIntercept
   * makes the relay keep the whole response in davtap (head and body as they came, at most
   * --max-body bytes of payload) and ask its `complete` once the response has arrived; one that
   * declares or sends more is passed through as it arrives, and `refused` says why (never half
   * held). A hold then keeps the response from the client until decided: 'resume' sends it as it
   * came, 'kill' closes the client's connection without an answer (mitmproxy's kill) and records
   * the flow, response included, as killed (EKILLED). onResponseStart and onResponseChunk are
   * called as the bytes arrive from upstream, held or not: a held response is analyzed as usual.
   */
  interceptResponse?(start: FlowStart, view: ExchangeView): ResponseIntercept | undefined;
}

/** What a holder may look at while an exchange waits. */
export interface ExchangeView {
  /** The client's connection has gone: closed, reset, or its sending side shut (it no longer waits). */
  clientGone(): boolean;
  /** The flow as it stands: the request, and the response as received for a held response. */
  snapshot(): Flow;
}

export interface Pace {
  held(): boolean;
  /** Calls `resume` once (when no longer held). */
  whenFree(resume: () => void): void;
}

export interface BodyPace {
  held(flowId: string): boolean;
  /** Calls `resume` once (when the flow may be read again). */
  whenFree(resume: () => void): void;
}

/** A request as an intercept filter sees it. */
export interface InterceptedRequest extends ExchangeView {
  /** The flow's id (the recorded flow has it once it ends). */
  id: string;
  method: string;
  /** The upstream URL it goes to. */
  url: string;
  target: string;
  rawHeaders: RawHeaders;
  /** When it was held (epoch ms). */
  since: number;
  /** The request-target and fields as they go upstream (reverse mode's mapping applied, hop-by-hop fields dropped). */
  upstream: { target: string; rawHeaders: RawHeaders };
  /**
   * Reads the whole body while the request stays held (for an edit): the payload, de-chunked.
   * Rejects when the body is larger than the relay's --max-request-body, is malformed, or the
   * client went away.
   */
  readBody(): Promise<Buffer>;
}

/** What an edited held request sends upstream instead: a request-target, fields and a whole payload (framed by the fields). */
export interface RequestReplacement {
  method: string;
  target: string;
  rawHeaders: RawHeaders;
  body: Buffer;
}

/** A replacement is for held requests only (a held response is resumed or killed). */
export type HoldDecision = 'resume' | 'kill' | { replace: RequestReplacement };

export interface ExchangeHold {
  readonly decision: Promise<HoldDecision>;
  /** The exchange ended while held without a decision (davtap's own fault): the hold is dropped. */
  withdraw(): void;
}

export interface ResponseIntercept {
  /** The whole response arrived (`payload`: its body de-chunked, still content-encoded): a hold keeps it from the client. */
  complete(payload: Buffer): ExchangeHold | undefined;
  /** The response could not be held whole: it was passed through as it arrived, for this reason. */
  refused(reason: string): void;
}

/** What onRequestStart tells: enough to know what a request may change on the server. */
export interface RequestStart {
  id: string;
  method: string;
  /** Absolute upstream URL, as in RequestRecord.url. */
  url: string;
  target: string;
  rawHeaders: RawHeaders;
  /** Epoch milliseconds the request head arrived (the flow's timings.start). */
  at: number;
}

/** A response head as sent to the client. */
export interface ClientHead {
  status: number;
  reason: string;
  rawHeaders: RawHeaders;
}

/** One thing an injection does to the client's side of the exchange, in order. */
export type InjectionStep =
  | { kind: 'head'; head: ClientHead }
  | { kind: 'body'; chunk: Buffer }
  /** Ends the connection without completing the message: 'close' flushes then closes (FIN), 'reset' sends RST. */
  | { kind: 'cut'; how: 'close' | 'reset' };

export interface ResponseInjection {
  /** Names the injection on the flow (read when the flow ends, so it may say what actually happened). */
  readonly name: string;
  /**
   * Produces the client's response from upstream's. Yields the head once, then body chunks (payload:
   * the relay adds the framing the head declares); the message completes when the iteration ends,
   * unless a 'cut' step ends the connection first ('cut' before any head: nothing is sent).
   * `body` is upstream's payload (de-chunked, still content-encoded); stopping its iteration early
   * releases upstream. `signal` aborts when the client goes away, so that waits can end.
   */
  run(head: ClientHead, body: AsyncIterable<Buffer>, signal: AbortSignal): AsyncIterable<InjectionStep>;
}

