// Requests Node's HTTP parser rejects before davtap sees them (oversized or malformed heads, a
// method that is not a token; with the method shim off, any method outside Node's list). They are
// answered with a status that says why and recorded as flows, so nothing a client sent goes unseen.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Mode, RawHeaders } from '../types.js';
import type { ProxyHooks } from './hooks.js';
import { refusedRequestIn, restoredHead } from './method-shim.js';
import { BodyFramer, findHeadEnd, headEnd, parseRequestHead, requestBodyPlan } from '../http/message.js';

interface ParseError extends NodeJS.ErrnoException {
  rawPacket?: Buffer;
  /** How far into rawPacket Node's parser got. */
  bytesParsed?: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHead(text: string): { method: string; target: string; version: string; headers: RawHeaders } {
  // Empty lines before a request line are skipped, as servers do (RFC 9112 §2.2).
  const raw = text.replace(/^[\r\n]+/, '');
  const end = findHeadEnd(raw);
  const lines = (end >= 0 ? raw.slice(0, end - 4) : raw).split('\r\n');
  // A head cut short (a deadline, a refusal) still names what it can: its method and target, as
  // sent when the first word is visible text, even if not a token ('?' for bytes such as a TLS hello).
  const m = /^(\S+) (\S+) HTTP\/(\d\.\d)$/.exec(lines[0] ?? '') ?? /^[ \t]*([\x21-\x7e]+)(?=[ \t\r\n]|$)(?:[ \t]+([^ \t\r\n]+))?/.exec(lines[0] ?? '');
  const headers: RawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.push(line.slice(0, i), line.slice(i + 1).trim());
  }
  // A head the method shim rewrote carries the client's method in a header: put it back.
  const restored = restoredHead(m?.[1] ?? '', headers);
  return { method: restored.method, target: m?.[2] ?? '', version: m?.[3] ?? '1.1', headers: restored.rawHeaders };
}

/** A short text answer from davtap itself (`close` adds Connection: close). */
export function textReply(status: number, reason: string, text: string, close: boolean): Buffer {
  const body = Buffer.from(`davtap: ${text}\n`);
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1'),
    body,
  ]);
}

/**
 * The outcome code of a flow that davtap's own code failed on (a bug, never the peer's doing): the
 * connection is ended and the flow recorded with it, and the analysis reports it as MS902.
 */
export const INTERNAL_ERROR_CODE = 'EDAVTAP';

/** The outcome code of a request the client was too slow to send (its head, or its body), as Node names it. */
export const REQUEST_TIMEOUT_CODE = 'ERR_HTTP_REQUEST_TIMEOUT';

export function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** The one sentence recorded for an internal error. */
export function internalErrorText(err: unknown): string {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return `davtap failed internally while relaying (${what.length > 200 ? `${what.slice(0, 200)}…` : what})`;
}

export interface Refusal {
  status: number;
  /** The whole reply: head and a short text body, with Connection: close. */
  reply: Buffer;
  message: string;
}

/** What davtap answers to a request it cannot parse, by the parser's error code. */
export function refusalFor(code: string | undefined, detail: string, method: string): Refusal {
  let status: number;
  let reason: string;
  let message: string;
  if (code === 'HPE_INVALID_METHOD' && TOKEN.test(method)) {
    // Only when the method shim is off (ProxyOptions.anyMethod false).
    message = `cannot relay the method ${method}: Node's HTTP parser accepts only registered methods (PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, REPORT, SEARCH, MKCALENDAR, ACL, BIND…) and relaying any method is turned off`;
    [status, reason] = [501, 'Not Implemented'];
  } else if (code === 'HPE_INVALID_METHOD') {
    message = `malformed request: the method is not an HTTP token (RFC 9110 §9.1)`;
    [status, reason] = [400, 'Bad Request'];
  } else if (code === 'HPE_HEADER_OVERFLOW') {
    message = 'request header section too large (over 16 KiB)';
    [status, reason] = [431, 'Request Header Fields Too Large'];
  } else if (code === 'ECONNECT') {
    message = `cannot relay ${method}: ${detail}`;
    [status, reason] = [501, 'Not Implemented'];
  } else if (code === REQUEST_TIMEOUT_CODE) {
    message = `request head incomplete when the head deadline passed; the client was too slow`;
    [status, reason] = [408, 'Request Timeout'];
  } else if (code === 'HPE_INVALID_VERSION') {
    message = `malformed request: ${detail} (${code})`;
    [status, reason] = [505, 'HTTP Version Not Supported'];
  } else {
    message = `malformed request: ${detail}${code ? ` (${code})` : ''}`;
    [status, reason] = [400, 'Bad Request'];
  }
  return { status, reply: textReply(status, reason, message, true), message };
}

