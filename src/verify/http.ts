// One HTTP/1.1 exchange on its own connection, read as raw bytes: verify must see exactly what a
// gateway delivered (framing, a cut body, a reset), which Node's HTTP client would smooth over or
// turn into an exception. The response ends where its framing says (the wire core's BodyFramer),
// not when the connection closes: a gateway that ignores `Connection: close` costs nothing.
import net from 'node:net';
import tls from 'node:tls';
import { BodyFramer, readResponse, responseBodyPlan, WireError } from '../http/message.js';
import type { RawHeaders, TransportEnd } from '../types.js';

export interface HttpTarget {
  /** Base URL, e.g. `http://127.0.0.1:8080/dav/`. */
  base: string;
  /** `user:pass` for Basic authentication, when given. */
  auth?: string;
  /** Accept any TLS certificate (a test gateway with a self-signed one). */
  insecure?: boolean;
}

export interface RawRequest {
  method: string;
  /** Absolute path (with query, if any) on the target's host. */
  path: string;
  headers: RawHeaders;
  body?: Buffer;
}

export interface RawResponse {
  status: number;
  reason: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  /** The body as it arrived: chunked framing and content coding kept. */
  wire: Buffer;
}

export interface RawExchange {
  /** The request as sent (Authorization included: callers redact it before printing). */
  request: RawRequest & { url: string; rawHeaders: RawHeaders };
  /** Null when no complete response head arrived. */
  response: RawResponse | null;
  transport: TransportEnd;
}

export interface SendOptions {
  /** No byte for this long ends the exchange as a timeout. */
  idleTimeoutMs: number;
  /** The whole exchange takes at most this long (a trickling body cannot hold verify forever). */
  totalTimeoutMs: number;
  /** Bytes kept; more ends the exchange (the rest is not read). */
  maxBytes: number;
}

export function send(target: HttpTarget, req: RawRequest, opts: SendOptions): Promise<RawExchange> {
  const url = new URL(target.base);
  const https = url.protocol === 'https:';
  const port = Number(url.port || (https ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const rawHeaders: RawHeaders = ['Host', url.host];
  if (target.auth !== undefined) rawHeaders.push('Authorization', `Basic ${Buffer.from(target.auth).toString('base64')}`);
  rawHeaders.push(...req.headers, 'Connection', 'close');
  if (req.body !== undefined) rawHeaders.push('Content-Length', String(req.body.length));
  const lines = [`${req.method} ${req.path} HTTP/1.1`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  const bytes = Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), req.body ?? Buffer.alloc(0)]);
  const request = { ...req, url: `${url.protocol}//${url.host}${req.path}`, rawHeaders };

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // Runs after `finish` exists: timers fire on a later turn of the event loop.
    const deadline = setTimeout(
      () => finish({ outcome: 'timeout', closeKind: 'timeout', code: 'ETIMEDOUT', message: `response not complete after ${opts.totalTimeoutMs} ms` }),
      opts.totalTimeoutMs,
    );
    const socket = https ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: target.insecure !== true }) : net.connect({ host, port });
    const finish = (transport: TransportEnd): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve({ request, ...parse(Buffer.concat(chunks), transport) });
    };
    socket.setTimeout(opts.idleTimeoutMs, () =>
      finish({ outcome: 'timeout', closeKind: 'timeout', code: 'ETIMEDOUT', message: `no byte for ${opts.idleTimeoutMs} ms` }),
    );
    socket.once('close', () => clearTimeout(deadline));
    socket.on(https ? 'secureConnect' : 'connect', () => socket.write(bytes));
    // Set once the final head is in: follows the body's framing to its end.
    let framer: BodyFramer | undefined;
    const follow = (c: Buffer, from: number): void => {
      framer!.feed(c, from, () => {});
      if (framer!.done) finish({ outcome: 'complete' });
      else if (framer!.error) finish({ outcome: 'error', code: framer!.error.code, message: framer!.error.message });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > opts.maxBytes) {
        finish({ outcome: 'error', code: 'EMSGSIZE', message: `response larger than ${opts.maxBytes} bytes: the rest was not read` });
        return;
      }
      if (framer) {
        follow(c, 0);
        return;
      }
      const all = chunks.length === 1 ? c : Buffer.concat(chunks);
      let read: ReturnType<typeof readResponse>;
      try {
        read = readResponse(all);
      } catch {
        return; // parse() says what is wrong with the head once the connection ends
      }
      if (!read) return;
      try {
        framer = new BodyFramer(responseBodyPlan(read.head.rawHeaders, read.head.status, req.method));
      } catch {
        return; // an invalid Content-Length: read until close, the analyzer reports it
      }
      follow(all, read.bodyStart);
    });
    socket.on('end', () => finish({ outcome: 'complete', closeKind: 'fin' }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      finish({
        outcome: size > 0 ? 'upstream-aborted' : 'error',
        code: err.code ?? 'EIO',
        message: err.message,
        ...(reset ? { closeKind: 'rst' as const } : {}),
      });
    });
    socket.on('close', () => finish({ outcome: size > 0 ? 'complete' : 'error', closeKind: 'fin', ...(size > 0 ? {} : { code: 'ECONNCLOSED', message: 'closed before a response' }) }));
  });
}

/** Splits the bytes into the final response head and its wire body (1xx heads skipped). */
function parse(all: Buffer, transport: TransportEnd): { response: RawResponse | null; transport: TransportEnd } {
  let why: string;
  try {
    const read = readResponse(all);
    if (read) {
      const { head, bodyStart } = read;
      return { response: { status: head.status, reason: head.reason, httpVersion: head.version, rawHeaders: head.rawHeaders, wire: all.subarray(bodyStart) }, transport };
    }
    why = all.length === 0 ? 'no response' : 'no complete response head';
  } catch (err) {
    why = `malformed response head: ${err instanceof WireError ? err.message : String(err)}`;
  }
  return {
    response: null,
    transport: transport.outcome === 'complete' ? { outcome: 'error', code: 'EBADRESPONSE', message: `${why} (${all.length} bytes)` } : transport,
  };
}
