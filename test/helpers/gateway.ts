// A small real gateway: a Node reverse proxy on 127.0.0.1 that relays each request to its upstream
// (keep-alive on both sides) and, for 207 answers, behaves as configured: honestly, or as the
// broken gateways of RULES.md §3 do (hrefs rewritten to a backend address, the body cut short, gzip
// without Content-Encoding, an HTML error page under 207). Other answers pass unchanged. With a
// prefix it publishes the upstream's `back` prefix under `front` (as nginx's
// `location /files/ { proxy_pass http://up/dav/; }`), and maps what clients must see: the path,
// Destination, and the hrefs of 207 bodies (an honest prefix-changing gateway).
import http from 'node:http';
import type net from 'node:net';
import zlib from 'node:zlib';

export type GatewayBehaviour = 'honest' | 'rewrite-hrefs' | 'cut' | 'gzip-no-header' | 'html';

export interface TestGateway {
  url: string;
  port: number;
  /** Where requests go; set once the upstream is known (the sandwich's back listener). */
  upstream: URL | undefined;
  behaviour: GatewayBehaviour;
  /** Requests answered by the gateway itself (no upstream request): paths starting with this. */
  selfAnswered: string;
  /**
   * Holds each answer a random 0…holdMs after the upstream's ended before passing it on (a busy
   * gateway): answers to requests sent together then reach their clients in another order than
   * they left the origin.
   */
  holdMs: number;
  close(): Promise<void>;
}

/** The gateway's path prefix (`front`, what clients use) for the upstream's (`back`); both with a trailing slash. */
export interface GatewayPrefix {
  front: string;
  back: string;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export async function startGateway(behaviour: GatewayBehaviour = 'honest', prefix?: GatewayPrefix): Promise<TestGateway> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const sockets = new Set<net.Socket>();
  const gw: TestGateway = {
    url: '',
    port: 0,
    upstream: undefined,
    behaviour,
    selfAnswered: '/gateway-status',
    holdMs: 0,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith(gw.selfAnswered)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('gateway ok\n');
      return;
    }
    const up = gw.upstream!;
    let path = req.url ?? '/';
    if (prefix) {
      if (!path.startsWith(prefix.front)) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not published here\n');
        return;
      }
      path = prefix.back + path.slice(prefix.front.length);
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (HOP.has(name.toLowerCase())) continue;
      headers[name] = req.rawHeaders[i + 1]!;
    }
    headers['host'] = up.host;
    delete headers['Host'];
    if (prefix && typeof headers['Destination'] === 'string') {
      const m = new RegExp(`^https?://[^/]+${escapeRe(prefix.front)}`).exec(headers['Destination']);
      if (m) headers['Destination'] = `${up.origin}${prefix.back}${headers['Destination'].slice(m[0].length)}`;
    }
    const outgoing = http.request({ host: up.hostname, port: up.port, method: req.method, path, headers, agent }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => (gw.holdMs > 0 ? setTimeout(answer, Math.random() * gw.holdMs) : answer()));
      const answer = () => {
        let body = Buffer.concat(chunks);
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP.has(k) && k !== 'content-length') out[k] = Array.isArray(v) ? v.join(', ') : v;
        const status = upRes.statusCode ?? 502;
        // The hrefs' path prefix back in the clients' terms, an absolute href's authority kept.
        if (status === 207 && prefix) body = Buffer.from(body.toString('utf8').replace(new RegExp(`(<(?:[A-Za-z_][\\w.-]*:)?href>(?:https?://[^/<]+)?)${escapeRe(prefix.back)}`, 'g'), `$1${prefix.front}`));
        if (status === 207 && gw.behaviour !== 'honest') {
          if (gw.behaviour === 'rewrite-hrefs') body = Buffer.from(body.toString('utf8').replace(/(<(?:[A-Za-z_][\w.-]*:)?href>)(?:https?:\/\/[^/<]+)?\//g, '$1http://10.9.8.7:8080/'));
          else if (gw.behaviour === 'gzip-no-header') body = zlib.gzipSync(body);
          else if (gw.behaviour === 'html') {
            body = Buffer.from('<!DOCTYPE html><html><head><title>Request blocked</title></head><body><h1>Request blocked</h1></body></html>\n');
            out['content-type'] = 'text/html; charset=UTF-8';
          } else if (gw.behaviour === 'cut') {
            res.writeHead(status, { ...out, 'content-length': String(body.length) });
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
            return;
          }
        }
        res.writeHead(status, { ...out, 'content-length': String(body.length) });
        res.end(body);
      };
      upRes.on('error', () => res.destroy());
    });
    outgoing.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end('bad gateway\n');
    });
    req.pipe(outgoing);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gw.port = (server.address() as net.AddressInfo).port;
  gw.url = `http://127.0.0.1:${gw.port}/`;
  gw.close = () =>
    new Promise<void>((resolve) => {
      agent.destroy();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return gw;
}
