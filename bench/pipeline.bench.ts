// The live pipeline: does recording (analysis + store) slow relaying down? davtap's relay against
// Apache mod_dav, small PROPFIND Depth 0 207s, in three configurations, each its own process
// running the compiled dist/ code:
//   relay only        the store off: the relay with hooks that do nothing;
//   inline (before)   analysis and the store writer on the relay's event loop, as davtap did;
//   worker (davtap)   the relay posts to the pipeline worker (src/pipeline/pipeline.ts), as davtap does.
// (a) saturation: wrk -t2 -c8; (b) a fixed offered rate of 2,000 req/s from an open-loop Node load
// generator (latency measured from each request's scheduled time, so that queueing is counted).
// Each measurement runs twice: the 2 cores are shared.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request, startApache, type ApacheServer } from '../test/helpers/apache.js';
import { tiedToParent } from '../test/helpers/davtap-process.js';
import type * as ProxyModule from '../src/proxy/index.js';
import type * as StoreModule from '../src/store/index.js';
import type * as LiveModule from '../src/pipeline/live.js';
import type * as PipelineModule from '../src/pipeline/pipeline.js';
import { fixed, table } from './lib/table.js';
import { runWrk } from './lib/wrk.js';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = 2;
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const REPEATS = 2;
const SELF = fileURLToPath(import.meta.url);
const DIST = path.resolve(path.dirname(SELF), '../dist/src');

