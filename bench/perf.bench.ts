// The live pipeline against its peers, each figure next to its target, measured interleaved so that
// load from elsewhere on a shared machine skews the ratios less (bench/perf.ts prints the one-line
// summaries; `npm run bench` writes this section):
// - throughput: small PROPFIND Depth 0 with wrk -t2 -c8, direct to Apache, through a blind Node TCP
//   pipe, through davtap (analysis and recording on), through mitmdump; rounds alternate the
//   targets and the medians are compared. davtap's CPU per flow is read per thread (relay, pipeline
//   worker, the rest), its flows recorded unanalyzed (MS703) counted in its database;
// - latency: the same request on 1 connection (wrk -t1 -c1), direct, through nginx, through davtap;
// - large bodies: a 1 GiB GET and a 200 MB Depth-infinity PROPFIND 207 read by curl as fast as it
//   can, direct, through the blind TCP pipe (the limit of a Node relay on these cores) and through
//   davtap, in interleaved rounds; the relays' resident set sampled and their CPU per GB read from
//   /proc. PERF_LARGE_ROUNDS (2), PERF_LARGE_CASES (get,propfind), PERF_GET_BYTES,
//   PERF_PROPFIND_BYTES; PERF_BASELINE_BIN (another build's bin/davtap: before/after in one run)
//   and PERF_LARGE_ARGS (davtap options, as one more target) add davtap variants.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request, startApache, type ApacheServer } from '../test/helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../test/helpers/davtap-process.js';
import { startListeningChild } from './lib/bare-relay-process.js';
import { waitIdle } from './lib/idle.js';
import { startListingOrigin } from './lib/listing-origin.js';
import { sampleRss, startBigOrigin } from './lib/memory.js';
import { mitmdumpInstalled, startMitmdump } from './lib/mitmdump.js';
import { nginxInstalled, startNginxProxy } from './lib/nginx-proxy.js';
import { fixed, table } from './lib/table.js';
import { cpuDelta, threadCpu, type ThreadCpu } from './lib/threads.js';
import { HEADERS, measuredWrk, PROPFIND_BODY, type MeasuredWrk } from './lib/measured-wrk.js';
import type { WrkRequest, WrkResult } from './lib/wrk.js';

const ROUNDS = Number(process.env.PERF_ROUNDS ?? 3);
const DURATION_S = Number(process.env.PERF_DURATION ?? 10);
const WARMUP_S = 2;
const PARTS = new Set((process.env.PERF_PARTS ?? 'throughput,latency,large').split(',').map((s) => s.trim()));
const GET_BYTES = Number(process.env.PERF_GET_BYTES ?? 1024 ** 3);
const PROPFIND_BYTES = Number(process.env.PERF_PROPFIND_BYTES ?? 200 * 1000 * 1000);
const RSS_LIMIT_MB = 150;
const PIPE_SCRIPT = new URL('./lib/tcp-pipe.ts', import.meta.url).pathname;
const RELAY_ONLY_SCRIPT = new URL('./lib/relay-only.ts', import.meta.url).pathname;


