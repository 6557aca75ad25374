// Child process for the crash-safety test: writes flows continuously until it is killed, printing
// "written enqueued" whenever the writer has committed more. The parent kills it with SIGKILL.
import { createFlowWriter, openStore } from '../../../src/store/index.js';
import { makeFlow } from '../make-flow.js';

const file = process.argv[2]!;
const store = openStore(file);
const writer = createFlowWriter(store, { tickMs: 20 });
let next = 0;
let reported = 0;
const produce = setInterval(() => {
  for (let i = 0; i < 40; i++) writer.enqueue(makeFlow(next++, { failing: next % 7 === 0 ? [1] : [] }));
}, 5);
const watch = setInterval(() => {
  const { written, enqueued } = writer.stats();
  if (written !== reported) {
    reported = written;
    process.stdout.write(`${written} ${enqueued}\n`);
  }
}, 2);
// Bounded: if the parent never kills it, stop after 20 s.
setTimeout(() => {
  clearInterval(produce);
  clearInterval(watch);
  void writer.close().then(() => store.close());
}, 20_000).unref();
