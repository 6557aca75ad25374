// Upstream's response payload handed to a fault injection (hooks.ts, ResponseInjection.run) as an
// async iterable, with backpressure: past `highWater` bytes waiting, the upstream is paused until
// the injection has taken half of them. An injection that stops iterating early, or never starts,
// releases upstream (the exchange then closes that connection).
export class PayloadQueue implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private full = false;
  private ended = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  /** The injection stopped reading before the end: what upstream still sends is dropped. */
  abandoned = false;

  constructor(
    private readonly highWater: number,
    private readonly upstream: { pause(): void; resume(): void; abandon(): void },
  ) {}

  push(chunk: Buffer): void {
    if (this.abandoned || this.ended) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (!this.full && this.bytes > this.highWater) {
      this.full = true;
      this.upstream.pause();
    }
    this.notify();
  }

  /** Upstream's payload is complete. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** Upstream's payload broke; the injection's iteration throws `err` once it has read what came before. */
  fail(err: Error): void {
    this.error ??= err;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    let finished = false;
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (chunk) {
          this.bytes -= chunk.length;
          if (this.full && this.bytes <= this.highWater / 2) {
            this.full = false;
            this.upstream.resume();
          }
          yield chunk;
          continue;
        }
        if (this.error) throw this.error;
        if (this.ended) {
          finished = true;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!finished && !this.error) {
        this.abandoned = true;
        this.chunks.length = 0;
        this.upstream.abandon();
      }
    }
  }
}
