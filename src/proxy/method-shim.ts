// Lets Node's HTTP server accept any method token. Node's parser (llhttp) knows only the methods
// in http.METHODS and fails every other one (ORDERPATCH, VERSION-CONTROL, MKREDIRECTREF, any
// extension method) before davtap sees the request. The shim sits on a client connection's
// readable side: it follows HTTP/1.1 message framing (request head, Content-Length or chunked
// body, CONNECT switching to raw bytes) and, at a message start whose method Node would refuse,
// rewrites the request line to a placeholder method and adds a header that carries the real one.
// restoreMethod() then puts the real method back on the request and removes that header, so the
// relay sends it upstream and the flow records it as the client sent it.
//
// Why a header rather than a per-connection queue: Node answers some requests itself without a
// 'request' event (Expect other than 100-continue gets a 417), which would shift a queue; a marker
// inside the request cannot be paired with the wrong one. Its name holds a per-process random
// part, so a client cannot forge it.
//
// The connection object stays the native socket (remoteAddress, setTimeout, resetAndDestroy… all
// behave as before): the shim stands between the socket's 'data' events and the server's own
// listener. Requests with known methods pass through unchanged and uncopied.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawHeaders } from '../types.js';

/** The method Node is given in place of one it would refuse: in its table, and not special-cased
 *  by its server (HEAD and CONNECT are). */
const PLACEHOLDER = 'SOURCE';
/** Carries the real method; lower case, since restoreMethod compares it as received. */
const MARKER = `x-davtap-method-${randomBytes(6).toString('hex')}`;
const KNOWN_METHODS = new Set(http.METHODS);
/** A request line or header line longer than this is left to Node, which refuses it anyway. */
const MAX_LINE = 64 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
const PLACEHOLDER_BYTES = Buffer.from(PLACEHOLDER, 'latin1');

const enum State {
  /** Before a request line (empty lines there are skipped, as Node does). */
  MessageStart,
  Head,
  FixedBody,
  ChunkSize,
  ChunkData,
  /** The CRLF after a chunk's data. */
  ChunkEnd,
  Trailers,
  /** After CONNECT or something the shim cannot follow: bytes pass untouched from here on. */
  Raw,
}

/**
 * Follows the framing of the requests on one connection and rewrites the request lines Node would
 * refuse. Exported for tests; servers use shimMethods().
 */
export class RequestStreamRewriter {
  private state = State.MessageStart;
  /** An incomplete request line, held back until it is complete (it is rewritten whole). */
  private held: Buffer | null = null;
  /** An incomplete header, chunk-size or trailer line (already passed on; kept to be read). */
  private carry = '';
  private remaining = 0;
  private contentLength = 0;
  private chunked = false;
  private connect = false;
  /** How many request lines were rewritten (for tests and logs). */
  rewritten = 0;
  /** The request line of the message being read, as the client sent it (at most 8 KiB). */
  private requestLine: string | null = null;
  /**
   * The last read handed over: Node gives the handler of a request it refuses only that read's
   * bytes, and the request may have started in an earlier one (refusedRequestIn()).
   */
  lastRead: { length: number; lineBefore: string | null; beganInside: boolean; firstStart: number } | null = null;

  get raw(): boolean {
    return this.state === State.Raw;
  }

  /** A CONNECT head was passed: what follows is the tunnel's. */
  tunnel = false;

  /** Returns the bytes to hand to Node's parser for this chunk: the chunk itself when unchanged. */
  rewrite(chunk: Buffer): Buffer {
    const out = this.rewriteRead(chunk);
    this.lastRead!.length = out.length;
    return out;
  }

