// Requests Node's HTTP parser rejects before davtap sees them (oversized or malformed heads, a
// method that is not a token; with the method shim off, any method outside Node's list). They are
// answered with a status that says why and recorded as flows, so nothing a client sent goes unseen.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Mode, RawHeaders } from '../types.js';
import type { ProxyHooks } from './relay.js';
import { restoredHead } from './method-shim.js';

interface ParseError extends NodeJS.ErrnoException {
  rawPacket?: Buffer;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHead(raw: string): { method: string; target: string; version: string; headers: RawHeaders } {
  const end = raw.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? raw.slice(0, end) : raw).split('\r\n');
  const m = /^(\S+) (\S+) HTTP\/(\d\.\d)$/.exec(lines[0] ?? '');
  const headers: RawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.push(line.slice(0, i), line.slice(i + 1).trim());
  }
  // A head the method shim rewrote carries the client's method in a header: put it back.
  const restored = restoredHead(m?.[1] ?? '', headers);
  return { method: restored.method, target: m?.[2] ?? '', version: m?.[3] ?? '1.1', headers: restored.rawHeaders };
}

function answer(status: number, reason: string, text: string): string {
  const body = `davtap: ${text}\n`;
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export function clientErrorHandler(mode: Mode, hooks: ProxyHooks, log: (line: string) => void) {
  return (err: ParseError, socket: Duplex & { remoteAddress?: string; remotePort?: number }): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const head = parseHead(err.rawPacket?.toString('latin1') ?? '');
    let reply: string;
    let message: string;
    if (err.code === 'HPE_INVALID_METHOD' && TOKEN.test(head.method)) {
      // Only when the method shim is off (ProxyOptions.anyMethod false).
      message = `cannot relay the method ${head.method}: Node's HTTP parser accepts only registered methods (PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, REPORT, SEARCH, MKCALENDAR, ACL, BIND…) and relaying any method is turned off`;
      reply = answer(501, 'Not Implemented', message);
    } else if (err.code === 'HPE_INVALID_METHOD') {
      message = `malformed request: the method is not an HTTP token (RFC 9110 §9.1)`;
      reply = answer(400, 'Bad Request', message);
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      message = 'request header section too large (over 16 KiB)';
      reply = answer(431, 'Request Header Fields Too Large', message);
    } else {
      message = `malformed request: ${err.message}${err.code ? ` (${err.code})` : ''}`;
      reply = answer(400, 'Bad Request', message);
    }
    socket.end(reply);
    const now = Date.now();
    try {
      hooks.onFlow({
        id: randomUUID(),
        mode,
        client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
        timings: { start: now, firstByte: null, end: now },
        request: {
          method: head.method || '?',
          url: head.target,
          target: head.target,
          httpVersion: head.version,
          rawHeaders: head.headers,
          body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true },
        },
        response: null,
        outcome: { kind: 'error', code: err.code ?? 'EPARSE', message },
      });
    } catch (hookErr) {
      log(`davtap: flow hook failed: ${(hookErr as Error).message}`);
    }
  };
}
