// A passive, bounded copy of a body as it relays: every byte is counted, the first `cap` bytes
// are kept. The relayed chunks themselves are never copied or altered.
import type { CapturedBody } from '../types.js';

/** The bytes of a capture that keeps none (never written to: a Buffer of length 0 has no bytes). */
const NOTHING = Buffer.alloc(0);

export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  /**
   * `keep` false counts without keeping anything: the bytes are someone else's to keep (a consumer
   * that took every chunk as it relayed). The result then has no bytes, and `captureComplete`
   * says whether the first `cap` bytes were the whole body, i.e. whether that consumer got it all.
   */
  constructor(
    private readonly cap: number,
    private readonly keep = true,
  ) {}

  add(chunk: Buffer): void {
    this.seen += chunk.length;
    const room = this.cap - this.kept;
    if (room <= 0) return;
    // Keep a reference, not a copy: the chunk is not reused by the stream once emitted.
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (this.keep) this.chunks.push(part);
    this.kept += part.length;
  }

  get bytesSeen(): number {
    return this.seen;
  }

  result(): CapturedBody {
    return {
      bytes: !this.keep || this.chunks.length === 0 ? NOTHING : this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept),
      bytesSeen: this.seen,
      captureComplete: this.seen === this.kept,
    };
  }
}