  private rewriteRead(chunk: Buffer): Buffer {
    const read = { length: 0, lineBefore: this.requestLine, beganInside: this.state !== State.MessageStart, firstStart: Infinity };
    this.lastRead = read;
    let buf = chunk;
    let changed = false;
    if (this.held) {
      buf = Buffer.concat([this.held, chunk]);
      this.held = null;
      changed = true;
    }
    let pieces: Buffer[] | null = null;
    /** buf[passed, pos) still to be passed on as is. */
    let passed = 0;
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case State.MessageStart: {
          while (pos < len && (buf[pos] === 13 || buf[pos] === 10)) pos++;
          if (pos === len) break;
          const lf = buf.indexOf(10, pos);
          if (lf < 0) {
            if (len - pos > MAX_LINE) {
              this.state = State.Raw;
              this.requestLine = null;
              pos = len;
              break;
            }
            (pieces ??= []).push(buf.subarray(passed, pos));
            this.held = Buffer.from(buf.subarray(pos));
            passed = pos = len;
            break;
          }
          this.requestLine = buf.toString('latin1', pos, Math.min(lf > pos && buf[lf - 1] === 13 ? lf - 1 : lf, pos + 8192));
          // Where the bytes handed over reach this request line (pieces hold what went before it).
          if (read.firstStart === Infinity) read.firstStart = (pieces?.reduce((n, p) => n + p.length, 0) ?? 0) + pos - passed;
          const sp = buf.indexOf(32, pos);
          const method = sp > pos && sp < lf ? buf.toString('latin1', pos, sp) : '';
          if (KNOWN_METHODS.has(method)) {
            this.connect = method === 'CONNECT';
          } else if (TOKEN.test(method)) {
            // "METHOD target HTTP/x.y\r\n" becomes "SOURCE target HTTP/x.y\r\nmarker: METHOD\r\n".
            pieces ??= [];
            pieces.push(buf.subarray(passed, pos), PLACEHOLDER_BYTES, buf.subarray(sp, lf + 1), Buffer.from(`${MARKER}: ${method}\r\n`, 'latin1'));
            passed = lf + 1;
            this.rewritten++;
            this.connect = false;
          } else {
            // Not a method at all: Node answers it as malformed, and nothing after it is read.
            this.state = State.Raw;
            pos = len;
            break;
          }
          this.contentLength = 0;
          this.chunked = false;
          this.state = State.Head;
          pos = lf + 1;
          break;
        }
        case State.Head: {
          let text: string;
          if (this.carry === '') {
            // The common case, a whole line in this chunk: only Content-Length and
            // Transfer-Encoding lines (a colon at 14 or 17) become strings.
            const lf = buf.indexOf(10, pos);
            if (lf < 0) {
              this.carryOver(buf, pos);
              pos = len;
              break;
            }
            const end = lf > pos && buf[lf - 1] === 13 ? lf - 1 : lf;
            const at = pos;
            pos = lf + 1;
            if (end === at) {
              this.endOfHead();
              break;
            }
            if (!(buf[at + 14] === 58 && end - at > 14) && !(buf[at + 17] === 58 && end - at > 17)) break;
            text = buf.toString('latin1', at, end);
          } else {
            const line = this.nextLine(buf, pos);
            if (line === null) {
              pos = len;
              break;
            }
            pos = line.next;
            if (line.text === '') {
              this.endOfHead();
              break;
            }
            text = line.text;
          }
          const colon = text.indexOf(':');
          if (colon === 14 || colon === 17) {
            const name = text.slice(0, colon).toLowerCase();
            if (name === 'content-length') {
              const n = Number(text.slice(colon + 1).trim());
              if (Number.isSafeInteger(n) && n >= 0) this.contentLength = n;
            } else if (name === 'transfer-encoding') {
              this.chunked = CHUNKED_LAST.test(text.slice(colon + 1).trim());
            }
          }
          break;
        }
        case State.FixedBody:
        case State.ChunkData: {
          const n = Math.min(this.remaining, len - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === State.FixedBody ? State.MessageStart : State.ChunkEnd;
          break;
        }
        case State.ChunkSize: {
          const line = this.nextLine(buf, pos);
          if (line === null) {
            pos = len;
            break;
          }
          pos = line.next;
          const semi = line.text.indexOf(';');
          const hex = (semi >= 0 ? line.text.slice(0, semi) : line.text).trim();
          const size = /^[0-9a-fA-F]{1,13}$/.test(hex) ? parseInt(hex, 16) : NaN;
          if (Number.isNaN(size)) this.state = State.Raw; // Node refuses it and closes
          else if (size === 0) this.state = State.Trailers;
          else {
            this.remaining = size;
            this.state = State.ChunkData;
          }
          break;
        }
        case State.ChunkEnd: {
          const line = this.nextLine(buf, pos);
          if (line === null) {
            pos = len;
            break;
          }
          pos = line.next;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const line = this.nextLine(buf, pos);
          if (line === null) {
            pos = len;
            break;
          }
          pos = line.next;
          if (line.text === '') this.state = State.MessageStart;
          break;
        }
        case State.Raw:
          pos = len;
          break;
      }
    }
    if (!pieces) return changed ? buf : chunk;
    if (passed < len) pieces.push(buf.subarray(passed));
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  private endOfHead(): void {
    if (this.connect) {
      this.state = State.Raw;
      this.tunnel = true;
    } else if (this.chunked) this.state = State.ChunkSize;
    else if (this.contentLength > 0) {
      this.remaining = this.contentLength;
      this.state = State.FixedBody;
    } else this.state = State.MessageStart;
  }

