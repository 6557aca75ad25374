// Store benchmark: (1) how many realistic 207 flows per second the batched writer commits (50-resource
// listings, then small one-resource PROPFIND answers: BENCH_STORE_SMALL of them, target 20,000/s), fed as
// fast as the event loop allows with its normal 100 ms tick and 25 ms budget, and how long each
// tick's transaction holds the event loop; (2) on a 100,000-flow database, how long a fresh read-only reader takes to
// open and list the first page, the last page, and filtered pages (the UI's start-up and scrolling).
import { rmSync, mkdtempSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { parseFilter } from '../src/filter/index.js';
import { createFlowWriter, openReader, openStore } from '../src/store/index.js';
import { FlowWindow } from '../ui/flow-window.js';
import { storeSource } from '../ui/flow-source.js';
import type { Flow } from '../src/types.js';
import { failureFinding, makeFlow, truncationFinding } from '../test/store/make-flow.js';
import { fixed, table } from './lib/table.js';

const WRITE_FLOWS_LISTING = Number(process.env.BENCH_STORE_FLOWS ?? 10_000);
const RESOURCES = 50;
const LARGE_FLOWS = Number(process.env.BENCH_STORE_LARGE ?? 100_000);
const PAGE = 100;

/** A pool of distinct realistic flows, reused under fresh ids so that memory stays modest. */
function pool(size: number, resources: number): Flow[] {
  return Array.from({ length: size }, (_, i) =>
    makeFlow(i, {
      resources,
      failing: i % 4 === 0 ? [i % resources] : [],
      findings: i % 10 === 0 ? [truncationFinding] : i % 4 === 0 ? [failureFinding] : [],
      method: i % 9 === 0 ? 'GET' : 'PROPFIND',
      status: i % 9 === 0 ? (i % 2 ? 200 : 404) : 207,
    }),
  );
}

const withId = (flow: Flow, i: number): Flow => ({ ...flow, id: `flow-${i}`, timings: { ...flow.timings, start: flow.timings.start + i } });

const SMALL_FLOWS = Number(process.env.BENCH_STORE_SMALL ?? 50_000);
const SMALL_TARGET = 20_000;

async function writerThroughput(dir: string, shape: 'listing' | 'small' = 'listing'): Promise<{ rows: string[][]; flowsPerSecond: number; busyPerSecond: number }> {
  const file = path.join(dir, `write-${shape}.db`);
  const store = openStore(file);
  // 'small': a PROPFIND Depth 0 answered by a one-resource 207 (under 1 KiB), what a client syncing
  // a tree or a load test sends most; the rate the pipeline worker must sustain.
  const small = shape === 'small';
  const flows = small ? pool(500, 1).map((f) => ({ ...f, analysis: f.analysis && { ...f.analysis, findings: [] } })) : pool(500, RESOURCES);
  const total = small ? SMALL_FLOWS : WRITE_FLOWS_LISTING;
  const bodyBytes = flows.reduce((n, f) => n + (f.response?.body.bytes.length ?? 0), 0) / flows.length;
  // Each tick's transaction holds the event loop: that is how long relaying waits behind the store.
  const ticks: number[] = [];
  const writer = createFlowWriter(store, { tickMs: 100, onCommit: ({ ms }) => ticks.push(ms) });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < total; i += 50) {
    for (let j = i; j < Math.min(total, i + 50); j++) writer.enqueue(withId(flows[j % flows.length]!, j));
    await yieldLoop();
  }
  // Bounded wait for the last ticks.
  for (let waited = 0; writer.stats().written + writer.stats().failed < total && waited < 600_000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const elapsed = (performance.now() - started) / 1000;
  // CPU seconds of the whole process (event loop and checkpoint worker): on a shared machine the
  // wall-clock rate depends on the neighbours, this one much less.
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await writer.close();
  const stats = writer.stats();
  store.close();
  const size = statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  const flowsPerSecond = stats.written / elapsed;
  // The writer's own time (its transactions on the event loop): the rate one worker could sustain
  // if it did nothing else, whatever the neighbours take of the machine.
  const busyPerSecond = stats.written / (stats.busyMs / 1000);
  ticks.sort((a, b) => a - b);
  const p = (q: number) => ticks[Math.min(ticks.length - 1, Math.floor(q * ticks.length))] ?? NaN;
  return {
    flowsPerSecond,
    busyPerSecond,
    rows: [
      ['flows written', `${stats.written} (failed ${stats.failed})`],
      ['flow shape', small ? `PROPFIND 207, 1 resource, ${Math.round(bodyBytes)} bytes body, ledger, no findings` : `PROPFIND 207, ${RESOURCES} resources, ~${Math.round(bodyBytes / 1024)} KiB body, ledger + findings`],
      ['transactions', String(stats.transactions)],
      [`**flows/s sustained** (target ≥ ${small ? '20,000' : '2,000'})`, `**${fixed(flowsPerSecond, 0)}**`],
      ['flows per second of writer busy time (its transactions alone)', fixed(busyPerSecond, 0)],
      ['flows per CPU-second (event loop + checkpoint worker)', fixed(stats.written / cpuSeconds, 0)],
      ['flows per tick (mean)', fixed(stats.written / Math.max(1, ticks.length), 0)],
      ['tick transaction, median / p95 / max', `${fixed(p(0.5), 1)} / ${fixed(p(0.95), 1)} / ${fixed(ticks.at(-1) ?? NaN, 1)} ms`],
      ['database size', `${fixed(size / 1024 / 1024, 1)} MiB`],
      // The machine may be shared: the wall-clock rate is only comparable at similar load.
      ['1-minute load average at the end', fixed(loadavg()[0] ?? NaN, 1)],
    ],
  };
}

/** The filters the reader is timed with: index-backed ones, a negation, a conjunction, regexes over every flow. */
const READER_FILTERS = ['~m GET', '~m PROPFIND', '~c 4xx', '~e', '~f truncation', '!~f truncation', '~r MS601 & ~m PROPFIND', '~sev info', '~u user3', '~h "Depth: 1"'];
/** What the UI allows a step of a count to hold the keys (ui/app.ts). */
const UI_STEP_MS = 40;

async function largeDatabase(dir: string): Promise<{ rows: string[][]; filterRows: string[][]; firstPageMs: number; worstUiMs: number }> {
  const file = path.join(dir, 'large.db');
  const store = openStore(file);
  // Lighter flows (5 resources) keep the build to seconds and the file to a few hundred MiB;
  // listing reads only the flows table, whose rows are the same size either way.
  const flows = pool(1000, 5);
  const writer = createFlowWriter(store, { tickMs: 100 });
  const built = performance.now();
  for (let i = 0; i < LARGE_FLOWS; i++) {
    writer.enqueue(withId(flows[i % flows.length]!, i));
    if (i % 5000 === 4999) writer.flush();
  }
  await writer.close();
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  const buildS = (performance.now() - built) / 1000;

  const rows: string[][] = [];
  const time = <T>(label: string, fn: () => T): { ms: number; value: T } => {
    const t0 = performance.now();
    const value = fn();
    const ms = performance.now() - t0;
    rows.push([label, `${fixed(ms, 1)} ms`]);
    return { ms, value };
  };
  const t0 = performance.now();
  const reader = openReader(file);
  const opened = performance.now() - t0;
  const count = reader.countFlows();
  const first = reader.listFlows({ limit: PAGE });
  const firstPageMs = performance.now() - t0;
  rows.push([`**open reader + first page (${PAGE} rows)** (target < 1 s)`, `**${fixed(firstPageMs, 1)} ms** (open ${fixed(opened, 1)} ms)`]);
  time('countFlows() over all', () => reader.countFlows());
  time(`listFlows asc, offset ${LARGE_FLOWS - PAGE} (scrolled to the end)`, () => reader.listFlows({ order: 'asc', offset: LARGE_FLOWS - PAGE, limit: PAGE }));
  time('latestSeq()', () => reader.latestSeq());
  time('getFlow (full flow with ledger and bodies)', () => reader.getFlow(first[0]!.id));
  // Each filter as the store answers it (a whole count; a first page, newest first), then as the
  // UI gets it: a window of 50 rows over the store's source, the filter applied (its first count
  // step and the first screen, what the user waits for), then the count finished in steps of
  // UI_STEP_MS between key presses, and the longest of those steps (how long a key can wait).
  const filterRows: string[][] = [];
  let worstUiMs = 0;
  const ms = (t0: number) => performance.now() - t0;
  for (const filter of READER_FILTERS) {
    let t0 = performance.now();
    const count = reader.countFlows(filter);
    const countMs = ms(t0);
    t0 = performance.now();
    reader.listFlows({ filter, limit: PAGE });
    const pageMs = ms(t0);
    const window = new FlowWindow(storeSource(reader));
    window.setHeight(50);
    t0 = performance.now();
    window.setFilter(parseFilter(filter));
    const shown = window.visible().length;
    const screenMs = ms(t0);
    const known = window.total;
    let steps = 0;
    let longest = 0;
    t0 = performance.now();
    for (let more = window.counting; more; steps++) {
      const s0 = performance.now();
      more = window.countStep(UI_STEP_MS);
      longest = Math.max(longest, ms(s0));
    }
    const stepsMs = ms(t0);
    if (window.total !== count) throw new Error(`${filter}: the UI counted ${window.total}, the store ${count}`);
    worstUiMs = Math.max(worstUiMs, screenMs, longest);
    filterRows.push([
      `\`${filter}\``,
      String(count),
      `${fixed(countMs, 1)} ms`,
      `${fixed(pageMs, 1)} ms`,
      `**${fixed(screenMs, 1)} ms** (${shown} rows, ${known === count ? 'count exact' : `${known}+ counted`})`,
      steps === 0 ? '(done in the first step)' : `${fixed(stepsMs, 0)} ms in ${steps} steps`,
      steps === 0 ? '' : `${fixed(longest, 1)} ms`,
    ]);
  }
  reader.close();
  const size = statSync(file).size;
  return {
    firstPageMs,
    worstUiMs,
    filterRows,
    rows: [
      ['flows in the database', `${count} (5 resources each), built in ${fixed(buildS, 1)} s, ${fixed(size / 1024 / 1024, 0)} MiB`],
      ...rows,
    ],
  };
}

export async function run(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-bench-store-'));
  try {
    const write = await writerThroughput(dir);
    const small = await writerThroughput(dir, 'small');
    const large = await largeDatabase(dir);
    const smallLine = `store: small=${fixed(small.flowsPerSecond, 0)} flows/s (writer busy time ${fixed(small.busyPerSecond, 0)} flows/s) (target ≥ ${SMALL_TARGET.toLocaleString('en')}), load ${fixed(loadavg()[0] ?? NaN, 1)}`;
    process.stderr.write(`${smallLine}\n`);
    return [
      '### Writer throughput',
      '',
      table(['measure', 'value'], write.rows),
      '',
      '### Writer throughput, small flows',
      '',
      table(['measure', 'value'], small.rows),
      '',
      `\`${smallLine}\``,
      '',
      `### Reader on a ${LARGE_FLOWS.toLocaleString('en')}-flow database`,
      '',
      table(['operation', 'time'], large.rows),
      '',
      `Filters on the ${LARGE_FLOWS.toLocaleString('en')} flows: the store's whole count and first page (newest first), then the UI (a 50-row window): the filter applied and its first screen drawn (target < 1 s), the rest of the count taken in steps of ${UI_STEP_MS} ms between key presses, and the longest step (how long a key waits).`,
      '',
      table(['filter', 'matches', 'store: count', 'store: first page', 'UI: filter applied, first screen', 'UI: count finished in steps', 'UI: longest step'], large.filterRows),
      '',
      `Sizes: BENCH_STORE_FLOWS=${WRITE_FLOWS_LISTING} BENCH_STORE_SMALL=${SMALL_FLOWS} BENCH_STORE_LARGE=${LARGE_FLOWS}; 1-minute load average after the reader: ${fixed(loadavg()[0] ?? NaN, 1)}.`,
      '',
      `Targets: writer ${write.flowsPerSecond >= 2000 ? 'met' : '**missed**'}, small flows ${small.flowsPerSecond >= SMALL_TARGET ? 'met' : '**missed**'}, first page ${large.firstPageMs < 1000 ? 'met' : '**missed**'}, filters in the UI ${large.worstUiMs < 1000 ? 'met' : '**missed**'} (slowest first screen or step ${fixed(large.worstUiMs, 0)} ms).`,
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Runnable alone: node --import tsx bench/store.bench.ts
if (process.argv[1]?.endsWith('store.bench.ts')) process.stdout.write(`${await run()}\n`);
