// Where each request goes: the one thing that differs between davtap's modes. A client connection
// asks its router for every request head it reads; the relaying itself (connection.ts, exchange.ts)
// is the same in every mode.
//
// - reverse (--upstream URL): origin-form requests to the one upstream, with the few address
//   mappings WebDAV needs (rewrite.ts);
// - forward (explicit proxy): absolute-form requests to the origin they name, Host and Destination
//   untouched; CONNECT opens a tunnel (tunnel.ts);
// - tunnel (inside a CONNECT, TLS-intercepted or plain): requests to the tunnel's origin.
import net from 'node:net';
import type { Mode, RawHeaders } from '../../types.js';
import { firstHeader, withoutHopByHop } from '../../http/headers.js';
import type { RequestHead } from '../../http/message.js';
import { addressMapOf, clientAddressOf, mapRequestHeaders, mapResponseHeaders, rawPathOf, upstreamPathFor } from '../rewrite.js';
import { caPageAnswer, caPageHost, type CaPageAnswer, type CaPageCa } from '../ca-page.js';

/** Where and how one request goes upstream. */
export interface Route {
  /** The upstream origin (scheme, host, port); its path is not used. */
  upstream: URL;
  /** `upstream.origin`, read once (URL's getter builds a new string on every read). */
  origin: string;
  /**
   * The request-target sent upstream, verbatim: never round-tripped through a URL parser, which
   * would drop a fragment (`DELETE /x/#frag`) or re-encode characters the server must judge itself.
   */
  path: string;
  upstreamHeaders: RawHeaders;
  /** Rewrites response header values (reverse mode maps Location back to davtap's address). */
  mapResponseHeaders(raw: RawHeaders): RawHeaders;
}

/** A request davtap answers itself, with a short text, and records. */
export interface RouteRefusal {
  refuse: { status: number; reason: string; code: string; message: string };
}

/** A request davtap answers itself with a whole response (the CA page), and records as complete. */
export interface RouteAnswer {
  answer: CaPageAnswer;
}

export interface Router {
  readonly mode: Mode;
  route(head: RequestHead): Route | RouteRefusal | RouteAnswer;
  /** Why CONNECT is refused here; undefined where CONNECT opens a tunnel (forward mode's listener). */
  readonly connectRefused?: string;
}

const sameHeaders = (raw: RawHeaders): RawHeaders => raw;

/** How clients reach davtap in reverse mode. */
export interface ClientSide {
  /** The client connection is TLS (davtap's TLS listener). */
  secure: boolean;
  /** The address clients use when something sits in front of davtap (--public-url). */
  publicUrl?: URL;
}

export function reverseRouter(upstream: URL, listenAuthority: () => string, side: ClientSide = { secure: false }): Router {
  const map = addressMapOf(upstream);
  const origin = upstream.origin;
  const scheme = side.secure ? 'https' : 'http';
  return {
    mode: 'reverse',
    connectRefused: 'CONNECT is for forward mode (davtap without --upstream)',
    route(head) {
      // The client's view of davtap's address: what the client put in Host (it may use a name for
      // 127.0.0.1), with the scheme it connected with; with a public URL, that URL's origin and
      // prefix, davtap's own address still mapping too (rewrite.ts, clientAddressOf).
      const requestOrigin = `${scheme}://${firstHeader(head.rawHeaders, 'host') ?? listenAuthority()}`;
      const client = clientAddressOf(requestOrigin, side.publicUrl, listenAuthority());
      return {
        upstream,
        origin,
        path: upstreamPathFor(map, head.target),
        upstreamHeaders: mapRequestHeaders(map, withoutHopByHop(head.rawHeaders), client),
        mapResponseHeaders: (raw) => mapResponseHeaders(map, raw, client),
      };
    },
  };
}

/** davtap's own listening address, to refuse requests that would loop back to it. */
export interface SelfAddress {
  host: string;
  port(): number;
}

function refusal(status: number, reason: string, code: string, message: string): RouteRefusal {
  return { refuse: { status, reason, code, message } };
}

export function forwardRouter(self: SelfAddress, caPage?: CaPageCa): Router {
  return {
    mode: 'forward',
    route(head) {
      // http://davtap.ca/ is davtap's own page (the CA and how to trust it); it never leaves davtap.
      const page = caPage && caPageAnswer(head.method, head.target, caPage);
      if (page) return { answer: page };
      // The origin comes from the absolute-form target; the path is kept verbatim.
      let url: URL | null = null;
      if (!head.target.startsWith('/')) {
        try {
          url = new URL(head.target);
        } catch {
          url = null;
        }
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        return refusal(400, 'Bad Request', 'BAD_REQUEST', `this is a forward proxy: send absolute-form requests (curl -x http://${self.host}:${self.port()} URL), or start davtap with --upstream URL for reverse mode`);
      }
      if (pointsAt(self, url)) return refusal(508, 'Loop Detected', 'REFUSED', `request addressed to davtap itself (${url.host}): refusing to loop`);
      return { upstream: url, origin: url.origin, path: rawPathOf(head.target), upstreamHeaders: withoutHopByHop(head.rawHeaders, ['proxy-authorization']), mapResponseHeaders: sameHeaders };
    },
  };
}

/** The requests inside a CONNECT tunnel to host:port, TLS-intercepted (secure) or plain. */
export function tunnelRouter(host: string, port: number, secure: boolean, caPage?: CaPageCa): Router {
  const upstream = new URL(`${secure ? 'https' : 'http'}://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`);
  const origin = upstream.origin;
  const isCaPage = caPage !== undefined && host.toLowerCase() === caPageHost;
  return {
    mode: 'forward',
    connectRefused: 'CONNECT inside a CONNECT tunnel',
    route(head) {
      // A tunnel to davtap.ca is answered by davtap, whatever the path: the name never leaves it.
      if (isCaPage) return { answer: caPageAnswer(head.method, `${secure ? 'https' : 'http'}://${caPageHost}${rawPathOf(head.target)}`, caPage)! };
      return { upstream, origin, path: rawPathOf(head.target), upstreamHeaders: withoutHopByHop(head.rawHeaders, ['proxy-authorization']), mapResponseHeaders: sameHeaders };
    },
  };
}

function pointsAt(self: SelfAddress, url: URL): boolean {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const selfHost = self.host;
  const loopback = (h: string) => h === 'localhost' || h === '127.0.0.1' || h === '::1';
  const same = host === selfHost || (loopback(host) && loopback(selfHost));
  return same && port === self.port();
}

/** Parses a CONNECT authority (host:port, [v6]:port). */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
