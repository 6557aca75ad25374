// Reverse mode on raw sockets: davtap reads the HTTP/1.x messages of each client connection
// itself (message.ts) and relays them over one upstream connection of its own (link.ts).
//
// Why not node:http here: its server and client cost most of a relay's time per request (measured
// in bench/: a bare node:http relay reaches a quarter of direct throughput on small PROPFINDs, a
// blind TCP pipe or this relay about three quarters), and it refuses methods outside its table.
// Reading the framing directly also relays chunked bodies chunk for chunk, with their extensions.
// Forward mode (http-mitm-proxy, CONNECT) and fault injection, which rebuilds responses, keep the
// node:http relay in relay.ts.
import net from 'node:net';
import type { RelayOptions } from '../relay.js';
import { INTERNAL_ERROR_CODE, internalErrorText, recordRefusal, refusalFor, REQUEST_TIMEOUT_CODE, stackOf, textReply } from '../client-errors.js';
import { getHeader, withoutHopByHop } from '../../http/headers.js';
import { OpenFlows } from '../open-flows.js';
import { addressMapOf, mapRequestHeaders, mapResponseHeaders, upstreamPathFor, type AddressMap } from '../rewrite.js';
import { UpstreamLink } from './link.js';
import { WireExchange, type ExchangeHost, type ExchangeSettings } from './exchange.js';
import { headEnd, parseRequestHead, requestBodyPlan, WireError } from '../../http/message.js';

export interface WireReverseOptions extends RelayOptions {
  upstream: URL;
  /** davtap's own address as clients reach it, for clients that send no Host (read once listening). */
  listenAuthority: () => string;
}

/** How long a client connection may sit without a request (or in the middle of a head). */
const CLIENT_IDLE_MS = 60_000;
/** Pipelined bytes held while an exchange runs before the client is paused. */
const MAX_HELD = 256 * 1024;

export class WireReverseProxy {
  readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly open = new OpenFlows();
  readonly map: AddressMap;
  readonly settings: ExchangeSettings;

  constructor(readonly options: WireReverseOptions) {
    this.map = addressMapOf(options.upstream);
    this.settings = {
      maxBody: options.maxBody,
      maxRequestBody: options.maxRequestBody,
      upstreamTimeoutMs: options.upstreamTimeoutMs,
      hooks: options.hooks,
      log: options.log,
      upstreamOrigin: options.upstream.origin,
    };
    // allowHalfOpen: when a client shuts its side, the replies already written still go out before
    // davtap ends its own (onEnd).
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      const connection = new ClientConnection(this, socket);
      this.connections.add(connection);
      socket.once('close', () => this.connections.delete(connection));
    });
  }

  beginFlow(): void {
    this.open.begin();
  }

  flowDone(): void {
    this.open.done();
  }

  /** Ends every connection; resolves once the flows that cut have reached onFlow (bounded). */
  close(boundMs: number): Promise<void> {
    for (const c of this.connections) c.destroy();
    return this.open.settled(boundMs);
  }
}

class ClientConnection implements ExchangeHost {
  /** Client bytes not yet handed to an exchange: a partial head, or pipelined requests. */
  private pending: Buffer | null = null;
  private exchange: WireExchange | null = null;
  private upstream: UpstreamLink | null = null;
  private ended = false;
  /** No further request is read: the connection closes once the current exchange is over. */
  private closing = false;
  private pumping = false;
  private pausedFor = { upstream: false, held: false };
  readonly peer: { address: string; port: number };

  constructor(
    private readonly proxy: WireReverseProxy,
    readonly client: net.Socket,
  ) {
    this.peer = { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 };
    client.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    client.on('end', () => this.guard(() => this.onEnd()));
    client.on('error', () => {
      /* followed by 'close' */
    });
    client.on('close', () => this.guard(() => this.onClose()));
    client.on('drain', () => this.guard(() => this.exchange?.clientDrained()));
    client.setTimeout(CLIENT_IDLE_MS, () => {
      if (!this.exchange) client.destroy();
    });
  }

  get clientEnded(): boolean {
    return this.ended;
  }

