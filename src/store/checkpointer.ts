// WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever commit
// crosses the threshold: it copies the WAL into the database file and fsyncs it, on the proxy's
// event loop. Measured with the store benchmark, that was a third of the writer's time and all of
// its worst stalls. Here the writer's connection never checkpoints; a second connection on a worker
// thread does it (PASSIVE: it never blocks the writer or readers), and the WAL is reused from its
// start once it has been copied, so it stays bounded.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface Checkpointer {
  stop(): Promise<void>;
}

// Plain CommonJS so that the worker needs no TypeScript loader; the driver path comes from here.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
} catch (err) {
  parentPort.postMessage({ error: String(err && err.message || err) });
  process.exit(1);
}
const run = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    // SQLITE_BUSY means another checkpoint is running: the next round will do it.
    if (!String(err && err.code).startsWith('SQLITE_BUSY')) parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (msg) => {
  if (msg === 'stop') {
    clearInterval(timer);
    run();
    db.close();
    parentPort.close();
  }
});
`;

/**
 * Starts checkpointing `file` every `intervalMs` on a worker thread. `onFailure` hears about errors;
 * if the worker cannot run at all, `onGiveUp` is called so the caller can return to automatic checkpoints.
 */
export function startCheckpointer(file: string, intervalMs: number, onFailure: (message: string) => void, onGiveUp: () => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  // No execArgv: the worker is plain JavaScript and need not load the parent's loaders (tsx in tests).
  const worker = new Worker(workerSource, { eval: true, workerData: { file, driver, intervalMs }, execArgv: [] });
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (msg: { error?: string }) => {
    if (msg.error) onFailure(msg.error);
  });
  worker.on('error', (err) => onFailure(err.message));
  worker.once('exit', () => {
    if (!stopping) onGiveUp();
  });
  return {
    async stop() {
      if (stopping) return exited;
      stopping = true;
      worker.postMessage('stop');
      // Bounded: a worker that does not finish its last checkpoint in 5 s is terminated.
      const timeout = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
