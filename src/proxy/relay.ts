// One exchange, relayed without changing a byte of either body, and recorded as a Flow.
//
// The transparency contract (DESIGN.md) is enforced here for both modes:
// - bodies are piped as they arrive (stream.pipeline: backpressure, bounded memory);
// - the framing kind is kept (Content-Length, chunked, close-delimited, bodyless);
// - a cut upstream body cuts the client connection (reset when upstream reset), never a clean end;
// - 1xx responses and trailers are relayed; header names keep their case.
import http from 'node:http';
import https from 'node:https';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Flow, FlowStart, InformationalResponse, Mode, Outcome, RawHeaders, RequestRecord } from '../types.js';
import { BodyCapture } from '../tap/capture.js';
import { DecodedCopy, decodableEncoding } from '../tap/decode.js';
import { declaredLength, requestFraming, responseFraming } from '../tap/framing.js';
import { getHeader, trailerPairs, withoutHopByHop } from './headers.js';

export interface ProxyHooks {
  /** The response head arrived; body chunks for this flow follow through onResponseChunk. */
  onResponseStart?(flow: FlowStart): void;
  /** A response body chunk as relayed (after de-chunking, before any content decoding). */
  onResponseChunk?(flowId: string, chunk: Buffer): void;
  /** The exchange is over, one way or another. Called exactly once per flow. */
  onFlow(flow: Flow): void;
}

export interface RelayOptions {
  maxBody: number;
  maxRequestBody: number;
  /** Idle time after which an upstream that sends nothing is given up on (ms; 0 = never). */
  upstreamTimeoutMs: number;
  insecureUpstream: boolean;
  hooks: ProxyHooks;
  log: (line: string) => void;
}

/** Where and how to send one request upstream. */
export interface UpstreamRequest {
  url: URL;
  rawHeaders: RawHeaders;
  /** Rewrites response header values (reverse mode maps Location back to davtap's address). */
  mapResponseHeaders?: (raw: RawHeaders) => RawHeaders;
  /** The client's address when the socket does not tell it (a TLS socket inside a CONNECT tunnel). */
  client?: { address: string; port: number };
}

