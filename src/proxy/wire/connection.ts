// One client connection on the relay: davtap reads its HTTP/1.x requests itself, one after the
// other (pipelined ones wait their turn), asks the router where each goes, and relays each as an
// exchange over one upstream connection of its own (connection affinity: per-connection
// authentication such as NTLM keeps working).
import type net from 'node:net';
import { INTERNAL_ERROR_CODE, internalErrorText, recordLocalAnswer, recordRefusal, recordTlsFailure, refusalFor, REQUEST_TIMEOUT_CODE, stackOf, textReply } from '../client-errors.js';
import type { CaPageAnswer } from '../ca-page.js';
import type { Pace } from '../hooks.js';
import { UpstreamLink } from './link.js';
import { WireExchange, type ExchangeHost } from './exchange.js';
import { BodyFramer, findHeadEnd, headEnd, MAX_HEAD_BYTES, parseRequestHead, persistent, requestBodyPlan, WireError, type RequestHead } from '../../http/message.js';
import type { WireProxy } from './proxy.js';
import { parseAuthority, tunnelRouter, type Router } from './routes.js';
import { serveByFirstBytes } from './tunnel.js';

/** How long a client connection may sit without a request (or in the middle of a head). */
const CLIENT_IDLE_MS = 60_000;
/** The outcome code of a pipelined request left unrelayed when its connection closed before its turn. */
export const NOT_RELAYED_CODE = 'ENOTRELAYED';
/** The head at buf[off..] as text, for a refusal's record: up to its empty line, or at most a head's size. */
function headText(buf: Buffer, off: number): string {
  const end = findHeadEnd(buf, off);
  return buf.toString('latin1', off, end >= 0 ? end : Math.min(buf.length, off + MAX_HEAD_BYTES));
}

/**
 * Past the empty lines before a request line: a server ignores them (RFC 9112 §2.2); like Node's
 * parser, any CR and LF there is skipped, such as the stray line end a client writes after a body.
 */
function skipEmptyLines(buf: Buffer, from: number): number {
  let off = from;
  while (buf[off] === 0x0a || buf[off] === 0x0d) off++;
  return off;
}

/** Pipelined bytes held while an exchange runs before the client is paused. */
const MAX_HELD = 256 * 1024;

export class ClientConnection implements ExchangeHost {
  /** Client bytes not yet handed to an exchange: a partial head, or pipelined requests. */
  private pending: Buffer | null = null;
  private exchange: WireExchange | null = null;
  private upstream: UpstreamLink | null = null;
  private ended = false;
  /** No further request is read: the connection closes once the current exchange is over. */
  private closing = false;
  private pumping = false;
  private pausedFor = { upstream: false, held: false, pace: false };

  /** The client's last request left its connection open for more (no Connection: close). */
  private clientWantsMore = true;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- socket listeners of several signatures, removed together
  private readonly listeners: Array<[string, (...args: any[]) => void]>;

  constructor(
    private readonly proxy: WireProxy,
    readonly client: net.Socket,
    private readonly router: Router,
    /** The client's address, read when it connected (a closed socket, or a tunnel's TLS socket, may not tell it). */
    readonly peer: { address: string; port: number },
    /** The TCP socket under `client` (itself, but for a TLS-intercepted tunnel). */
    private readonly tcp: net.Socket = client,
  ) {
    this.listeners = [
      [
        'data',
        (chunk: Buffer) => {
          // guard(), without a closure made for every read.
          try {
            this.onData(chunk);
          } catch (err) {
            this.contain(err);
          }
        },
      ],
      ['end', () => this.guard(() => this.onEnd())],
      [
        'error',
        () => {
          /* followed by 'close' */
        },
      ],
      ['close', () => this.guard(() => this.onClose())],
      ['drain', () => this.guard(() => this.exchange?.clientDrained())],
      [
        'timeout',
        () => {
          if (!this.exchange) client.destroy();
        },
      ],
    ];
    for (const [event, listener] of this.listeners) client.on(event, listener);
    client.setTimeout(CLIENT_IDLE_MS);
  }

  get clientEnded(): boolean {
    return this.ended;
  }

  get requestsWaiting(): boolean {
    return this.pending !== null && this.pending.length > 0;
  }

