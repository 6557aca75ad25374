// How a long-running command ends (`davtap proxy`, `davtap demo`, `davtap sandwich`): once, on
// SIGINT or SIGTERM, on the UI's quit or on a timer, by running its shutdown (every flow seen is
// committed before it resolves). A second signal during that shutdown exits at once (130): the
// user asked twice.
import type { CliIO } from './io.js';

export interface StopOnce {
  /** Begins the shutdown; later calls do nothing, except a second signal, which exits now. */
  stop(signal?: NodeJS.Signals): void;
  /** Aborted when the shutdown begins: the UI and other waiters close on it. */
  readonly signal: AbortSignal;
  /** The shutdown's exit status, once it has finished. */
  readonly done: Promise<number>;
}

/** Listens for SIGINT and SIGTERM until `shutdown` has run; the listeners are removed after it. */
export function stopOnce(io: CliIO, shutdown: () => Promise<number>): StopOnce {
  let stopping = false;
  const abort = new AbortController();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const stop = (signal?: NodeJS.Signals): void => {
    if (stopping) {
      if (signal) {
        io.stderr.write(`davtap: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      return;
    }
    stopping = true;
    abort.abort();
    void shutdown().then((code) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolveDone(code);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { stop, signal: abort.signal, done };
}
