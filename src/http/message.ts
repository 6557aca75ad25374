// HTTP/1.x messages as bytes on a socket (RFC 9112): heads parsed from their raw text with every
// header name's case and order kept, and bodies followed by their framing so that a relay knows
// where one message ends and the next begins without copying or changing a byte of them.
//
// Strict where a lenient reading would let two parties disagree about message boundaries
// (request smuggling): a request with both Transfer-Encoding and Content-Length, a Transfer-Encoding
// that does not end in chunked, differing Content-Lengths, obs-fold or whitespace before a colon.
// Error codes follow Node's parser (HPE_*), the names HTTP tools already show for these faults.
import type { Framing, RawHeaders } from '../types.js';
import { headerValues } from './headers.js';

/** Node's default --max-http-header-size: a head larger than this is refused. */
export const MAX_HEAD_BYTES = 16 * 1024;

export class WireError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestHead {
  method: string;
  target: string;
  /** '1.1' or '1.0'. */
  version: string;
  rawHeaders: RawHeaders;
}

export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  rawHeaders: RawHeaders;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LFLF = Buffer.from('\n\n', 'latin1');
const LFCRLF = Buffer.from('\n\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible characters, spaces, tabs and obs-text; never CR, LF or NUL. */
const BAD_VALUE = /[\0\r\n]/;

/**
 * Where the head that starts at `from` ends (the index just past its empty line), -1 when the
 * bytes hold no complete head. Never throws, whatever the size: for reading what a peer sent, not
 * for relaying it. With `bareLf`, an empty line of bare LFs ends a head too (hand-written files);
 * the earlier of the two ends counts.
 */
export function findHeadEnd(data: Buffer | string, from = 0, bareLf = false): number {
  const crlf = typeof data === 'string' ? data.indexOf('\r\n\r\n', from) : data.indexOf(CRLFCRLF, from);
  const lf = bareLf ? data.indexOf('\n\n', from) : -1;
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return lf + 2;
  return crlf >= 0 ? crlf + 4 : -1;
}

/**
 * Where the head that starts at `from` ends (the index just past its empty line), -1 while it is
 * incomplete. Throws HPE_HEADER_OVERFLOW once an incomplete head is already too large.
 */
export function headEnd(buf: Buffer, from: number): number {
  const at = buf.indexOf(CRLFCRLF, from);
  if (at >= 0) {
    if (at - from > MAX_HEAD_BYTES) throw new WireError('HPE_HEADER_OVERFLOW', 'header section too large (over 16 KiB)');
    return at + 4;
  }
  if (buf.length - from > MAX_HEAD_BYTES) throw new WireError('HPE_HEADER_OVERFLOW', 'header section too large (over 16 KiB)');
  // A head whose lines end in bare LF would otherwise wait for a CRLF CRLF that never comes (until
  // the head deadline): it is refused as soon as its empty line arrives.
  if (buf.indexOf(LFLF, from) >= 0 || buf.indexOf(LFCRLF, from) >= 0) throw new WireError('HPE_CR_EXPECTED', 'a line of the head ends in a bare LF (RFC 9112 §2.2: CRLF)');
  return -1;
}

function parseFields(lines: string[], folding: 'refuse' | 'unfold'): RawHeaders {
  const raw: RawHeaders = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // obs-fold (RFC 9112 §5.2): a server must refuse it in a request; a recipient of a response
      // may replace it with a space.
      if (folding === 'refuse' || raw.length === 0) throw new WireError('HPE_INVALID_HEADER_TOKEN', 'obsolete line folding in a header');
      raw[raw.length - 1] = `${raw[raw.length - 1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new WireError('HPE_INVALID_HEADER_TOKEN', `invalid header name in '${printable(line)}'`);
    const value = trimSpaces(line, colon + 1);
    if (BAD_VALUE.test(value)) throw new WireError('HPE_INVALID_HEADER_TOKEN', `invalid character in the value of ${name}`);
    raw.push(name, value);
  }
  return raw;
}

/** line[from..] without the spaces and tabs around it (optional whitespace, RFC 9110 §5.6.3). */
function trimSpaces(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 0x20 || line.charCodeAt(start) === 0x09)) start++;
  while (end > start && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
  return line.slice(start, end);
}

function printable(s: string): string {
  const cut = s.length > 60 ? `${s.slice(0, 60)}…` : s;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}

/** Parses a request head (without the leading empty lines a server skips). */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead {
  const lines = buf.toString('latin1', start, end - 4).split('\r\n');
  const line = lines[0]!;
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  const method = sp1 > 0 ? line.slice(0, sp1) : line;
  if (!TOKEN.test(method)) throw new WireError('HPE_INVALID_METHOD', 'the method is not an HTTP token (RFC 9110 §9.1)');
  if (sp1 < 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) throw new WireError('HPE_INVALID_CONSTANT', `malformed request line '${printable(line)}'`);
  const target = line.slice(sp1 + 1, sp2);
  const proto = line.slice(sp2 + 1);
  if (target === '' || /[\0-\x20\x7f]/.test(target)) throw new WireError('HPE_INVALID_URL', `malformed request-target in '${printable(line)}'`);
  if (proto !== 'HTTP/1.1' && proto !== 'HTTP/1.0') {
    throw new WireError(/^HTTP\/\d\.\d$/.test(proto) ? 'HPE_INVALID_VERSION' : 'HPE_INVALID_CONSTANT', `unsupported protocol '${printable(proto)}' (HTTP/1.0 and HTTP/1.1 only)`);
  }
  return { method, target, version: proto.slice(5), rawHeaders: parseFields(lines, 'refuse') };
}

/** Parses a response head. */
export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead {
  const lines = buf.toString('latin1', start, end - 4).split('\r\n');
  const line = lines[0]!;
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(line);
  if (!m) throw new WireError('HPE_INVALID_CONSTANT', `malformed status line '${printable(line)}'`);
  const reason = m[3] ?? '';
  // reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4): a control character is not
  // relayed to a client that could read it as the end of the line.
  if (/[^\t\x20-\x7e\x80-\xff]/.test(reason)) throw new WireError('HPE_INVALID_STATUS', `invalid character in the reason phrase of '${printable(line)}'`);
  return { version: m[1]!, status: Number(m[2]), reason, rawHeaders: parseFields(lines, 'unfold') };
}

/** A head read leniently: its first line, its fields, and where the body after it starts. */
export interface LenientHead {
  startLine: string;
  rawHeaders: RawHeaders;
  bodyStart: number;
}

/**
 * Reads the head that starts at `from` the way a saved capture or a hand-written `.http` file needs:
 * lines may end in bare LF, a field needs only a name before its colon, obs-fold continues the
 * field before it. Null when no empty line ends the head; throws HPE_INVALID_HEADER_TOKEN for a
 * field line without a colon.
 */
export function readHeadLeniently(buf: Buffer, from = 0): LenientHead | null {
  const end = findHeadEnd(buf, from, true);
  if (end < 0) return null;
  const lines = buf.toString('latin1', from, end).replace(/\r?\n\r?\n$/, '').split(/\r?\n/);
  const rawHeaders: RawHeaders = [];
  for (const line of lines.slice(1)) {
    const first = line.charCodeAt(0);
    if ((first === 0x20 || first === 0x09) && rawHeaders.length > 0) {
      rawHeaders[rawHeaders.length - 1] = `${rawHeaders[rawHeaders.length - 1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WireError('HPE_INVALID_HEADER_TOKEN', `malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { startLine: lines[0] ?? '', rawHeaders, bodyStart: end };
}

/** A response read from the bytes of a connection or a capture. */
export interface ResponseRead {
  /** Interim 1xx heads (100 Continue, 102 Processing, 103 Early Hints) before the final one. */
  informational: ResponseHead[];
  /** The final head (101 Switching Protocols is final). */
  head: ResponseHead;
  /** Where the final response's body starts. */
  bodyStart: number;
}

/** More interim heads than this before a final one is not a response. */
const MAX_INTERIM = 16;

/**
 * Reads a response from the start of `buf`, leniently as readHeadLeniently does (captures, saved
 * files, what a gateway sent): the interim 1xx heads, then the final head and where its body
 * starts. The status line's version may be any `HTTP/n[.n]` (curl writes `HTTP/2 207`). Null when
 * the bytes end before a final head is complete; throws WireError for a status line that is not
 * one (HPE_INVALID_STATUS), a field line without a colon, or more than 16 interim heads.
 */
export function readResponse(buf: Buffer): ResponseRead | null {
  const informational: ResponseHead[] = [];
  let at = 0;
  for (let n = 0; n <= MAX_INTERIM; n++) {
    const lenient = readHeadLeniently(buf, at);
    if (!lenient) return null;
    const m = /^HTTP\/(\d(?:\.\d)?) (\d{3})(?: (.*))?$/.exec(lenient.startLine);
    if (!m) throw new WireError('HPE_INVALID_STATUS', `malformed status line ${JSON.stringify(lenient.startLine.slice(0, 60))}`);
    const head: ResponseHead = { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', rawHeaders: lenient.rawHeaders };
    if (head.status >= 200 || head.status < 100 || head.status === 101) return { informational, head, bodyStart: lenient.bodyStart };
    informational.push(head);
    at = lenient.bodyStart;
  }
  throw new WireError('HPE_INVALID_CONSTANT', `more than ${MAX_INTERIM} interim (1xx) responses`);
}

/** The transfer codings, in order ([] when there is no Transfer-Encoding). */
function transferCodings(raw: RawHeaders): string[] {
  const te = headerValues(raw, 'transfer-encoding');
  if (te.length === 0) return te;
  return te.join(',').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
}

const DIGITS = /^\d{1,15}$/;

/** Content-Length: null when absent; throws when it is not one non-negative number. */
function contentLength(raw: RawHeaders): number | null {
  const cl = headerValues(raw, 'content-length');
  if (cl.length === 0) return null;
  // The common case, one plain number, without splitting lists.
  if (cl.length === 1 && DIGITS.test(cl[0]!)) return Number(cl[0]);
  const all = cl.join(',').split(',').map((v) => v.trim());
  const first = all[0]!;
  if (!/^\d{1,15}$/.test(first) || all.some((v) => v !== first)) throw new WireError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length '${printable(cl.join(', '))}'`);
  return Number(first);
}

export interface BodyPlan {
  framing: Framing;
  /** For content-length framing. */
  length: number;
}

/** How a request's body is delimited (RFC 9112 §6.3), refusing what could be read two ways. */
export function requestBodyPlan(raw: RawHeaders): BodyPlan {
  const codings = transferCodings(raw);
  const length = contentLength(raw);
  if (codings.length > 0) {
    if (length !== null) throw new WireError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Transfer-Encoding and Content-Length (RFC 9112 §6.3)');
    if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
      throw new WireError('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding of a request must end in chunked, once (RFC 9112 §6.3)');
    }
    return { framing: 'chunked', length: 0 };
  }
  if (length !== null) return { framing: 'content-length', length };
  return { framing: 'none', length: 0 };
}

/** How a response's body is delimited, given the request method (RFC 9112 §6.3). */
export function responseBodyPlan(raw: RawHeaders, status: number, method: string): BodyPlan {
  if (method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return { framing: 'none', length: 0 };
  const codings = transferCodings(raw);
  if (codings.length > 0) {
    // Transfer-Encoding overrides Content-Length; a coding list not ending in chunked is read
    // until the connection closes.
    return codings[codings.length - 1] === 'chunked' ? { framing: 'chunked', length: 0 } : { framing: 'close-delimited', length: 0 };
  }
  const length = contentLength(raw);
  if (length !== null) return { framing: 'content-length', length };
  return { framing: 'close-delimited', length: 0 };
}

/** True when the Connection header lists `token` (case-insensitive). */
export function connectionHas(raw: RawHeaders, token: string): boolean {
  for (const v of headerValues(raw, 'connection')) {
    for (const t of v.split(',')) if (t.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** Whether the sender of a message with this version and headers keeps the connection open after it. */
export function persistent(version: string, raw: RawHeaders): boolean {
  return version === '1.1' ? !connectionHas(raw, 'close') : connectionHas(raw, 'keep-alive');
}

const enum Step {
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** Bound on one chunk-size or trailer line. */
export const MAX_CHUNK_LINE = 4096;
const MAX_LINE = MAX_CHUNK_LINE;

/** Which rule of the chunked framing (RFC 9112 §7.1) a body broke. */
export type ChunkFaultKind =
  /** A chunk-size line that is not a hex size with optional whitespace and extensions. */
  | 'size-line'
  /** A chunk-size or trailer line longer than MAX_CHUNK_LINE. */
  | 'size-line-length'
  | 'trailer-line-length'
  /** A chunk-size or trailer line ended by a bare LF. */
  | 'line-end'
  /** Chunk data not followed by CR (the data is longer than its size), or CR not by LF. */
  | 'data-end'
  | 'data-end-lf'
  /** A trailer field line that is not a valid field. */
  | 'trailer-line';

export interface ChunkFault {
  kind: ChunkFaultKind;
  /** Where the bytes at fault start, counted from the body's first byte (framing included). */
  at: number;
  /** For a line fault: the line as far as it was read (latin1, its line end included when it came). */
  line?: string;
}

/** Where a chunked body stands, for saying where one that stopped short stopped. */
export interface ChunkPosition {
  step: 'size' | 'data' | 'data-end' | 'trailers' | 'other';
  /** Bytes of the current chunk's data still missing (step 'data'). */
  missing: number;
  /** Part of a chunk-size or trailer line has arrived. */
  midLine: boolean;
}

/**
 * Follows one body's framing over the bytes given to it. feed() says how many of them belong to
 * this body (the rest start the next message) and hands over the payload: the body after
 * de-chunking, as slices of the input (never copies).
 */
export class BodyFramer {
  private step: Step;
  private remaining: number;
  /** An incomplete chunk-size or trailer line. */
  private line = '';
  /** Set when the framing is broken; feed() then consumes nothing more. */
  error: WireError | null = null;
  readonly trailers: RawHeaders = [];
  /** Bytes of payload seen. */
  payloadBytes = 0;
  /** Chunks with data seen (the last, zero-size chunk not counted). */
  chunkCount = 0;
  /** The zero-size chunk arrived. */
  sawLastChunk = false;
  /** With a chunked framing error: which rule was broken, where, and the line at fault. */
  fault: ChunkFault | null = null;
  /** Bytes of the body consumed so far, framing included. */
  private consumed = 0;
  /** The last chunk-size line read, with its CRLF. */
  private sizeLine: string | undefined;

  constructor(plan: BodyPlan) {
    this.remaining = plan.length;
    this.step =
      plan.framing === 'chunked' ? Step.ChunkSize
      : plan.framing === 'close-delimited' ? Step.UntilClose
      : plan.framing === 'content-length' && plan.length > 0 ? Step.Fixed
      : Step.Done;
  }

  get done(): boolean {
    return this.step === Step.Done;
  }

  /** Read until the connection closes: the end of input is the end of the body. */
  get untilClose(): boolean {
    return this.step === Step.UntilClose;
  }

  /** The last chunk-size line read (extensions included, CRLF not). */
  get lastSizeLine(): string | undefined {
    return this.sizeLine?.slice(0, -2);
  }

  get chunkPosition(): ChunkPosition {
    const step =
      this.step === Step.ChunkSize ? 'size'
      : this.step === Step.ChunkData ? 'data'
      : this.step === Step.ChunkDataEnd ? 'data-end'
      : this.step === Step.Trailers ? 'trailers'
      : 'other';
    return { step, missing: this.step === Step.ChunkData ? this.remaining : 0, midLine: this.line.length > 0 };
  }

  private broken(code: string, message: string, kind: ChunkFaultKind, at: number, line?: string): void {
    this.error = new WireError(code, message);
    this.fault = line === undefined ? { kind, at } : { kind, at, line };
  }

  /**
   * Consumes the body's bytes from buf[off..]; returns how many. Stops at the end of the body or
   * at a framing error (then `error` is set and the bytes before it are counted as consumed).
   */
  feed(buf: Buffer, off: number, onPayload: (slice: Buffer) => void): number {
    let i = off;
    const end = buf.length;
    /** The body position of buf[0]. */
    const base = this.consumed - off;
    while (i < end && this.step !== Step.Done && this.error === null) {
      switch (this.step) {
        case Step.Fixed:
        case Step.ChunkData: {
          const n = Math.min(this.remaining, end - i);
          this.payloadBytes += n;
          onPayload(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.step === Step.Fixed) this.step = Step.Done;
            else {
              this.step = Step.ChunkDataEnd;
              this.remaining = 2;
            }
          }
          break;
        }
        case Step.ChunkDataEnd: {
          // The CRLF after a chunk's data (it may arrive split).
          const want = this.remaining === 2 ? 0x0d : 0x0a;
          if (buf[i] !== want) {
            this.broken('HPE_STRICT', 'chunk data not followed by CRLF', want === 0x0d ? 'data-end' : 'data-end-lf', base + i);
            break;
          }
          i++;
          if (--this.remaining === 0) this.step = Step.ChunkSize;
          break;
        }
        case Step.ChunkSize:
        case Step.Trailers: {
          const nl = buf.indexOf(0x0a, i);
          const stop = nl < 0 ? end : nl + 1;
          this.line += buf.toString('latin1', i, stop);
          i = stop;
          if (nl < 0) {
            // A CR not followed by LF cannot start a valid line end: refuse it now rather than
            // wait for bytes that cannot make the line valid.
            const cr = this.line.indexOf('\r');
            const sizeLine = this.step === Step.ChunkSize;
            if (cr >= 0 && cr < this.line.length - 1) {
              this.broken(sizeLine ? 'HPE_INVALID_CHUNK_SIZE' : 'HPE_STRICT', 'bare CR in a chunk-size or trailer line', sizeLine ? 'size-line' : 'trailer-line', base + stop - this.line.length, this.line);
              i = Math.max(off, stop - this.line.length);
              this.line = '';
              break;
            }
            if (this.line.length > MAX_LINE) {
              this.broken(sizeLine ? 'HPE_INVALID_CHUNK_SIZE' : 'HPE_HEADER_OVERFLOW', 'chunk-size or trailer line too long', sizeLine ? 'size-line-length' : 'trailer-line-length', base + stop - this.line.length, this.line);
            }
            break;
          }
          const line = this.line;
          this.line = '';
          if (line.length - 1 > MAX_LINE) {
            // The same verdict whether the line came in one piece or in several.
            const sizeLine = this.step === Step.ChunkSize;
            this.broken(sizeLine ? 'HPE_INVALID_CHUNK_SIZE' : 'HPE_HEADER_OVERFLOW', 'chunk-size or trailer line too long', sizeLine ? 'size-line-length' : 'trailer-line-length', base + stop - line.length, line);
          } else if (this.step === Step.ChunkSize) this.onSizeLine(line, base + stop - line.length);
          else this.onTrailerLine(line, base + stop - line.length);
          // A bad line is not passed on (its start may have been, when it arrived in pieces).
          if (this.error) i = Math.max(off, stop - line.length);
          break;
        }
        case Step.UntilClose: {
          this.payloadBytes += end - i;
          onPayload(i === 0 ? buf : buf.subarray(i));
          i = end;
          break;
        }
      }
    }
    this.consumed += i - off;
    return i - off;
  }

  private onSizeLine(line: string, at: number): void {
    if (!line.endsWith('\r\n')) {
      this.broken('HPE_INVALID_CHUNK_SIZE', 'invalid character in chunk size', 'line-end', at, line);
      return;
    }
    this.sizeLine = line;
    const m = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\r\n]*)?\r\n$/.exec(line);
    if (!m) {
      this.broken('HPE_INVALID_CHUNK_SIZE', 'invalid character in chunk size', 'size-line', at, line);
      return;
    }
    const size = parseInt(m[1]!, 16);
    if (size === 0) {
      this.sawLastChunk = true;
      this.step = Step.Trailers;
    } else {
      this.chunkCount++;
      this.remaining = size;
      this.step = Step.ChunkData;
    }
  }

  private onTrailerLine(line: string, at: number): void {
    if (!line.endsWith('\r\n')) {
      this.broken('HPE_STRICT', 'trailer line not ended by CRLF', 'line-end', at, line);
      return;
    }
    if (line === '\r\n') {
      this.step = Step.Done;
      return;
    }
    try {
      const fields = parseFields(['', line.slice(0, -2)], 'refuse');
      this.trailers.push(...fields);
    } catch (err) {
      this.error = err as WireError;
      this.fault = { kind: 'trailer-line', at, line };
    }
  }
}

/**
 * A whole request as bytes: the request line, the fields in their order and case, and `payload`
 * framed as the fields declare it (chunked: one chunk and the last one, since a payload's chunk
 * sizes are not kept; Content-Length: that many bytes; neither: no body). For requests davtap
 * sends itself (replays, edited requests); relayed requests keep their own framing.
 */
export function serializeRequest(head: RequestHead, payload: Buffer): Buffer {
  let text = `${head.method} ${head.target} HTTP/${head.version}\r\n`;
  for (let i = 0; i + 1 < head.rawHeaders.length; i += 2) text += `${head.rawHeaders[i]}: ${head.rawHeaders[i + 1]}\r\n`;
  const start = Buffer.from(text + '\r\n', 'latin1');
  const plan = requestBodyPlan(head.rawHeaders);
  if (plan.framing === 'chunked') {
    const chunk = payload.length > 0 ? [Buffer.from(`${payload.length.toString(16)}\r\n`, 'latin1'), payload, Buffer.from('\r\n', 'latin1')] : [];
    return Buffer.concat([start, ...chunk, Buffer.from('0\r\n\r\n', 'latin1')]);
  }
  return Buffer.concat([start, plan.framing === 'content-length' ? payload.subarray(0, plan.length) : Buffer.alloc(0)]);
}
