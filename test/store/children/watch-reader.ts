// Child process for the cross-process test: a read-only reader that prints "seq id findings"
// whenever latestSeq() changes, and exits once it has seen `target` flows (or after 10 s).
import { openReader } from '../../../src/store/index.js';

const file = process.argv[2]!;
const target = Number(process.argv[3]);
const reader = openReader(file);
let seen = -1;
const started = Date.now();
const poll = setInterval(() => {
  const latest = reader.latestSeq();
  if (latest !== seen) {
    seen = latest;
    const newest = reader.listFlows({ limit: 1 })[0];
    const findings = newest ? reader.findingsFor(newest.id).length : 0;
    process.stdout.write(`${latest} ${newest?.id ?? '-'} ${findings}\n`);
  }
  if (seen >= target || Date.now() - started > 10_000) {
    clearInterval(poll);
    reader.close();
  }
}, 10);
