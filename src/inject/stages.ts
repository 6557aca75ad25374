// Each fault is a stage that maps a message (head + body pieces) to the message the next stage
// sees. Streaming stages (byte cuts, stalls, resets) pass chunks through as they come; rewrites
// buffer the body (up to a cap), decode its content coding, rewrite, re-encode and fix
// Content-Length. Stages apply in the order the faults were given.
import zlib from 'node:zlib';
import type { ClientHead } from '../proxy/hooks.js';
import { decodableEncoding, type DecodableEncoding } from '../tap/decode.js';
import { declaredLength, responseFraming } from '../http/framing.js';
import { firstHeader, setHeader, withoutHeaders } from '../http/headers.js';
import type { InjectSpec } from './spec.js';
import { afterNthResponse, dropElements, htmlPage, rewriteHrefs, stripNamespace, type Rewritten } from './rewrites.js';

/** A cut ends the body: the connection closes (FIN) or is reset, the message never completes. */
export interface Cut {
  cut: 'close' | 'reset';
}
export type Piece = Buffer | Cut;

export interface Message {
  /** Null: the connection is reset before any head is sent. */
  head: ClientHead | null;
  body: AsyncIterable<Piece>;
}

export interface StageContext {
  method: string;
  signal: AbortSignal;
  /** Largest body a rewrite buffers; a larger one passes through unchanged (and the flow says so). */
  maxRewriteBytes: number;
  /** What happened, for the flow's `injected` text ("not applied: …"). */
  note(text: string): void;
}

export type Stage = (message: Message, ctx: StageContext) => Promise<Message>;

const isCut = (p: Piece): p is Cut => !Buffer.isBuffer(p);

function framingOf(head: ClientHead, method: string) {
  return responseFraming(head.rawHeaders, head.status, method);
}

/** The head for a body of `length` bytes: Content-Length follows it; chunked and close-delimited stay. */
function withLength(head: ClientHead, length: number, method: string): ClientHead {
  if (framingOf(head, method) !== 'content-length') return head;
  return { ...head, rawHeaders: setHeader(head.rawHeaders, 'Content-Length', String(length)) };
}

function asChunked(head: ClientHead): ClientHead {
  const raw = withoutHeaders(head.rawHeaders, 'content-length');
  const te = firstHeader(raw, 'transfer-encoding');
  return { ...head, rawHeaders: te && /chunked\s*$/i.test(te) ? raw : setHeader(raw, 'Transfer-Encoding', 'chunked') };
}

/** Resolves after `ms` (never, for Infinity) or as soon as the client is gone. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    signal.addEventListener('abort', done);
  });
}

async function* from(pieces: Piece[], rest?: AsyncIterator<Piece>): AsyncGenerator<Piece> {
  yield* pieces;
  if (!rest) return;
  try {
    for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
  } finally {
    await rest.return?.();
  }
}

interface Collected {
  chunks: Buffer[];
  cut?: Cut;
  /** Set when the body outgrew the cap: the unread remainder. */
  rest?: AsyncIterator<Piece>;
}

async function collect(body: AsyncIterable<Piece>, max: number): Promise<Collected> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    if (isCut(r.value)) {
      await it.return?.();
      return { chunks, cut: r.value };
    }
    chunks.push(r.value);
    size += r.value.length;
    if (size > max) return { chunks, rest: it };
  }
  return { chunks };
}

type Coding = DecodableEncoding | 'identity';

function codingOf(head: ClientHead): Coding | null {
  const value = firstHeader(head.rawHeaders, 'content-encoding');
  if (value === undefined || value.trim() === '' || value.trim().toLowerCase() === 'identity') return 'identity';
  return decodableEncoding(value);
}

/**
 * The decoded body, at most `max` bytes: past that zlib stops and throws ERR_BUFFER_TOO_LARGE
 * rather than inflating on, on the relay thread (a few MB of gzip can inflate to gigabytes).
 */
