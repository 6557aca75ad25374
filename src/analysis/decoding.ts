// Content-Encoding (gzip, deflate, br) decoded as the bytes arrive, synchronously, so that the
// analyzer stays a plain write()/end() object. node:zlib has no public synchronous streaming API;
// its engines do run synchronously through `_processChunk` without a callback, which closes the
// engine after each call, so the handle is kept open and re-attached between calls. If that
// internal ever disappears, the fallback buffers the compressed bytes and decodes them at the end.
import zlib from 'node:zlib';

const BLOCK = 16 * 1024;
const TRAILER = 8;
const EMPTY = new Uint8Array(0);

export type Coding = 'gzip' | 'deflate' | 'br' | 'identity';

export interface DecodingFacts {
  /** Content-Encoding as declared (lower-cased tokens). */
  declared: string[];
  /** The coding applied to decode the body ('identity' when none). */
  applied: Coding;
  /** Gzip bytes sent without Content-Encoding: decoded anyway so the XML can still be checked. */
  sniffedGzip: boolean;
  /** An encoding davtap cannot decode (compress, zstd…): the body is not analyzed. */
  unsupported?: string;
  compressedBytes: number;
  decodedBytes: number;
  /** The decoder's complaint (truncated stream, CRC mismatch, bad header). */
  error?: string;
  errorCode?: string;
  /** The decoder reached the end of the compressed stream. */
  finished: boolean;
}

interface SyncEngine {
  push(bytes: Uint8Array, final: boolean): Uint8Array;
  close(): void;
}

type ZlibInternal = zlib.Gunzip & {
  _processChunk?: (chunk: Uint8Array, flush: number) => Buffer;
  _handle?: { close(): void } | null;
};

function makeEngine(coding: Exclude<Coding, 'identity'>): SyncEngine {
  const engine = (coding === 'br' ? zlib.createBrotliDecompress() : coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate()) as unknown as ZlibInternal;
  const flush = coding === 'br' ? zlib.constants.BROTLI_OPERATION_PROCESS : zlib.constants.Z_SYNC_FLUSH;
  const finish = coding === 'br' ? zlib.constants.BROTLI_OPERATION_FINISH : zlib.constants.Z_FINISH;
  const swallow = (): void => {};
  engine.on('error', swallow);
  const handle = engine._handle;
  if (typeof engine._processChunk !== 'function' || !handle) return bufferingEngine(coding);
  const realClose = handle.close.bind(handle);
  handle.close = () => {};
  return {
    push(bytes, final) {
      try {
        // The result is a view into the engine's output buffer, which the next call overwrites.
        return Buffer.from(engine._processChunk!(bytes, final ? finish : flush));
      } finally {
        engine._handle = handle;
        engine.removeAllListeners('error');
        engine.on('error', swallow);
      }
    },
    close() {
      try {
        realClose();
      } catch {
        // already closed by an error: nothing to release
      }
    },
  };
}

function bufferingEngine(coding: Exclude<Coding, 'identity'>): SyncEngine {
  const parts: Uint8Array[] = [];
  return {
    push(bytes, final) {
      parts.push(bytes);
      if (!final) return new Uint8Array(0);
      const all = Buffer.concat(parts);
      return coding === 'br' ? zlib.brotliDecompressSync(all) : coding === 'gzip' ? zlib.gunzipSync(all) : zlib.inflateSync(all);
    },
    close() {},
  };
}

/** Maps a Content-Encoding token to what we decode. `x-gzip` is gzip (RFC 9110 §8.4.1.3). */
function codingOf(token: string): Coding | undefined {
  if (token === 'gzip' || token === 'x-gzip') return 'gzip';
  if (token === 'deflate') return 'deflate';
  if (token === 'br') return 'br';
  if (token === 'identity' || token === '') return 'identity';
  return undefined;
}

export class ContentDecoder {
  readonly facts: DecodingFacts;
  private engine: SyncEngine | undefined;
  private sniffing: boolean;
  private sniffBuf: Uint8Array[] = [];
  private sniffLen = 0;
  /** Allocated with the engine: identity bodies (most of them) never need it. */
  private pending: Uint8Array = EMPTY;
  private pendingLen = 0;