interface Target {
  name: string;
  url: string;
  pid?: number;
  davtap?: DavtapProcess & { db: string };
  stop(): Promise<void>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function populate(apache: ApacheServer): Promise<void> {
  await mkdir(path.join(apache.dataDir, 'bench'));
  for (let i = 0; i < 10; i++) await writeFile(path.join(apache.dataDir, 'bench', `file-${i}.txt`), `file ${i}\n`);
  // Apache gives weak ETags for a second after a write: every target sees the same bytes.
  await new Promise((r) => setTimeout(r, 1_100));
}

async function davtapTarget(upstream: string, work: string, label: string): Promise<Target> {
  const db = path.join(work, `${label}.db`);
  const proc = await startDavtap(['--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', db], { stdout: 'ignore', readyTimeoutMs: 60_000, stopTimeoutMs: 60_000 });
  return { name: 'davtap', url: proc.url, pid: proc.pid, davtap: Object.assign(proc, { db }), stop: async () => void (await proc.stop()) };
}

async function childTarget(name: string, script: string, upstream: string): Promise<Target> {
  const r = await startListeningChild(['--import', 'tsx', script, upstream], name);
  return { name, url: r.url, pid: r.pid, stop: r.stop };
}

/** Flows in a stopped davtap's database, and those recorded without analysis (MS703, 'skipped' or halted). */
function unanalyzed(db: string): { flows: number; unanalyzed: number } {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const flows = (conn.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    const skipped = (conn.prepare("SELECT count(DISTINCT flow_seq) AS n FROM findings WHERE rule = 'MS703'").get() as { n: number }).n;
    return { flows, unanalyzed: skipped };
  } finally {
    conn.close();
  }
}

interface Run {
  target: string;
  round: number;
  wrk: WrkResult;
  cpu?: ThreadCpu;
  load: string;
}

function wrkRun(target: Target, connections: number): Promise<MeasuredWrk> {
  const req: WrkRequest = { url: `${target.url}/bench/`, method: 'PROPFIND', headers: HEADERS, body: PROPFIND_BODY };
  return measuredWrk(req, target.pid, { connections, warmupS: WARMUP_S, durationS: DURATION_S });
}

async function interleaved(targets: Target[], connections: number, label: string): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of targets) {
      const l = load();
      const r = await wrkRun(target, connections);
      runs.push({ target: target.name, round, ...r, load: l });
      process.stderr.write(`perf ${label}: round ${round} ${target.name}: ${fixed(r.wrk.requestsPerSecond, 0)} req/s, p50 ${fixed(r.wrk.p50Ms, 3)} ms (load ${l})\n`);
    }
  }
  return runs;
}

const rpsOf = (runs: Run[], name: string) => median(runs.filter((r) => r.target === name).map((r) => r.wrk.requestsPerSecond));
const p50Of = (runs: Run[], name: string) => median(runs.filter((r) => r.target === name).map((r) => r.wrk.p50Ms));
function cpuPerFlow(runs: Run[], name: string): ThreadCpu & { totalMs: number } {
  const mine = runs.filter((r) => r.target === name && r.cpu);
  const flows = mine.reduce((a, r) => a + r.wrk.requests, 0) || 1;
  const sum = (k: keyof ThreadCpu) => mine.reduce((a, r) => a + r.cpu![k], 0) / flows;
  const out = { relayMs: sum('relayMs'), pipelineMs: sum('pipelineMs'), otherMs: sum('otherMs') };
  return { ...out, totalMs: out.relayMs + out.pipelineMs + out.otherMs };
}

