// A deliberately misbehaving HTTP/1.1 origin on a raw socket: each test scripts exactly which
// bytes go back (cut bodies, bad chunking, resets, 1xx), and sees exactly which bytes came in.
// With `tls`, the same origin speaks HTTPS (the handler's socket is the TLS socket; its
// resetAndDestroy() resets the TCP connection underneath).
import net from 'node:net';
import tls from 'node:tls';

export interface RawRequest {
  head: string;
  method: string;
  target: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The request exactly as received (head + body). */
  raw: Buffer;
}

export type OriginHandler = (req: RawRequest, socket: net.Socket, index: number) => void | Promise<void>;

export interface Origin {
  port: number;
  url: string;
  requests: RawRequest[];
  connections: number;
  /** Bytes read from clients, all connections together (after TLS, with `tls`). */
  received: number;
  close(): Promise<void>;
}

export interface OriginOptions {
  /** Serve HTTPS with this context (a certificate for 127.0.0.1); url then starts with https:. */
  tls?: tls.SecureContext;
}

function parseHead(head: string): Omit<RawRequest, 'body' | 'raw'> {
  const [requestLine, ...lines] = head.split('\r\n');
  const [method = '', target = ''] = requestLine!.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { head, method, target, headers };
}

/** Reads one chunked body from `buf`; returns its end offset or -1 when incomplete. */
function chunkedEnd(buf: Buffer, from: number): number {
  let at = from;
  for (let guard = 0; guard < 100_000; guard++) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return -1;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return -1;
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', eol);
      return end < 0 ? -1 : end + 4;
    }
    at = eol + 2 + size + 2;
    if (at > buf.length) return -1;
  }
  return -1;
}

/** The TLS socket over `raw`, whose resetAndDestroy() resets `raw` (a TLSSocket has no TCP handle of its own). */
function serveTls(raw: net.Socket, secureContext: tls.SecureContext): net.Socket {
  const secure = new tls.TLSSocket(raw, { isServer: true, secureContext });
  secure.resetAndDestroy = () => {
    raw.resetAndDestroy();
    secure.destroy();
    return secure;
  };
  return secure;
}

export async function startOrigin(handler: OriginHandler, options: OriginOptions = {}): Promise<Origin> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let received = 0;
  const server = net.createServer((raw) => {
    connections++;
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    const socket = options.tls ? serveTls(raw, options.tls) : raw;
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let busy = false;
    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const headEnd = buf.indexOf('\r\n\r\n');
          if (headEnd < 0) break;
          const parsed = parseHead(buf.subarray(0, headEnd).toString('latin1'));
          let bodyEnd = headEnd + 4;
          if (parsed.headers['transfer-encoding']?.includes('chunked')) {
            bodyEnd = chunkedEnd(buf, headEnd + 4);
            if (bodyEnd < 0) break;
          } else if (parsed.headers['content-length']) {
            bodyEnd = headEnd + 4 + Number(parsed.headers['content-length']);
            if (buf.length < bodyEnd) {
              // Expect: 100-continue clients wait; the handler may answer before the body.
              if (parsed.headers.expect?.toLowerCase() === '100-continue' && !(buf as Buffer & { told?: boolean }).told) {
                (buf as Buffer & { told?: boolean }).told = true;
                const req = { ...parsed, body: Buffer.alloc(0), raw: buf.subarray(0, headEnd + 4) };
                await handler(req, socket, requests.length);
              }
              break;
            }
          }
          const req: RawRequest = { ...parsed, body: buf.subarray(headEnd + 4, bodyEnd), raw: buf.subarray(0, bodyEnd) };
          buf = buf.subarray(bodyEnd);
          requests.push(req);
          await handler(req, socket, requests.length - 1);
        }
      } finally {
        busy = false;
      }
    };
    socket.on('data', (d: Buffer) => {
      received += d.length;
      buf = Buffer.concat([buf, d]);
      void pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    get received() {
      return received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A complete response with Content-Length. */
export function response(status: number, headers: Record<string, string | number>, body: Buffer | string = ''): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${status === 207 ? 'Multi-Status' : 'OK'}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), b]);
}