const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';
const HEADERS = { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' };

type Mode = 'relay only' | 'inline (before)' | 'worker (davtap)';
const MODES: Mode[] = ['relay only', 'inline (before)', 'worker (davtap)'];

/** What a child reports: flows the relay finished, and flows committed / skipped by the recording. */
interface ChildStats {
  seen: number;
  committed: number;
  skipped: number;
  /** CPU of the whole process (all threads), ms. */
  cpuMs: number;
  /** Event-loop utilization of the relay thread since the previous report. */
  relayElu: number;
  /** CPU of the relay thread alone (Linux: /proc/self/task/PID/stat, 10 ms resolution), ms. */
  relayCpuMs: number;
  /** Worker only: flows posted and not yet analyzed. */
  queuedFlows: number;
}

// ---------------------------------------------------------------------------------------------
// The child: one davtap relay in one configuration. stdin: "stats" or "close"; stdout: JSON lines.

/** CPU time of this process's main thread: the relay's (utime + stime, in clock ticks of 10 ms). */
async function mainThreadCpuMs(): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function child(mode: Mode, upstream: string, db: string): Promise<void> {
  const { performance } = await import('node:perf_hooks');
  const { startProxy } = (await import(pathToFileURL(path.join(DIST, 'proxy/index.js')).href)) as typeof ProxyModule;
  let seen = 0;
  let committed = () => 0;
  let skipped = () => 0;
  let queuedFlows = () => 0;
  let close = async () => {};
  let hooks: ProxyModule.ProxyHooks = { onFlow: () => void seen++ };
  const maxBody = 64 * 1024 * 1024;
  if (mode === 'inline (before)') {
    const store = (await import(pathToFileURL(path.join(DIST, 'store/index.js')).href)) as typeof StoreModule;
    const live = (await import(pathToFileURL(path.join(DIST, 'pipeline/live.js')).href)) as typeof LiveModule;
    const s = store.openStore(db);
    const writer = store.createFlowWriter(s, { maxBodyBytes: maxBody, onError: (e) => process.stderr.write(`${e.message}\n`) });
    const pipeline = live.createLivePipeline({ log: (l) => process.stderr.write(`${l}\n`), onFlow: (f) => writer.enqueue(f) });
    hooks = { ...pipeline.hooks, onFlow: (f) => (seen++, pipeline.hooks.onFlow(f)) };
    committed = () => writer.stats().written;
    close = async () => {
      await writer.close();
      s.close();
    };
  } else if (mode === 'worker (davtap)') {
    const p = (await import(pathToFileURL(path.join(DIST, 'pipeline/pipeline.js')).href)) as typeof PipelineModule;
    const pipeline = await p.startPipeline({ dbPath: db, maxBody, lines: false, onLines: () => {}, log: (l) => process.stderr.write(`${l}\n`) });
    hooks = { ...pipeline.hooks, onFlow: (f) => (seen++, pipeline.hooks.onFlow(f)) };
    committed = () => seen - pipeline.pending();
    queuedFlows = () => pipeline.queued().flows;
    let final: Awaited<ReturnType<typeof pipeline.close>> | null = null;
    skipped = () => final?.skipped ?? 0;
    close = async () => {
      final = await pipeline.close();
    };
  }
  const proxy = await startProxy({ listenHost: '127.0.0.1', listenPort: 0, upstream: new URL(upstream), maxBody, maxRequestBody: 1024 * 1024, hooks, log: () => {} });
  let elu = performance.eventLoopUtilization();
  const report = async () => {
    const relayCpuMs = await mainThreadCpuMs();
    const now = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const line: ChildStats = { seen, committed: committed(), skipped: skipped(), cpuMs: (cpu.user + cpu.system) / 1000, relayElu: performance.eventLoopUtilization(now, elu).utilization, relayCpuMs, queuedFlows: queuedFlows() };
    elu = now;
    process.stdout.write(JSON.stringify(line) + '\n');
  };
  process.stdout.write(`listening ${proxy.port}\n`);
  let input = '';
  process.stdin.setEncoding('utf8').on('data', (s: string) => {
    input += s;
    for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
      const cmd = input.slice(0, nl);
      input = input.slice(nl + 1);
      if (cmd === 'stats') void report();
      if (cmd === 'close') {
        void (async () => {
          await proxy.close();
          await close();
          await report();
          process.exit(0);
        })();
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The parent.

interface Child {
  url: string;
  stats(): Promise<ChildStats>;
  close(): Promise<ChildStats>;
  proc: ChildProcess;
}

async function startChild(mode: Mode, upstream: string, db: string): Promise<Child> {
  const proc = spawn(...tiedToParent(process.execPath, ['--import', 'tsx', SELF, '--child', mode, upstream, db]), { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const next = (ms: number) =>
    new Promise<string>((resolve, reject) => {
      const queued = lines.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(() => reject(new Error(`${mode}: no answer in ${ms} ms; stderr: ${err}`)), ms);
      waiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const first = await next(20_000);
  const m = /^listening (\d+)$/.exec(first);
  if (!m) throw new Error(`${mode}: unexpected '${first}'; stderr: ${err}`);
  const ask = async (cmd: string, ms: number) => {
    proc.stdin!.write(cmd + '\n');
    return JSON.parse(await next(ms)) as ChildStats;
  };
  return {
    url: `http://127.0.0.1:${m[1]}`,
    proc,
    stats: () => ask('stats', 10_000),
    close: async () => {
      const s = await ask('close', 120_000);
      await new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', () => resolve())));
      if (err.trim()) throw new Error(`${mode}: ${err.trim()}`);
      return s;
    },
  };
}

interface RateResult {
  offered: number;
  completed: number;
  achieved: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Open loop: requests are started on a fixed schedule whatever the answers (up to 512 in flight, a
 * bound that a stalled target hits rather than the generator's memory); latency counts from the
 * scheduled start, so a target that falls behind shows it.
 */
async function fixedRate(url: string, rate: number, seconds: number): Promise<RateResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const body = Buffer.from(PROPFIND_BODY);
  const latencies: number[] = [];
  let errors = 0;
  let inFlight = 0;
  let offered = 0;
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  const one = (scheduled: number) =>
    new Promise<void>((resolve) => {
      inFlight++;
      const req = http.request(url, { method: 'PROPFIND', agent, headers: { ...HEADERS, 'Content-Length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 207) latencies.push(performance.now() - scheduled);
          else errors++;
          inFlight--;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        inFlight--;
        resolve();
      });
      req.end(body);
    });
  const pending: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      for (; offered < due; offered++) {
        const scheduled = t0 + (offered / rate) * 1000;
        if (inFlight >= 512) {
          errors++;
          continue;
        }
        pending.push(one(scheduled));
      }
      if (offered >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 15_000))]);
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { offered: total, completed: latencies.length, achieved: latencies.length / elapsed, p50: pct(50), p99: pct(99), errors };
}

async function populate(apache: ApacheServer): Promise<void> {
  await mkdir(path.join(apache.dataDir, 'bench'));
  for (let i = 0; i < 10; i++) await writeFile(path.join(apache.dataDir, 'bench', `file-${i}.txt`), `file ${i}\n`);
  // Apache gives weak ETags for a second after a write: every run sees the same bytes.
  await new Promise((r) => setTimeout(r, 1_100));
}

interface Row {
  kind: 'saturation' | 'fixed rate';
  mode: Mode;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Flows committed per second of the measured window, and flows still uncommitted at its end. */
  recordedPerS: number;
  backlog: number;
  skipped: number;
  cpuPerFlowMs: number;
  relayCpuPerFlowMs: number;
  relayElu: number;
  load: string;
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function measureOnce(kind: Row['kind'], mode: Mode, round: number, upstream: string, work: string): Promise<Row> {
  const db = path.join(work, `${kind.replace(' ', '-')}-${mode.split(' ')[0]}-${round}.db`);
  const c = await startChild(mode, upstream, db);
  try {
    const url = `${c.url}/bench/`;
    const probe = await request(url, 'PROPFIND', { headers: HEADERS, body: PROPFIND_BODY });
    if (probe.status !== 207) throw new Error(`${mode}: PROPFIND answered ${probe.status}`);
    await runWrk({ url, method: 'PROPFIND', headers: HEADERS, body: PROPFIND_BODY }, { connections: 8, threads: 2, durationSeconds: WARMUP_S });
    // Let the warm-up's recording finish before the window opens.
    for (let i = 0; i < 100; i++) {
      const s = await c.stats();
      if (s.committed >= s.seen || mode === 'relay only') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = await c.stats();
    const loadBefore = load();
    let rps: number, p50: number, p99: number, errors: number;
    const t0 = performance.now();
    if (kind === 'saturation') {
      const w = await runWrk({ url, method: 'PROPFIND', headers: HEADERS, body: PROPFIND_BODY }, { connections: 8, threads: 2, durationSeconds: DURATION_S });
      ({ requestsPerSecond: rps, p50Ms: p50, p99Ms: p99 } = w);
      errors = w.non2xx + w.socketErrors;
    } else {
      const r = await fixedRate(url, RATE, DURATION_S);
      ({ achieved: rps, p50, p99, errors } = r);
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = await c.stats();
    const final = await c.close();
    const flows = after.seen - before.seen;
    const recorded = mode === 'relay only' ? NaN : (after.committed - before.committed) / seconds;
    return {
      kind,
      mode,
      round,
      rps,
      p50,
      p99,
      errors,
      recordedPerS: recorded,
      backlog: mode === 'relay only' ? 0 : after.seen - after.committed,
      skipped: final.skipped,
      cpuPerFlowMs: (after.cpuMs - before.cpuMs) / Math.max(1, flows),
      relayCpuPerFlowMs: (after.relayCpuMs - before.relayCpuMs) / Math.max(1, flows),
      relayElu: after.relayElu,
      load: loadBefore,
    };
  } finally {
    if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  }
}

export async function run(): Promise<string> {
  const work = await mkdtemp(path.join(tmpdir(), 'davtap-bench-pipeline-'));
  const apache = await startApache({ accessLog: false });
  const rows: Row[] = [];
  try {
    await populate(apache);
    for (const kind of ['saturation', 'fixed rate'] as const) {
      for (let round = 1; round <= REPEATS; round++) {
        for (const mode of MODES) {
          const row = await measureOnce(kind, mode, round, apache.url, work);
          rows.push(row);
          process.stderr.write(`pipeline bench: ${kind} ${mode} #${round}: ${fixed(row.rps, 0)} req/s, recorded ${fixed(row.recordedPerS, 0)}/s, load ${row.load}\n`);
        }
      }
    }
  } finally {
    await apache.stop();
    await rm(work, { recursive: true, force: true });
  }

  const out: string[] = [
    `Small PROPFIND Depth 0 (a 207 of ~600 bytes) to Apache mod_dav through davtap's relay, each configuration in its own process running dist/. ` +
      `Saturation: \`wrk -t2 -c8 -d${DURATION_S}s\` after a ${WARMUP_S} s warm-up. Fixed rate: ${RATE} req/s offered for ${DURATION_S} s by an open-loop ` +
      `Node generator (latency from the scheduled start). "recorded/s": flows analyzed and committed during the window; "backlog": flows not yet committed when it ended ` +
      `(the worker commits them before exit). CPU per flow: the davtap process, all threads, and its relay thread alone. Relay ELU: event-loop utilization of the relay thread. ` +
      `Load: \`uptime\` load averages (1, 5, 15 min) before each run; the 2 cores are shared with other work.`,
    '',
    table(
      ['load', 'configuration', 'round', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'recorded/s', 'backlog', 'skipped', 'CPU ms/flow', 'relay thread CPU ms/flow', 'relay ELU', 'load avg'],
      rows.map((r) => [
        r.kind === 'saturation' ? 'saturation' : `${RATE} req/s`,
        r.mode,
        r.round,
        fixed(r.rps, 0),
        fixed(r.p50, 2),
        fixed(r.p99, 2),
        r.errors,
        r.mode === 'relay only' ? '—' : fixed(r.recordedPerS, 0),
        r.mode === 'relay only' ? '—' : r.backlog,
        r.mode === 'worker (davtap)' ? r.skipped : '—',
        fixed(r.cpuPerFlowMs, 3),
        fixed(r.relayCpuPerFlowMs, 3),
        fixed(r.relayElu, 2),
        r.load,
      ]),
    ),
    '',
  ];
  const verdicts: Array<Array<string | number>> = [];
  for (const kind of ['saturation', 'fixed rate'] as const) {
    for (let round = 1; round <= REPEATS; round++) {
      const get = (mode: Mode) => rows.find((r) => r.kind === kind && r.mode === mode && r.round === round)!;
      const off = get('relay only');
      const worker = get('worker (davtap)');
      const inline = get('inline (before)');
      const ratio = worker.rps / off.rps;
      const label = `${kind === 'saturation' ? 'saturation' : `${RATE} req/s`} #${round}`;
      verdicts.push([label, 'worker / relay-only req/s', `${fixed(ratio)}x (inline: ${fixed(inline.rps / off.rps)}x)`, '≥ 0.90x', ratio >= 0.9 ? 'met' : '**missed**']);
      const extra = worker.relayCpuPerFlowMs - off.relayCpuPerFlowMs;
      verdicts.push([label, 'relay-thread CPU per flow, worker vs relay-only', `${fixed(worker.relayCpuPerFlowMs, 3)} vs ${fixed(off.relayCpuPerFlowMs, 3)} ms (${fixed((100 * extra) / off.relayCpuPerFlowMs, 0)}%)`, '(the posting cost)', '']);
      if (kind === 'fixed rate') {
        verdicts.push([label, 'worker p99 vs relay-only', `${fixed(worker.p99, 2)} vs ${fixed(off.p99, 2)} ms`, '≤ 1.10x', worker.p99 <= off.p99 * 1.1 ? 'met' : '**missed**']);
        // At a fixed offered rate the recorded rate cannot exceed the relayed one: it keeps up when
        // it records what was relayed (98%: the last flows of the window commit just after it).
        const keepsUp = worker.recordedPerS >= 0.98 * worker.rps && worker.skipped === 0;
        verdicts.push([label, 'flows recorded per second', `${fixed(worker.recordedPerS, 0)} of ${fixed(worker.rps, 0)} relayed (skipped ${worker.skipped}, backlog ${worker.backlog})`, `≥ 2,000 (keeps up)`, worker.recordedPerS >= 0.98 * RATE && keepsUp ? 'met' : keepsUp ? 'keeps up; offered rate not reached' : '**missed**']);
      } else {
        verdicts.push([label, 'flows recorded per second', `${fixed(worker.recordedPerS, 0)} (skipped ${worker.skipped}, backlog ${worker.backlog})`, '(capacity)', '']);
      }
    }
  }
  out.push('### Targets', '', table(['run', 'measure', 'value', 'target', ''], verdicts), '');
  return out.join('\n');
}

if (process.argv[2] === '--child') await child(process.argv[3] as Mode, process.argv[4]!, process.argv[5]!);
