// Content-Encoding (gzip, deflate, br) decoded as the bytes arrive, synchronously, so that the
// analyzer stays a plain write()/end() object. node:zlib has no public synchronous streaming API;
// this drives an engine's native handle with `writeSync`, as node's own `*Sync` helpers do, but
// hands the output on in bounded pieces: a few KB of br or gzip can inflate to gigabytes, and the
// consumer must be able to stop it (halt) before that is decoded, let alone held. If those
// internals ever disappear, the fallback buffers the compressed bytes and decodes them at the end.
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
  /**
   * The analysis stopped reading (one of its limits) and decoding stopped with it: the rest of
   * the stream was neither decoded nor checked, so its end is unknown rather than missing.
   */
  halted?: boolean;
}

interface SyncEngine {
  /**
   * Decodes `bytes` (all of them, unless `emit` says stop), handing the output to `emit` in pieces
   * of at most about EMIT_AT bytes; `emit` returns false to stop. Throws the decoder's error.
   */
  push(bytes: Uint8Array, final: boolean, emit: (out: Uint8Array) => boolean): void;
  close(): void;
}

interface NativeHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  close(): void;
}

type ZlibInternal = zlib.Gunzip & {
  _handle?: NativeHandle | null;
  /** [avail_out, avail_in] after each write, filled in by the handle. */
  _writeState?: Uint32Array;
};

/** Output space given to the engine per call. */
const OUT_CHUNK = 64 * 1024;
/**
 * Output of one push held back until the push ends, up to this much: a block that fails then
 * costs its whole output, the same however the caller split its writes. Real bodies stay well
 * below it (16 KiB of compressed XML rarely inflates past 1 MiB); past it the output goes on as
 * it comes, so that memory stays bounded and a halt takes effect.
 */
const EMIT_AT = 4 * 1024 * 1024;

function makeEngine(coding: Exclude<Coding, 'identity'>): SyncEngine {
  const engine = (coding === 'br' ? zlib.createBrotliDecompress() : coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate()) as unknown as ZlibInternal;
  const flush = coding === 'br' ? zlib.constants.BROTLI_OPERATION_PROCESS : zlib.constants.Z_SYNC_FLUSH;
  const finish = coding === 'br' ? zlib.constants.BROTLI_OPERATION_FINISH : zlib.constants.Z_FINISH;
  // A decoding error destroys the stream, which emits 'error' later: it is read synchronously
  // from `errored` instead, and the event must not go unhandled.
  engine.on('error', () => {});
  const handle = engine._handle;
  const state = engine._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || !(state instanceof Uint32Array)) return bufferingEngine(coding);
  const failure = (): Error | null => (engine as unknown as { errored: Error | null }).errored ?? null;
  return {
    push(bytes, final, emit) {
      let inOff = 0;
      let inLen = bytes.length;
      let held: Buffer[] = [];
      let heldLen = 0;
      for (;;) {
        const out = Buffer.allocUnsafe(OUT_CHUNK);
        handle.writeSync(final ? finish : flush, bytes, inOff, inLen, out, 0, OUT_CHUNK);
        const err = failure();
        if (err) throw err;
        const availOut = state[0]!;
        const availIn = state[1]!;
        inOff += inLen - availIn;
        inLen = availIn;
        const have = OUT_CHUNK - availOut;
        if (have > 0) {
          held.push(out.subarray(0, have));
          heldLen += have;
        }
        // Output space left over: the engine has taken all the input it can use.
        const done = availOut !== 0;
        if (heldLen > 0 && (done || heldLen >= EMIT_AT)) {
          const piece = held.length === 1 ? held[0]! : Buffer.concat(held, heldLen);
          held = [];
          heldLen = 0;
          if (!emit(piece)) return;
        }
        if (done) return;
      }
    },
    close() {
      try {
        handle.close();
      } catch {
        // already closed by an error: nothing to release
      }
    },
  };
}

function bufferingEngine(coding: Exclude<Coding, 'identity'>): SyncEngine {
  const parts: Uint8Array[] = [];
  return {
    push(bytes, final, emit) {
      parts.push(bytes);
      if (!final) return;
      const all = Buffer.concat(parts);
      emit(coding === 'br' ? zlib.brotliDecompressSync(all) : coding === 'gzip' ? zlib.gunzipSync(all) : zlib.inflateSync(all));
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
    if (f.unsupported !== undefined || f.halted) return;
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
    while (at < bytes.length && f.error === undefined && !f.halted) {
      const take = Math.min(BLOCK + TRAILER - this.pendingLen, bytes.length - at);
      this.pending.set(bytes.subarray(at, at + take), this.pendingLen);
      this.pendingLen += take;
      at += take;
      if (this.pendingLen === BLOCK + TRAILER) {
        this.run(this.pending.slice(0, BLOCK), false);
        if (f.halted) return;
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
    if (this.engine && this.facts.error === undefined && !this.facts.halted) {
      // Flush what the last partial block decodes to before asking for the end of the stream:
      // a failing final call drops its output, and a truncated stream must still show its text.
      const cut = Math.max(0, this.pendingLen - TRAILER);
      this.run(this.pending.slice(0, cut), false);
      if (this.facts.error === undefined && !this.facts.halted) this.run(this.pending.slice(cut, this.pendingLen), false);
      if (this.facts.error === undefined && !this.facts.halted) this.run(new Uint8Array(0), true);
      if (this.facts.error === undefined && !this.facts.halted) this.facts.finished = true;
    }
    this.release();
  }

  /**
   * The consumer wants no more output: stop decoding here. Without this a compressed body keeps
   * inflating for nothing once the analysis has stopped reading it, and 10 MB of gzip can
   * inflate to 10 GiB. Safe to call from within `onDecoded`: the block loop checks it.
   */
  halt(): void {
    if (this.facts.halted || !this.engine) return;
    this.facts.halted = true;
    this.release();
  }

  private release(): void {
    this.engine?.close();
    this.engine = undefined;
    this.pending = EMPTY;
    this.pendingLen = 0;
  }

  private run(bytes: Uint8Array, final: boolean): void {
    try {
      this.engine!.push(bytes, final, (out) => {
        this.facts.decodedBytes += out.length;
        this.onDecoded(out);
        return !this.facts.halted;
      });
    } catch (e) {
      const err = e as { message?: string; code?: string };
      this.facts.error = err.message ?? String(e);
      if (err.code !== undefined) this.facts.errorCode = err.code;
    }
  }
}
