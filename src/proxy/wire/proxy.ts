// davtap's one relay, in every mode: it reads the HTTP/1.x messages of each client connection
// itself (src/http/message.ts) and relays them over one upstream connection of its own (link.ts).
// Only the router differs between modes (routes.ts); CONNECT tunnels, TLS-intercepted or plain,
// are client connections of their own with a router for their origin (tunnel.ts).
//
// Why not node:http: its server and client cost most of a relay's time per request (measured in
// bench/: a bare node:http relay reaches a quarter of direct throughput on small PROPFINDs, a
// blind TCP pipe or this relay about three quarters); it refuses methods outside its table; and
// reading the framing directly relays chunked bodies chunk for chunk, with their extensions, and
// holds every mode to the same refusals of ambiguous framing.
import net from 'node:net';
import type { ProxyHooks } from '../hooks.js';
import { OpenFlows } from '../open-flows.js';
import type { LeafIssuer } from '../ca.js';
import type { CaPageCa } from '../ca-page.js';
import { ClientConnection } from './connection.js';
import type { ExchangeSettings } from './exchange.js';
import type { Router } from './routes.js';
import { serveByFirstBytes, type ClientTls } from './tunnel.js';
import type { UpstreamTrust } from './link.js';

export interface RelayOptions {
  maxBody: number;
  maxRequestBody: number;
  /** Idle time after which an upstream that sends nothing is given up on (ms; 0 = never). */
  upstreamTimeoutMs: number;
  /** How long a client may take to send one request head, from its first byte (ms; 0 = no limit). */
  headTimeoutMs: number;
  insecureUpstream: boolean;
  /** Verification against a private CA, and a client certificate, for TLS upstreams. */
  upstreamTls?: Omit<UpstreamTrust, 'insecure'>;
  hooks: ProxyHooks;
  log: (line: string) => void;
}

export interface WireProxyOptions extends RelayOptions {
  router: Router;
  /** Forward mode: the leaf certificates that intercept CONNECT tunnels. */
  issuer?: LeafIssuer;
  /** Forward mode: the CA served at http://davtap.ca/ (ca-page.ts). */
  caPage?: CaPageCa;
  /**
   * Reverse mode: TLS on the listener, beside plain HTTP on the same port (tunnel.ts): the
   * certificates served, and the router for the requests read over TLS.
   */
  tlsListener?: { tls: ClientTls; router: Router; name: string };
}

export class WireProxy {
  readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly open = new OpenFlows();
  readonly settings: ExchangeSettings;
  readonly upstreamTrust: UpstreamTrust;

  constructor(readonly options: WireProxyOptions) {
    this.upstreamTrust = { insecure: options.insecureUpstream, ...options.upstreamTls };
    this.settings = {
      maxBody: options.maxBody,
      maxRequestBody: options.maxRequestBody,
      upstreamTimeoutMs: options.upstreamTimeoutMs,
      hooks: options.hooks,
      log: options.log,
    };
    // allowHalfOpen: when a client shuts its side, the replies already written still go out before
    // davtap ends its own (connection.ts, onEnd).
    const listener = options.tlsListener;
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      if (!listener) {
        this.adopt(new ClientConnection(this, socket, options.router, peer));
        return;
      }
      const recordAs = { mode: options.router.mode, method: 'TLS', target: listener.name };
      serveByFirstBytes(this, socket, peer, { plain: options.router, secure: listener.router, tls: listener.tls, recordAs }, null);
    });
  }

  /** Keeps track of a client connection (the listener's, or a tunnel's) until it closes. */
  adopt(connection: ClientConnection): void {
    this.connections.add(connection);
    connection.client.once('close', () => this.connections.delete(connection));
  }

  /** Sockets whose first byte has not come yet (tunnel.ts): ended by close() like the connections. */
  private readonly waiting = new Set<net.Socket>();

  holdUntilFirstByte(socket: net.Socket): { release(): void } {
    this.waiting.add(socket);
    const release = () => this.waiting.delete(socket);
    socket.once('close', release);
    return { release };
  }

  /** A client connection stops being one (its socket now carries a tunnel's connection). */
  release(connection: ClientConnection): void {
    this.connections.delete(connection);
  }

  beginFlow(): void {
    this.open.begin();
  }

  flowDone(): void {
    this.open.done();
  }

  /** Ends every connection; resolves once the flows that cut have reached onFlow (bounded). */
  close(boundMs: number): Promise<void> {
    for (const s of this.waiting) s.destroy();
    for (const c of this.connections) c.destroy();
    return this.open.settled(boundMs);
  }
}
