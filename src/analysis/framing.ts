// Transfer framing of the response body (RFC 9112 §6–§7). For raw captures ('wire' form) the
// analyzer removes the chunked framing itself and records every violation; for the proxy's
// 'payload' form it only counts bytes, and framing failures arrive through the transport end.
import type { Framing, RawHeaders } from '../types.js';
import { headerValues } from './headers.js';

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
  /** Invalid chunk framing: what, where (wire offset) and the bad bytes in hex. */
  chunkError?: { what: string; offset: number; hex: string };
  /** Bytes after the end of the framed body (desync on a persistent connection). */
  surplusBytes: number;
  surplusHex: string;
  /** Last 256 payload bytes, for MS001's evidence. */
  tail: Uint8Array;
}

const enum S {
  Size,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
  Broken,
}

const TAIL = 256;
const EMPTY = new Uint8Array(0);
const MAX_LINE = 4096;

export class Deframer {
  readonly facts: FramingFacts;
  private state = S.Size;
  private remaining = 0;
  private line: number[] = [];
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
    const distinct = [...new Set(cls.flatMap((v) => v.split(',')).map((v) => v.trim()))];
    const declared = distinct.length === 1 && /^\d+$/.test(distinct[0]!) ? Number(distinct[0]) : null;
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
      surplusBytes: 0,
      surplusHex: '',
      tail: EMPTY,
    };
  }

  write(chunk: Uint8Array): void {
    const f = this.facts;
    const base = f.wireBytes;
    f.wireBytes += chunk.length;
    if (f.bodyForm === 'payload' || f.framing === 'close-delimited') return this.deliver(chunk);
    if (f.framing === 'none') return this.surplus(chunk);
    if (f.framing === 'content-length') {
      const room = Math.max(0, (f.declaredLength ?? 0) - f.payloadBytes);
      if (chunk.length <= room) return this.deliver(chunk);
      if (room > 0) this.deliver(chunk.subarray(0, room));
      return this.surplus(chunk.subarray(room));
    }
    this.dechunk(chunk, base);
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

  private broken(what: string, offset: number, bad: number[] | Uint8Array, want = 0): void {
    this.state = S.Broken;
    const shown = Uint8Array.from(bad).subarray(0, 32);
    this.facts.chunkError = { what, offset, hex: hex(shown) };
    // The excerpt is completed from the following writes, so it does not depend on where they split.
    this.hexWanted = Math.max(0, want - shown.length);
  }

  private dechunk(chunk: Uint8Array, base: number): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case S.Broken:
          if (this.hexWanted > 0 && this.facts.chunkError) {
            const more = chunk.subarray(i, i + this.hexWanted);
            this.facts.chunkError.hex += hex(more);
            this.hexWanted -= more.length;
          }
          return;
        case S.Done:
          return this.surplus(chunk.subarray(i));
        case S.Size:
        case S.Trailer: {
          const b = chunk[i]!;
          i++;
          if (b !== 0x0a) {
            this.line.push(b);
            if (this.line.length > MAX_LINE) return this.broken('chunk-size line longer than 4,096 bytes', base + i, this.line);
            break;
          }
          const line = this.line;
          this.line = [];
          if (line[line.length - 1] !== 0x0d) return this.broken('line not terminated by CRLF', base + i - 1, [...line, 0x0a]);
          const text = String.fromCharCode(...line.slice(0, -1));
          if (this.state === S.Trailer) {
            if (text.length === 0) this.state = S.Done;
            break;
          }
          this.facts.lastSizeLine = text;
          const m = /^([0-9a-fA-F]+)[ \t]*(;.*)?$/.exec(text);
          if (!m || m[1]!.length > 12) return this.broken(`invalid chunk-size line ${JSON.stringify(text.slice(0, 40))}`, base + i - line.length - 1, [...line, 0x0a]);
          const size = parseInt(m[1]!, 16);
          if (size === 0) {
            this.facts.sawLastChunk = true;
            this.state = S.Trailer;
          } else {
            this.facts.chunkCount++;
            this.remaining = size;
            this.state = S.Data;
          }
          break;
        }
        case S.Data: {
          const n = Math.min(this.remaining, chunk.length - i);
          this.deliver(chunk.subarray(i, i + n));
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = S.DataCR;
          break;
        }
        case S.DataCR:
          if (chunk[i] !== 0x0d) return this.broken('chunk data longer than its size (no CRLF after the data)', base + i, chunk.subarray(i, i + 16), 16);
          i++;
          this.state = S.DataLF;
          break;
        case S.DataLF:
          if (chunk[i] !== 0x0a) return this.broken('chunk data not followed by CRLF', base + i, chunk.subarray(i, i + 16), 16);
          i++;
          this.state = S.Size;
          break;
      }
    }
  }

  /** Where the chunked decoder stopped, for the message of MS002. */
  get chunkState(): string {
    switch (this.state) {
      case S.Data:
        return `inside a chunk, ${this.remaining} bytes of it missing`;
      case S.DataCR:
      case S.DataLF:
        return 'after a chunk, before its CRLF';
      case S.Trailer:
        return 'inside the trailer section (after the last chunk)';
      case S.Size:
        return this.line.length > 0 ? 'inside a chunk-size line' : 'before the next chunk-size line';
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