function runsTable(runs: Run[]): string {
  return table(
    ['round', 'target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'CPU ms/flow relay / pipeline / other', 'load avg before'],
    runs.map((r) => [
      r.round,
      r.target,
      fixed(r.wrk.requestsPerSecond, 0),
      fixed(r.wrk.p50Ms, 3),
      fixed(r.wrk.p99Ms, 3),
      r.wrk.requests,
      r.wrk.non2xx + r.wrk.socketErrors,
      r.cpu ? [r.cpu.relayMs, r.cpu.pipelineMs, r.cpu.otherMs].map((ms) => fixed(ms / r.wrk.requests, 4)).join(' / ') : '',
      r.load,
    ]),
  );
}

const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

interface Part {
  lines: string[];
  markdown: string[];
}

async function throughput(upstream: string, work: string): Promise<Part> {
  const targets: Target[] = [];
  try {
    targets.push({ name: 'direct', url: upstream.replace(/\/$/, ''), stop: async () => {} });
    targets.push(await childTarget('pipe', PIPE_SCRIPT, upstream));
    targets.push(await childTarget('relay only', RELAY_ONLY_SCRIPT, upstream));
    targets.push(await davtapTarget(upstream, work, 'throughput'));
    if (mitmdumpInstalled()) {
      const m = await startMitmdump(upstream);
      targets.push({ name: 'mitmdump', url: m.url.replace(/\/$/, ''), pid: m.pid, stop: m.stop });
    }
    for (const t of targets) {
      const probe = await request(`${t.url}/bench/`, 'PROPFIND', { headers: HEADERS, body: PROPFIND_BODY });
      if (probe.status !== 207) throw new Error(`${t.name}: PROPFIND answered ${probe.status}`);
    }
    const runs = await interleaved(targets, 8, 'throughput');
    const davtap = targets.find((t) => t.name === 'davtap')!;
    await davtap.stop();
    const recorded = unanalyzed(davtap.davtap!.db);
    const sent = runs.filter((r) => r.target === 'davtap').reduce((a, r) => a + r.wrk.requests, 0);
    const [direct, pipe, dav, mitm] = ['direct', 'pipe', 'davtap', 'mitmdump'].map((n) => rpsOf(runs, n));
    const cpu = cpuPerFlow(runs, 'davtap');
    const relayOnly = cpuPerFlow(runs, 'relay only');
    // What the cores allow, whatever the scheduling: davtap cannot relay more flows per second than
    // the cores divided by its CPU per flow, even with wrk and the origin costing nothing.
    const cores = availableParallelism();
    const ceiling = (cores * 1000) / cpu.totalMs;
    const budgetMs = (cores * 1000) / (0.8 * pipe!);
    const line =
      `perf: direct=${fixed(direct!, 0)} pipe=${fixed(pipe!, 0)} davtap=${fixed(dav!, 0)} mitmdump=${mitm !== undefined && !Number.isNaN(mitm) ? fixed(mitm, 0) : 'n/a'} req/s ` +
      `davtap/pipe=${fixed(dav! / pipe!)} davtap/mitmdump=${mitm ? fixed(dav! / mitm) : 'n/a'} unanalyzed=${recorded.unanalyzed}`;
    const cpuLine =
      `cpu per flow (ms): davtap relay=${fixed(cpu.relayMs, 4)} pipeline=${fixed(cpu.pipelineMs, 4)} other=${fixed(cpu.otherMs, 4)} total=${fixed(cpu.totalMs, 4)}; ` +
      `relay only=${fixed(relayOnly.relayMs, 4)} (posting ≈ ${fixed(cpu.relayMs - relayOnly.relayMs, 4)}); ` +
      `ceiling ${cores} cores/total=${fixed(ceiling, 0)} req/s (${fixed(ceiling / pipe!)}x pipe); 0.8x pipe allows ${fixed(budgetMs, 4)} ms/flow`;
    const markdown = [
      `### Throughput: small PROPFIND Depth 0, wrk -t2 -c8 -d${DURATION_S}s after a ${WARMUP_S} s warm-up, ${ROUNDS} interleaved rounds`,
      '',
      'CPU per flow: the process\'s threads from /proc over the window and until it is idle again (its recording included), divided by the requests of the window; ' +
        '"relay" the main thread, "pipeline" the analysis and recording worker and the threads it starts (named davtap-pipeline), "other" V8\'s GC helpers and libuv\'s pool. ' +
        '"relay only": davtap\'s relay with no pipeline (bench/lib/relay-only.ts); the difference in relay-thread CPU is the cost of posting to the worker.',
      '',
      runsTable(runs),
      '',
      table(
        ['measure', 'value', 'target', ''],
        [
          ['davtap / blind TCP pipe (medians)', `${fixed(dav! / pipe!)}x (${fixed(dav!, 0)} vs ${fixed(pipe!, 0)} req/s)`, '≥ 0.8x', verdict(dav! / pipe! >= 0.8)],
          ['davtap / mitmdump (medians)', mitm ? `${fixed(dav! / mitm)}x (${fixed(mitm, 0)} req/s)` : 'n/a', '≥ 6x', mitm ? verdict(dav! / mitm >= 6) : ''],
          ['davtap / direct (medians)', `${fixed(dav! / direct!)}x`, '', ''],
          ['flows recorded unanalyzed (MS703)', `${recorded.unanalyzed} of ${recorded.flows} recorded (${sent} requests measured, warm-ups besides)`, '0', verdict(recorded.unanalyzed === 0)],
          ['davtap CPU per flow: relay / pipeline / other = total', `${fixed(cpu.relayMs, 4)} / ${fixed(cpu.pipelineMs, 4)} / ${fixed(cpu.otherMs, 4)} = ${fixed(cpu.totalMs, 4)} ms`, '', ''],
          ['relay-only CPU per flow (relay thread)', `${fixed(relayOnly.relayMs, 4)} ms`, '', ''],
          [
            `CPU ceiling: ${cores} cores / davtap's CPU per flow (wrk and the origin taken as free)`,
            `${fixed(ceiling, 0)} req/s = ${fixed(ceiling / pipe!)}x the pipe`,
            '',
            '',
          ],
          [`CPU per flow that 0.8x the pipe allows (${cores} cores / ${fixed(0.8 * pipe!, 0)} req/s, wrk and the origin free)`, `${fixed(budgetMs, 4)} ms (davtap uses ${fixed(cpu.totalMs, 4)})`, '', ''],
        ],
      ),
      '',
    ];
    return { lines: [line, cpuLine], markdown };
  } finally {
    for (const t of targets) await t.stop();
  }
}

async function latency(upstream: string, work: string): Promise<Part> {
  const targets: Target[] = [];
  try {
    targets.push({ name: 'direct', url: upstream.replace(/\/$/, ''), stop: async () => {} });
    if (nginxInstalled()) {
      const n = await startNginxProxy(upstream);
      targets.push({ name: 'nginx', url: n.url, pid: n.pid, stop: n.stop });
    }
    targets.push(await davtapTarget(upstream, work, 'latency'));
    const runs = await interleaved(targets, 1, 'latency');
    const direct = p50Of(runs, 'direct');
    const dav = p50Of(runs, 'davtap') - direct;
    const ngx = nginxInstalled() ? p50Of(runs, 'nginx') - direct : NaN;
    const line = `latency: p50 added at 1 connection davtap=${fixed(dav, 3)} ms nginx=${Number.isNaN(ngx) ? 'n/a' : fixed(ngx, 3)} ms (direct p50 ${fixed(direct, 3)} ms; target davtap ≤ nginx)`;
    const markdown = [
      `### Latency: the same request on 1 connection, wrk -t1 -c1 -d${DURATION_S}s, ${ROUNDS} interleaved rounds`,
      '',
      runsTable(runs),
      '',
      table(
        ['measure', 'value', 'target', ''],
        [
          ['p50 added by davtap (median p50 − direct median p50)', `${fixed(dav, 3)} ms`, Number.isNaN(ngx) ? '' : `≤ nginx's ${fixed(ngx, 3)} ms`, Number.isNaN(ngx) ? '' : verdict(dav <= ngx)],
          ['p50 added by nginx', Number.isNaN(ngx) ? 'n/a (nginx not installed)' : `${fixed(ngx, 3)} ms`, '(peer)', ''],
        ],
      ),
      '',
    ];
    return { lines: [line], markdown };
  } finally {
    for (const t of targets) await t.stop();
  }
}

/** curl reads `url` as fast as it can; resolves with the bytes and the seconds. */
function curlRead(url: string, method: string, headers: Record<string, string>): Promise<{ bytes: number; seconds: number; status: number }> {
  const args = ['-s', '-o', '/dev/null', '--noproxy', '*', '-X', method, '-w', '%{http_code} %{size_download} %{time_total}', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      const [status, bytes, seconds] = out.trim().split(' ').map(Number);
      if (!bytes || !seconds) reject(new Error(`curl ${url}: ${out}`));
      else resolve({ status: status!, bytes, seconds });
    });
  });
}

