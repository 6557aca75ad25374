// One request and its response on raw sockets, relayed byte for byte and recorded as a Flow.
//
// The transparency contract (DESIGN.md) as this relay keeps it:
// - body bytes are written on as they arrive, framing included (a chunked body keeps its chunks,
//   extensions and trailers); only the heads are rebuilt, to drop hop-by-hop fields and map the
//   few reverse-mode addresses (rewrite.ts);
// - the reading side is paused while the writing side is full (backpressure);
// - a cut, reset or mis-framed upstream body cuts the client connection (a reset as a reset) after
//   the bytes that were valid, never a clean end and never a byte more;
// - 1xx responses are relayed to HTTP/1.1 clients as they arrive.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Flow, FlowClient, FlowStart, Framing, InformationalResponse, Mode, Outcome, RawHeaders, RequestRecord, ResponseRecord } from '../../types.js';
import { BodyCapture } from '../../tap/capture.js';
import { DecodedCopy, decodableEncoding } from '../../tap/decode.js';
import { declaredLength } from '../../http/framing.js';
import { firstHeader, withoutHeaders, withoutHopByHop } from '../../http/headers.js';
import type { BodyPace, ClientHead, ExchangeHold, ProxyHooks, RequestReplacement, ResponseInjection, ResponseIntercept } from '../hooks.js';
import { INTERNAL_ERROR_CODE, internalErrorText, REQUEST_TIMEOUT_CODE, stackOf, textReply } from '../client-errors.js';
import { Reclaimer } from '../reclaim.js';
import { upstreamTrustHint, type LinkUser, type UpstreamLink } from './link.js';
import type { Route } from './routes.js';
import { PayloadQueue } from './payload-queue.js';
import {
  BodyFramer,
  headEnd,
  parseResponseHead,
  persistent,
  responseBodyPlan,
  serializeRequest,
  WireError,
  type BodyPlan,
  type RequestHead,
  type ResponseHead,
} from '../../http/message.js';

export interface ExchangeSettings {
  maxBody: number;
  maxRequestBody: number;
  upstreamTimeoutMs: number;
  hooks: ProxyHooks;
  log: (line: string) => void;
}

/** What an exchange needs from the client connection it runs on. */
export interface ExchangeHost {
  readonly client: Socket;
  /** The client's address, read when it connected (a closed socket no longer tells it), and whether it spoke TLS. */
  readonly peer: FlowClient;
  /** The client wants no more requests on this connection (it sent FIN). */
  readonly clientEnded: boolean;
  /** Requests of the client wait behind this exchange (pipelined before its FIN). */
  readonly requestsWaiting: boolean;
  /** An upstream connection to `url` (whose origin is `origin`) for this exchange: the connection's own one, or a new one. */
  takeUpstream(url: URL, origin: string): UpstreamLink;
  /**
   * The exchange is over: `keepClient` says whether the client connection may carry another;
   * `clientCut` that the exchange is ending the client connection itself (the connection must not
   * end it gracefully: a reset cannot follow a FIN).
   */
  exchangeDone(keepClient: boolean, upstreamReusable: boolean, clientCut: boolean): void;
  pauseClient(): void;
  resumeClient(): void;
  /** Ends the client connection with a TCP reset (the TCP socket under a tunnel's TLS). */
  resetClient(): void;
}

/** A request as it goes upstream: the client's head, and where its router sends it. */
export interface ExchangeTarget extends Route {
  head: RequestHead;
  plan: BodyPlan;
  mode: Mode;
}

const EMPTY = Buffer.alloc(0);
/** No one waits for a held request's body (most exchanges): shared, never added to (readHeldBody makes its own). */
const NO_READERS: never[] = [];
/** How long the last byte of an answer to a client that sent FIN waits for that client's reset. */
const RESET_WINDOW_MS = 100;
/**
 * A held request's body bytes read from its client before the client is paused: reading on lets
 * davtap see a client that gives up while its request waits; the bound keeps a large body in the
 * client's socket rather than in davtap.
 */
const HELD_READ_LIMIT = 1024 * 1024;

/** Takes the last byte off the last non-empty piece; returns it (null when every piece is empty). */
function holdLastByte(out: Buffer[]): Buffer | null {
  for (let i = out.length - 1; i >= 0; i--) {
    const piece = out[i]!;
    if (piece.length === 0) continue;
    out[i] = piece.subarray(0, piece.length - 1);
    return piece.subarray(piece.length - 1);
  }
  return null;
}
/**
 * Idempotent methods (RFC 9110 §9.2.2; RFC 4918 for PROPFIND and PROPPATCH, RFC 3253 §3.6 for
 * REPORT, RFC 5323 for SEARCH): the only ones sent again after a connection closed unanswered.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'PROPFIND', 'PROPPATCH', 'REPORT', 'SEARCH']);
/** Frees relayed chunks of large bodies promptly (see reclaim.ts). */
const reclaimer = new Reclaimer();

function serializeHead(startLine: string, raw: RawHeaders): Buffer {
  let head = startLine + '\r\n';
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(head + '\r\n', 'latin1');
}

export class WireExchange implements LinkUser {
  private readonly id = randomUUID();
  private readonly startedAt = Date.now();
  private firstByte: number | null = null;
  private readonly requestBody: BodyCapture;
  private readonly requestFramer: BodyFramer;
  private link: UpstreamLink | null = null;
  /** An incomplete response head. */
  private pendingHead: Buffer | null = null;
  private readonly informational: InformationalResponse[] = [];
  private response: { head: ResponseHead; framing: Framing; framer: BodyFramer; upstreamKeeps: boolean; clientKeeps: boolean } | null = null;
  private responseBody: BodyCapture | null = null;
  private decoder: DecodedCopy | null = null;
  /** An HTTP/1.0 client gets a chunked response de-chunked, delimited by the connection's close. */
  private dechunk = false;
  /** Upstream sent bytes after the response's end: its connection cannot be trusted again. */
  private overran = false;
  /** What the upstream sent after the response's end, in the read that ended it. */
  private surplus: { bytes: number; hex: string } | undefined;
  private clientHeadSent = false;
  /** This exchange cuts the client connection (cut()). */
  private clientCut = false;
  private finished = false;

