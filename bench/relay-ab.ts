// `node --import tsx bench/relay-ab.ts BASE`: the relay thread of this checkout against another
// build of davtap (BASE: a checkout of the same repository with dist/ built and node_modules), in
// one interleaved run so that the load of a shared machine falls on both alike. Small PROPFIND
// Depth 0 to Apache, as in bench/perf.bench.ts:
// - throughput, wrk -t2 -c8: davtap (analysis and recording on) and davtap's relay alone
//   (bench/lib/relay-only.ts) of each build, and the blind TCP pipe; req/s and the CPU per flow of
//   the relay thread and of the pipeline threads, from /proc;
// - latency, wrk -t1 -c1: the same targets (the pipe aside) with direct and nginx, p50 added to direct.
// PERF_ROUNDS (3), PERF_DURATION (8 s), AB_PARTS (throughput,latency) and AB_TARGETS (names, e.g.
// 'base davtap,davtap') shorten it. Prints a
// Markdown table of every run and the medians of each target side by side.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { request, startApache, type ApacheServer } from '../test/helpers/apache.js';
import * as mine from '../test/helpers/davtap-process.js';
import { startListeningChild } from './lib/bare-relay-process.js';
import { nginxInstalled, startNginxProxy } from './lib/nginx-proxy.js';
import { fixed, table } from './lib/table.js';
import type { ThreadCpu } from './lib/threads.js';
import { HEADERS, measuredWrk, PROPFIND_BODY, type MeasuredWrk } from './lib/measured-wrk.js';
import type { WrkRequest, WrkResult } from './lib/wrk.js';

const BASE = process.argv[2];
if (!BASE) {
  process.stderr.write('usage: node --import tsx bench/relay-ab.ts BASE_CHECKOUT (a checkout with dist/ built)\n');
  process.exit(2);
}
const ROUNDS = Number(process.env.PERF_ROUNDS ?? 3);
const DURATION_S = Number(process.env.PERF_DURATION ?? 8);
const WARMUP_S = 2;
const PARTS = new Set((process.env.AB_PARTS ?? 'throughput,latency').split(',').map((s) => s.trim()));
const ONLY = process.env.AB_TARGETS ? new Set(process.env.AB_TARGETS.split(',').map((s) => s.trim())) : null;
const HERE = new URL('.', import.meta.url).pathname;
const PIPE_SCRIPT = path.join(HERE, 'lib/tcp-pipe.ts');

interface Target {
  name: string;
  url: string;
  pid?: number;
  stop(): Promise<void>;
}