/**
 * The large-body targets of one case: direct to the origin, a blind Node TCP pipe (what any Node
 * relay can reach on these cores: the peer that tells whether a ratio to direct is reachable at
 * all), davtap, and the variants asked for (another build's davtap, davtap with options).
 */
async function largeTargets(origin: string, work: string, label: string): Promise<Target[]> {
  const targets: Target[] = [{ name: 'direct', url: origin, stop: async () => {} }];
  try {
    targets.push(await childTarget('pipe', PIPE_SCRIPT, origin));
    for (const v of LARGE_VARIANTS) {
      const db = path.join(work, `large-${label}-${targets.length}.db`);
      const args = ['--upstream', origin, '--listen', '127.0.0.1:0', '--no-ui', '--db', db, ...v.args];
      const proc = await startDavtap(args, { stdout: 'ignore', readyTimeoutMs: 60_000, stopTimeoutMs: 60_000, ...(v.bin ? { bin: v.bin } : {}) });
      targets.push({ name: v.name, url: proc.url, pid: proc.pid, davtap: Object.assign(proc, { db }), stop: async () => void (await proc.stop()) });
    }
    return targets;
  } catch (err) {
    for (const t of targets) await t.stop();
    throw err;
  }
}

/**
 * davtap as measured in the large-body rows: this build with its default options, then (when
 * PERF_BASELINE_BIN names another build's bin/davtap) that build, and this build with the options
 * of PERF_LARGE_ARGS (e.g. `--max-body 1MiB`).
 */