  private request: RequestHead;
  /** The request head as sent upstream (for an edited held request: the whole request). */
  private upstreamHead: Buffer;
  /** An edited held request: what went upstream instead of the client's, and what is recorded. */
  private replaced: RequestReplacement | null = null;
  /**
   * A bodyless request sent on a reused connection that the server closes before answering is
   * sent again on a fresh one, once: most often the server closed an idle connection as the
   * request went out (a race of keep-alive). It may also have read it and failed, so only
   * idempotent methods are sent again (RFC 9110 §9.2.2: a proxy must not retry the others);
   * a MOVE, LOCK or POST gets the 502 its client can judge.
   */
  private retryable: boolean;
  private reusedLink = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly settings: ExchangeSettings,
    private readonly target: ExchangeTarget,
    private readonly onDone: () => void,
  ) {
    this.request = target.head;
    this.requestBody = new BodyCapture(settings.maxRequestBody);
    this.requestFramer = new BodyFramer(target.plan);
    this.retryable = target.plan.framing === 'none' && IDEMPOTENT.has(target.head.method);
    this.upstreamHead = serializeHead(`${this.request.method} ${target.path} HTTP/1.1`, target.upstreamHeaders);
  }

  /** Bytes after the response's end in this read: the upstream connection cannot be trusted again, and the flow says so. */
  private noteSurplus(buf: Buffer, off: number): void {
    this.overran = off < buf.length;
    if (this.overran) this.surplus = { bytes: buf.length - off, hex: buf.subarray(off, off + 32).toString('hex') };
  }

  /** The response head went to the client. */
  get responseStarted(): boolean {
    return this.clientHeadSent;
  }

  /**
   * The response's last bytes are handed to the client's socket, and their write's callback decides
   * the outcome: a FIN read meanwhile is a client that has what it asked for (a TLS client may
   * close before the write's callback runs).
   */
  private handedOver = false;

  get answered(): boolean {
    return this.handedOver;
  }

  /** True while the request's body is still arriving from the client. */
  get wantsRequestBytes(): boolean {
    return !this.requestFramer.done && this.requestFramer.error === null && !this.finished;
  }

  /**
   * Held by an intercept filter (hooks.interceptRequest, hooks.interceptResponse): a request waits
   * with its body bytes, or a whole response waits in `out` before the client gets any of it.
   */
  private hold: ExchangeHold | null = null;
  private heldBytes: Buffer[] | null = null;
  private heldByteCount = 0;
  /** The client's connection closed while held: the decision ends the flow without sending anything. */
  private leftWhileHeld = false;

  /** The client no longer waits: its connection closed, was reset, or it shut its sending side. */
  private clientIsGone(): boolean {
    return this.leftWhileHeld || this.host.clientEnded || this.host.client.destroyed;
  }

  /** The exchange as it stands, for whoever holds it (hooks.ts, ExchangeView.snapshot). */
  private snapshot(): Flow {
    const response = this.response;
    const payload = this.responseIntercept?.payload ?? this.heldPayload;
    // One piece (a held response) is shown as it is: asked again and again while it waits, it is not copied.
    const bytes = !payload ? Buffer.alloc(0) : payload.length === 1 ? payload[0]! : Buffer.concat(payload);
    return {
      id: this.id,
      mode: this.target.mode,
      client: this.host.peer,
      timings: { start: this.startedAt, firstByte: this.firstByte, end: null },
      request: this.requestRecord(),
      response: response
        ? {
            status: response.head.status,
            reason: response.head.reason,
            rawHeaders: response.head.rawHeaders,
            framing: response.framing,
            declaredLength: declaredLength(response.head.rawHeaders),
            httpVersion: response.head.version,
            body: { bytes, bytesSeen: response.framer.payloadBytes, captureComplete: bytes.length === response.framer.payloadBytes },
            decoded: null,
            informational: this.informational,
            rawTrailers: response.framer.trailers,
          }
        : null,
      outcome: { kind: 'complete' },
    };
  }

  private viewMade: { clientGone(): boolean; snapshot(): Flow } | null = null;

  /** What an intercept filter may look at (made for the exchanges it is asked about only). */
  private get view(): { clientGone(): boolean; snapshot(): Flow } {
    return (this.viewMade ??= { clientGone: () => this.clientIsGone(), snapshot: () => this.snapshot() });
  }

  /** Sends the request head upstream (unless an intercept holds it); the body follows through feedRequest(). */
  start(): void {
    const intercept = this.settings.hooks.interceptRequest;
    let hold: ExchangeHold | undefined;
    if (intercept) {
      const r = this.target.head;
      this.safeHook(
        () =>
          (hold = intercept({
            id: this.id,
            method: r.method,
            url: this.target.origin + this.target.path,
            target: r.target,
            rawHeaders: r.rawHeaders,
            since: Date.now(),
            upstream: { target: this.target.path, rawHeaders: this.target.upstreamHeaders },
            readBody: () => this.readHeldBody(),
            ...this.view,
          })),
      );
    }
    if (!hold) return this.startUpstream();
    // Only this client's connection waits; every other flows on. It is still read (up to
    // HELD_READ_LIMIT of body), so that a client that gives up is seen while its request waits.
    this.hold = hold;
    this.heldBytes = [];
    void hold.decision.then(
      (decision) => {
        if (this.finished || this.hold !== hold) return;
        this.hold = null;
        this.rejectBodyReaders('the request is no longer held');
        try {
          if (this.clientIsGone()) this.endHeldForGoneClient('request');
          else if (decision === 'resume') this.releaseHeld();
          else if (decision === 'kill') this.killHeld();
          else this.releaseReplaced(decision.replace);
        } catch (err) {
          this.onInternalFault(err);
        }
      },
      () => {},
    );
  }

  /** A held request goes upstream: its head, then the body bytes that waited with it. */
  private releaseHeld(): void {
    const waited = this.heldBytes ?? [];
    this.heldBytes = null;
    this.startUpstream();
    this.upOut!.push(...waited);
    this.flushUpstream();
    this.host.resumeClient();
  }

  /** Who waits for a held request's whole body (readHeldBody). */
  private bodyReaders: { resolve(body: Buffer): void; reject(err: Error): void }[] = NO_READERS;

  /**
   * The held request's whole payload, for an edit: its client is read (the request still held)
   * past HELD_READ_LIMIT until the body ends, up to --max-request-body.
   */
  private readHeldBody(): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (!this.hold || this.responseHeld || this.finished) return reject(new Error('the request is no longer held'));
      if (this.clientIsGone()) return reject(new Error('its client has gone'));
      if (this.bodyReaders === NO_READERS) this.bodyReaders = [];
      this.bodyReaders.push({ resolve, reject });
      this.host.resumeClient();
      this.checkHeldBody();
    });
  }

  /** Answers readHeldBody() once the body has ended, or is larger than davtap keeps of it. */
  private checkHeldBody(): void {
    if (this.bodyReaders.length === 0) return;
    const body = this.requestBody.result();
    const bad = this.requestFramer.error;
    let outcome: Buffer | Error | null = null;
    if (bad) outcome = new Error(`its body is malformed: ${bad.message}`);
    else if (!body.captureComplete) {
      outcome = new Error(`its body is larger than --max-request-body (${this.settings.maxRequestBody.toLocaleString('en-US')} bytes): it cannot be edited whole`);
    } else if (this.requestFramer.done) outcome = body.bytes;
    if (outcome === null) return;
    // Held again: past HELD_READ_LIMIT, what the client sends next waits in its socket.
    if (this.heldByteCount > HELD_READ_LIMIT) this.host.pauseClient();
    for (const r of this.bodyReaders.splice(0)) {
      if (outcome instanceof Error) r.reject(outcome);
      else r.resolve(outcome);
    }
  }

  private rejectBodyReaders(why: string): void {
    for (const r of this.bodyReaders.splice(0)) r.reject(new Error(why));
  }

  /**
   * An edited held request goes upstream in place of the client's: its head and payload as the
   * edit gives them (framed as its fields declare); the client's body bytes are read and dropped.
   * The flow records what was sent.
   */
  private releaseReplaced(edit: RequestReplacement): void {
    this.heldBytes = null;
    this.replaced = edit;
    this.retryable = false;
    // The response is read as the answer to the method sent.
    this.request = { ...this.request, method: edit.method };
    this.upstreamHead = serializeRequest({ method: edit.method, target: edit.target, version: '1.1', rawHeaders: edit.rawHeaders }, edit.body);
    this.startUpstream();
    this.flushUpstream();
    this.host.resumeClient();
  }

  /** A held request killed (mitmproxy's X): never sent; the client gets a 502 saying so. */
  private killHeld(): void {
    this.heldBytes = null;
    this.fail(502, 'Bad Gateway', 'killed in davtap while held by the intercept filter: the request was not sent', { kind: 'error', code: 'EKILLED' }, true);
  }

  /**
   * Released (or killed) after its client had gone: a request is not sent (nobody waits for its
   * answer, and a PUT or DELETE would still change the server), a response is not delivered.
   */
  private endHeldForGoneClient(what: 'request' | 'response'): void {
    this.heldBytes = null;
    this.out = [];
    this.afterLastWrite = null;
    const message = what === 'request' ? 'the client had gone when the held request was decided: it was not sent' : 'the client had gone when the held response was decided: it was not delivered';
    if (!this.host.client.destroyed) this.host.client.destroy();
    this.finish({ kind: 'client-aborted', code: 'ECLIENTGONE', message }, false, this.upstreamReusable);
  }

  private startUpstream(): void {
    const link = this.host.takeUpstream(this.target.upstream, this.target.origin);
    this.link = link;
    this.reusedLink = link.uses > 0;
    link.attach(this, this.settings.upstreamTimeoutMs);
    // Held until flushUpstream(), so that the head and the body bytes read with it leave in one write.
    this.upOut = [this.upstreamHead];
    const { onRequestStart, requestStartMethods: wanted } = this.settings.hooks;
    const method = this.request.method;
    if (onRequestStart && (wanted === undefined || wanted.has(method) || wanted.has(method.toUpperCase()))) {
      // An edited held request announces what is sent in its place.
      const edit = this.replaced;
      this.safeHook(() =>
        onRequestStart(
          edit
            ? { id: this.id, method, url: this.target.origin + edit.target, target: edit.target, rawHeaders: edit.rawHeaders, at: this.startedAt }
            : { id: this.id, method, url: this.target.origin + this.target.path, target: this.request.target, rawHeaders: this.request.rawHeaders, at: this.startedAt },
        ),
      );
    }
  }

  /** Request bytes held for one write upstream (see start()); null once written. */
  private upOut: Buffer[] | null = null;

  /** Writes what start() and feedRequest() held; the connection calls it once it has read what it had. */
  flushUpstream(): void {
    const out = this.upOut;
    if (!out) return;
    this.upOut = null;
    const link = this.link;
    if (!link?.usable || this.finished) return;
    this.writeUpstream(link, out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  /** Takes the request body's bytes from buf[off..]; returns how many were the body's. */
  feedRequest(buf: Buffer, off: number): number {
    const used = this.requestFramer.feed(buf, off, this.onRequestPayload);
    if (used > 0 && this.heldBytes && !this.finished) {
      // Held: kept (a copy: the connection's buffer is not ours) until the hold is decided.
      this.heldBytes.push(Buffer.from(buf.subarray(off, off + used)));
      this.heldByteCount += used;
      // Read on while an edit waits for the whole body (checkHeldBody bounds it).
      if (this.heldByteCount > HELD_READ_LIMIT && this.bodyReaders.length === 0) this.host.pauseClient();
      this.checkHeldBody();
    } else if (used > 0 && this.link?.usable && !this.finished && !this.replaced) {
      const bytes = off === 0 && used === buf.length ? buf : buf.subarray(off, off + used);
      if (this.upOut) {
        this.upOut.push(bytes);
        if (this.upOut.length > 16) this.flushUpstream();
      } else this.writeUpstream(this.link, bytes);
    }
    const bad = this.requestFramer.error;
    if (bad && !this.finished) {
      this.link?.destroy();
      this.fail(400, 'Bad Request', `malformed request body: ${bad.message}`, { kind: 'error', code: bad.code }, true);
    }
    return used;
  }

  private readonly onRequestPayload = (slice: Buffer): void => {
    this.requestBody.add(slice);
    reclaimer.note(slice.length);
  };

  /** The upstream's socket buffer is full: the upstream, not the client, is holding the body up. */
  private upstreamFull = false;

  private writeUpstream(link: UpstreamLink, bytes: Buffer): void {
    if (!link.write(bytes)) {
      this.upstreamFull = true;
      this.host.pauseClient();
    }
  }

  onUpstreamDrain(): void {
    this.upstreamFull = false;
    this.host.resumeClient();
  }

  /** Resumes reading upstream once the client's socket has room again (unless the hooks hold the body). */
  clientDrained(): void {
    if (this.injection) {
      this.wakeWriter();
      return;
    }
    if (!this.bodyHeld && this.link?.socket.isPaused()) this.link.socket.resume();
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.finished) return;
    this.retryable = false;
    let buf = chunk;
    if (this.pendingHead) {
      buf = Buffer.concat([this.pendingHead, chunk]);
      this.pendingHead = null;
    }
    // What the hooks are told of this read waits until the client has been written to: the client
    // does not wait for davtap's recording (the order of the hook calls is kept; see tellHooks).
    this.deferring = true;
    try {
      this.readUpstream(buf);
      this.flushOut();
    } finally {
      this.tellHooks();
    }
    const pace = this.settings.hooks.bodyPace;
    if (pace && this.response && this.link && !this.finished && !this.bodyHeld && !this.injection && pace.held(this.id)) this.holdBody(pace);
  }

  /** The hooks hold this body (hooks.bodyPace): upstream is read no further until they let go. */
  private bodyHeld = false;

  private holdBody(pace: BodyPace): void {
    this.bodyHeld = true;
    this.link!.socket.pause();
    pace.whenFree(() => {
      this.bodyHeld = false;
      try {
        // Still waiting for room on the client's socket: clientDrained() resumes it.
        if (this.finished || this.host.client.writableNeedDrain) return;
        if (this.link?.socket.isPaused()) this.link.socket.resume();
      } catch (err) {
        this.onInternalFault(err);
      }
    });
  }

  /**
   * While an upstream read is relayed: onResponseStart and onResponseChunk calls wait in `told`,
   * and are made, in order, once the read's bytes are handed to the client's socket (or before the
   * flow ends, whichever comes first: onFlow stays last).
   */
  private deferring = false;
  private told: Array<FlowStart | Buffer> | null = null;

  private tellHooks(): void {
    this.deferring = false;
    const told = this.told;
    if (!told) return;
    this.told = null;
    const { onResponseStart, onResponseChunk } = this.settings.hooks;
    for (const item of told) {
      if (Buffer.isBuffer(item)) {
        if (onResponseChunk) this.safeHook(() => onResponseChunk(this.id, item));
      } else if (onResponseStart) this.safeHook(() => onResponseStart(item));
    }
  }

  /**
   * What readUpstream() gives the client, written at once at the end of each upstream read: a
   * small response (head and body in one read) costs one write.
   */
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Called once the response's last bytes are handed to the client's socket. */
  private afterLastWrite: ((err?: Error | null) => void) | null = null;

  private emit(bytes: Buffer): void {
    this.out.push(bytes);
    this.outBytes += bytes.length;
  }

  private flushOut(): void {
    // A response kept for the intercept filter reaches the client only once released.
    if (this.responseIntercept || this.responseHeld) return;
    const out = this.out;
    const done = this.afterLastWrite;
    if (out.length === 0 && !done) return;
    this.out = [];
    this.afterLastWrite = null;
    const client = this.host.client;
    if (done) this.handedOver = true;
    const tail = done && this.host.clientEnded && !this.host.requestsWaiting ? holdLastByte(out) : null;
    const callback = tail ? null : done;
    let ok = true;
    if (out.length <= 1) {
      // One piece (or none, for the callback): no corking.
      const last = out[0] ?? EMPTY;
      ok = callback ? client.write(last, callback) : client.write(last);
    } else if (this.outBytes > 64 * 1024) {
      // Large pieces are not copied together: corked, they still leave in one writev.
      client.cork();
      for (let i = 0; i < out.length - 1; i++) ok = client.write(out[i]!) && ok;
      const last = out[out.length - 1] ?? EMPTY;
      ok = (callback ? client.write(last, callback) : client.write(last)) && ok;
      client.uncork();
    } else {
      const data = Buffer.concat(out);
      ok = callback ? client.write(data, callback) : client.write(data);
    }
    this.outBytes = 0;
    if (!ok) this.link?.socket.pause();
    if (tail && done) {
      // The last answer to a client that sent FIN: one that only half-closed reads it; one that
      // closed altogether (it gave up waiting) resets the bytes it is sent. The reset arrives
      // within a round trip, and the last byte, written after it, then fails: the flow is
      // recorded as client-aborted, not as delivered.
      setTimeout(() => {
        if (!client.destroyed) client.write(tail, done);
      }, RESET_WINDOW_MS).unref();
    }
  }

  private readUpstream(buf: Buffer): void {
    let off = 0;
    while (off < buf.length && !this.finished) {
      const response = this.response;
      if (!response) {
        let end: number;
        let head: ResponseHead;
        try {
          end = headEnd(buf, off);
          if (end < 0) {
            this.pendingHead = buf.subarray(off);
            return;
          }
          head = parseResponseHead(buf, off, end);
        } catch (err) {
          this.badResponse(err as WireError);
          return;
        }
        if (head.status >= 100 && head.status < 200) {
          if (head.status === 101) {
            this.badResponse(new WireError('EUPGRADE', 'switched protocols (101) though davtap asked for no upgrade'));
            return;
          }
          this.informational.push({ status: head.status, rawHeaders: head.rawHeaders });
          // As sent, to clients that can read them (RFC 9110 §15.2: not to HTTP/1.0 clients).
          if (this.request.version === '1.1') this.emit(buf.subarray(off, end));
          off = end;
          continue;
        }
        off = end;
        if (!this.startResponse(head)) return;
        if (this.response!.framer.done) {
          this.noteSurplus(buf, off);
          this.complete();
          return;
        }
        continue;
      }
      const used = response.framer.feed(buf, off, this.onResponsePayload);
      if (used > 0 && !this.dechunk && !this.injection) this.emit(off === 0 && used === buf.length ? buf : buf.subarray(off, off + used));
      off += used;
      if (response.framer.error) {
        this.cut(response.framer.error.code, false, 'upstream-aborted');
        return;
      }
      if (response.framer.done) {
        this.noteSurplus(buf, off);
        this.complete();
        return;
      }
    }
  }

  /** The final response head arrived: send the client its head. False when the exchange failed. */
  private startResponse(head: ResponseHead): boolean {
    this.firstByte = Date.now();
    let plan: BodyPlan;
    try {
      plan = responseBodyPlan(head.rawHeaders, head.status, this.request.method);
    } catch (err) {
      this.badResponse(err as WireError);
      return false;
    }
    const clientIs10 = this.request.version === '1.0';
    let headers = withoutHopByHop(head.rawHeaders);
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, which an intermediary removes.
    if (plan.framing === 'chunked' && firstHeader(headers, 'content-length') !== undefined) headers = withoutHeaders(headers, 'content-length');
    const upstreamKeeps = plan.framing !== 'close-delimited' && persistent(head.version, head.rawHeaders);
    if (this.settings.hooks.injectFor && this.injectIfAsked(head, plan, upstreamKeeps, this.target.mapResponseHeaders(headers))) return true;
    if (plan.framing === 'chunked' && clientIs10) {
      // An HTTP/1.0 client cannot read chunked framing: the one framing change davtap makes is to
      // close-delimited, because the alternative is a body the client cannot parse.
      headers = withoutHeaders(headers, 'transfer-encoding');
      this.dechunk = true;
    }
    const mapped = this.target.mapResponseHeaders(headers);
    // A client that half-closed still reads: the connection ends after its last answer (connection.ts).
    // An answer that comes before the request body has all arrived (a 423 or 401 on the head alone)
    // ends the connection (complete(): the rest of the body cannot be told from a next request), and
    // the client is told so now: one that reuses the connection would write its next request into a
    // socket about to close, and have to send it again.
    const clientKeeps = !this.dechunk && plan.framing !== 'close-delimited' && this.requestFramer.done && persistent(this.request.version, this.request.rawHeaders);
    if (!clientKeeps) mapped.push('Connection', 'close');
    else if (clientIs10) mapped.push('Connection', 'keep-alive');
    this.response = { head, framing: plan.framing, framer: new BodyFramer(plan), upstreamKeeps, clientKeeps };
    this.startCapture(head.rawHeaders);
    const start = this.announce({ status: head.status, reason: head.reason, httpVersion: head.version, rawHeaders: head.rawHeaders, framing: plan.framing, declaredLength: declaredLength(head.rawHeaders) });
    this.emit(serializeHead(`HTTP/1.1 ${head.status} ${head.reason}`, mapped));
    // Kept in `out` (not on the wire yet) while the intercept filter may hold the response.
    if (!this.askResponseIntercept(start)) this.clientHeadSent = true;
    return true;
  }

  /**
   * A response the intercept filter may hold (hooks.interceptResponse) is kept whole before the
   * client gets any of it: true when it is being kept. One too large for --max-body goes through.
   */
  private responseIntercept: { intercept: ResponseIntercept; payload: Buffer[]; bytes: number } | null = null;
  /** The whole response waits in `out` for the hold's decision. */
  private responseHeld = false;
  /** A held response's payload, for the holder's snapshot. */
  private heldPayload: Buffer[] | null = null;

  private askResponseIntercept(start: FlowStart): boolean {
    const ask = this.settings.hooks.interceptResponse;
    if (!ask) return false;
    let intercept: ResponseIntercept | undefined;
    this.safeHook(() => (intercept = ask(start, this.view)));
    if (!intercept) return false;
    const declared = start.response.declaredLength;
    if (declared !== null && declared > this.settings.maxBody) {
      const refused = intercept;
      this.safeHook(() => refused.refused(`its body of ${declared.toLocaleString('en-US')} bytes is larger than --max-body (${this.settings.maxBody.toLocaleString('en-US')} bytes): passed through, not held`));
      return false;
    }
    this.responseIntercept = { intercept, payload: [], bytes: 0 };
    return true;
  }

  /** Stops keeping the response: what was kept goes out with the next flush (unless `discard`). */
  private stopKeeping(discard: boolean): void {
    if (!this.responseIntercept && !this.responseHeld) return;
    this.responseIntercept = null;
    this.responseHeld = false;
    this.heldPayload = null;
    if (discard) {
      this.out = [];
      this.outBytes = 0;
    } else this.clientHeadSent = true;
  }

  /** The capture (and decoded copy) of the body the client is sent, unless the hooks keep bodies themselves. */
  private startCapture(rawHeaders: RawHeaders): void {
    const keep = this.settings.hooks.takesResponseBodies !== true;
    this.responseBody = new BodyCapture(this.settings.maxBody, keep);
    const encoding = keep ? decodableEncoding(firstHeader(rawHeaders, 'content-encoding')) : null;
    if (encoding) this.decoder = new DecodedCopy(encoding, this.settings.maxBody);
  }

  /** onResponseStart, with the head the client is sent; returns what it was told. */
  private announce(response: FlowStart['response']): FlowStart {
    const start: FlowStart = {
      id: this.id,
      mode: this.target.mode,
      timings: { start: this.startedAt, firstByte: this.firstByte, end: null },
      request: this.requestRecord(),
      response,
    };
    if (this.host.peer.tls) start.clientTls = true;
    const onResponseStart = this.settings.hooks.onResponseStart;
    if (this.deferring) {
      if (onResponseStart) (this.told ??= []).push(start);
    } else if (onResponseStart) this.safeHook(() => onResponseStart(start));
    return start;
  }

  private readonly onResponsePayload = (slice: Buffer): void => {
    if (this.upstreamPayload) {
      this.upstreamPayload.push(slice);
      return;
    }
    this.responseBody!.add(slice);
    reclaimer.note(slice.length);
    this.decoder?.write(slice);
    const onChunk = this.settings.hooks.onResponseChunk;
    if (onChunk) {
      if (this.deferring) (this.told ??= []).push(slice);
      else this.safeHook(() => onChunk(this.id, slice));
    }
    if (this.dechunk) this.emit(slice);
    const kept = this.responseIntercept;
    if (kept) {
      kept.payload.push(slice);
      kept.bytes += slice.length;
      if (kept.bytes > this.settings.maxBody) {
        // Never half held: what was kept goes out now, the rest as it comes.
        this.stopKeeping(false);
        const max = this.settings.maxBody.toLocaleString('en-US');
        this.safeHook(() => kept.intercept.refused(`its body passed --max-body (${max} bytes) before it ended: passed through, not held`));
      }
    }
  };

  /** The response ended as framed: once its last bytes are handed to the client's socket, the flow is complete. */
  private complete(): void {
    const response = this.response!;
    const link = this.link;
    const upstreamReusable = response.upstreamKeeps && !this.overran && this.requestFramer.done && link !== null && link.usable;
    if (link) {
      if (upstreamReusable) link.detach();
      else link.destroy();
    }
    this.link = null;
    if (this.upstreamPayload) {
      // Injected: the flow ends when the injection has sent what it makes of this payload.
      this.upstreamReusable = upstreamReusable;
      this.upstreamPayload.end();
      return;
    }
    // A request body still arriving cannot be told from the next request: the connection ends.
    const clientKeeps = response.clientKeeps && this.requestFramer.done;
    this.afterLastWrite = (err) => {
      if (err) this.finish({ kind: 'client-aborted', code: (err as NodeJS.ErrnoException).code ?? 'ECONNRESET', message: 'client closed the connection before the response was complete' }, false, false);
      else this.finish({ kind: 'complete' }, clientKeeps, upstreamReusable);
    };
    const kept = this.responseIntercept;
    if (kept) {
      this.upstreamReusable = upstreamReusable;
      this.responseIntercept = null;
      const payload = kept.payload.length === 1 ? kept.payload[0]! : Buffer.concat(kept.payload, kept.bytes);
      let hold: ExchangeHold | undefined;
      this.safeHook(() => (hold = kept.intercept.complete(payload)));
      if (hold) return this.holdResponse(hold, payload);
      this.clientHeadSent = true;
    }
    this.flushOut();
  }

  /** The whole response waits in `out` until the hold is decided (only this client's connection waits). */
  private holdResponse(hold: ExchangeHold, payload: Buffer): void {
    this.hold = hold;
    this.responseHeld = true;
    this.heldPayload = [payload];
    void hold.decision.then(
      (decision) => {
        if (this.finished || this.hold !== hold) return;
        this.hold = null;
        try {
          if (this.clientIsGone()) this.endHeldForGoneClient('response');
          else if (decision === 'resume') {
            this.stopKeeping(false);
            this.flushOut();
          } else this.killHeldResponse();
        } catch (err) {
          this.onInternalFault(err);
        }
      },
      () => {},
    );
  }

  /**
   * A held response killed (mitmproxy's X): as mitmproxy does, the client is sent nothing and its
   * connection is closed; the flow keeps the response as received (analyzed and recorded as usual).
   */
  private killHeldResponse(): void {
    this.stopKeeping(true);
    this.afterLastWrite = null;
    this.finish({ kind: 'error', code: 'EKILLED', message: 'killed in davtap while its response was held by the intercept filter: the client was sent nothing and its connection closed' }, false, this.upstreamReusable);
  }

  // ---------------------------------------------------------------------------------------------
  // Fault injection (hooks.ts, injectFor): the client is sent what the injection makes of upstream's
  // response instead of upstream's bytes. A separate path, so that the transparent one stays as it is.

  private injection: ResponseInjection | null = null;
  /** Upstream's payload as the injection reads it. */
  private upstreamPayload: PayloadQueue | null = null;
  private injectionAbort: AbortController | null = null;
  /** The head the injection sent, recorded on the flow in place of upstream's. */
  private injectedHead: (ClientHead & { framing: Framing }) | null = null;
  /** The injected body is chunked on its way to the client (its head says chunked). */
  private injectedChunks = false;
  private injectedClientKeeps = false;
  /** Whether upstream's connection may carry another request, known once its response completed. */
  private upstreamReusable = false;
  private writerWaiting: (() => void) | null = null;

  /** Asks the hooks whether this response is injected; true when it is (the injection then runs). */
  private injectIfAsked(head: ResponseHead, plan: BodyPlan, upstreamKeeps: boolean, clientHeaders: RawHeaders): boolean {
    const start: FlowStart = {
      id: this.id,
      mode: this.target.mode,
      ...(this.host.peer.tls ? { clientTls: true } : {}),
      timings: { start: this.startedAt, firstByte: this.firstByte, end: null },
      request: this.requestRecord(),
      response: { status: head.status, reason: head.reason, httpVersion: head.version, rawHeaders: head.rawHeaders, framing: plan.framing, declaredLength: declaredLength(head.rawHeaders) },
    };
    let injection: ResponseInjection | undefined;
    this.safeHook(() => {
      injection = this.settings.hooks.injectFor!(start);
    });
    if (!injection) return false;
    this.injection = injection;
    this.response = { head, framing: plan.framing, framer: new BodyFramer(plan), upstreamKeeps, clientKeeps: false };
    this.upstreamPayload = new PayloadQueue(1024 * 1024, {
      pause: () => this.link?.socket.pause(),
      resume: () => this.link?.socket.resume(),
      abandon: () => {
        // The injection does not want the rest: upstream's connection cannot be reused.
        this.link?.destroy();
        this.link = null;
      },
    });
    this.injectionAbort = new AbortController();
    void this.runInjection(injection, { status: head.status, reason: head.reason, rawHeaders: clientHeaders });
    return true;
  }

  private async runInjection(injection: ResponseInjection, upstreamHead: ClientHead): Promise<void> {
    const client = this.host.client;
    let cut: 'close' | 'reset' | null = null;
    try {
      for await (const step of injection.run(upstreamHead, this.upstreamPayload!, this.injectionAbort!.signal)) {
        if (this.finished) break;
        if (step.kind === 'cut') {
          cut = step.how;
          break;
        }
        if (step.kind === 'head') {
          this.sendInjectedHead(step.head);
          continue;
        }
        if (!this.injectedHead) throw new Error(`injection ${injection.name} sent a body before its head`);
        const chunk = step.chunk;
        this.responseBody!.add(chunk);
        this.decoder?.write(chunk);
        const onChunk = this.settings.hooks.onResponseChunk;
        if (onChunk) this.safeHook(() => onChunk(this.id, chunk));
        let room: boolean;
        if (this.injectedChunks) {
          client.cork();
          client.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
          client.write(chunk);
          room = client.write('\r\n', 'latin1');
          client.uncork();
        } else room = client.write(chunk);
        if (!room) await this.clientRoom();
      }
    } catch (err) {
      if (!this.finished) this.injectionBroke(err as NodeJS.ErrnoException & { kind?: 'upstream-aborted' | 'timeout' });
      return;
    } finally {
      // What the injection never read is not waited for.
      if (this.link && !this.finished && this.response && !this.response.framer.done) {
        this.link.destroy();
        this.link = null;
      }
    }
    if (this.finished) return;
    try {
      if (!this.injectedHead && cut === null) this.fail(502, 'Bad Gateway', `injection ${injection.name} produced no response`, { kind: 'error', code: 'EINJECT' }, true);
      else if (cut === null) this.endInjected();
      else this.cutInjected(injection, cut);
    } catch (err) {
      this.onInternalFault(err);
    }
  }

  private sendInjectedHead(head: ClientHead): void {
    const plan = responseBodyPlan(head.rawHeaders, head.status, this.request.method);
    const clientIs10 = this.request.version === '1.0';
    let headers = head.rawHeaders;
    this.injectedChunks = plan.framing === 'chunked';
    // As in the transparent path: an HTTP/1.0 client gets a chunked body de-chunked, until close.
    if (this.injectedChunks && clientIs10) {
      headers = withoutHeaders(headers, 'transfer-encoding');
      this.injectedChunks = false;
    }
    const keeps = plan.framing !== 'close-delimited' && (plan.framing !== 'chunked' || !clientIs10) && persistent(this.request.version, this.request.rawHeaders);
    headers = headers.slice();
    if (!keeps) headers.push('Connection', 'close');
    else if (clientIs10) headers.push('Connection', 'keep-alive');
    this.injectedClientKeeps = keeps;
    // Informational responses read before the final head go first.
    this.flushOut();
    // On the wire now, as a server would send it: a stall or cut before the first body byte still shows the head.
    this.host.client.write(serializeHead(`HTTP/1.1 ${head.status} ${head.reason}`, headers));
    this.clientHeadSent = true;
    this.injectedHead = { ...head, framing: plan.framing };
    this.startCapture(head.rawHeaders);
    this.announce({ ...head, httpVersion: this.response!.head.version, framing: plan.framing, declaredLength: declaredLength(head.rawHeaders) });
  }

  /** Resolves once the client's socket has room again, or the exchange ended. */
  private clientRoom(): Promise<void> {
    if (this.finished || this.host.client.destroyed) return Promise.resolve();
    return new Promise((resolve) => (this.writerWaiting = resolve));
  }

  private wakeWriter(): void {
    const wake = this.writerWaiting;
    this.writerWaiting = null;
    wake?.();
  }

  /** The injection sent its whole response: complete once its last bytes reach the client's socket. */
  private endInjected(): void {
    const client = this.host.client;
    const head = this.injectedHead!;
    const declared = declaredLength(head.rawHeaders);
    // A Content-Length the injection did not keep to leaves the client unable to find the next message.
    const framed = head.framing !== 'content-length' || declared === (this.responseBody?.bytesSeen ?? 0);
    const keepClient = this.injectedClientKeeps && framed && this.requestFramer.done && !this.host.clientEnded;
    const upstreamReusable = this.upstreamReusable && this.response!.framer.done;
    const last = this.injectedChunks ? '0\r\n\r\n' : '';
    this.handedOver = true;
    client.write(last, 'latin1', (err) => {
      if (err) this.finish({ kind: 'client-aborted', code: (err as NodeJS.ErrnoException).code ?? 'ECONNRESET', message: 'client closed the connection before the response was complete' }, false, false);
      else this.finish({ kind: 'complete' }, keepClient, upstreamReusable);
    });
  }

  /** The injection ended the connection without completing the message ('cut'). */
  private cutInjected(injection: ResponseInjection, how: 'close' | 'reset'): void {
    const sent = this.responseBody?.bytesSeen ?? 0;
    const what = this.injectedHead ? `after ${sent.toLocaleString('en-US')} body bytes` : 'before the response head';
    this.clientCut = true;
    this.link?.destroy();
    this.link = null;
    this.finish(
      how === 'reset'
        ? { kind: this.injectedHead ? 'upstream-aborted' : 'error', code: 'ECONNRESET', message: `${injection.name}: connection reset ${what}` }
        : { kind: 'upstream-aborted', code: 'EINJECTED', message: `${injection.name}: connection closed ${what}` },
      false,
      false,
    );
    const client = this.host.client;
    if (client.destroyed) return;
    // What was written must reach the client before the connection ends (destroy would drop it).
    client.write(EMPTY, () => {
      if (how === 'reset') this.host.resetClient();
      else client.end(() => client.destroy());
    });
  }

  /** Upstream broke under the injection (or the injection failed): the client sees a broken transfer. */
  private injectionBroke(err: NodeJS.ErrnoException & { kind?: 'upstream-aborted' | 'timeout' }): void {
    this.link?.destroy();
    this.link = null;
    const code = err.code ?? 'EINJECT';
    const kind = err.kind ?? 'upstream-aborted';
    const client = this.host.client;
    if (!this.clientHeadSent) {
      // Nothing clean is made up for a body that never completed: the client's transfer breaks too.
      this.clientCut = true;
      client.destroy();
      this.finish({ kind, code, message: err.kind ? err.message : `injection ${this.injection!.name} failed: ${err.message}` }, false, false);
      return;
    }
    this.clientCut = true;
    if (!client.destroyed) {
      if (code === 'ECONNRESET') client.write(EMPTY, () => this.host.resetClient());
      else client.end(() => client.destroy());
    }
    this.finish({ kind, code, message: err.message }, false, false);
  }

  onUpstreamGone(err: NodeJS.ErrnoException | null): void {
    if (this.finished) return;
    this.link = null;
    const response = this.response;
    if (response && err === null && response.framer.untilClose) {
      // Close-delimited: the end of the connection is the end of the body.
      this.complete();
      return;
    }
    const reset = err !== null && err.code === 'ECONNRESET';
    if (!response) {
      if (this.retryable && this.reusedLink && !this.host.client.destroyed) {
        this.retryable = false;
        this.start();
        this.flushUpstream();
        return;
      }
      const target = this.target.origin;
      if (err && err.code !== 'ECONNRESET') {
        this.failUpstream(err);
        return;
      }
      const what = this.pendingHead ? 'in the middle of the response head' : 'before answering';
      this.fail(502, 'Bad Gateway', `upstream ${target} ${reset ? 'reset' : 'closed'} the connection ${what}${reset ? ' (ECONNRESET)' : ''}`, { kind: 'error', code: reset ? 'ECONNRESET' : 'EOF' }, !this.requestFramer.done);
      return;
    }
    this.cut(reset ? 'ECONNRESET' : (err?.code ?? 'EOF'), reset, 'upstream-aborted');
  }

  onUpstreamTimeout(): void {
    if (this.finished) return;
    // Held by the hooks, davtap itself is not reading: the upstream is not silent. Reading again
    // re-arms the timer.
    if (this.bodyHeld) return;
    if (!this.response && !this.requestFramer.done && !this.upstreamFull) {
      // The upstream is idle because the client's body stopped arriving (writes upstream reset
      // this timer): the client is the slow party, and is named as such.
      this.link?.destroy();
      this.link = null;
      const got = this.requestFramer.payloadBytes.toLocaleString('en-US');
      const of = this.target.plan.framing === 'content-length' ? ` of ${this.target.plan.length.toLocaleString('en-US')}` : '';
      this.fail(408, 'Request Timeout', `the client sent no request body bytes for ${this.settings.upstreamTimeoutMs / 1000} s (${got}${of} bytes received); the upstream was waiting for them`, { kind: 'timeout', code: REQUEST_TIMEOUT_CODE }, true);
      return;
    }
    this.link?.destroy();
    this.link = null;
    if (!this.response) {
      this.fail(504, 'Gateway Timeout', `upstream ${this.target.origin} sent no response within ${this.settings.upstreamTimeoutMs / 1000} s`, { kind: 'timeout', code: 'ETIMEDOUT' }, !this.requestFramer.done);
      return;
    }
    this.cut('ETIMEDOUT', false, 'timeout');
  }

  /** davtap's own code failed on this exchange: answered while nothing was relayed, else cut; recorded. */
  internalFault(err: unknown): void {
    if (this.finished) return;
    this.link?.destroy();
    this.link = null;
    const text = internalErrorText(err);
    const outcome: Outcome = { kind: 'error', code: INTERNAL_ERROR_CODE };
    this.stopKeeping(true);
    if (!this.clientHeadSent) {
      this.fail(502, 'Bad Gateway', text, outcome, true);
      return;
    }
    // Part of the response went out: the client must see a broken transfer, not a clean end.
    this.clientCut = true;
    this.host.client.destroy();
    this.finish({ ...outcome, message: text }, false, false);
  }

  onInternalFault(err: unknown): void {
    this.settings.log(`davtap: internal error in an exchange with ${this.target.origin}: ${stackOf(err)}`);
    try {
      this.internalFault(err);
    } catch (again) {
      this.settings.log(`davtap: internal error while containing one: ${stackOf(again)}`);
      this.host.client.destroy();
    }
  }

  /** The client's connection closed (or failed) under this exchange. */
  clientGone(): void {
    if (this.finished) return;
    if (this.hold) {
      // Held: it stays held, marked as past its client, until decided (then nothing is sent).
      this.leftWhileHeld = true;
      this.heldBytes = null;
      this.rejectBodyReaders('its client went away while it was held');
      return;
    }
    this.stopKeeping(true);
    this.injectionAbort?.abort();
    this.link?.destroy();
    this.link = null;
    this.finish({ kind: 'client-aborted', code: 'ECONNRESET', message: 'client closed the connection before the response was complete' }, false, false);
  }

  /** The upstream body broke: the client sees a broken transfer too, after the valid bytes. */
  private cut(code: string, reset: boolean, kind: 'upstream-aborted' | 'timeout'): void {
    this.link?.destroy();
    this.link = null;
    if (this.upstreamPayload) {
      // Injected: the injection reads up to the break, then the client sees a broken transfer (injectionBroke).
      this.upstreamPayload.fail(Object.assign(new Error(this.cutMessage(code)), { code, kind }));
      return;
    }
    const client = this.host.client;
    this.clientCut = true;
    // A response kept for the intercept filter that breaks is passed on as it came, broken.
    this.stopKeeping(false);
    this.flushOut();
    if (!client.destroyed) {
      // What was valid goes out first; a reset is passed on as a reset.
      if (reset) client.write(EMPTY, () => this.host.resetClient());
      else client.end(() => client.destroy());
    }
    this.finish({ kind, code, message: this.cutMessage(code) }, false, false);
  }

  private cutMessage(code: string): string {
    const seen = this.response?.framer.payloadBytes ?? 0;
    const declared = this.response ? declaredLength(this.response.head.rawHeaders) : null;
    const of = declared !== null ? ` of ${declared.toLocaleString('en-US')} declared` : '';
    return `upstream body ended after ${seen.toLocaleString('en-US')}${of} bytes (${code})`;
  }

  private badResponse(err: WireError): void {
    if (this.response) {
      this.cut(err.code, false, 'upstream-aborted');
      return;
    }
    this.link?.destroy();
    this.link = null;
    this.fail(502, 'Bad Gateway', `upstream ${this.target.origin} sent a malformed response: ${err.message}`, { kind: 'error', code: err.code }, !this.requestFramer.done);
  }

  private failUpstream(err: NodeJS.ErrnoException): void {
    const why =
      err.code === 'ECONNREFUSED' ? 'refused the connection'
      : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'could not be resolved'
      : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' ? 'is unreachable'
      : `failed: ${err.message.replace(/\s+/g, ' ').trim()}`;
    const hint = upstreamTrustHint(err.code);
    this.fail(502, 'Bad Gateway', `upstream ${this.target.origin} ${why}${err.code ? ` (${err.code})` : ''}${hint ? `: ${hint}` : ''}`, { kind: 'error', code: err.code ?? 'EUPSTREAM' }, !this.requestFramer.done);
  }

  /** Answers the client with a gateway error when nothing was relayed yet (else cuts it). */
  private fail(status: number, reason: string, text: string, outcome: Outcome, closeClient: boolean): void {
    const client = this.host.client;
    const close = closeClient || this.host.clientEnded || !persistent(this.request.version, this.request.rawHeaders);
    const replied = !this.clientHeadSent && !client.destroyed;
    if (replied) {
      client.write(textReply(status, reason, text, close));
      if (close) client.end();
    } else if (!client.destroyed) client.destroy();
    this.finish({ ...outcome, message: text }, replied && !close, false);
  }

  private requestRecord(): RequestRecord {
    const edit = this.replaced;
    if (edit) {
      return {
        method: edit.method,
        url: this.target.origin + edit.target,
        target: edit.target,
        httpVersion: '1.1',
        rawHeaders: edit.rawHeaders,
        body: { bytes: edit.body, bytesSeen: edit.body.length, captureComplete: true },
      };
    }
    return {
      method: this.request.method,
      url: this.target.origin + this.target.path,
      target: this.request.target,
      httpVersion: this.request.version,
      rawHeaders: this.request.rawHeaders,
      body: this.requestBody.result(),
    };
  }

  private safeHook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A hook must never break relaying.
      this.settings.log(`davtap: flow hook failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private finish(outcome: Outcome, keepClient: boolean, upstreamReusable: boolean): void {
    if (this.finished) return;
    this.finished = true;
    // The hooks hear of what was relayed before they hear that the flow ended.
    this.tellHooks();
    // Ended while held without a decision (a malformed body, davtap's own fault): the holder lets go.
    this.hold?.withdraw();
    this.hold = null;
    this.rejectBodyReaders('the exchange ended while held');
    // An injection waiting for room on a client that went away stops waiting (and then stops).
    this.wakeWriter();
    const end = Date.now();
    const address = this.host.peer;
    this.host.exchangeDone(keepClient, upstreamReusable, this.clientCut);
    const response = this.response;
    const complete = outcome.kind === 'complete';
    const deliver = (decoded: { body: Flow['request']['body']; error?: string } | null) => {
      const head = response?.head;
      const injected = this.injectedHead;
      // What the client was sent: upstream's head, or for an injected flow the injection's (none
      // when the injection sent no head).
      const sent = this.injection ? injected : head;
      let record: ResponseRecord | null = null;
      if (head && response && sent && this.responseBody) {
        record = {
          status: sent.status,
          reason: sent.reason,
          rawHeaders: sent.rawHeaders,
          framing: injected ? injected.framing : response.framing,
          declaredLength: declaredLength(sent.rawHeaders),
          httpVersion: head.version,
          body: this.responseBody.result(),
          decoded: decoded ? decoded.body : null,
          informational: this.informational,
          rawTrailers: injected ? [] : response.framer.trailers,
        };
        if (decoded?.error) record.decodeError = decoded.error;
        if (this.surplus && !injected) record.surplus = this.surplus;
      }
      const flow: Flow = {
        id: this.id,
        mode: this.target.mode,
        client: address,
        timings: { start: this.startedAt, firstByte: this.firstByte, end },
        request: this.requestRecord(),
        response: record,
        outcome,
      };
      if (this.injection) flow.injected = this.injection.name;
      this.safeHook(() => this.settings.hooks.onFlow(flow));
      this.onDone();
    };
    if (this.decoder) void this.decoder.finish(complete).then(deliver);
    else deliver(null);
  }
}
