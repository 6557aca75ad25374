// The flow writer: the proxy hands it finished flows, it stores them in one transaction per tick.
// Nothing here may disturb relaying: enqueue is O(1) and never throws, and a database that cannot
// be written (disk full, read-only file…) is reported and counted while flows keep being accepted.
import { StoreError } from '../errors.js';
import type { Flow, Resource } from '../types.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { createPruner, type PruneResult } from './prune.js';
import { findingColumns, findingValues, flowColumns, flowValues, resourceColumns, resourceValues } from './rows.js';
import { bodiesPerFlowVersion } from './schema.js';
import type { Store } from './store.js';

export interface WriterOptions {
  /** How long flows wait to be batched (ms). Default 100. */
  tickMs?: number;
  /**
   * How long one tick's transaction may hold the event loop (ms, default 25). A burst larger than
   * that is written in several transactions, one after the other via setImmediate, so that the
   * proxy's sockets are served in between.
   */
  budgetMs?: number;
  /**
   * The store keeps at most this many bytes of each body (default 64 MiB, the proxy's default
   * `--max-body`; pass `--max-body` itself when it is set). What it cuts is recorded on the flow.
   */
  maxBodyBytes?: number;
  /** Flows waiting beyond this many are dropped and counted (memory stays bounded if the disk stalls). Default 50,000. */
  maxQueue?: number;
  /** Called for each failure to store (a batch, a flow, pruning); the writer goes on. */
  onError?: (err: StoreError) => void;
  /** Called after each flush that wrote something: how many flows and how long the event loop was held. */
  onCommit?: (info: { flows: number; ms: number }) => void;
  /** How often a worker thread copies the WAL into the database (ms, default 250); see checkpointer.ts. */
  checkpointMs?: number;
}

export interface WriterStats {
  /** Flows handed to `enqueue`. */
  enqueued: number;
  /** Flows committed to the database. */
  written: number;
  /** Flows a write was attempted for and failed (disk full, read-only file, bad data). */
  failed: number;
  /** Flows never attempted: the queue was full or the writer closed. */
  dropped: number;
  /** Flows waiting for the next tick. */
  pending: number;
  /** Committed batch transactions. */
  transactions: number;
  /** Errors reported through onError. */
  errors: number;
  lastError: string | null;
  /** Flows whose bodies `--max-db-size` pruning removed, and how many body bytes that freed. */
  prunedFlows: number;
  prunedBytes: number;
  /** Time spent writing (ms): in total, and the longest single flush. */
  busyMs: number;
  maxFlushMs: number;
}

export interface FlowWriter {
  /** Queues a finished flow. O(1), never throws. The flow must not be mutated afterwards. */
  enqueue(flow: Flow): void;
  /** Writes everything queued now, in one transaction (whatever the budget). */
  flush(): void;
  /** Writes everything queued and stops accepting flows. Does not close the store. */
  close(): Promise<void>;
  stats(): WriterStats;
}

// Errors that concern the database as a whole: retrying flow by flow would only fail again.
const databaseWide = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB|PROTOCOL|PERM)/;
// Another connection holds the write lock: a passing condition, so the flows wait for the next tick.
const lockedOut = /^SQLITE_(BUSY|LOCKED)/;

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
}