const LARGE_VARIANTS: Array<{ name: string; bin?: string; args: string[] }> = [
  { name: 'davtap', args: [] },
  ...(process.env.PERF_BASELINE_BIN ? [{ name: 'davtap baseline', bin: process.env.PERF_BASELINE_BIN, args: [] }] : []),
  ...(process.env.PERF_LARGE_ARGS ? [{ name: `davtap ${process.env.PERF_LARGE_ARGS}`, args: process.env.PERF_LARGE_ARGS.split(' ').filter(Boolean) }] : []),
];
const LARGE_ROUNDS = Number(process.env.PERF_LARGE_ROUNDS ?? Math.max(1, Math.min(ROUNDS, 2)));
const LARGE_CASES = new Set((process.env.PERF_LARGE_CASES ?? 'get,propfind').split(',').map((s) => s.trim()));

interface LargeRead {
  round: number;
  target: string;
  mbps: number;
  peakMb: number | undefined;
  /** CPU of the relay process over the read and until it was idle again, per GB relayed. */
  cpuPerGb: ThreadCpu | undefined;
  load: string;
}

const cpuText = (c: ThreadCpu | undefined) => (c ? [c.relayMs, c.pipelineMs, c.otherMs].map((ms) => fixed(ms / 1000, 2)).join(' / ') : '');