/** Records a request davtap refused before relaying it (no response from upstream). */
export function recordRefusal(
  hooks: ProxyHooks,
  log: (line: string) => void,
  mode: Mode,
  client: { address: string; port: number },
  rawHead: string,
  code: string,
  message: string,
  kind: 'error' | 'timeout' = 'error',
): void {
  const head = parseHead(rawHead);
  const now = Date.now();
  try {
    hooks.onFlow({
      id: randomUUID(),
      mode,
      client,
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
      outcome: { kind, code, message },
    });
  } catch (hookErr) {
    log(`davtap: flow hook failed: ${(hookErr as Error).message}`);
  }
}

/**
 * Where the request Node refused starts in the packet it was reading (`parsed` bytes in): past the
 * whole requests before it in that packet, which Node read and davtap relays as flows of their own.
 */
export function refusedRequestStart(packet: Buffer, parsed: number): number {
  let start = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    let off = start;
    while (packet[off] === 0x0d && packet[off + 1] === 0x0a) off += 2;
    let next: number;
    try {
      const end = headEnd(packet, off);
      if (end < 0 || end > parsed) return start;
      const framer = new BodyFramer(requestBodyPlan(parseRequestHead(packet, off, end).rawHeaders));
      next = end + framer.feed(packet, end, () => {});
      if (!framer.done) return start;
    } catch {
      return start;
    }
    if (next > parsed) return start;
    start = next;
  }
  return start;
}

/**
 * The head of the request Node refused, from its last read: the requests before it in that read are
 * skipped, and a head that started in an earlier read gets back its request line (from the shim).
 */
function refusedHead(socket: Duplex, packet: Buffer, parsed: number): string {
  const hint = refusedRequestIn(socket, packet, parsed);
  if (hint?.line) return `${hint.line}\r\n${packet.toString('latin1')}`;
  const from = hint?.from ?? 0;
  return packet.toString('latin1', from + refusedRequestStart(packet.subarray(from), parsed - from));
}

type ClientSocket = Duplex & { remoteAddress?: string; remotePort?: number; _httpMessage?: EventEmitter | null };

/**
 * Runs `then` once the responses Node has in progress on this connection (requests read before the
 * one refused, pipelined) are written: an answer of davtap's own goes after them, never in their place.
 */
function afterResponses(socket: ClientSocket, then: () => void): void {
  if (socket.destroyed) return;
  // Node's server keeps the response being written on the socket, and hands it the next queued one
  // when it finishes.
  const current = socket._httpMessage;
  if (!current) {
    then();
    return;
  }
  const next = () => {
    current.off('finish', next);
    current.off('close', next);
    setImmediate(() => afterResponses(socket, then));
  };
  current.once('finish', next);
  current.once('close', next);
}

export function clientErrorHandler(mode: Mode, hooks: ProxyHooks, log: (line: string) => void) {
  // Node reports each later read of a connection it refused as a new error: one answer, one flow.
  const refused = new WeakSet<object>();
  return (err: ParseError, socket: ClientSocket): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (refused.has(socket)) return;
    refused.add(socket);
    if (err.code === 'HPE_CLOSED_CONNECTION' || (err.code === 'HPE_INVALID_EOF_STATE' && !err.rawPacket)) {
      // Bytes after a request that closes the connection, or a client that shut its side in the middle
      // of a head: no request to answer, as in reverse mode; the answers in progress still go out.
      afterResponses(socket, () => socket.end());
      return;
    }
    const rawHead = err.rawPacket ? refusedHead(socket, err.rawPacket, err.bytesParsed ?? err.rawPacket.length) : '';
    const refusal = refusalFor(err.code, err.message, parseHead(rawHead).method);
    afterResponses(socket, () => socket.end(refusal.reply));
    const kind = err.code === REQUEST_TIMEOUT_CODE ? 'timeout' : 'error';
    recordRefusal(hooks, log, mode, { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }, rawHead, err.code ?? 'EPARSE', refusal.message, kind);
  };
}