export function createFlowWriter(store: Store, options: WriterOptions = {}): FlowWriter {
  if (store.readonly) throw new StoreError(`${store.file} is open read-only: it cannot take a writer`);
  const tickMs = Math.max(1, options.tickMs ?? 100);
  const maxBodyBytes = Math.max(0, options.maxBodyBytes ?? 64 * 1024 * 1024);
  const maxQueue = Math.max(1, options.maxQueue ?? 50_000);
  const budgetMs = Math.max(1, options.budgetMs ?? 25);
  const db = store.db;

  // Positional parameters, passed as separate arguments: better-sqlite3 reads an array of values
  // element by element through V8's slow path, which made binding the 52 values of a flows row a
  // fifth of its insert (measured: 27 vs 21 µs per row); named parameters cost more still.
  const insertFlow = db.prepare(
    `INSERT INTO flows (${flowColumns.map((c) => `"${c}"`).join(', ')}) VALUES (${flowColumns.map(() => '?').join(', ')})`,
  );
  const insert = (table: string, columns: readonly string[]) =>
    db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
  const insertFinding = insert('findings', findingColumns);
  const insertResource = insert('resources', resourceColumns);
  // The ledger is most of what a 207 flow writes (~50 rows): several rows per statement saves a
  // quarter of its cost (measured: 151 vs 196 ms for 50,000 rows).
  const ledgerChunk = 25;
  const row = `(${resourceColumns.map(() => '?').join(', ')})`;
  const insertResources = db.prepare(`INSERT INTO resources (${resourceColumns.join(', ')}) VALUES ${Array(ledgerChunk).fill(row).join(', ')}`);
  // One row per flow for its whole bodies (schema version 12): a row per body cost two b-tree
  // inserts each. A file of an earlier version (only tests build one) gets a row per body.
  const bodiesPerFlow = store.version >= bodiesPerFlowVersion;
  const insertBodies = bodiesPerFlow ? db.prepare('INSERT INTO flow_bodies (flow_seq, request, response, decoded) VALUES (?, ?, ?, ?)') : null;
  const insertBody = bodiesPerFlow ? null : db.prepare('INSERT INTO bodies (flow_seq, kind, bytes) VALUES (?, ?, ?)');
  const pruner = store.maxDbSize === null ? null : createPruner(db, store.maxDbSize, bodiesPerFlow);

  const cut = (bytes: Buffer | Uint8Array | undefined): Buffer | null => {
    if (!bytes || bytes.length === 0) return null;
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return buf.length > maxBodyBytes ? buf.subarray(0, maxBodyBytes) : buf;
  };

  const writeLedger = (seq: number, resources: readonly Resource[]): void => {
    // Ledger entries are keyed by their position in the body; duplicates would be an analyzer bug,
    // not a reason to lose the flow (the first of each index is kept). Indexes that only grow, the
    // analyzer's order, need no set.
    let ledger = resources;
    for (let k = 1; k < resources.length; k++) {
      if (resources[k]!.index <= resources[k - 1]!.index) {
        const seen = new Set<number>();
        ledger = resources.filter((r) => !seen.has(r.index) && seen.add(r.index));
        break;
      }
    }
    let i = 0;
    for (; i + ledgerChunk <= ledger.length; i += ledgerChunk) {
      const values: (string | number | null)[] = [];
      for (let j = i; j < i + ledgerChunk; j++) values.push(...resourceValues(seq, ledger[j]!));
      insertResources.run(...values);
    }
    for (; i < ledger.length; i++) insertResource.run(...resourceValues(seq, ledger[i]!));
  };

  const writeFlow = (flow: Flow): void => {
    const request = cut(flow.request.body.bytes);
    // A spooled body is in body_parts already (spool.ts): only its length goes on the row.
    const responseSpooled = flow.response?.body.spooled;
    const decodedSpooled = flow.response?.decoded?.spooled;
    const response = responseSpooled === undefined ? cut(flow.response?.body.bytes) : null;
    const decoded = decodedSpooled === undefined ? cut(flow.response?.decoded?.bytes) : null;
    const values = flowValues(flow, {
      request: request?.length ?? 0,
      response: responseSpooled ?? response?.length ?? 0,
      decoded: decodedSpooled ?? decoded?.length ?? 0,
    });
    const seq = Number(insertFlow.run(...values).lastInsertRowid);
    if (flow.analysis) {
      const { findings, resources } = flow.analysis;
      for (let i = 0; i < findings.length; i++) insertFinding.run(...findingValues(seq, i, findings[i]!));
      writeLedger(seq, resources);
    }
    if (insertBodies) {
      if (request || response || decoded) insertBodies.run(seq, request, response, decoded);
    } else {
      if (request) insertBody!.run(seq, 'request', request);
      if (response) insertBody!.run(seq, 'response', response);
      if (decoded) insertBody!.run(seq, 'decoded', decoded);
    }
  };
  // Writes flows from the head of `flows` until the budget is spent; `attempted` says how many it
  // took (also when it throws, so that the caller knows which flows the rollback concerned).
  let attempted = 0;
  const writeSome = db.transaction((flows: Flow[], budget: number) => {
    const started = performance.now();
    attempted = 0;
    for (const flow of flows) {
      attempted++;
      writeFlow(flow);
      if (performance.now() - started >= budget) break;
    }
  });

  const queue: Flow[] = [];
  // The next scheduled write: a tick's timeout, or an immediate when a burst continues.
  let timer: { timeout: NodeJS.Timeout } | { immediate: NodeJS.Immediate } | null = null;
  let closed = false;
  let droppedSinceReport = 0;
  let overReported = false;
  let lockedReported = false;
  let lastLockError: unknown = null;
  const stats: Omit<WriterStats, 'pending'> = {
    enqueued: 0,
    written: 0,
    failed: 0,
    dropped: 0,
    transactions: 0,
    errors: 0,
    lastError: null,
    prunedFlows: 0,
    prunedBytes: 0,
    busyMs: 0,
    maxFlushMs: 0,
  };

  const report = (err: StoreError): void => {
    stats.errors++;
    stats.lastError = err.message;
    try {
      options.onError?.(err);
    } catch {
      // A failing error handler must not stop the writer either.
    }
  };

  const reportDrops = (): void => {
    if (droppedSinceReport === 0) return;
    const n = droppedSinceReport;
    droppedSinceReport = 0;
    report(new StoreError(closed ? `${n} flow(s) arrived after the writer closed and were not stored` : `${n} flow(s) not stored: the write queue was full`));
  };

  const failure = (count: number, err: unknown): void => {
    const code = errorCode(err);
    stats.failed += count;
    report(
      new StoreError(`could not store ${count} flow(s) in ${store.file}: ${(err as Error).message}${code ? ` (${code})` : ''}`, { cause: err }),
    );
  };

  /** Commits flows from the head of the queue within `budget` ms; returns how many it consumed (0: locked out, try later). */
  const commitSome = (budget: number): number => {
    // Reset here too: when BEGIN itself fails, the transaction function never runs.
    attempted = 0;
    try {
      writeSome.immediate(queue, budget);
      stats.written += attempted;
      stats.transactions++;
      lockedReported = false;
      return attempted;
    } catch (err) {
      if (lockedOut.test(errorCode(err))) {
        lastLockError = err;
        // Once per episode, not once per tick.
        if (!lockedReported) {
          report(
            new StoreError(`${store.file} is locked by another connection (${errorCode(err)}); ${queue.length} flow(s) wait for the next attempt`, {
              cause: err,
            }),
          );
        }
        lockedReported = true;
        return 0;
      }
      // The database as a whole refuses (full, read-only…): everything queued would fail the same
      // way, so it is counted and reported once instead of flow by flow.
      if (databaseWide.test(errorCode(err))) {
        failure(queue.length, err);
        return queue.length;
      }
      if (attempted <= 1) {
        failure(1, err);
        return 1;
      }
    }
    // One flow's data broke the batch (a duplicate id, say): store the others one by one.
    const batch = queue.slice(0, Math.max(1, attempted));
    for (const flow of batch) {
      try {
        writeSome.immediate([flow], Infinity);
        stats.written++;
        stats.transactions++;
      } catch (err) {
        failure(1, err);
      }
    }
    return batch.length;
  };

  const prune = (): void => {
    if (!pruner) return;
    let result: PruneResult;
    try {
      result = pruner.run();
    } catch (err) {
      report(new StoreError(`pruning bodies in ${store.file} failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    stats.prunedFlows += result.flows;
    stats.prunedBytes += result.bytes;
    // Said once, not every tick, until pruning can make room again.
    if (result.stillOver && !overReported) report(new StoreError(`${store.file} is over --max-db-size with no bodies left to prune`));
    overReported = result.stillOver;
  };

  const cancelTimer = (): void => {
    if (timer === null) return;
    if ('timeout' in timer) clearTimeout(timer.timeout);
    else clearImmediate(timer.immediate);
    timer = null;
  };

  /** One transaction's worth (bounded by `budget` ms), then pruning; returns the flows consumed. */
  const writeRound = (budget: number): number => {
    const started = performance.now();
    const consumed = commitSome(budget);
    queue.splice(0, consumed);
    prune();
    const ms = performance.now() - started;
    stats.busyMs += ms;
    stats.maxFlushMs = Math.max(stats.maxFlushMs, ms);
    try {
      options.onCommit?.({ flows: consumed, ms });
    } catch {
      // Observers must not break the writer.
    }
    return consumed;
  };

  const retryLater = (): void => {
    if (timer === null) timer = { timeout: setTimeout(tick, tickMs).unref() };
  };

  const tick = (): void => {
    timer = null;
    reportDrops();
    if (queue.length === 0) return;
    if (writeRound(budgetMs) === 0) retryLater();
    // More than one budget's worth arrived: go on right after the event loop has had its turn.
    else if (queue.length > 0 && timer === null) timer = { immediate: setImmediate(tick).unref() };
  };

  const flush = (): void => {
    cancelTimer();
    reportDrops();
    // Everything in one transaction. Bounded: each round consumes at least one flow, or the
    // database is locked and the flows wait for the next tick.
    while (queue.length > 0) {
      if (writeRound(Infinity) === 0) {
        retryLater();
        break;
      }
    }
  };

  // Checkpoints move to a worker thread (an in-memory database has no WAL to checkpoint).
  let checkpointer: Checkpointer | null = null;
  if (store.file !== ':memory:' && store.file !== '') {
    db.pragma('wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(
      store.file,
      Math.max(10, options.checkpointMs ?? 250),
      (message) => report(new StoreError(`checkpointing ${store.file}: ${message}`)),
      () => {
        // Without the worker, SQLite's automatic checkpoints keep the WAL bounded again.
        if (store.isOpen) db.pragma('wal_autocheckpoint = 1000');
      },
    );
  }
  const shutdown = (): void => {
    flush();
    cancelTimer();
    // Still locked out at the end: these flows will not be stored, and that is said.
    if (queue.length > 0) failure(queue.splice(0).length, lastLockError);
    closed = true;
    unhook();
  };
  // If the store is closed without close() here, queued flows are still written first.
  const unhook = store.onClose(() => {
    shutdown();
    void checkpointer?.stop();
  });

  return {
    enqueue(flow: Flow): void {
      try {
        stats.enqueued++;
        if (closed || queue.length >= maxQueue) {
          stats.dropped++;
          droppedSinceReport++;
          if (closed) reportDrops();
          return;
        }
        queue.push(flow);
        // The writer alone must not keep the process alive; close() writes what is left.
        if (timer === null) timer = { timeout: setTimeout(tick, tickMs).unref() };
      } catch {
        // enqueue never throws (see the interface); the counters above say what happened.
      }
    },
    flush,
    async close(): Promise<void> {
      if (!closed) shutdown();
      await checkpointer?.stop();
    },
    stats: () => ({ ...stats, pending: queue.length }),
  };
}
