// Transfer framing of the response body (RFC 9112 §6–§7). For raw captures ('wire' form) the
// analyzer removes the chunked framing itself and records every violation; for the proxy's
// 'payload' form it only counts bytes, and framing failures arrive through the transport end.
// The chunked decoding itself is the wire core's (BodyFramer); this module turns where it stopped
// into facts for the findings.
import { declaredLength } from '../http/framing.js';
import { headerValues } from '../http/headers.js';
import { BodyFramer, MAX_CHUNK_LINE, type ChunkFault } from '../http/message.js';
import type { Framing, RawHeaders } from '../types.js';

export interface FramingFacts {
  framing: Framing;
  bodyForm: 'wire' | 'payload';
  /** Valid Content-Length when declared (the first, when several agree). */
  declaredLength: number | null;
  contentLengths: string[];
  transferEncodings: string[];
  /** Payload bytes delivered (after de-chunking). */
  payloadBytes: number;
  /** Wire bytes written to the analyzer. */
  wireBytes: number;
  chunkCount: number;
  lastSizeLine?: string;
  sawLastChunk: boolean;
  /**
   * The chunked message reached its end: the last chunk, the trailer section and its final CRLF
   * (RFC 9112 §7.1). A body that stops after the last chunk is still an incomplete message.
   */
  chunkedEnded: boolean;
  /** Invalid chunk framing: what, where (wire offset) and the bad bytes in hex. */
  chunkError?: { what: string; offset: number; hex: string };
  /** Bytes after the end of the framed body (desync on a persistent connection). */
  surplusBytes: number;
  surplusHex: string;
  /** Last 256 payload bytes, for MS001's evidence. */
  tail: Uint8Array;
}

const TAIL = 256;
const EMPTY = new Uint8Array(0);

export class Deframer {
  readonly facts: FramingFacts;
  /** The chunked decoder, for a chunked body in wire form. */
  private readonly chunks: BodyFramer | null;
  /** Allocated on the first payload byte: most answers through a proxy are small or empty. */
  private tailBuf: Uint8Array = EMPTY;
  private tailLen = 0;
  private hexWanted = 0;

  constructor(
    rawHeaders: RawHeaders,
    bodyForm: 'wire' | 'payload',
    noBody: boolean,
    private readonly onPayload: (bytes: Uint8Array) => void,
  ) {
    const cls = headerValues(rawHeaders, 'Content-Length');
    const tes = headerValues(rawHeaders, 'Transfer-Encoding').flatMap((v) => v.split(',')).map((t) => t.trim().toLowerCase()).filter(Boolean);
    const declared = declaredLength(rawHeaders);
    let framing: Framing;
    if (noBody) framing = 'none';
    else if (tes.length > 0) framing = tes[tes.length - 1] === 'chunked' ? 'chunked' : 'close-delimited';
    else if (declared !== null) framing = 'content-length';
    else framing = 'close-delimited';
    this.facts = {
      framing,
      bodyForm,
      declaredLength: declared,
      contentLengths: cls,
      transferEncodings: tes,
      payloadBytes: 0,
      wireBytes: 0,
      chunkCount: 0,
      sawLastChunk: false,
      chunkedEnded: false,
      surplusBytes: 0,
      surplusHex: '',
      tail: EMPTY,
    };
    this.chunks = bodyForm === 'wire' && framing === 'chunked' ? new BodyFramer({ framing: 'chunked', length: 0 }) : null;
  }

  write(chunk: Uint8Array): void {
    const f = this.facts;
    const base = f.wireBytes;
    f.wireBytes += chunk.length;
    if (this.chunks) return this.dechunk(this.chunks, chunk, base);
    if (f.bodyForm === 'payload' || f.framing === 'close-delimited') return this.deliver(chunk);
    if (f.framing === 'none') return this.surplus(chunk);
    const room = Math.max(0, (f.declaredLength ?? 0) - f.payloadBytes);
    if (chunk.length <= room) return this.deliver(chunk);
    if (room > 0) this.deliver(chunk.subarray(0, room));
    return this.surplus(chunk.subarray(room));
  }

  /** Snapshot of the facts with the tail filled in. */
  finish(): FramingFacts {
    const out = this.tailBuf.subarray(0, this.tailLen);
    this.facts.tail = Uint8Array.from(out);
    return this.facts;
  }

