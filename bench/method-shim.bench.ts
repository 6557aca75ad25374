// The cost of relaying any method token (src/proxy/method-shim.ts) on the normal path: small
// PROPFIND Depth 0 requests/s through davtap's relay with the shim (the default) and without it
// (anyMethod: false), as req/s and as the relay process's CPU time per request, against Debian's Apache mod_dav, 8 keep-alive connections (wrk). The two
// variants alternate, twice, in the same run, so that drift on a shared machine shows.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, startApache } from '../test/helpers/apache.js';
import { startListeningChild, type BareRelay } from './lib/bare-relay-process.js';
import { hotSpots, type Profile } from './lib/cpuprofile.js';
import { fixed, table } from './lib/table.js';
import { runWrk } from './lib/wrk.js';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Linux's USER_HZ, the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS = 100;
const CHILD = fileURLToPath(new URL('./lib/relay-only.ts', import.meta.url));
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';

/** CPU time (user + system) a process has used so far, in µs (Linux /proc). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

function startRelay(upstream: string, anyMethod: boolean, profileDir?: string): Promise<BareRelay> {
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  return startListeningChild([...profile, '--import', 'tsx', CHILD, upstream, ...(anyMethod ? [] : ['--no-any-method'])], 'relay');
}

/** The main thread's profile: the largest .cpuprofile the child wrote (tsx's loader writes one too). */
async function mainProfile(dir: string): Promise<Profile> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  const sizes = await Promise.all(files.map(async (f) => ({ f, size: (await stat(f)).size })));
  const largest = sizes.sort((a, b) => b.size - a.size)[0];
  if (!largest) throw new Error(`no CPU profile in ${dir}`);
  return JSON.parse(await readFile(largest.f, 'utf8')) as Profile;
}

export async function run(): Promise<string> {
  const apache = await startApache({ accessLog: false });
  const rows: string[][] = [];
  const totals = { on: [] as number[], off: [] as number[] };
  const cpu = { on: [] as number[], off: [] as number[] };
  let profiled = { requests: 0, busyMs: 0, shimMs: 0 };
  try {
    await mkdir(path.join(apache.dataDir, 'bench'));
    const upstream = apache.url.replace(/\/$/, '');
    for (let round = 1; round <= ROUNDS; round++) {
      for (const anyMethod of [false, true]) {
        const relay = await startRelay(upstream, anyMethod);
        try {
          const req = { url: `${relay.url}/bench/`, method: 'PROPFIND', headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY };
          const probe = await request(req.url, 'PROPFIND', { headers: req.headers, body: req.body });
          if (probe.status !== 207) throw new Error(`PROPFIND through the relay answered ${probe.status}`);
          const shape = { connections: 8, threads: 2 };
          await runWrk(req, { ...shape, durationSeconds: WARMUP_S });
          const before = cpuMicros(relay.pid);
          const wrk = await runWrk(req, { ...shape, durationSeconds: DURATION_S });
          const perRequest = (cpuMicros(relay.pid) - before) / wrk.requests;
          (anyMethod ? cpu.on : cpu.off).push(perRequest);
          if (wrk.non2xx > 0 || wrk.socketErrors > 0) throw new Error(`${wrk.non2xx} non-2xx answers, ${wrk.socketErrors} socket errors`);
          (anyMethod ? totals.on : totals.off).push(wrk.requestsPerSecond);
          rows.push([String(round), anyMethod ? 'on (default)' : 'off', fixed(wrk.requestsPerSecond, 0), fixed(perRequest, 1), fixed(wrk.p50Ms, 2), fixed(wrk.p99Ms, 2)]);
        } finally {
          await relay.stop();
        }
      }
    }
    // One more run with the shim on, under the profiler: the shim's own share of the relay's work,
    // a figure that other load on the machine does not move much.
    const profileDir = await mkdtemp(path.join(tmpdir(), 'davtap-shim-prof-'));
    try {
      const relay = await startRelay(upstream, true, profileDir);
      let requests = 0;
      try {
        const req = { url: `${relay.url}/bench/`, method: 'PROPFIND', headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY };
        requests = (await runWrk(req, { connections: 8, threads: 2, durationSeconds: DURATION_S })).requests;
      } finally {
        await relay.stop();
      }
      const spots = hotSpots(await mainProfile(profileDir), Number.MAX_SAFE_INTEGER);
      const busyMs = spots.filter((h) => h.name !== '(idle)').reduce((a, h) => a + h.selfMs, 0);
      const shimMs = spots.filter((h) => h.where.includes('method-shim')).reduce((a, h) => a + h.selfMs, 0);
      profiled = { requests, busyMs, shimMs };
    } finally {
      await rm(profileDir, { recursive: true, force: true });
    }
  } finally {
    await apache.stop();
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const change = (mean(totals.on) / mean(totals.off) - 1) * 100;
  const cpuChange = (mean(cpu.on) / mean(cpu.off) - 1) * 100;
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${fixed(n, 1)} %`;
  return [
    '## Method shim: cost on the normal path',
    '',
    `PROPFIND Depth 0 (small) through davtap's relay alone (no store, no analyzer), Apache mod_dav upstream, wrk 8 connections, ${DURATION_S} s per run after ${WARMUP_S} s warm-up; shim off and on alternate, ${ROUNDS} rounds.`,
    '',
    table(['round', 'any method (shim)', 'req/s', 'relay CPU µs/request', 'p50 ms', 'p99 ms'], rows),
    '',
    `Mean change with the shim on: ${signed(change)} req/s, ${signed(cpuChange)} relay CPU time per request.`,
    'On a shared machine req/s swings with other load; CPU time per request, read from /proc for the relay process alone, is the steadier figure.',
    '',
    `Profiled run with the shim on (${profiled.requests} requests, node --cpu-prof): the shim's own functions took ${fixed(profiled.shimMs, 1)} ms, ${fixed((profiled.shimMs * 1000) / profiled.requests, 2)} µs per request, ${fixed((100 * profiled.shimMs) / profiled.busyMs, 2)} % of the relay's busy time (${fixed((profiled.busyMs * 1000) / profiled.requests, 1)} µs per request).`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await run());
