// Where the sandwich's comparisons run: on a worker thread (one per process, shared by its
// sandwiches), so that parsing and analyzing two 207s per pair never holds up the relay (the front
// and back legs share the relay thread). Results are the same as inline (the same function, compare-pair.ts); inline is kept for
// when the worker cannot run (it failed to start or died), and for measuring the difference.
import { Worker } from 'node:worker_threads';
import type { Flow } from '../types.js';
import { comparePair, type PairContext, type PairResult, type PairSide } from './compare-pair.js';

export interface CompareRequest {
  id: number;
  back: WireSide;
  front: WireSide;
  context: PairContext;
}

export type CompareReply = { id: number; result: PairResult } | { id: number; error: string };

interface WireSide {
  flow: Flow;
  payload: Uint8Array;
  overCap: boolean;
}

export interface Comparer {
  compare(back: PairSide, front: PairSide, context: PairContext): Promise<PairResult>;
  /** Waits for the comparisons under way, then stops the worker. */
  close(): Promise<void>;
}

export type CompareOn = 'worker' | 'inline';

function startWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    // Under tsx (tests, bench) the worker is TypeScript: register tsx's hooks first, then import
    // the entry (a worker does not inherit the parent's loader hooks; see pipeline.ts).
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./compare-worker.ts', import.meta.url).href;
    const source = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(source, { eval: true, execArgv: [] });
  }
  return new Worker(new URL('./compare-worker.js', import.meta.url));
}

/**
 * A side for the worker: the response's captured bytes are left out (the payload carries what the
 * comparison reads), and the payload goes in a buffer of its own, transferred rather than copied
 * twice (a pooled Buffer's memory cannot be transferred).
 */
function wireSide(side: PairSide): { wire: WireSide; transfer: ArrayBuffer } {
  const payload = new Uint8Array(side.payload);
  const res = side.flow.response;
  const flow: Flow = res ? { ...side.flow, response: { ...res, body: { ...res.body, bytes: Buffer.alloc(0) }, decoded: null } } : side.flow;
  return { wire: { flow, payload, overCap: side.overCap }, transfer: payload.buffer as ArrayBuffer };
}

const inline: Comparer = {
  compare: (back, front, context) => Promise.resolve().then(() => comparePair(back, front, context)),
  close: () => Promise.resolve(),
};

type Waiting = { back: PairSide; front: PairSide; context: PairContext; resolve: (r: PairResult) => void; reject: (e: Error) => void };

/**
 * The one comparison worker of this process, shared by its sandwiches (a test process runs many):
 * started by the first, stopped when the last has closed.
 */
interface Shared {
  worker: Worker;
  pending: Map<number, Waiting>;
  users: number;
  dead: boolean;
  nextId: number;
  log: ((line: string) => void) | undefined;
  drained: (() => void)[];
}

let shared: Shared | undefined;

function acquire(log?: (line: string) => void): Shared | undefined {
  if (shared && !shared.dead) {
    shared.users++;
    return shared;
  }
  let worker: Worker;
  try {
    worker = startWorker();
  } catch (err) {
    log?.(`davtap: sandwich: the comparison worker did not start (${(err as Error).message}): comparing on the relay thread`);
    return undefined;
  }
  const s: Shared = { worker, pending: new Map(), users: 1, dead: false, nextId: 1, log, drained: [] };
  const fallBack = (why: string): void => {
    if (s.dead) return;
    s.dead = true;
    if (shared === s) shared = undefined;
    s.log?.(`davtap: sandwich: the comparison worker stopped (${why}): comparing on the relay thread`);
    // What it had not answered is compared here: no pair goes without its comparison.
    for (const [id, p] of s.pending) {
      s.pending.delete(id);
      inline.compare(p.back, p.front, p.context).then(p.resolve, p.reject);
    }
  };
  worker.on('message', (reply: CompareReply) => {
    const p = s.pending.get(reply.id);
    if (!p) return;
    s.pending.delete(reply.id);
    if ('error' in reply) p.reject(new Error(reply.error));
    else p.resolve(reply.result);
  });
  worker.on('error', (err) => fallBack(err.message));
  worker.on('exit', (code) => fallBack(`exit ${code}`));
  // An idle worker does not keep the process alive; one with work does (ref'd while pending).
  worker.unref();
  shared = s;
  return s;
}

export function startComparer(on: CompareOn = 'worker', log?: (line: string) => void): Comparer {
  if (on === 'inline') return inline;
  const s = acquire(log);
  if (!s) return inline;
  const mine = new Set<number>();
  let closed = false;
  return {
    compare(back, front, context) {
      if (s.dead) return inline.compare(back, front, context);
      const id = s.nextId++;
      const b = wireSide(back);
      const f = wireSide(front);
      return new Promise<PairResult>((resolve, reject) => {
        const settle =
          <T>(fn: (v: T) => void) =>
          (v: T): void => {
            mine.delete(id);
            if (s.pending.size === 0) s.worker.unref();
            if (mine.size === 0) for (const d of s.drained.splice(0)) d();
            fn(v);
          };
        s.pending.set(id, { back, front, context, resolve: settle(resolve), reject: settle(reject) });
        mine.add(id);
        s.worker.ref();
        s.worker.postMessage({ id, back: b.wire, front: f.wire, context } satisfies CompareRequest, [b.transfer, f.transfer]);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      while (mine.size > 0 && !s.dead) await new Promise<void>((resolve) => s.drained.push(resolve));
      s.users--;
      if (s.users === 0 && !s.dead) {
        s.dead = true;
        if (shared === s) shared = undefined;
        await s.worker.terminate();
      }
    },
  };
}
