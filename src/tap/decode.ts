// Decodes a *copy* of a content-encoded body (gzip, deflate, br) for capture and display. The
// client always receives the encoded bytes untouched; this runs beside the relay, in zlib's
// thread pool, and never slows or blocks it.
import zlib from 'node:zlib';
import type { CapturedBody } from '../types.js';
import { BodyCapture } from './capture.js';

export type DecodableEncoding = 'gzip' | 'deflate' | 'br';

/** The single encoding davtap can decode, or null (identity, unknown or stacked encodings). */
export function decodableEncoding(contentEncoding: string | undefined): DecodableEncoding | null {
  if (!contentEncoding) return null;
  const codings = contentEncoding.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  if (codings.length !== 1) return null;
  const c = codings[0];
  if (c === 'gzip' || c === 'x-gzip') return 'gzip';
  if (c === 'deflate') return 'deflate';
  if (c === 'br') return 'br';
  return null;
}

export interface DecodedResult {
  body: CapturedBody;
  error?: string;
}

/** The cap as people write it: "64 MiB", "512 KiB", or a count of bytes. */
function capText(cap: number): string {
  if (cap >= 1024 * 1024 && cap % (1024 * 1024) === 0) return `${cap / 1024 / 1024} MiB`;
  if (cap >= 1024 && cap % 1024 === 0) return `${cap / 1024} KiB`;
  return `${cap}-byte`;
}

export class DecodedCopy {
  private readonly stream: zlib.Gzip | zlib.Inflate | zlib.BrotliDecompress;
  private readonly capture: BodyCapture;
  private error: string | undefined;
  /** The output passed the cap and the decoder was stopped there. */
  private capped = false;
  private readonly done: Promise<void>;

  /**
   * With `sink`, the decoded bytes (the first `cap` of them) go there as they come and the result
   * holds none: a consumer that stores them itself need not have them held here too.
   */
  constructor(
    encoding: DecodableEncoding,
    private readonly cap: number,
    sink?: (chunk: Buffer) => void,
  ) {
    this.capture = new BodyCapture(cap, sink === undefined);
    // Deflate in HTTP is zlib-wrapped by the RFC but raw in some servers: inflate() with the
    // zlib header, falling back is not worth it for a display copy; the error says what happened.
    this.stream =
      encoding === 'gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : zlib.createBrotliDecompress();
    this.stream.on('data', (chunk: Buffer) => {
      if (this.capped) return;
      const room = cap - this.capture.bytesSeen;
      this.capture.add(chunk);
      if (sink && room > 0) sink(chunk.length <= room ? chunk : chunk.subarray(0, room));
      // Past the cap nothing more is kept, and inflating the rest would only burn CPU: 10 MB of
      // gzip can inflate to 10 GiB. Stopping once the output is *over* the cap (not at it) keeps
      // a body of exactly `cap` bytes complete.
      if (this.capture.bytesSeen > cap) {
        this.capped = true;
        this.stream.destroy();
      }
    });
    this.done = new Promise((resolve) => {
      this.stream.once('end', resolve);
      // A destroyed stream emits 'close' and never 'end'.
      this.stream.once('close', resolve);
      this.stream.once('error', (err: NodeJS.ErrnoException) => {
        this.error = `${encoding} decoding failed: ${err.message}${err.code ? ` (${err.code})` : ''}`;
        resolve();
      });
    });
  }

  write(chunk: Buffer): void {
    if (this.error === undefined && !this.capped) this.stream.write(chunk);
  }

  /** Ends the input. `complete` false when the body was cut: the copy is then partial by nature. */
  async finish(complete: boolean): Promise<DecodedResult> {
    if (this.error === undefined && !this.capped) this.stream.end();
    await this.done;
    let error = this.error;
    // The cap is davtap's own limit, not a fault of the body: captureComplete is false and this
    // says why, so that nobody reads the short copy as a truncated stream.
    if (this.capped) error = `decoded copy stopped at the ${capText(this.cap)} capture cap; the rest was relayed but not decoded`;
    else if (!complete && error === undefined) error = 'body ended early; decoded copy is partial';
    return { body: this.capture.result(), ...(error !== undefined ? { error } : {}) };
  }
}
