// `npm run perf`: the acceptance run of the live pipeline's performance (bench/perf.bench.ts), one
// summary line per figure next to its target. PERF_ROUNDS (3), PERF_DURATION (10 s) and PERF_PARTS
// (throughput,latency,large) shorten it (the large-body part has its own, see perf.bench.ts:
// `PERF_PARTS=large npm run perf` runs it alone); `BENCH_ONLY=perf npm run bench` writes the full section
// into bench/RESULTS.md.
import { measure } from './perf.bench.js';

const { lines } = await measure();
process.stdout.write(`${lines.join('\n')}\n`);
