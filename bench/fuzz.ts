// The wire fuzzer's long run (`npm run fuzz`): the generator and the checks of
// test/proxy/fuzz.test.ts (test/helpers/wire-fuzz.ts), outside ava, over many more cases, every
// case's mode drawn from reverse, forward and CONNECT. The cases are split between worker
// processes (the harness and davtap share one event loop, which one core saturates); a worker that
// dies is a crash too. Prints progress to stderr and a summary to stdout; exits 1 on any failure
// (an uncaught exception, a desync, an internal fault, a flow recorded twice or not at all…),
// saying how to replay it.
//
//   DAVTAP_FUZZ_CASES   cases to run (default 100000)
//   DAVTAP_FUZZ_SEED    the run's seed (default: drawn, and printed)
//   DAVTAP_FUZZ_FROM    the first case's index (default 0): with CASES=1, replays one case
//   DAVTAP_FUZZ_PROCS   worker processes (default: 2, or 1 on one core)
//   DAVTAP_FUZZ_LANES   cases run at once in each worker (default 12)
//   DAVTAP_FUZZ_MODE    reverse, forward or connect: every case in that mode (default: drawn per case)
//   DAVTAP_FUZZ_TRACE   1: print what the origin reads and what each client got
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProxy } from '../src/proxy/index.js';
import { emptyStats, FuzzHarness, formatFailures, FUZZ_MODES, generateCase, type FuzzMode, type FuzzStats } from '../test/helpers/wire-fuzz.js';

const cases = Number(process.env.DAVTAP_FUZZ_CASES ?? 100_000);
const seed = Number(process.env.DAVTAP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const from = Number(process.env.DAVTAP_FUZZ_FROM ?? 0);
const procs = Math.max(1, Math.min(Number(process.env.DAVTAP_FUZZ_PROCS ?? Math.min(2, os.cpus().length)), cases));
const lanes = Number(process.env.DAVTAP_FUZZ_LANES ?? 12);
const mode = process.env.DAVTAP_FUZZ_MODE as FuzzMode | undefined;
if (mode !== undefined && !FUZZ_MODES.includes(mode)) throw new Error(`DAVTAP_FUZZ_MODE must be one of ${FUZZ_MODES.join(', ')}`);

type Report = { kind: 'progress' | 'done'; stats: FuzzStats; maxRssKiB: number };

/** A worker: runs its slice of the cases and reports to the parent. */
async function work(): Promise<void> {
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-fuzz-ca-'));
  const harness = new FuzzHarness({
    seed,
    lanes,
    quietMs: 10,
    caseMs: 3_000,
    caDir,
    launch: (options) => startProxy({ listenHost: '127.0.0.1', listenPort: 0, maxBody: 1024 * 1024, maxRequestBody: 1024 * 1024, ...options }),
  });
  const report = (kind: Report['kind']) =>
    new Promise<void>((resolve) => process.send!({ kind, stats: harness.stats, maxRssKiB: process.resourceUsage().maxRSS } satisfies Report, () => resolve()));
  await harness.start();
  try {
    let last = performance.now();
    await harness.run(from, cases, (index, targets) => generateCase(seed, index, targets, mode), 400, () => {
      if (performance.now() - last < 5_000) return;
      last = performance.now();
      void report('progress');
    });
  } finally {
    await harness.stop();
    fs.rmSync(caDir, { recursive: true, force: true });
  }
  await report('done');
}

function merge(all: FuzzStats[]): FuzzStats {
  const total = emptyStats();
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
  };
  for (const s of all) {
    total.cases += s.cases;
    for (const m of ['reverse', 'forward', 'connect'] as const) total.byMode[m] += s.byMode[m];
    total.flows += s.flows;
    total.originRequests += s.originRequests;
    total.retried += s.retried;
    add(total.retriedMethods, s.retriedMethods);
    add(total.originRejects, s.originRejects);
    add(total.outcomes, s.outcomes);
    total.crashes += s.crashes;
    total.desyncs += s.desyncs;
    total.internalFaults += s.internalFaults;
    total.failures.push(...s.failures);
  }
  return total;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/** The parent: splits the cases, follows the workers, sums up. */
async function main(): Promise<number> {
  process.stderr.write(`fuzz: seed ${seed}, cases ${from}…${from + cases - 1}, ${procs} processes × ${lanes} lanes\n`);
  const started = performance.now();
  const latest: FuzzStats[] = Array.from({ length: procs }, () => emptyStats());
  const rss: number[] = new Array<number>(procs).fill(0);
  let died = 0;
  const deaths: string[] = [];
  const self = fileURLToPath(import.meta.url);
  const per = Math.ceil(cases / procs);
  const progress = setInterval(() => {
    const s = merge(latest);
    const secs = (performance.now() - started) / 1000;
    process.stderr.write(`fuzz: ${s.cases} cases, ${(s.cases / secs).toFixed(0)}/s, ${s.flows} flows, ${s.crashes + died} crashes, ${s.desyncs} desyncs, ${s.failures.length + died} failures, rss ${rss.map(mib).join(' + ')}\n`);
  }, 10_000);
  await Promise.all(
    Array.from({ length: procs }, (_, i) => {
      const first = from + i * per;
      const count = Math.max(0, Math.min(per, from + cases - first));
      return new Promise<void>((resolve) => {
        let done = false;
        const child = fork(self, [], {
          execArgv: ['--import', 'tsx'],
          env: { ...process.env, DAVTAP_FUZZ_WORKER: '1', DAVTAP_FUZZ_SEED: String(seed), DAVTAP_FUZZ_FROM: String(first), DAVTAP_FUZZ_CASES: String(count) },
        });
        child.on('message', (m: Report) => {
          latest[i] = m.stats;
          rss[i] = m.maxRssKiB;
          if (m.kind === 'done') done = true;
        });
        child.on('exit', (code, signal) => {
          if (!done) {
            died++;
            deaths.push(`worker for cases ${first}…${first + count - 1} died (${signal ?? `exit ${code}`}) before it finished`);
          }
          resolve();
        });
      });
    }),
  );
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  const s = merge(latest);
  const top = Object.entries(s.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `seed ${seed}, cases ${from}…${from + cases - 1} (reverse ${s.byMode.reverse}, forward ${s.byMode.forward}, connect ${s.byMode.connect}), ${procs} processes × ${lanes} lanes`,
    `time ${seconds.toFixed(0)} s, ${(s.cases / seconds).toFixed(0)} cases/s`,
    `flows recorded ${s.flows}; requests read by the origin ${s.originRequests} (sent again on a fresh connection: ${s.retried} ${JSON.stringify(s.retriedMethods)})`,
    `crashes ${s.crashes + died}, desyncs ${s.desyncs}, internal faults (EDAVTAP) ${s.internalFaults}, failures ${s.failures.length + died}`,
    `peak RSS per process ${rss.map(mib).join(', ')}`,
    `outcomes: ${top}`,
    `the origin refused: ${JSON.stringify(s.originRejects)}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (s.failures.length > 0 || died > 0 || s.cases !== cases) {
    process.stdout.write(`\nFAILED (${s.cases} of ${cases} cases checked); each failure says how to replay its case\n${[...deaths, formatFailures(s.failures, 20)].join('\n')}\n`);
    return 1;
  }
  return 0;
}

if (process.env.DAVTAP_FUZZ_WORKER) await work();
else process.exitCode = await main();
