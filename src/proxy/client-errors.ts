// Requests davtap refuses before relaying them (oversized or malformed heads, ambiguous framing, a
// method that is not a token, CONNECT where it has no meaning, a head the client was too slow to
// send). They are answered with a status that says why and recorded as flows, so nothing a client
// sent goes unseen; davtap's own internal errors are recorded the same way.
import { randomUUID } from 'node:crypto';
import type { Flow, FlowClient, Mode, RawHeaders, RequestRecord, ResponseRecord } from '../types.js';
import type { ProxyHooks } from './hooks.js';
import { findHeadEnd } from '../http/message.js';
import { firstHeader } from '../http/headers.js';

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
  return { method: m?.[1] ?? '', target: m?.[2] ?? '', version: m?.[3] ?? '1.1', headers };
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
  if (code === 'HPE_INVALID_METHOD') {
    message = `malformed request: the method is not an HTTP token (RFC 9110 §9.1)`;
    [status, reason] = [400, 'Bad Request'];
  } else if (code === 'HPE_HEADER_OVERFLOW') {
    message = 'request header section too large (over 16 KiB)';
    [status, reason] = [431, 'Request Header Fields Too Large'];
  } else if (code === 'ECONNECT') {
    message = `cannot relay ${method}: ${detail}`;
    [status, reason] = [501, 'Not Implemented'];
  } else if (code === 'HPE_INVALID_VERSION') {
    message = `malformed request: ${detail} (${code})`;
    [status, reason] = [505, 'HTTP Version Not Supported'];
  } else {
    message = `malformed request: ${detail}${code ? ` (${code})` : ''}`;
    [status, reason] = [400, 'Bad Request'];
  }
  return { status, reply: textReply(status, reason, message, true), message };
}

/** A flow davtap made itself (no exchange with upstream), handed to onFlow; a hook that throws is logged. */
function handOver(hooks: ProxyHooks, log: (line: string) => void, flow: Omit<Flow, 'id' | 'timings'>, answered: boolean): void {
  const now = Date.now();
  try {
    hooks.onFlow({ id: randomUUID(), timings: { start: now, firstByte: answered ? now : null, end: now }, ...flow });
  } catch (hookErr) {
    log(`davtap: flow hook failed: ${(hookErr as Error).message}`);
  }
}

/** The request of such a flow: its head, and no body. */
function bodylessRequest(method: string, target: string, httpVersion: string, rawHeaders: RawHeaders): RequestRecord {
  return { method, url: target, target, httpVersion, rawHeaders, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } };
}

/**
 * Records a TLS handshake with a client that failed (the client rejected davtap's certificate, or
 * spoke no TLS davtap accepts): no request was read, so the flow is named after what was asked for,
 * `CONNECT host:port` in a tunnel, `TLS name` on the reverse listener.
 */
export function recordTlsFailure(
  hooks: ProxyHooks,
  log: (line: string) => void,
  mode: Mode,
  client: FlowClient,
  what: { method: string; target: string },
  code: string,
  message: string,
): void {
  handOver(hooks, log, { mode, client, request: bodylessRequest(what.method, what.target, '1.1', []), response: null, outcome: { kind: 'error', code, message } }, false);
}

/** Records a request davtap answered itself (the CA page): complete, with the response it sent. */
export function recordLocalAnswer(
  hooks: ProxyHooks,
  log: (line: string) => void,
  mode: Mode,
  client: FlowClient,
  head: { method: string; target: string; version: string; rawHeaders: RawHeaders },
  answer: { status: number; reason: string; rawHeaders: RawHeaders; body: Buffer },
): void {
  const response: ResponseRecord = {
    status: answer.status,
    reason: answer.reason,
    rawHeaders: answer.rawHeaders,
    framing: head.method === 'HEAD' ? 'none' : 'content-length',
    declaredLength: Number(firstHeader(answer.rawHeaders, 'content-length') ?? answer.body.length),
    httpVersion: '1.1',
    body: { bytes: answer.body, bytesSeen: answer.body.length, captureComplete: true },
    decoded: null,
    informational: [],
    rawTrailers: [],
  };
  handOver(hooks, log, { mode, client, request: bodylessRequest(head.method, head.target, head.version, head.rawHeaders), response, outcome: { kind: 'complete' } }, true);
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
  handOver(hooks, log, { mode, client, request: bodylessRequest(head.method || '?', head.target, head.version, head.headers), response: null, outcome: { kind, code, message } }, false);
}