  private deliver(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.facts.payloadBytes += bytes.length;
    this.keepTail(bytes);
    this.onPayload(bytes);
  }

  private keepTail(bytes: Uint8Array): void {
    if (this.tailBuf.length === 0) this.tailBuf = new Uint8Array(TAIL);
    if (bytes.length >= TAIL) {
      this.tailBuf.set(bytes.subarray(bytes.length - TAIL));
      this.tailLen = TAIL;
      return;
    }
    const keep = Math.min(this.tailLen, TAIL - bytes.length);
    this.tailBuf.copyWithin(0, this.tailLen - keep, this.tailLen);
    this.tailBuf.set(bytes, keep);
    this.tailLen = keep + bytes.length;
  }

  private surplus(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const f = this.facts;
    if (f.surplusHex.length < 64) f.surplusHex += hex(bytes.subarray(0, 32 - f.surplusHex.length / 2));
    f.surplusBytes += bytes.length;
  }

  private dechunk(framer: BodyFramer, chunk: Uint8Array, base: number): void {
    const f = this.facts;
    if (f.chunkError) {
      // The excerpt is completed from the following writes, so it does not depend on where they split.
      if (this.hexWanted > 0) {
        const more = chunk.subarray(0, this.hexWanted);
        f.chunkError.hex += hex(more);
        this.hexWanted -= more.length;
      }
      return;
    }
    if (framer.done) return this.surplus(chunk);
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const used = framer.feed(buf, 0, (payload) => this.deliver(payload));
    f.chunkCount = framer.chunkCount;
    f.sawLastChunk = framer.sawLastChunk;
    f.chunkedEnded = framer.done;
    const sizeLine = framer.lastSizeLine;
    if (sizeLine !== undefined) f.lastSizeLine = sizeLine;
    if (framer.fault) this.broken(framer.fault, chunk, base);
    else if (framer.done) this.surplus(chunk.subarray(used));
  }

  /** Records the framing error the decoder stopped at: what, its wire offset and the bad bytes. */
  private broken(fault: ChunkFault, chunk: Uint8Array, base: number): void {
    const line = fault.line !== undefined ? Buffer.from(fault.line, 'latin1') : undefined;
    const at = (what: string, offset: number, bad: Uint8Array, want = 0) => {
      const shown = Uint8Array.from(bad.subarray(0, 32));
      this.facts.chunkError = { what, offset, hex: hex(shown) };
      this.hexWanted = Math.max(0, want - shown.length);
    };
    switch (fault.kind) {
      case 'size-line': {
        const text = fault.line!.replace(/\r?\n$/, '');
        return at(`invalid chunk-size line ${JSON.stringify(text.slice(0, 40))}`, fault.at, line!);
      }
      case 'size-line-length':
        return at(`chunk-size line longer than ${MAX_CHUNK_LINE.toLocaleString('en-US')} bytes`, fault.at + MAX_CHUNK_LINE + 1, line!);
      case 'trailer-line-length':
        return at(`trailer line longer than ${MAX_CHUNK_LINE.toLocaleString('en-US')} bytes`, fault.at + MAX_CHUNK_LINE + 1, line!);
      case 'line-end':
        return at('line not terminated by CRLF', fault.at + line!.length - 1, line!);
      case 'trailer-line': {
        const text = fault.line!.replace(/\r?\n$/, '');
        return at(`malformed trailer field ${JSON.stringify(text.slice(0, 40))}`, fault.at, line!);
      }
      case 'data-end':
      case 'data-end-lf': {
        const from = fault.at - base;
        const what = fault.kind === 'data-end' ? 'chunk data longer than its size (no CRLF after the data)' : 'chunk data not followed by CRLF';
        return at(what, fault.at, chunk.subarray(from, from + 16), 16);
      }
    }
  }

  /** Where the chunked decoder stopped, for the message of MS002. */
  get chunkState(): string {
    if (!this.chunks || this.facts.chunkError) return '';
    const where = this.chunks.chunkPosition;
    switch (where.step) {
      case 'data':
        return `inside a chunk, ${where.missing} bytes of it missing`;
      case 'data-end':
        return 'after a chunk, before its CRLF';
      case 'trailers':
        return 'inside the trailer section (after the last chunk)';
      case 'size':
        return where.midLine ? 'inside a chunk-size line' : 'before the next chunk-size line';
      default:
        return '';
    }
  }
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