  get mode() {
    return this.router.mode;
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Bytes read from the client by someone else before this connection took the socket over (a tunnel's first bytes). */
  receive(chunk: Buffer): void {
    this.guard(() => this.onData(chunk));
  }

  /** An upstream connection to `origin`: this connection's own one while it goes there, else a new one. */
  takeUpstream(url: URL, origin: string): UpstreamLink {
    if (this.upstream?.usable && this.upstream.origin === origin) return this.upstream;
    this.upstream?.destroy();
    const link = new UpstreamLink(url, this.proxy.upstreamTrust, (gone) => {
      if (this.upstream === gone) this.upstream = null;
    });
    this.upstream = link;
    return link;
  }

  resetClient(): void {
    if (!this.tcp.destroyed) this.tcp.resetAndDestroy();
    this.client.destroy();
  }

  pauseClient(): void {
    this.pausedFor.upstream = true;
    this.client.pause();
  }

  resumeClient(): void {
    this.pausedFor.upstream = false;
    if (!this.pausedFor.held && !this.pausedFor.pace) this.client.resume();
  }

  exchangeDone(keepClient: boolean, upstreamReusable: boolean, clientCut: boolean): void {
    this.exchange = null;
    if (!upstreamReusable && this.upstream) {
      this.upstream.destroy();
      this.upstream = null;
    }
    this.pausedFor = { upstream: false, held: false, pace: this.pausedFor.pace };
    if (!keepClient) {
      this.closing = true;
      if (this.clientWantsMore) this.recordUnrelayed();
      this.pending = null;
      this.clearHeadDeadline();
      if (!clientCut && !this.client.destroyed) this.client.end();
      return;
    }
    if (this.client.isPaused() && !this.pausedFor.pace) this.client.resume();
    this.pump();
    // A half-closed client has had every whole request it sent answered: davtap's FIN follows.
    if (this.ended && !this.exchange && !this.pausedFor.pace) this.endAfterHalfClose();
  }

  /**
   * The connection closes with the answer to the request before them (a close-delimited answer, an
   * error): the whole requests pipelined behind it were sent by the client and are never relayed.
   * Each is recorded, so that nothing the client sent goes unseen. (Bytes after a request that
   * itself asked for Connection: close are not requests, and are not looked at.)
   */
  private recordUnrelayed(): void {
    const pending = this.pending;
    if (!pending) return;
    const { hooks, log } = this.proxy.options;
    let off = 0;
    for (let n = 0; n < 1000 && off < pending.length; n++) {
      off = skipEmptyLines(pending, off);
      try {
        const end = headEnd(pending, off);
        if (end < 0) return;
        const framer = new BodyFramer(requestBodyPlan(parseRequestHead(pending, off, end).rawHeaders));
        recordRefusal(hooks, log, this.router.mode, this.peer, pending.toString('latin1', off, end), NOT_RELAYED_CODE, 'not relayed: the connection closed with the answer to the request before it');
        off = end + framer.feed(pending, end, () => {});
        if (!framer.done) return;
      } catch {
        return;
      }
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const exchange = this.exchange;
    if (exchange && exchange.wantsRequestBytes && !this.pending) {
      // The common case of a body arriving after its head: no copy, no queue.
      const used = exchange.feedRequest(chunk, 0);
      if (used < chunk.length && !this.closing) this.pending = chunk.subarray(used);
      this.holdCheck();
      return;
    }
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pump();
  }

  /** Reads what the pending bytes allow: the current request's body, or the next request. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending && !this.closing) {
        const exchange = this.exchange;
        if (exchange) {
          if (!exchange.wantsRequestBytes) break;
          const pending = this.pending;
          const used = exchange.feedRequest(pending, 0);
          // A body that ends the exchange (bad chunking → 400) also ends the connection, which
          // drops what was pending: what is left is no longer this loop's to keep.
          if (this.pending === pending) this.pending = used < pending.length ? pending.subarray(used) : null;
          continue;
        }
        const pace = this.proxy.options.hooks.pace;
        if (pace?.held()) {
          this.waitForPace(pace);
          break;
        }
        if (!this.startExchange(this.pending)) break;
      }
    } finally {
      this.pumping = false;
    }
    this.exchange?.flushUpstream();
    this.holdCheck();
  }

  /** The next request waits (the client paused) until the hooks' pace lets it start. */
  private waitForPace(pace: Pace): void {
    if (this.pausedFor.pace) return;
    this.pausedFor.pace = true;
    this.client.pause();
    pace.whenFree(() =>
      this.guard(() => {
        this.pausedFor.pace = false;
        if (this.closing || this.client.destroyed) return;
        if (!this.pausedFor.held && !this.pausedFor.upstream) this.client.resume();
        this.pump();
        if (this.ended && !this.exchange && !this.pausedFor.pace) this.endAfterHalfClose();
      }),
    );
  }

  /** Bounds the bytes held for requests pipelined behind the current exchange. */
  private holdCheck(): void {
    if (this.pending && this.exchange && this.pending.length > MAX_HELD && !this.pausedFor.held) {
      this.pausedFor.held = true;
      this.client.pause();
    }
  }

  /**
   * A head that is still incomplete this long after its first byte is answered 408 and recorded:
   * a client that trickles a head (slowloris) would otherwise hold its socket for as long as it
   * keeps sending, since every byte resets the idle timeout.
   */
  private headDeadline: NodeJS.Timeout | null = null;

  private armHeadDeadline(): void {
    const ms = this.proxy.options.headTimeoutMs;
    if (this.headDeadline || ms <= 0) return;
    this.headDeadline = setTimeout(() => this.guard(() => this.headTimedOut(ms)), ms);
    this.headDeadline.unref();
  }

  private clearHeadDeadline(): void {
    if (this.headDeadline) clearTimeout(this.headDeadline);
    this.headDeadline = null;
  }

  private headTimedOut(ms: number): void {
    this.headDeadline = null;
    if (this.exchange || this.closing) return;
    const pending = this.pending ?? Buffer.alloc(0);
    const message = `request head incomplete after ${ms / 1000} s (${pending.length.toLocaleString('en-US')} bytes received); the client was too slow`;
    this.closing = true;
    this.pending = null;
    if (!this.client.destroyed) this.client.end(textReply(408, 'Request Timeout', message, true));
    recordRefusal(this.proxy.options.hooks, this.proxy.options.log, this.router.mode, this.peer, pending.toString('latin1', 0, Math.min(pending.length, 16 * 1024)), REQUEST_TIMEOUT_CODE, message, 'timeout');
  }

  /** Starts the exchange for the request at the start of `buf`; false while its head is incomplete. */
  private startExchange(buf: Buffer): boolean {
    const off = skipEmptyLines(buf, 0);
    if (buf[off] === 0x16) {
      this.refuseTls();
      return false;
    }
    let end: number;
    try {
      end = headEnd(buf, off);
      if (end < 0) {
        this.pending = off > 0 ? buf.subarray(off) : buf;
        if (off < buf.length) this.armHeadDeadline();
        return false;
      }
      this.clearHeadDeadline();
      const head = parseRequestHead(buf, off, end);
      const plan = requestBodyPlan(head.rawHeaders);
      this.clientWantsMore = persistent(head.version, head.rawHeaders);
      this.pending = end < buf.length ? buf.subarray(end) : null;
      if (head.method === 'CONNECT') {
        const rawHead = buf.toString('latin1', off, end);
        if (this.router.connectRefused !== undefined) this.refuse(new WireError('ECONNECT', this.router.connectRefused), rawHead);
        else this.startTunnel(head.target, rawHead);
        return false;
      }
      const route = this.router.route(head);
      if ('answer' in route) {
        this.answerLocally(route.answer, head);
        return false;
      }
      if ('refuse' in route) {
        const { status, reason, code, message } = route.refuse;
        this.refuseWith(status, reason, code, message, buf.toString('latin1', off, end));
        return false;
      }
      const exchange = new WireExchange(
        this,
        this.proxy.settings,
        { head, plan, mode: this.router.mode, upstream: route.upstream, origin: route.origin, path: route.path, upstreamHeaders: route.upstreamHeaders, mapResponseHeaders: route.mapResponseHeaders },
        () => this.proxy.flowDone(),
      );
      this.exchange = exchange;
      this.proxy.beginFlow();
      exchange.start();
      return true;
    } catch (err) {
      this.refuse(err as WireError, headText(buf, off));
      return false;
    }
  }

  /**
   * A TLS ClientHello (a handshake record, 0x16) where davtap reads plain HTTP: it cannot be
   * answered in plain text, so the connection is closed, and the flow says why.
   */
  private refuseTls(): void {
    this.closing = true;
    this.clearHeadDeadline();
    this.pending = null;
    this.client.destroy();
    const where = `${this.client.localAddress ?? ''}:${this.client.localPort ?? ''}`;
    const message =
      this.router.mode === 'reverse'
        ? 'a TLS client on a listener without certificates: reverse mode serves TLS when davtap has a CA (--ca-dir) or --cert'
        : 'a TLS client spoke TLS to the proxy itself: send https:// URLs through CONNECT (curl -x http://…), not to the proxy port';
    recordTlsFailure(this.proxy.options.hooks, this.proxy.options.log, this.router.mode, { ...this.peer, tls: {} }, { method: 'TLS', target: where }, 'ETLSNOTSERVED', message);
  }

  /** Answers a request davtap serves itself (the CA page), records it, and closes the connection. */
  private answerLocally(answer: CaPageAnswer, head: RequestHead): void {
    this.closing = true;
    this.clearHeadDeadline();
    this.pending = null;
    const rawHeaders = [...answer.rawHeaders, 'Connection', 'close'];
    let text = `HTTP/1.1 ${answer.status} ${answer.reason}\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
    this.client.end(Buffer.concat([Buffer.from(text + '\r\n', 'latin1'), answer.body]));
    recordLocalAnswer(this.proxy.options.hooks, this.proxy.options.log, this.router.mode, this.peer, head, answer);
  }

  /** Answers a request davtap cannot relay, records it, and closes the connection. */
  private refuse(err: WireError, rawHead: string): void {
    const { reply, message } = refusalFor(err.code, err.message, /^\S*/.exec(rawHead)![0]);
    this.endWith(reply, err.code, message, rawHead);
  }

  private refuseWith(status: number, reason: string, code: string, message: string, rawHead: string): void {
    this.endWith(textReply(status, reason, message, true), code, message, rawHead);
  }

  private endWith(reply: Buffer, code: string, message: string, rawHead: string): void {
    this.closing = true;
    this.clearHeadDeadline();
    this.pending = null;
    this.client.end(reply);
    recordRefusal(this.proxy.options.hooks, this.proxy.options.log, this.router.mode, this.peer, rawHead, code, message);
  }

  /**
   * CONNECT host:port (forward mode): answered 200, then the socket is handed to a tunnel
   * (tunnel.ts), with the bytes the client already sent after the CONNECT head.
   */
  private startTunnel(authority: string, rawHead: string): void {
    const target = parseAuthority(authority);
    if (!target) {
      this.refuseWith(400, 'Bad Request', 'BAD_REQUEST', `CONNECT needs host:port, got '${authority}'`, rawHead);
      return;
    }
    const first = this.pending;
    this.pending = null;
    this.closing = true;
    this.clearHeadDeadline();
    const client = this.client;
    client.pause();
    for (const [event, listener] of this.listeners) client.off(event, listener);
    client.setTimeout(0);
    this.upstream?.destroy();
    this.upstream = null;
    this.proxy.release(this);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const issuer = this.proxy.options.issuer;
    serveByFirstBytes(
      this.proxy,
      client,
      this.peer,
      {
        plain: tunnelRouter(target.host, target.port, false, this.proxy.options.caPage),
        secure: tunnelRouter(target.host, target.port, true, this.proxy.options.caPage),
        tls: issuer && { contextFor: (servername) => issuer.contextFor(servername ?? target.host) },
        recordAs: { mode: this.router.mode, method: 'CONNECT', target: authority },
      },
      first,
    );
  }

  /**
   * Runs the handling of one client event. Whatever a peer sends, a fault in davtap's own code ends
   * this connection only: it is answered where an answer is still possible, recorded, and logged
   * with its stack; the process and every other connection go on.
   */
  private guard(handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.contain(err);
    }
  }

  private contain(err: unknown): void {
    const { log, hooks } = this.proxy.options;
    log(`davtap: internal error on the connection from ${this.peer.address}:${this.peer.port}: ${stackOf(err)}`);
    const pending = this.pending;
    this.closing = true;
    this.pending = null;
    try {
      const exchange = this.exchange;
      if (exchange) exchange.internalFault(err);
      else {
        // Between requests: the fault came from reading the client's next head.
        const rawHead = pending ? headText(pending, 0) : '';
        const message = internalErrorText(err);
        if (!this.client.destroyed) this.client.end(textReply(400, 'Bad Request', `${message}; the request was not relayed`, true));
        recordRefusal(hooks, log, this.router.mode, this.peer, rawHead, INTERNAL_ERROR_CODE, message);
      }
    } catch (again) {
      log(`davtap: internal error while containing one: ${stackOf(again)}`);
      this.client.destroy();
    }
    if (!this.client.destroyed && !this.client.writableEnded) this.client.end();
    this.upstream?.destroy();
    this.upstream = null;
  }

  private onEnd(): void {
    // A client that shuts its sending side after a whole request (shutdown(SHUT_WR), `nc -N`, some
    // scripts) still reads: its requests are answered, then davtap ends the connection, as Apache
    // and nginx do. A FIN in the middle of a request body cuts that request, and a FIN while the
    // response streams is a client that went away (a half-closed one cannot be told from a closed
    // one then, and a stalled upstream would otherwise hold the flow open): both are client-aborted.
    this.ended = true;
    const exchange = this.exchange;
    if (exchange && !exchange.answered && (exchange.wantsRequestBytes || exchange.responseStarted)) {
      this.closing = true;
      this.pending = null;
      exchange.clientGone();
      if (!this.client.destroyed) this.client.end();
      return;
    }
    // (Requests waiting for the pace are answered first.)
    if (!exchange && !this.pausedFor.pace) this.endAfterHalfClose();
  }

  /** No request is running on a half-closed connection: what is left is at most part of a head. */
  private endAfterHalfClose(): void {
    this.closing = true;
    this.pending = null;
    this.clearHeadDeadline();
    if (!this.client.destroyed) this.client.end();
  }

  private onClose(): void {
    this.closing = true;
    this.clearHeadDeadline();
    this.exchange?.clientGone();
    this.upstream?.destroy();
    this.upstream = null;
  }
}
