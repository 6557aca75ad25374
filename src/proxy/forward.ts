// Forward mode: an explicit HTTP proxy. Plain requests arrive in absolute form; HTTPS arrives as
// CONNECT, which davtap terminates with a leaf certificate from its CA, so the WebDAV exchanges
// inside the tunnel are relayed and analyzed like any other.
import http from 'node:http';
import { answerHalfClosedClients } from './half-close.js';
import net from 'node:net';
import tls from 'node:tls';
import { Relay } from './relay.js';
import { withoutHopByHop } from '../http/headers.js';
import { rawPathOf } from './rewrite.js';
import type { LeafIssuer } from './ca.js';
import { restoreMethod, shimMethods } from './method-shim.js';

interface Tunnel {
  host: string;
  port: number;
  secure: boolean;
  client: { address: string; port: number };
}

/** Parses a CONNECT authority (host:port, [v6]:port). */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export class ForwardProxy {
  private readonly tunnels = new WeakMap<net.Socket, Tunnel>();
  /** Serves the requests found inside CONNECT tunnels (TLS-terminated or plain). */
  readonly innerServer: http.Server;

  constructor(
    private readonly relay: Relay,
    private readonly issuer: LeafIssuer,
    private readonly self: { host: string; port: () => number },
    private readonly log: (line: string) => void,
    /** Serve tunnelled requests with any method token (method-shim.ts). */
    private readonly anyMethod = true,
  ) {
    this.innerServer = http.createServer({ requestTimeout: 0 }, (req, res) => this.onRequest(req, res));
    this.innerServer.on('checkContinue', (req, res) => this.onRequest(req, res));
    answerHalfClosedClients(this.innerServer);
  }

  readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    restoreMethod(req);
    const tunnel = this.tunnels.get(req.socket);
    const target = req.url ?? '/';
    // The origin comes from the tunnel or the absolute-form target; the path is kept verbatim.
    let url: URL;
    let upstreamPath: string;
    try {
      if (tunnel) {
        const host = net.isIPv6(tunnel.host) ? `[${tunnel.host}]` : tunnel.host;
        url = new URL(`${tunnel.secure ? 'https' : 'http'}://${host}:${tunnel.port}/`);
        upstreamPath = rawPathOf(target);
      } else {
        if (target.startsWith('/')) throw new Error('origin-form');
        url = new URL(target);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('unsupported scheme');
        upstreamPath = rawPathOf(target);
      }
    } catch {
      Relay.refuse(req, res, 400, `this is a forward proxy: send absolute-form requests (curl -x http://${this.self.host}:${this.self.port()} URL), or start davtap with --upstream URL for reverse mode`, { mode: 'forward', url: target }, this.relay.hooks);
      return;
    }
    if (!tunnel && this.pointsAtSelf(url)) {
      Relay.refuse(req, res, 508, `request addressed to davtap itself (${url.host}): refusing to loop`, { mode: 'forward', url: url.href }, this.relay.hooks);
      return;
    }
    this.relay.exchange(req, res, {
      url,
      path: upstreamPath,
      rawHeaders: withoutHopByHop(req.rawHeaders, ['proxy-authorization']),
      ...(tunnel ? { client: tunnel.client } : {}),
    });
  };

  private pointsAtSelf(url: URL): boolean {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const selfHost = this.self.host;
    const same = host === selfHost || ((host === 'localhost' || host === '127.0.0.1' || host === '::1') && (selfHost === '127.0.0.1' || selfHost === '::1' || selfHost === 'localhost'));
    return same && port === this.self.port();
  }

  readonly onConnect = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    const target = parseAuthority(req.url ?? '');
    socket.on('error', () => socket.destroy());
    if (!target) {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\ndavtap: CONNECT needs host:port\n');
      return;
    }
    const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const start = (first: Buffer) => {
      socket.pause();
      // A TLS ClientHello starts with 0x16 (handshake record); anything else is plain HTTP
      // sent through the tunnel, which is served as is.
      if (first[0] === 0x16) {
        socket.unshift(first);
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: this.issuer.contextFor(target.host),
          SNICallback: (servername, cb) => {
            try {
              cb(null, this.issuer.contextFor(servername || target.host));
            } catch (err) {
              cb(err as Error, undefined);
            }
          },
        });
        secure.on('error', (err) => {
          this.log(`davtap: TLS with client for ${target.host} failed: ${err.message}`);
          secure.destroy();
        });
        this.tunnels.set(secure, { ...target, secure: true, client });
        this.innerServer.emit('connection', secure);
        if (this.anyMethod) shimMethods(secure);
      } else {
        this.tunnels.set(socket, { ...target, secure: false, client });
        this.innerServer.emit('connection', socket);
        if (this.anyMethod) shimMethods(socket);
        socket.unshift(first);
        socket.resume();
      }
    };
    if (head.length > 0) start(head);
    else socket.once('data', start);
  };
}