async function large(work: string): Promise<Part> {
  const get = await startBigOrigin(GET_BYTES);
  const listing = await startListingOrigin(PROPFIND_BYTES);
  const lines: string[] = [];
  const rows: Array<Array<string | number>> = [];
  const rounds: Array<Array<string | number>> = [];
  try {
    const cases = [
      { key: 'get', name: `GET ${(GET_BYTES / 1024 ** 3).toFixed(2)} GiB`, origin: get.url.replace(/\/$/, ''), path: '/big.bin', method: 'GET', headers: {} as Record<string, string> },
      { key: 'propfind', name: `PROPFIND Depth infinity 207 of ${(PROPFIND_BYTES / 1e6).toFixed(0)} MB`, origin: listing.url, path: '/tree/', method: 'PROPFIND', headers: { Depth: 'infinity' } },
    ].filter((c) => LARGE_CASES.has(c.key));
    for (const c of cases) {
      const targets = await largeTargets(c.origin, work, c.key);
      const reads: LargeRead[] = [];
      let expected: number | undefined;
      try {
        for (let round = 1; round <= LARGE_ROUNDS; round++) {
          for (const t of targets) {
            const l = load();
            const sampler = t.pid !== undefined ? sampleRss(t.pid, 50) : undefined;
            const cpuBefore = t.pid !== undefined ? threadCpu(t.pid) : undefined;
            const r = await curlRead(`${t.url}${c.path}`, c.method, c.headers);
            // What davtap analyses and records after the last byte is its own, not the next target's.
            if (t.pid !== undefined) await waitIdle(t.pid, 120_000);
            const cpuAfter = t.pid !== undefined ? threadCpu(t.pid) : undefined;
            const rss = sampler?.stop();
            const cpu = cpuBefore && cpuAfter ? cpuDelta(cpuAfter, cpuBefore) : undefined;
            const perGb = (ms: number) => (ms * 1e9) / r.bytes;
            const cpuPerGb = cpu ? { relayMs: perGb(cpu.relayMs), pipelineMs: perGb(cpu.pipelineMs), otherMs: perGb(cpu.otherMs) } : undefined;
            expected ??= r.bytes;
            if (r.bytes !== expected) throw new Error(`${c.name}: ${r.bytes} bytes through ${t.name}, ${expected} through ${targets[0]!.name}`);
            const peakKiB = rss ? Math.max(rss.peakKiB, rss.hwmKiB) : undefined;
            reads.push({ round, target: t.name, mbps: r.bytes / r.seconds / 1e6, peakMb: peakKiB !== undefined ? (peakKiB * 1024) / 1e6 : undefined, cpuPerGb, load: l });
            const last = reads.at(-1)!;
            const peakText = last.peakMb !== undefined ? fixed(last.peakMb, 0) : '';
            process.stderr.write(`perf large: ${c.name} round ${round} ${t.name}: ${fixed(last.mbps, 0)} MB/s${peakText ? `, peak RSS ${peakText} MB, CPU s/GB ${cpuText(cpuPerGb)}` : ''} (load ${l})\n`);
            rounds.push([c.name, round, t.name, fixed(last.mbps, 0), peakText, cpuText(cpuPerGb), l]);
          }
        }
      } finally {
        for (const t of targets) await t.stop();
      }
      const mbps = (name: string) => median(reads.filter((r) => r.target === name).map((r) => r.mbps));
      const cpuTotal = (name: string) => median(reads.filter((r) => r.target === name && r.cpuPerGb).map((r) => r.cpuPerGb!.relayMs + r.cpuPerGb!.pipelineMs + r.cpuPerGb!.otherMs)) / 1000;
      const peak = (name: string) => Math.max(...reads.filter((r) => r.target === name).map((r) => r.peakMb ?? 0));
      const direct = mbps('direct');
      const pipe = mbps('pipe');
      rows.push([c.name, 'direct', `${fixed(direct, 0)} MB/s`, '', '', '', '', '', '', '']);
      rows.push([c.name, 'pipe', `${fixed(pipe, 0)} MB/s`, `${fixed(pipe / direct)}x`, '', '', fixed(cpuTotal('pipe')), `${fixed(peak('pipe'), 0)} MB`, '', '']);
      for (const t of targets.filter((x) => x.davtap)) {
        const rec = unanalyzed(t.davtap!.db);
        const dav = mbps(t.name);
        const ratio = dav / direct;
        const halted = c.method === 'PROPFIND' ? `${rec.unanalyzed} of ${rec.flows}` : '';
        lines.push(
          `large: ${c.name} ${t.name}/direct=${fixed(ratio)} ${t.name}/pipe=${fixed(dav / pipe)} (${fixed(dav, 0)} vs ${fixed(direct, 0)} direct, ${fixed(pipe, 0)} pipe MB/s) ` +
            `peak RSS=${fixed(peak(t.name), 0)} MB (targets ≥ 0.9x direct, < ${RSS_LIMIT_MB} MB)${halted ? ` analysis halted in ${halted}` : ''}`,
        );
        rows.push([c.name, t.name, `${fixed(dav, 0)} MB/s`, `${fixed(ratio)}x`, verdict(ratio >= 0.9), `${fixed(dav / pipe)}x`, fixed(cpuTotal(t.name)), `${fixed(peak(t.name), 0)} MB`, verdict(peak(t.name) < RSS_LIMIT_MB), halted]);
      }
    }
  } finally {
    await get.close();
    await listing.close();
  }
  const markdown = [
    `### Large bodies: read by curl as fast as it goes, direct, through a blind Node TCP pipe and through davtap, medians of ${LARGE_ROUNDS} interleaved rounds`,
    '',
    'Peak RSS: VmRSS sampled every 50 ms and the kernel\'s VmHWM, of the relay process (davtap: all its threads). The pipe is the limit of a relay written in Node on these cores.',
    '',
    table(['body', 'target', 'median', '/ direct', '≥ 0.9x', '/ pipe', 'CPU s per GB (median)', 'peak RSS', '< 150 MB', 'flows whose analysis stopped (MS703)'], rows),
    '',
    table(['body', 'round', 'target', 'MB/s', 'peak RSS MB', 'CPU s per GB: main / pipeline / other threads', 'load avg before'], rounds),
    '',
  ];
  return { lines, markdown };
}

export async function measure(): Promise<{ lines: string[]; markdown: string }> {
  const work = await mkdtemp(path.join(tmpdir(), 'davtap-bench-perf-'));
  const lines: string[] = [];
  const md: string[] = [`Load average at the start: ${load()} (2 shared cores: compare the columns of one run, not runs).`, ''];
  const apache = await startApache({ accessLog: false });
  try {
    await populate(apache);
    if (PARTS.has('throughput')) {
      const p = await throughput(apache.url, work);
      lines.push(...p.lines);
      md.push(...p.markdown);
    }
    if (PARTS.has('latency')) {
      const p = await latency(apache.url, work);
      lines.push(...p.lines);
      md.push(...p.markdown);
    }
  } finally {
    await apache.stop();
  }
  try {
    if (PARTS.has('large')) {
      const p = await large(work);
      lines.push(...p.lines);
      md.push(...p.markdown);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  md.push(`Load average at the end: ${load()}.`, '');
  return { lines, markdown: ['```', ...lines, '```', '', ...md].join('\n') };
}

export async function run(): Promise<string> {
  const { lines, markdown } = await measure();
  for (const l of lines) process.stderr.write(`${l}\n`);
  return markdown;
}