  get requestsWaiting(): boolean {
    return this.pending !== null && this.pending.length > 0;
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  takeUpstream(): UpstreamLink {
    if (this.upstream?.usable) return this.upstream;
    const link = new UpstreamLink(this.proxy.options.upstream, this.proxy.options.insecureUpstream, (gone) => {
      if (this.upstream === gone) this.upstream = null;
    });
    this.upstream = link;
    return link;
  }

  pauseClient(): void {
    this.pausedFor.upstream = true;
    this.client.pause();
  }

  resumeClient(): void {
    this.pausedFor.upstream = false;
    if (!this.pausedFor.held) this.client.resume();
  }

  exchangeDone(keepClient: boolean, upstreamReusable: boolean, clientCut: boolean): void {
    this.exchange = null;
    if (!upstreamReusable && this.upstream) {
      this.upstream.destroy();
      this.upstream = null;
    }
    this.pausedFor = { upstream: false, held: false };
    if (!keepClient) {
      this.closing = true;
      this.pending = null;
      this.clearHeadDeadline();
      if (!clientCut && !this.client.destroyed) this.client.end();
      return;
    }
    if (this.client.isPaused()) this.client.resume();
    this.pump();
    // A half-closed client has had every whole request it sent answered: davtap's FIN follows.
    if (this.ended && !this.exchange) this.endAfterHalfClose();
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
        if (!this.startExchange(this.pending)) break;
      }
    } finally {
      this.pumping = false;
    }
    this.exchange?.flushUpstream();
    this.holdCheck();
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
    recordRefusal(this.proxy.options.hooks, this.proxy.options.log, 'reverse', this.peer, pending.toString('latin1', 0, Math.min(pending.length, 16 * 1024)), REQUEST_TIMEOUT_CODE, message, 'timeout');
  }

  /** Starts the exchange for the request at the start of `buf`; false while its head is incomplete. */
  private startExchange(buf: Buffer): boolean {
    // A server ignores empty lines before a request line (RFC 9112 §2.2).
    let off = 0;
    while (off + 1 < buf.length && buf[off] === 0x0d && buf[off + 1] === 0x0a) off += 2;
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
      this.pending = end < buf.length ? buf.subarray(end) : null;
      if (head.method === 'CONNECT') {
        this.refuse(new WireError('ECONNECT', 'CONNECT is for forward mode (davtap without --upstream)'), buf.toString('latin1', off, end));
        return false;
      }
      const { map } = this.proxy;
      // The client's view of davtap's address: what it put in Host (it may use a name for 127.0.0.1).
      const clientOrigin = `http://${getHeader(head.rawHeaders, 'host') ?? this.proxy.options.listenAuthority()}`;
      const exchange = new WireExchange(
        this,
        this.proxy.settings,
        {
          head,
          plan,
          path: upstreamPathFor(map, head.target),
          upstreamHeaders: mapRequestHeaders(map, withoutHopByHop(head.rawHeaders), clientOrigin),
          mapResponseHeaders: (raw) => mapResponseHeaders(map, raw, clientOrigin),
        },
        () => this.proxy.flowDone(),
      );
      this.exchange = exchange;
      this.proxy.beginFlow();
      exchange.start();
      return true;
    } catch (err) {
      const at = buf.indexOf('\r\n\r\n', off);
      this.refuse(err as WireError, buf.toString('latin1', off, at >= 0 ? at + 4 : Math.min(buf.length, off + 16 * 1024)));
      return false;
    }
  }

  /** Answers a request davtap cannot relay, records it, and closes the connection. */
  private refuse(err: WireError, rawHead: string): void {
    const { reply, message } = refusalFor(err.code, err.message, /^\S*/.exec(rawHead)![0]);
    this.closing = true;
    this.clearHeadDeadline();
    this.pending = null;
    this.client.end(reply);
    recordRefusal(this.proxy.options.hooks, this.proxy.options.log, 'reverse', this.peer, rawHead, err.code, message);
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
        const at = pending ? pending.indexOf('\r\n\r\n') : -1;
        const rawHead = pending ? pending.toString('latin1', 0, at >= 0 ? at + 4 : Math.min(pending.length, 16 * 1024)) : '';
        const message = internalErrorText(err);
        if (!this.client.destroyed) this.client.end(textReply(400, 'Bad Request', `${message}; the request was not relayed`, true));
        recordRefusal(hooks, log, 'reverse', this.peer, rawHead, INTERNAL_ERROR_CODE, message);
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
    if (exchange && (exchange.wantsRequestBytes || exchange.responseStarted)) {
      this.closing = true;
      this.pending = null;
      exchange.clientGone();
      if (!this.client.destroyed) this.client.end();
      return;
    }
    if (!exchange) this.endAfterHalfClose();
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
