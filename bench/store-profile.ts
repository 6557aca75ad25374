// `node --import tsx bench/store-profile.ts [FLOWS] [SHAPE]`: the store writer's CPU per flow on the
// flows of bench/store.bench.ts (SHAPE `small`, the default: a one-resource 207; `listing`: 50
// resources and findings), without the bench's pacing: flows are enqueued 250 at a time (what a tick
// holds at 2,500 flows/s) and flushed, as the writer's tick does. Prints the event loop's CPU per
// flow (the writer's own thread, from /proc: the checkpoint worker apart) and flows per second of it.
// With `--cpu-prof --cpu-prof-dir=DIR` on the node command line, then `… --summary DIR`: the top
// self-time functions of the main thread.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createFlowWriter, openStore } from '../src/store/index.js';
import type { Flow } from '../src/types.js';
import { failureFinding, makeFlow, truncationFinding } from '../test/store/make-flow.js';
import { hotSpots, profilesIn } from './lib/cpuprofile.js';
import { fixed, table } from './lib/table.js';

const TICK = 250;

/** User + system CPU of this process's main thread (ms), from /proc (clock ticks of 10 ms). */
function mainThreadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export function flowPool(shape: 'small' | 'listing'): Flow[] {
  const resources = shape === 'small' ? 1 : 50;
  return Array.from({ length: 500 }, (_, i) => {
    const f = makeFlow(i, {
      resources,
      failing: i % 4 === 0 ? [i % resources] : [],
      findings: i % 10 === 0 ? [truncationFinding] : i % 4 === 0 ? [failureFinding] : [],
      method: i % 9 === 0 ? 'GET' : 'PROPFIND',
      status: i % 9 === 0 ? (i % 2 ? 200 : 404) : 207,
    });
    return shape === 'small' ? { ...f, analysis: f.analysis && { ...f.analysis, findings: [] } } : f;
  });
}

const withId = (flow: Flow, i: number): Flow => ({ ...flow, id: `flow-${i}`, timings: { ...flow.timings, start: flow.timings.start + i } });

/** Writes `total` flows of `shape` through the writer; returns the main thread's CPU ms and the wall ms. */
export async function driveWriter(total: number, shape: 'small' | 'listing'): Promise<{ cpuMs: number; wallMs: number; busyMs: number; written: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-store-profile-'));
  try {
    const store = openStore(path.join(dir, 'p.db'));
    const writer = createFlowWriter(store, { tickMs: 1_000_000 });
    const pool = flowPool(shape);
    const flows = Array.from({ length: total }, (_, i) => withId(pool[i % pool.length]!, i));
    const cpu0 = mainThreadCpuMs();
    const t0 = performance.now();
    for (let i = 0; i < total; i += TICK) {
      for (let j = i; j < Math.min(total, i + TICK); j++) writer.enqueue(flows[j]!);
      writer.flush();
    }
    const wallMs = performance.now() - t0;
    const cpuMs = mainThreadCpuMs() - cpu0;
    await writer.close();
    const { busyMs, written } = writer.stats();
    store.close();
    return { cpuMs, wallMs, busyMs, written };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('store-profile.ts')) {
  const summary = process.argv.indexOf('--summary');
  if (summary > 0) {
    const profiles = await profilesIn(process.argv[summary + 1]!);
    process.stdout.write(`${table(['function', 'where', 'self ms', '%'], hotSpots(profiles.slice(0, 1), 40).map((h) => [h.name, h.where, fixed(h.selfMs, 0), fixed(h.percent, 1)]))}\n`);
  } else {
    const total = Number(process.argv[2] ?? 50_000);
    const shape = process.argv[3] === 'listing' ? 'listing' : 'small';
    const r = await driveWriter(total, shape);
    process.stdout.write(
      `${shape}: ${r.written} flows, main thread ${fixed(r.cpuMs, 0)} ms CPU (${fixed((r.cpuMs * 1000) / r.written, 1)} µs/flow, ${fixed(r.written / (r.cpuMs / 1000), 0)} flows per CPU-s), ` +
        `busy ${fixed(r.busyMs, 0)} ms (${fixed(r.written / (r.busyMs / 1000), 0)} flows/s), wall ${fixed(r.wallMs, 0)} ms; load ${fixed(loadavg()[0] ?? NaN, 1)}\n`,
    );
  }
}