  private carryOver(buf: Buffer, pos: number): void {
    this.carry += buf.toString('latin1', pos, buf.length);
    if (this.carry.length > MAX_LINE) this.state = State.Raw;
  }

  /** The next complete line from pos (CR stripped), or null when it continues in the next chunk. */
  private nextLine(buf: Buffer, pos: number): { text: string; next: number } | null {
    const lf = buf.indexOf(10, pos);
    if (lf < 0) {
      this.carryOver(buf, pos);
      return null;
    }
    let text = this.carry ? this.carry + buf.toString('latin1', pos, lf) : buf.toString('latin1', pos, lf);
    this.carry = '';
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return { text, next: lf + 1 };
  }
}

type DataListener = (this: Duplex, chunk: Buffer) => void;

const rewriters = new WeakMap<Duplex, RequestStreamRewriter>();

/**
 * For a request Node refused while reading `packet` (`parsed` bytes in) on a shimmed connection:
 * where the requests that start in that read begin (`from`), or, when the refused one started in an
 * earlier read, its request line as the client sent it. Null when the connection is not shimmed.
 */
export function refusedRequestIn(socket: Duplex, packet: Buffer, parsed: number): { from: number; line: string | null } | null {
  const read = rewriters.get(socket)?.lastRead;
  if (!read || read.length !== packet.length) return null;
  if (parsed < read.firstStart) return { from: 0, line: read.beganInside ? read.lineBefore : null };
  return { from: read.firstStart, line: null };
}

/**
 * Makes the server that owns this client connection accept any method token. Call it from the
 * server's 'connection' event, after Node has set the connection up and before any data is read.
 */
export function shimMethods(socket: Duplex): void {
  const rewriter = new RequestStreamRewriter();
  rewriters.set(socket, rewriter);
  // The server reads through its own 'data' listener once the socket is off the native feed: the
  // shim takes its place and hands it the rewritten bytes.
  const serverListeners = socket.listeners('data') as DataListener[];
  for (const l of serverListeners) socket.removeListener('data', l);
  const onData = (chunk: Buffer) => {
    const out = rewriter.rewrite(chunk);
    // After CONNECT the connection belongs to the tunnel (Node lets go of it too). The shim lets go
    // before the server reads the CONNECT head: the server's 'connect' handler may serve the tunnel
    // at once on this same socket (a plain tunnel whose first bytes came with the head), and a shim
    // still listening then would be taken for one of the tunnel's own listeners and feed every byte
    // of the tunnel to the outer connection's parser as well, which Node has freed for reuse.
    if (rewriter.tunnel) socket.removeListener('data', onData);
    if (out.length > 0) for (const l of serverListeners) l.call(socket, out);
  };
  // Adding a 'data' listener is also what takes the socket off Node's native parser feed (which
  // would bypass any listener): Node does that for every listener added after its own.
  socket.on('data', onData);
}

/**
 * Puts back the method the client sent, when the shim replaced it. Call it first in every
 * request handler of a shimmed server; a request the shim did not touch is left as it is.
 */
export function restoreMethod(req: http.IncomingMessage): void {
  if (req.method !== PLACEHOLDER) return;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] === MARKER) {
      req.method = raw[i + 1]!;
      raw.splice(i, 2);
      delete req.headers[MARKER];
      return;
    }
  }
}

/** The same for a request head Node refused (client-errors.ts reads it from the raw bytes). */
export function restoredHead(method: string, rawHeaders: RawHeaders): { method: string; rawHeaders: RawHeaders } {
  if (method !== PLACEHOLDER) return { method, rawHeaders };
  const i = rawHeaders.findIndex((v, j) => j % 2 === 0 && v.toLowerCase() === MARKER);
  if (i < 0) return { method, rawHeaders };
  return { method: rawHeaders[i + 1]!, rawHeaders: rawHeaders.filter((_, j) => j !== i && j !== i + 1) };
}
