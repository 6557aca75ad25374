// One exchange, relayed without changing a byte of either body, and recorded as a Flow.
//
// The transparency contract (DESIGN.md) is enforced here for both modes:
// - bodies are piped chunk by chunk as they arrive, pausing the source while the destination is
//   full (backpressure: memory stays bounded whatever the body size and the client's speed);
// - the framing kind is kept (Content-Length, chunked, close-delimited, bodyless);
// - a cut upstream body cuts the client connection (reset when upstream reset), never a clean end;
// - 1xx responses and trailers are relayed; header names keep their case.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Flow, FlowStart, Framing, InformationalResponse, Mode, Outcome, RawHeaders, RequestRecord } from '../types.js';
import { BodyCapture } from '../tap/capture.js';
import { DecodedCopy, decodableEncoding } from '../tap/decode.js';
import { declaredLength, requestFraming, responseFraming } from '../http/framing.js';
import { getHeader, trailerPairs, withoutHopByHop } from '../http/headers.js';
import { whenClientStillThere } from './half-close.js';
import { Reclaimer } from './reclaim.js';
import { OpenFlows } from './open-flows.js';
import { INTERNAL_ERROR_CODE, internalErrorText, stackOf } from './client-errors.js';
import type { ClientHead, ProxyHooks, ResponseInjection } from './hooks.js';

export interface RelayOptions {
  maxBody: number;
  maxRequestBody: number;
  /** Idle time after which an upstream that sends nothing is given up on (ms; 0 = never). */
  upstreamTimeoutMs: number;
  /** How long a client may take to send one request head, from its first byte (ms; 0 = no limit). */
  headTimeoutMs: number;
  insecureUpstream: boolean;
  hooks: ProxyHooks;
  log: (line: string) => void;
}

/** Where and how to send one request upstream. */
export interface UpstreamRequest {
  /** The upstream origin (scheme, host, port); its path is not used. */
  url: URL;
  /**
   * The request-target sent upstream, verbatim: never round-tripped through a URL parser, which
   * would drop a fragment (`DELETE /x/#frag`) or re-encode characters the server must judge itself.
   */
  path: string;
  rawHeaders: RawHeaders;
  /** Rewrites response header values (reverse mode maps Location back to davtap's address). */
  mapResponseHeaders?: (raw: RawHeaders) => RawHeaders;
  /** The client's address when the socket does not tell it (a TLS socket inside a CONNECT tunnel). */
  client?: { address: string; port: number };
}

export class Relay {
  private readonly httpAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 256, noDelay: true } as http.AgentOptions);
  private readonly httpsAgent: https.Agent;

  constructor(
    readonly mode: Mode,
    private readonly options: RelayOptions,
  ) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      scheduling: 'lifo',
      maxFreeSockets: 256,
      noDelay: true,
      rejectUnauthorized: !options.insecureUpstream,
    });
  }

  get hooks(): ProxyHooks {
    return this.options.hooks;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Exchanges started whose flow has not been handed to onFlow yet. */
  private readonly open = new OpenFlows();

  /**
   * Resolves once every exchange started has handed its flow to onFlow (or after `boundMs`): a
   * flow cut by the proxy's close must still reach the recorder before the recorder closes.
   */
  settled(boundMs: number): Promise<void> {
    return this.open.settled(boundMs);
  }

  /** Called by an exchange once its flow is handed over. */
  exchangeDone(): void {
    this.open.done();
  }

  /** Relays one exchange. Never throws: every failure ends up in the flow's outcome. */
  exchange(clientReq: http.IncomingMessage, clientRes: http.ServerResponse, upstream: UpstreamRequest): void {
    this.open.begin();
    const exchange = new Exchange(this, this.options, clientReq, clientRes, upstream);
    try {
      exchange.start();
    } catch (err) {
      exchange.internalFault(err);
    }
  }

  agentFor(url: URL): http.Agent {
    return url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
  }

  /** Answers the client with a short text error and records the flow (no upstream response). */
  static refuse(
    clientReq: http.IncomingMessage,
    clientRes: http.ServerResponse,
    status: number,
    text: string,
    flowBase: { mode: Mode; url: string },
    hooks: ProxyHooks,
  ): void {
    const start = Date.now();
    const body = Buffer.from(`davtap: ${text}\n`);
    clientRes.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    clientRes.end(body);
    clientReq.resume();
    hooks.onFlow({
      id: randomUUID(),
      mode: flowBase.mode,
      client: { address: clientReq.socket.remoteAddress ?? '', port: clientReq.socket.remotePort ?? 0 },
      timings: { start, firstByte: null, end: Date.now() },
      request: requestRecordOf(clientReq, flowBase.url, new BodyCapture(0)),
      response: null,
      outcome: { kind: 'error', code: status === 400 ? 'BAD_REQUEST' : 'REFUSED', message: text },
    });
  }
}