export class Relay {
  private readonly httpAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 256 });
  private readonly httpsAgent: https.Agent;

  constructor(
    readonly mode: Mode,
    private readonly options: RelayOptions,
  ) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      scheduling: 'lifo',
      maxFreeSockets: 256,
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

  /** Relays one exchange. Never throws: every failure ends up in the flow's outcome. */
  exchange(clientReq: http.IncomingMessage, clientRes: http.ServerResponse, upstream: UpstreamRequest): void {
    new Exchange(this, this.options, clientReq, clientRes, upstream).start();
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

/** Counts and copies the bytes that pass, and passes the very same chunks on. */
class Tap extends Transform {
  constructor(private readonly onChunk: (chunk: Buffer) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    // Pass the chunk on first: whatever the hook does (capture, analysis) happens after the bytes
    // are on their way to the client, so relaying never waits on it.
    callback(null, chunk);
    this.onChunk(chunk);
  }
}

interface RawWriter {
  _writeRaw?: (data: string, encoding: BufferEncoding, cb?: () => void) => boolean;
}

const upstreamTimeout = Object.assign(new Error('upstream sent nothing for too long'), { code: 'ETIMEDOUT' });

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
  }

  start(): void {
    const { clientReq, clientRes, upstream } = this;
    const url = upstream.url;
    const method = clientReq.method ?? 'GET';
    const proxyReq = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method,
      path: url.pathname + url.search,
      agent: this.relay.agentFor(url),
      setHost: false,
      rejectUnauthorized: !this.options.insecureUpstream,
    });
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
      clientReq.on('data', (chunk: Buffer) => this.requestBody.add(chunk));
    } else {
      // A client that sent Expect: 100-continue waits for the server's 100 before sending the
      // body, and Node sends the head only with the first body bytes: send it now.
      if (/100-continue/i.test(getHeader(clientReq.rawHeaders, 'expect') ?? '')) proxyReq.flushHeaders();
      clientReq.pipe(new Tap((chunk) => this.requestBody.add(chunk))).pipe(proxyReq);
    }

    if (this.options.upstreamTimeoutMs > 0) {
      proxyReq.setTimeout(this.options.upstreamTimeoutMs, () => proxyReq.destroy(upstreamTimeout));
    }
    proxyReq.on('information', (info) => this.relayInformational(info));
    proxyReq.on('response', (res) => this.onResponse(res));
    proxyReq.on('error', (err) => this.onUpstreamError(err as NodeJS.ErrnoException));

    // The client went away before the response was complete.
    clientRes.on('close', () => {
      if (!clientRes.writableFinished && !this.finished) {
        proxyReq.destroy();
        this.finish({ kind: 'client-aborted', code: 'ECONNRESET', message: 'client closed the connection before the response was complete' });
      }
    });
    clientReq.on('error', () => {
      /* the client's socket errors surface as the response's close */
    });
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
      clientRes.writeHead(status, res.statusMessage ?? '', headers);
    } catch (err) {
      // Node refuses a few header values it would itself consider invalid; say so rather than crash.
      res.destroy();
      this.fail(502, `upstream response head could not be relayed: ${(err as Error).message}`, { kind: 'error', code: 'EBADHEAD' });
      return;
    }
    this.responseStarted = true;

    this.responseBody = new BodyCapture(this.options.maxBody);
    const encoding = decodableEncoding(getHeader(res.rawHeaders, 'content-encoding'));
    if (encoding) this.decoder = new DecodedCopy(encoding, this.options.maxBody);

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
    const tap = new Tap((chunk) => {
      this.responseBody!.add(chunk);
      this.decoder?.write(chunk);
      if (onChunk) this.safeHook(() => onChunk(this.id, chunk));
    });
    res.once('end', () => {
      if (res.rawTrailers.length > 0 && framing === 'chunked') clientRes.addTrailers(trailerPairs(res.rawTrailers));
    });
    pipeline(res, tap, clientRes, (err) => {
      if (!err) {
        this.finish({ kind: 'complete' });
        return;
      }
      if (this.finished) return;
      if (!clientRes.writableEnded && clientRes.destroyed && !res.destroyed) {
        this.finish({ kind: 'client-aborted', code: 'ECONNRESET', message: 'client closed the connection mid-body' });
        return;
      }
      this.onBodyError(err as NodeJS.ErrnoException);
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
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
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
    return requestRecordOf(this.clientReq, this.upstream.url.href, this.requestBody);
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
    const end = Date.now();
    const res = this.upstreamRes;
    const responseBody = this.responseBody;
    const complete = outcome.kind === 'complete';
    void (async () => {
      const decoded = this.decoder ? await this.decoder.finish(complete) : null;
      const flow: Flow = {
        id: this.id,
        mode: this.relay.mode,
        client: this.upstream.client ?? { address: this.clientReq.socket.remoteAddress ?? '', port: this.clientReq.socket.remotePort ?? 0 },
        timings: { start: this.startedAt, firstByte: this.firstByte, end },
        request: this.requestRecord(),
        response:
          res && responseBody
            ? {
                status: res.statusCode ?? 0,
                reason: res.statusMessage ?? '',
                httpVersion: res.httpVersion,
                rawHeaders: res.rawHeaders,
                framing: responseFraming(res.rawHeaders, res.statusCode ?? 0, this.clientReq.method ?? 'GET'),
                declaredLength: declaredLength(res.rawHeaders),
                body: responseBody.result(),
                decoded: decoded ? decoded.body : null,
                ...(decoded?.error ? { decodeError: decoded.error } : {}),
                informational: this.informational,
                rawTrailers: res.rawTrailers,
              }
            : null,
        outcome,
      };
      this.safeHook(() => this.options.hooks.onFlow(flow));
    })();
  }
}