interface Run {
  target: string;
  round: number;
  wrk: WrkResult;
  cpu?: ThreadCpu;
  load: string;
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const base = (await import(pathToFileURL(path.join(path.resolve(BASE), 'test/helpers/davtap-process.ts')).href)) as typeof mine;

async function davtap(helpers: typeof mine, name: string, upstream: string, work: string): Promise<Target> {
  const proc = await helpers.startDavtap(['--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, `${name.replace(/\W+/g, '-')}-${Date.now()}.db`)], {
    stdout: 'ignore',
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 60_000,
  });
  return { name, url: proc.url, pid: proc.pid, stop: async () => void (await proc.stop()) };
}

async function child(name: string, script: string, upstream: string): Promise<Target> {
  const r = await startListeningChild(['--import', 'tsx', script, upstream], name);
  return { name, url: r.url, pid: r.pid, stop: r.stop };
}

function wrkRun(target: Target, connections: number): Promise<MeasuredWrk> {
  const req: WrkRequest = { url: `${target.url}/bench/`, method: 'PROPFIND', headers: HEADERS, body: PROPFIND_BODY };
  return measuredWrk(req, target.pid, { connections, warmupS: WARMUP_S, durationS: DURATION_S });
}

async function part(label: string, connections: number, make: () => Promise<Target[]>): Promise<string> {
  const made = await make();
  const targets = made.filter((t) => !ONLY || ONLY.has(t.name));
  for (const t of made) if (!targets.includes(t)) await t.stop();
  const runs: Run[] = [];
  try {
    for (const t of targets) {
      const probe = await request(`${t.url}/bench/`, 'PROPFIND', { headers: HEADERS, body: PROPFIND_BODY });
      if (probe.status !== 207) throw new Error(`${t.name}: PROPFIND answered ${probe.status}`);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const l = load();
        const r = await wrkRun(t, connections);
        runs.push({ target: t.name, round, ...r, load: l });
        process.stderr.write(`relay-ab ${label}: round ${round} ${t.name}: ${fixed(r.wrk.requestsPerSecond, 0)} req/s, p50 ${fixed(r.wrk.p50Ms, 3)} ms (load ${l})\n`);
      }
    }
  } finally {
    for (const t of targets) await t.stop();
  }
  const perFlow = (r: Run, k: keyof ThreadCpu) => (r.cpu ? r.cpu[k] / r.wrk.requests : NaN);
  const direct = median(runs.filter((r) => r.target === 'direct').map((r) => r.wrk.p50Ms));
  const summary = targets.map((t) => {
    const mineRuns = runs.filter((r) => r.target === t.name);
    const p50 = median(mineRuns.map((r) => r.wrk.p50Ms));
    const cpu = (k: keyof ThreadCpu) => {
      // Summed over the rounds: CPU ticks are 10 ms, read over seconds.
      const withCpu = mineRuns.filter((r) => r.cpu);
      return withCpu.length ? withCpu.reduce((a, r) => a + r.cpu![k], 0) / withCpu.reduce((a, r) => a + r.wrk.requests, 0) : NaN;
    };
    return [
      t.name,
      fixed(median(mineRuns.map((r) => r.wrk.requestsPerSecond)), 0),
      fixed(p50, 3),
      Number.isNaN(direct) ? '' : fixed(p50 - direct, 3),
      Number.isNaN(cpu('relayMs')) ? '' : fixed(cpu('relayMs'), 4),
      Number.isNaN(cpu('pipelineMs')) ? '' : fixed(cpu('pipelineMs'), 4),
    ];
  });
  return [
    `### ${label}: wrk -t${connections > 1 ? 2 : 1} -c${connections} -d${DURATION_S}s after a ${WARMUP_S} s warm-up, ${ROUNDS} interleaved rounds`,
    '',
    table(
      ['round', 'target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'relay CPU ms/flow', 'pipeline CPU ms/flow', 'load avg before'],
      runs.map((r) => [r.round, r.target, fixed(r.wrk.requestsPerSecond, 0), fixed(r.wrk.p50Ms, 3), fixed(r.wrk.p99Ms, 3), r.wrk.requests, r.wrk.non2xx + r.wrk.socketErrors, fixed(perFlow(r, 'relayMs'), 4), fixed(perFlow(r, 'pipelineMs'), 4), r.load]),
    ),
    '',
    table(['target (medians; CPU summed over the rounds)', 'req/s', 'p50 ms', 'p50 added ms', 'relay CPU ms/flow', 'pipeline CPU ms/flow'], summary),
    '',
  ].join('\n');
}

const work = await mkdtemp(path.join(tmpdir(), 'davtap-relay-ab-'));
let apache: ApacheServer | undefined;
const out: string[] = [`relay-ab: base ${path.resolve(BASE)} against this checkout; load average at the start ${load()}`, ''];
try {
  apache = await startApache({ accessLog: false });
  await mkdir(path.join(apache.dataDir, 'bench'));
  for (let i = 0; i < 10; i++) await writeFile(path.join(apache.dataDir, 'bench', `file-${i}.txt`), `file ${i}\n`);
  await new Promise((r) => setTimeout(r, 1_100));
  const upstream = apache.url;
  const relayOnlyOf = (root: string) => path.join(root, 'bench/lib/relay-only.ts');
  const both = async (): Promise<Target[]> => [
    await davtap(base, 'base davtap', upstream, work),
    await davtap(mine, 'davtap', upstream, work),
    await child('base relay only', relayOnlyOf(path.resolve(BASE)), upstream),
    await child('relay only', relayOnlyOf(path.resolve(HERE, '..')), upstream),
  ];
  if (PARTS.has('throughput')) out.push(await part('Throughput', 8, async () => [...(await both()), await child('pipe', PIPE_SCRIPT, upstream)]));
  if (PARTS.has('latency')) {
    out.push(
      await part('Latency', 1, async () => {
        const targets: Target[] = [{ name: 'direct', url: upstream.replace(/\/$/, ''), stop: async () => {} }];
        if (nginxInstalled()) {
          const n = await startNginxProxy(upstream);
          targets.push({ name: 'nginx', url: n.url, pid: n.pid, stop: n.stop });
        }
        return [...targets, ...(await both())];
      }),
    );
  }
  out.push(`Load average at the end: ${load()}.`);
} finally {
  await apache?.stop();
  await rm(work, { recursive: true, force: true });
}
process.stdout.write(out.join('\n') + '\n');
