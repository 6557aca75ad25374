// Reverse mode: clients talk to davtap as if it were the server at --upstream.
import type http from 'node:http';
import type { Relay } from './relay.js';
import { withoutHopByHop } from '../http/headers.js';
import { addressMapOf, mapRequestHeaders, mapResponseHeaders, upstreamPathFor } from './rewrite.js';

export function reverseHandler(relay: Relay, upstream: URL, listenAuthority: string) {
  const map = addressMapOf(upstream);
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // The client's view of davtap's address: what it put in Host (it may use a name for 127.0.0.1).
    const clientOrigin = `http://${req.headers.host ?? listenAuthority}`;
    relay.exchange(req, res, {
      url: upstream,
      path: upstreamPathFor(map, req.url ?? '/'),
      rawHeaders: mapRequestHeaders(map, withoutHopByHop(req.rawHeaders), clientOrigin),
      mapResponseHeaders: (raw) => mapResponseHeaders(map, raw, clientOrigin),
    });
  };
}