  constructor(declared: string[], private readonly onDecoded: (bytes: Uint8Array) => void) {
    const codings = declared.map(codingOf);
    const real = codings.filter((c) => c !== 'identity');
    this.facts = { declared, applied: 'identity', sniffedGzip: false, compressedBytes: 0, decodedBytes: 0, finished: false };
    this.sniffing = declared.length === 0;
    if (codings.some((c) => c === undefined)) {
      this.facts.unsupported = declared.join(', ');
    } else if (real.length > 1) {
      this.facts.unsupported = declared.join(', ');
    } else if (real.length === 1) {
      this.facts.applied = real[0]!;
      this.startEngine(real[0] as Exclude<Coding, 'identity'>);
    }
  }

  private startEngine(coding: Exclude<Coding, 'identity'>): void {
    this.engine = makeEngine(coding);
    this.pending = new Uint8Array(BLOCK + TRAILER);
  }

  write(bytes: Uint8Array): void {
    const f = this.facts;
    if (f.unsupported !== undefined) return;
    if (this.sniffing) {
      // Two bytes decide: 1f 8b is a gzip member where none was declared (MS405).
      let head = bytes;
      if (this.sniffLen > 0 || bytes.length < 2) {
        this.sniffBuf.push(Buffer.from(bytes)); // kept across writes: the caller may reuse its buffer
        this.sniffLen += bytes.length;
        if (this.sniffLen < 2) return;
        head = Buffer.concat(this.sniffBuf);
        this.sniffBuf = [];
      }
      this.sniffing = false;
      if (head[0] === 0x1f && head[1] === 0x8b) {
        f.sniffedGzip = true;
        f.applied = 'gzip';
        this.startEngine('gzip');
      }
      return this.write(head);
    }
    if (!this.engine) {
      f.decodedBytes += bytes.length;
      this.onDecoded(bytes);
      return;
    }
    if (f.error !== undefined) return;
    f.compressedBytes += bytes.length;
    // Fed in fixed blocks at fixed offsets: a corrupt stream then loses the same output however
    // the caller split its writes (the engine drops what it decoded in a call that fails).
    // The last 8 bytes are held back so that a gzip trailer (CRC32 + ISIZE) always reaches the
    // engine on its own: a CRC mismatch then costs no decoded text.
    let at = 0;
    while (at < bytes.length && f.error === undefined) {
      const take = Math.min(BLOCK + TRAILER - this.pendingLen, bytes.length - at);
      this.pending.set(bytes.subarray(at, at + take), this.pendingLen);
      this.pendingLen += take;
      at += take;
      if (this.pendingLen === BLOCK + TRAILER) {
        this.run(this.pending.slice(0, BLOCK), false);
        this.pending.copyWithin(0, BLOCK);
        this.pendingLen = TRAILER;
      }
    }
  }

  end(): void {
    if (this.sniffing) {
      this.sniffing = false;
      const head = Buffer.concat(this.sniffBuf);
      this.sniffBuf = [];
      if (head.length > 0) this.write(head);
    }
    if (this.engine && this.facts.error === undefined) {
      // Flush what the last partial block decodes to before asking for the end of the stream:
      // a failing final call drops its output, and a truncated stream must still show its text.
      const cut = Math.max(0, this.pendingLen - TRAILER);
      this.run(this.pending.slice(0, cut), false);
      if (this.facts.error === undefined) this.run(this.pending.slice(cut, this.pendingLen), false);
      if (this.facts.error === undefined) this.run(new Uint8Array(0), true);
      if (this.facts.error === undefined) this.facts.finished = true;
    }
    this.engine?.close();
  }

  private run(bytes: Uint8Array, final: boolean): void {
    try {
      const out = this.engine!.push(bytes, final);
      if (out.length > 0) {
        this.facts.decodedBytes += out.length;
        this.onDecoded(out);
      }
    } catch (e) {
      const err = e as { message?: string; code?: string };
      this.facts.error = err.message ?? String(e);
      if (err.code !== undefined) this.facts.errorCode = err.code;
    }
  }
}