function requestRecordOf(clientReq: http.IncomingMessage, url: string, body: BodyCapture): RequestRecord {
  return {
    method: clientReq.method ?? 'GET',
    url,
    target: clientReq.url ?? '',
    httpVersion: clientReq.httpVersion,
    rawHeaders: clientReq.rawHeaders,
    body: body.result(),
  };
}

interface RawWriter {
  _writeRaw?: (data: string, encoding: BufferEncoding, cb?: () => void) => boolean;
}

const upstreamTimeout = Object.assign(new Error('upstream sent nothing for too long'), { code: 'ETIMEDOUT' });

/** Resolves when a response that refused a write can take more, or is gone. */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The exchanges in progress on each client connection (one 'close' listener per connection, however many are pipelined). */
const exchangesOn = new WeakMap<object, Set<Exchange>>();

function watchConnection(socket: Duplex, exchange: Exchange): void {
  let open = exchangesOn.get(socket);
  if (!open) {
    const set = new Set<Exchange>();
    exchangesOn.set(socket, set);
    socket.once('close', () => {
      for (const e of [...set]) e.clientGone();
      set.clear();
    });
    open = set;
  }
  open.add(exchange);
  if (socket.destroyed) exchange.clientGone();
}

/** Frees the relayed chunks of large bodies promptly (see reclaim.ts); one for all exchanges. */
const reclaimer = new Reclaimer();

class Exchange {
  private readonly id = randomUUID();
  private readonly startedAt = Date.now();
  private firstByte: number | null = null;
  private readonly requestBody: BodyCapture;
  private responseBody: BodyCapture | null = null;
  private decoder: DecodedCopy | null = null;
  private readonly informational: InformationalResponse[] = [];
  private upstreamRes: http.IncomingMessage | null = null;
  private proxyReq: http.ClientRequest | null = null;
  private finished = false;
  private responseStarted = false;

  constructor(
    private readonly relay: Relay,
    private readonly options: RelayOptions,
    private readonly clientReq: http.IncomingMessage,
    private readonly clientRes: http.ServerResponse,
    private readonly upstream: UpstreamRequest,
  ) {
    this.requestBody = new BodyCapture(options.maxRequestBody);
    // Read now: once the client has gone, its socket no longer tells its address.
    this.peer = upstream.client ?? { address: clientReq.socket.remoteAddress ?? '', port: clientReq.socket.remotePort ?? 0 };
  }

  private readonly peer: { address: string; port: number };

