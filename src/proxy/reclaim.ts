// Bodies pass through davtap as ArrayBuffers: socket reads, and the batches posted to the pipeline
// worker. V8 collects those only when its own heap asks for it or their total grows by tens of MiB,
// and a relay allocates little JS heap: measured on a 1 GiB download, each thread held 15–35 MiB of
// dead buffers. A young-generation collection every few MiB relayed frees them while they are
// still young; it costs a fraction of a millisecond, i.e. nothing per request on small exchanges.
import v8 from 'node:v8';
import vm from 'node:vm';

type Collect = (options?: { type?: 'minor' | 'major' }) => void;

let collect: Collect | null | undefined;

/** V8's collector, exposed once for the process (flags are process-wide); null if unavailable. */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  try {
    // `gc` appears in contexts created after the flag is set: a fresh one here, and every worker's.
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    collect = typeof fn === 'function' ? (fn as Collect) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * A full collection, now: after a flow that left a large heap behind (a ledger of hundreds of
 * thousands of resources), V8 would otherwise keep those pages until its heap next asks, which on
 * an idle proxy is never.
 */
export function reclaimHeapNow(): void {
  // gc() without options: measured in a worker on Node 20, { type: 'major' } left a dropped
  // 2-million-object graph in place (187 of 191 MiB), the plain call collected it (4 MiB).
  collector()?.();
}

export class Reclaimer {
  private since = 0;

  constructor(private readonly everyBytes = 4 * 1024 * 1024) {}

  /** Counts body bytes that passed through (and are garbage once relayed or stored). */
  note(bytes: number): void {
    this.since += bytes;
    if (this.since < this.everyBytes) return;
    this.since = 0;
    collector()?.({ type: 'minor' });
  }
}