function decode(body: Buffer, coding: Coding, max: number): Buffer {
  const opts = { maxOutputLength: max };
  if (coding === 'gzip') return zlib.gunzipSync(body, opts);
  if (coding === 'deflate') return zlib.inflateSync(body, opts);
  if (coding === 'br') return zlib.brotliDecompressSync(body, opts);
  return body;
}

function encode(body: Buffer, coding: Coding): Buffer {
  if (coding === 'gzip') return zlib.gzipSync(body);
  if (coding === 'deflate') return zlib.deflateSync(body);
  if (coding === 'br') return zlib.brotliCompressSync(body);
  return body;
}

interface BufferedResult {
  head: ClientHead;
  body: Buffer;
  cut?: Cut;
}

/**
 * A stage that needs the whole body. `rewrite` gets the decoded body and returns the new one (or
 * null when there is nothing to do); the wrapper re-encodes it and fixes Content-Length.
 */
function buffered(text: string, rewrite: (body: Buffer, head: ClientHead, ctx: StageContext) => BufferedResult | null): Stage {
  return async (message, ctx) => {
    const head = message.head;
    if (!head) return message;
    const declared = declaredLength(head.rawHeaders);
    if (declared !== null && declared > ctx.maxRewriteBytes) {
      ctx.note(`${text} not applied: body over ${ctx.maxRewriteBytes} bytes`);
      return message;
    }
    const coding = codingOf(head);
    if (coding === null) {
      ctx.note(`${text} not applied: unsupported Content-Encoding`);
      return message;
    }
    const got = await collect(message.body, ctx.maxRewriteBytes);
    if (got.rest) {
      ctx.note(`${text} not applied: body over ${ctx.maxRewriteBytes} bytes`);
      return { head, body: from(got.chunks, got.rest) };
    }
    const raw = Buffer.concat(got.chunks);
    const unchanged = { head, body: from(got.cut ? [raw, got.cut] : [raw]) };
    let decoded: Buffer;
    try {
      decoded = decode(raw, coding, ctx.maxRewriteBytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') ctx.note(`${text} not applied: decoded body over ${ctx.maxRewriteBytes} bytes`);
      else ctx.note(`${text} not applied: the ${coding} body does not decode (${(err as Error).message})`);
      return unchanged;
    }
    const result = rewrite(decoded, head, ctx);
    if (!result) return unchanged;
    // Re-encoded as it came, unless the rewrite changed the coding itself (gzip-no-header).
    let out = codingOf(result.head) === coding ? encode(result.body, coding) : result.body;
    const cut = result.cut ?? got.cut;
    if (!cut) return { head: withLength(result.head, out.length, ctx.method), body: from([out]) };
    // A cut body (this stage's or an earlier one's) keeps the Content-Length it was sent with and
    // must stay short of it, even if re-encoding made it longer: bytes past the declared length
    // would be read as the start of the next response.
    const kept = declaredLength(result.head.rawHeaders);
    if (kept !== null && out.length >= kept) out = out.subarray(0, Math.max(0, kept - 1));
    return { head: result.head, body: from([out, cut]) };
  };
}

function textRewrite(text: string, fn: (body: string) => Rewritten): Stage {
  return buffered(text, (body, head, ctx) => {
    const r = fn(body.toString('latin1'));
    if (r.changes === 0) {
      ctx.note(`${text}: nothing to change`);
      return null;
    }
    return { head, body: Buffer.from(r.text, 'latin1') };
  });
}

/** Passes body bytes on until `bytes` have gone, then calls `atLimit` (which may cut or wait). */
function afterBytes(bytes: number, atLimit: (ctx: StageContext) => Promise<Cut | null>, ctx: StageContext) {
  return async function* (body: AsyncIterable<Piece>): AsyncGenerator<Piece> {
    let sent = 0;
    let done = false;
    const fire = async function* (): AsyncGenerator<Piece, boolean> {
      done = true;
      const cut = await atLimit(ctx);
      if (cut) {
        yield cut;
        return true;
      }
      return false;
    };
    if (bytes === 0 && (yield* fire())) return;
    for await (const piece of body) {
      if (isCut(piece) || done) {
        yield piece;
        if (isCut(piece)) return;
        continue;
      }
      const room = bytes - sent;
      if (piece.length < room) {
        sent += piece.length;
        yield piece;
        continue;
      }
      sent = bytes;
      if (room > 0) yield piece.subarray(0, room);
      if (yield* fire()) return;
      if (piece.length > room) yield piece.subarray(room);
    }
  };
}

export function stageFor(spec: InjectSpec): Stage {
  switch (spec.kind) {
    case 'truncate-bytes':
      return async (message, ctx) => {
        if (!message.head) return message;
        const body = afterBytes(spec.bytes, async () => ({ cut: 'close' }), ctx)(message.body);
        return { head: spec.framing === 'chunked' ? asChunked(message.head) : message.head, body };
      };
    case 'truncate-responses':
      return buffered(spec.text, (body, head, ctx) => {
        const text = body.toString('latin1');
        const at = afterNthResponse(text, spec.responses);
        if (at === null) {
          ctx.note(`${spec.text}: the body has fewer than ${spec.responses} responses, not cut`);
          return null;
        }
        const cutBody = body.subarray(0, at);
        if (spec.framing === 'keep-length') {
          // A complete message whose XML stops after the Nth response: Content-Length framing, exact.
          const raw = withoutHeaders(head.rawHeaders, 'transfer-encoding', 'content-length');
          return { head: { ...head, rawHeaders: [...raw, 'Content-Length', '0'] }, body: cutBody };
        }
        return { head: spec.framing === 'chunked' ? asChunked(head) : head, body: cutBody, cut: { cut: 'close' } };
      });
    case 'strip-ns':
      return textRewrite(spec.text, (t) => stripNamespace(t, spec));
    case 'drop':
      return textRewrite(spec.text, (t) => dropElements(t, spec.localName));
    case 'rewrite-href':
      return textRewrite(spec.text, (t) => rewriteHrefs(t, spec));
    case 'html':
      return async (message, ctx) => {
        const head = message.head;
        if (!head) return message;
        // The page replaces the body entirely; upstream's body is read and discarded so that its
        // connection stays usable, and a cut in it still cuts the page.
        let cut: Cut | undefined;
        for await (const piece of message.body) {
          if (isCut(piece)) {
            cut = piece;
            break;
          }
        }
        const page = Buffer.from(htmlPage(head.status, head.reason));
        let raw = withoutHeaders(head.rawHeaders, 'content-encoding');
        raw = setHeader(raw, 'Content-Type', 'text/html; charset=utf-8');
        return { head: withLength({ ...head, rawHeaders: raw }, page.length, ctx.method), body: from(cut ? [page, cut] : [page]) };
      };
    case 'gzip-no-header':
      return async (message, ctx) => {
        const head = message.head;
        if (!head) return message;
        const coding = codingOf(head);
        // Already gzip: only the header goes, the bytes stream on untouched.
        if (coding === 'gzip') return { head: { ...head, rawHeaders: withoutHeaders(head.rawHeaders, 'content-encoding') }, body: message.body };
        return buffered(spec.text, (body, h) => ({ head: { ...h, rawHeaders: withoutHeaders(h.rawHeaders, 'content-encoding') }, body: zlib.gzipSync(body) }))(message, ctx);
      };
    case 'delay':
      return async (message, ctx) => {
        await sleep(spec.ms, ctx.signal);
        return message;
      };
    case 'stall':
      return async (message, ctx) => {
        if (!message.head) return message;
        const wait = async (c: StageContext) => {
          await sleep(spec.ms ?? Infinity, c.signal);
          return null;
        };
        return { head: message.head, body: afterBytes(spec.after, wait, ctx)(message.body) };
      };
    case 'reset':
      return async (message, ctx) => {
        if (!message.head) return message;
        if (spec.after === undefined) return { head: null, body: message.body };
        return { head: message.head, body: afterBytes(spec.after, async () => ({ cut: 'reset' }), ctx)(message.body) };
      };
  }
}