  start(): void {
    const { clientReq, clientRes, upstream } = this;
    const url = upstream.url;
    const method = clientReq.method ?? 'GET';
    const proxyReq = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method,
      path: upstream.path,
      agent: this.relay.agentFor(url),
      setHost: false,
      rejectUnauthorized: !this.options.insecureUpstream,
    });
    // Node upper-cases the method it is given; methods are case-sensitive (RFC 9110 §9.1), so put
    // back the client's spelling before the head is built (it is built on the first write).
    proxyReq.method = method;
    this.proxyReq = proxyReq;

    // Headers go in one by one rather than as a raw array: with an array, Node builds the request
    // head in the constructor and frames a bodyless PROPFIND/MKCOL as chunked (Apache then answers
    // 415). setHeader keeps each name's case and the order of first appearance.
    const grouped = new Map<string, { name: string; values: string[] }>();
    for (let i = 0; i < upstream.rawHeaders.length; i += 2) {
      const name = upstream.rawHeaders[i]!;
      const key = name.toLowerCase();
      const entry = grouped.get(key);
      if (entry) entry.values.push(upstream.rawHeaders[i + 1]!);
      else grouped.set(key, { name, values: [upstream.rawHeaders[i + 1]!] });
    }
    for (const { name, values } of grouped.values()) proxyReq.setHeader(name, values.length === 1 ? values[0]! : values);

    const framing = requestFraming(clientReq.rawHeaders);
    if (framing === 'none') {
      // Bodyless stays bodyless: no Content-Length: 0, no chunked terminator.
      proxyReq.useChunkedEncodingByDefault = false;
      proxyReq.end();
      clientReq.on('data', this.guard((chunk: Buffer) => this.requestBody.add(chunk)));
    } else {
      // A client that sent Expect: 100-continue waits for the server's 100 before sending the
      // body, and Node sends the head only with the first body bytes: send it now.
      if (/100-continue/i.test(getHeader(clientReq.rawHeaders, 'expect') ?? '')) proxyReq.flushHeaders();
      // Plain listeners rather than pipe()/pipeline(): the same backpressure, without a stream
      // object and an AbortController per exchange (which showed up in profiles).
      clientReq.on(
        'data',
        this.guard((chunk: Buffer) => {
          if (!proxyReq.write(chunk)) clientReq.pause();
          this.requestBody.add(chunk);
          reclaimer.note(chunk.length);
        }),
      );
      proxyReq.on('drain', this.guard(() => clientReq.resume()));
      clientReq.on('end', this.guard(() => proxyReq.end()));
    }

    if (this.options.upstreamTimeoutMs > 0) {
      proxyReq.setTimeout(this.options.upstreamTimeoutMs, () => proxyReq.destroy(upstreamTimeout));
    }
    proxyReq.on('information', this.guard((info: http.InformationEvent) => this.relayInformational(info)));
    proxyReq.on('response', this.guard((res: http.IncomingMessage) => this.onResponse(res)));
    proxyReq.on('error', this.guard((err: Error) => this.onUpstreamError(err as NodeJS.ErrnoException)));

    // The client went away before the response was complete.
    clientRes.on(
      'close',
      this.guard(() => {
        if (!this.responseDone) this.clientGone();
      }),
    );
    // A pipelined request's response waits in Node's queue without the connection, and gets no
    // 'close' of its own when the connection goes: the connection's own 'close' ends it.
    watchConnection(clientReq.socket, this);
    clientReq.on('error', () => {
      /* the client's socket errors surface as the response's close */
    });
  }

  /**
   * Wraps an event handler of this exchange: whatever a peer sends, a fault in davtap's own code
   * ends this exchange only (internalFault), never the process.
   */
  private guard<A extends unknown[]>(handle: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handle(...args);
      } catch (err) {
        this.internalFault(err);
      }
    };
  }

  /** davtap's own code failed on this exchange: answered 502 while nothing was sent, else cut; recorded as EDAVTAP. */
  internalFault(err: unknown): void {
    this.options.log(`davtap: internal error in an exchange with ${this.upstream.url.origin}: ${stackOf(err)}`);
    if (this.finished) return;
    try {
      this.proxyReq?.destroy();
      this.upstreamRes?.destroy();
      this.fail(502, internalErrorText(err), { kind: 'error', code: INTERNAL_ERROR_CODE });
    } catch (again) {
      this.options.log(`davtap: internal error while containing one: ${stackOf(again)}`);
      this.clientRes.socket?.destroy();
      this.finish({ kind: 'error', code: INTERNAL_ERROR_CODE, message: internalErrorText(err) });
    }
  }

  /**
   * Set once the response's last bytes are handed to the client's socket ('finish'). Not the same
   * as writableFinished, which also holds for a response ended into a connection already gone.
   */
  private responseDone = false;
  /** Set once the response is written while the request's body is still arriving. */
  private completeOnRequestEnd = false;

  /**
   * The response is all written: the flow is complete, with the request as the server got it. A
   * server may answer before the end of an upload; the rest of it is still relayed, and recorded.
   */
  private responseWritten(): void {
    this.responseDone = true;
    const req = this.clientReq;
    if (req.complete || req.destroyed || req.readableEnded) {
      this.finish({ kind: 'complete' });
      return;
    }
    this.completeOnRequestEnd = true;
    req.once('end', () => this.finish({ kind: 'complete' }));
  }

  /** The client's connection closed: unless the response was all written, the exchange ends here. */
  clientGone(): void {
    if (this.completeOnRequestEnd) {
      // Answered, in the middle of the rest of its upload.
      this.finish({ kind: 'complete' });
      return;
    }
    if (!this.responseDone && !this.finished) {
      this.proxyReq?.destroy();
      this.finish({ kind: 'client-aborted', code: 'ECONNRESET', message: 'client closed the connection before the response was complete' });
    }
  }

  private relayInformational(info: http.InformationEvent): void {
    const status = info.statusCode;
    this.informational.push({ status, rawHeaders: info.rawHeaders });
    if (this.clientRes.headersSent || status === 101) return;
    let head = `HTTP/1.1 ${status} ${info.statusMessage ?? ''}\r\n`;
    for (let i = 0; i < info.rawHeaders.length; i += 2) head += `${info.rawHeaders[i]}: ${info.rawHeaders[i + 1]}\r\n`;
    head += '\r\n';
    // _writeRaw queues behind an earlier pipelined response, as writeContinue/writeProcessing do;
    // a bare socket.write could interleave with it.
    const raw = this.clientRes as unknown as RawWriter;
    if (typeof raw._writeRaw === 'function') raw._writeRaw.call(this.clientRes, head, 'latin1');
    else this.clientRes.socket?.write(head, 'latin1');
  }

  private onResponse(res: http.IncomingMessage): void {
    this.upstreamRes = res;
    this.firstByte = Date.now();
    const { clientReq, clientRes } = this;
    const method = clientReq.method ?? 'GET';
    const status = res.statusCode ?? 502;
    const framing = responseFraming(res.rawHeaders, status, method);

    let headers = withoutHopByHop(res.rawHeaders);
    if (this.upstream.mapResponseHeaders) headers = this.upstream.mapResponseHeaders(headers);
    if (this.options.hooks.injectFor && this.injectIfAsked(res, framing, headers)) return;
    if (!this.sendHead(res, { status, reason: res.statusMessage ?? '', rawHeaders: headers }, framing)) return;
    this.responseStarted = true;

    const captured = this.startCapture(res.rawHeaders);

    const head = {
      status,
      reason: res.statusMessage ?? '',
      httpVersion: res.httpVersion,
      rawHeaders: res.rawHeaders,
      framing,
      declaredLength: declaredLength(res.rawHeaders),
    };
    this.safeHook(() => this.options.hooks.onResponseStart?.({ id: this.id, mode: this.relay.mode, timings: this.timings(), request: this.requestRecord(), response: head }));

    const onChunk = this.options.hooks.onResponseChunk;
    res.on(
      'data',
      this.guard((chunk: Buffer) => {
        // Relay first; capture and analysis happen after the bytes are on their way.
        if (!clientRes.write(chunk)) res.pause();
        captured.add(chunk);
        reclaimer.note(chunk.length);
        this.decoder?.write(chunk);
        if (onChunk) this.safeHook(() => onChunk(this.id, chunk));
      }),
    );
    clientRes.on('drain', this.guard(() => res.resume()));
    res.on(
      'end',
      this.guard(() => {
        if (res.rawTrailers.length > 0 && framing === 'chunked') clientRes.addTrailers(trailerPairs(res.rawTrailers));
        // Complete once the last bytes are handed to the client's socket.
        whenClientStillThere(this.clientReq.socket, () => clientRes.end(() => this.responseWritten()));
      }),
    );
    // A cut, reset or mis-framed upstream body (the client's own departure is handled in start()).
    res.on(
      'error',
      this.guard((err: NodeJS.ErrnoException) => {
        if (!this.finished) this.onBodyError(err);
      }),
    );
  }

  /** The response body's capture (and decoded copy), unless the hooks keep bodies themselves. */
  private startCapture(rawHeaders: RawHeaders): BodyCapture {
    const keep = this.options.hooks.takesResponseBodies !== true;
    const capture = new BodyCapture(this.options.maxBody, keep);
    this.responseBody = capture;
    const encoding = keep ? decodableEncoding(getHeader(rawHeaders, 'content-encoding')) : null;
    if (encoding) this.decoder = new DecodedCopy(encoding, this.options.maxBody);
    return capture;
  }

  /** Writes the client's response head, keeping the framing kind; false when Node refused it. */
  private sendHead(res: http.IncomingMessage, head: ClientHead, framing: Framing): boolean {
    const { clientReq, clientRes } = this;
    let headers = head.rawHeaders;
    clientRes.sendDate = false;
    if (framing === 'chunked' && clientReq.httpVersion === '1.0') {
      // An HTTP/1.0 client cannot read chunked framing: fall back to close-delimited, the one
      // framing change davtap makes, because the alternative is a body the client cannot parse.
      headers = headers.filter((_, i, a) => (i % 2 === 0 ? a[i] : a[i - 1])!.toLowerCase() !== 'transfer-encoding');
      clientRes.useChunkedEncodingByDefault = false;
    } else if (framing === 'close-delimited') {
      // No Content-Length and no chunking added: the body ends when the connection closes.
      clientRes.useChunkedEncodingByDefault = false;
    }
    try {
      clientRes.writeHead(head.status, head.reason, headers);
      return true;
    } catch (err) {
      // Node refuses a few header values it would itself consider invalid; say so rather than crash.
      res.destroy();
      this.fail(502, `upstream response head could not be relayed: ${(err as Error).message}`, { kind: 'error', code: 'EBADHEAD' });
      return false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Fault injection: a separate path, so that the transparent one above stays exactly as it is.

  private injection: ResponseInjection | null = null;
  /** The head the injection sent, recorded on the flow in place of upstream's. */
  private injectedHead: (ClientHead & { framing: Framing }) | null = null;

  private injectIfAsked(res: http.IncomingMessage, framing: Framing, headers: RawHeaders): boolean {
    const start: FlowStart = {
      id: this.id,
      mode: this.relay.mode,
      timings: this.timings(),
      request: this.requestRecord(),
      response: { status: res.statusCode ?? 502, reason: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, framing, declaredLength: declaredLength(res.rawHeaders) },
    };
    let injection: ResponseInjection | undefined;
    this.safeHook(() => {
      injection = this.options.hooks.injectFor!(start);
    });
    if (!injection) return false;
    this.injection = injection;
    // Upstream failures from here on go through the body (see onUpstreamError).
    this.responseStarted = true;
    void this.relayInjected(res, injection, { status: start.response.status, reason: start.response.reason, rawHeaders: headers });
    return true;
  }

  private async relayInjected(res: http.IncomingMessage, injection: ResponseInjection, upstreamHead: ClientHead): Promise<void> {
    const { clientReq, clientRes } = this;
    const gone = new AbortController();
    clientRes.once('close', () => gone.abort());
    const onChunk = this.options.hooks.onResponseChunk;
    let cut: 'close' | 'reset' | null = null;
    try {
      for await (const step of injection.run(upstreamHead, res, gone.signal)) {
        if (this.finished) break;
        if (step.kind === 'cut') {
          cut = step.how;
          break;
        }
        if (step.kind === 'head') {
          const framing = responseFraming(step.head.rawHeaders, step.head.status, clientReq.method ?? 'GET');
          if (!this.sendHead(res, step.head, framing)) return;
          // On the wire now, as a server would send it: a stall or cut before the first body byte
          // must still show the head (Node would otherwise hold it until the first write).
          clientRes.flushHeaders();
          this.injectedHead = { ...step.head, framing };
          this.startCapture(step.head.rawHeaders);
          const response = { ...step.head, httpVersion: res.httpVersion, framing, declaredLength: declaredLength(step.head.rawHeaders) };
          this.safeHook(() => this.options.hooks.onResponseStart?.({ id: this.id, mode: this.relay.mode, timings: this.timings(), request: this.requestRecord(), response }));
          continue;
        }
        if (!this.injectedHead) throw new Error(`injection ${injection.name} sent a body before its head`);
        const written = clientRes.write(step.chunk);
        this.responseBody!.add(step.chunk);
        this.decoder?.write(step.chunk);
        if (onChunk) this.safeHook(() => onChunk(this.id, step.chunk));
        if (!written) await drainOrClose(clientRes);
      }
    } catch (err) {
      // Upstream broke mid-body (or the injection failed): the client sees a broken transfer.
      if (!this.finished) this.onBodyError(err as NodeJS.ErrnoException);
      return;
    } finally {
      if (!res.complete) res.destroy();
    }
    if (this.finished) return;
    if (!this.injectedHead && cut === null) {
      this.fail(502, `injection ${injection.name} produced no response`, { kind: 'error', code: 'EINJECT' });
      return;
    }
    if (cut === null) {
      whenClientStillThere(this.clientReq.socket, () => clientRes.end(() => this.responseWritten()));
      return;
    }
    const sent = this.responseBody?.bytesSeen ?? 0;
    const what = this.injectedHead ? `after ${sent.toLocaleString('en-US')} body bytes` : 'before the response head';
    this.finish(
      cut === 'reset'
        ? { kind: this.injectedHead ? 'upstream-aborted' : 'error', code: 'ECONNRESET', message: `${injection.name}: connection reset ${what}` }
        : { kind: 'upstream-aborted', code: 'EINJECTED', message: `${injection.name}: connection closed ${what}` },
    );
    const socket = clientRes.socket;
    if (!socket || socket.destroyed) return;
    // What was written must reach the client before the connection ends (destroy would drop it).
    socket.write('', () => {
      if (cut === 'reset' && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.end(() => socket.destroy());
    });
  }

  private onBodyError(err: NodeJS.ErrnoException): void {
    // The upstream body broke: the client must see a broken transfer too. A reset is passed on as
    // a reset; anything else closes the socket without completing the message.
    const socket = this.clientRes.socket;
    const reset = err.code === 'ECONNRESET' && err.message !== 'aborted';
    if (socket && !socket.destroyed) {
      if (reset && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    }
    const kind = err.code === 'ETIMEDOUT' ? 'timeout' : 'upstream-aborted';
    this.finish({ kind, code: this.upstreamErrorCode ?? err.code ?? 'EABORTED', message: this.describeCut(err) });
  }

  private upstreamErrorCode: string | undefined;

  private onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.finished) return;
    if (this.completeOnRequestEnd) {
      // Answered in full, then the server closed in the middle of the rest of the upload.
      this.finish({ kind: 'complete' });
      return;
    }
    if (this.responseStarted) {
      // A parse error mid-body (bad chunk size…) arrives here; the body pipeline sees only "aborted".
      this.upstreamErrorCode = err.code;
      if (this.upstreamRes && !this.upstreamRes.destroyed) this.upstreamRes.destroy(err);
      else this.onBodyError(err);
      return;
    }
    const target = `${this.upstream.url.protocol}//${this.upstream.url.host}`;
    if (err.code === 'ETIMEDOUT') {
      this.fail(504, `upstream ${target} sent no response within ${this.options.upstreamTimeoutMs / 1000} s`, { kind: 'timeout', code: 'ETIMEDOUT' });
      return;
    }
    const why =
      err.code === 'ECONNREFUSED' ? 'refused the connection'
      : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'could not be resolved'
      : err.code === 'ECONNRESET' ? 'reset the connection before answering'
      : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' ? 'is unreachable'
      : `failed: ${err.message}`;
    this.fail(502, `upstream ${target} ${why}${err.code ? ` (${err.code})` : ''}`, { kind: 'error', code: err.code ?? 'EUPSTREAM' });
  }

  private describeCut(err: NodeJS.ErrnoException): string {
    const seen = this.responseBody?.bytesSeen ?? 0;
    const declared = this.upstreamRes ? declaredLength(this.upstreamRes.rawHeaders) : null;
    const of = declared !== null ? ` of ${declared.toLocaleString('en-US')} declared` : '';
    const code = this.upstreamErrorCode ?? err.code;
    return `upstream body ended after ${seen.toLocaleString('en-US')}${of} bytes (${code ?? err.message})`;
  }

  /** Answers the client with a gateway error when nothing was relayed yet. */
  private fail(status: number, text: string, outcome: Outcome): void {
    const res = this.clientRes;
    if (!res.headersSent && !res.destroyed) {
      const body = Buffer.from(`davtap: ${text}\n`);
      // A head Node refused (sendHead) may have left its reason and some of its fields behind.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(status, http.STATUS_CODES[status] ?? 'Error', { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      res.end(body);
    } else if (res.socket && !res.socket.destroyed) {
      res.socket.destroy();
    }
    this.finish({ ...outcome, message: text });
  }

  private timings() {
    return { start: this.startedAt, firstByte: this.firstByte, end: null as number | null };
  }

  private requestRecord(): RequestRecord {
    return requestRecordOf(this.clientReq, this.upstream.url.origin + this.upstream.path, this.requestBody);
  }

  private safeHook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A hook must never break relaying.
      this.options.log(`davtap: flow hook failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private finish(outcome: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    exchangesOn.get(this.clientReq.socket)?.delete(this);
    const end = Date.now();
    const res = this.upstreamRes;
    const responseBody = this.responseBody;
    const injected = this.injectedHead;
    const complete = outcome.kind === 'complete';
    void (async () => {
      const decoded = this.decoder ? await this.decoder.finish(complete) : null;
      const flow: Flow = {
        id: this.id,
        mode: this.relay.mode,
        client: this.peer,
        timings: { start: this.startedAt, firstByte: this.firstByte, end },
        request: this.requestRecord(),
        response:
          res && responseBody
            ? {
                ...(injected
                  ? { ...injected, declaredLength: declaredLength(injected.rawHeaders) }
                  : {
                      status: res.statusCode ?? 0,
                      reason: res.statusMessage ?? '',
                      rawHeaders: res.rawHeaders,
                      framing: responseFraming(res.rawHeaders, res.statusCode ?? 0, this.clientReq.method ?? 'GET'),
                      declaredLength: declaredLength(res.rawHeaders),
                    }),
                httpVersion: res.httpVersion,
                body: responseBody.result(),
                decoded: decoded ? decoded.body : null,
                ...(decoded?.error ? { decodeError: decoded.error } : {}),
                informational: this.informational,
                rawTrailers: injected ? [] : res.rawTrailers,
              }
            : null,
        outcome,
        ...(this.injection ? { injected: this.injection.name } : {}),
      };
      this.safeHook(() => this.options.hooks.onFlow(flow));
      this.relay.exchangeDone();
    })();
  }
}
