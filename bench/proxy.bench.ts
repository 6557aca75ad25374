// Proxy throughput, latency and memory against Debian's Apache mod_dav on loopback: PROPFIND
// Depth 0 (small) and Depth 1 over a 1,000-file collection, 8 keep-alive connections (wrk), direct
// vs davtap (reverse, --no-ui, store on) vs davtap in forward mode (absolute-form requests) vs
// mitmdump, with references (a bare node:http relay, a blind TCP pipe, nginx as a reverse proxy);
// then a 1 GiB response read at 10 MB/s through davtap while its resident set is sampled.
import http from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request, startApache, type ApacheServer } from '../test/helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../test/helpers/davtap-process.js';
import { byComponent, hotSpots, profilesIn } from './lib/cpuprofile.js';
import { waitIdle } from './lib/idle.js';
import { readRss, sampleRss, slowGet, startBigOrigin } from './lib/memory.js';
import { startBareRelay, startListeningChild } from './lib/bare-relay-process.js';
import { nginxInstalled, startNginxProxy } from './lib/nginx-proxy.js';
import { mitmdumpInstalled, startMitmdump } from './lib/mitmdump.js';
import { fixed, mib, table } from './lib/table.js';
import { runWrk, type WrkRequest, type WrkResult } from './lib/wrk.js';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = 2;
const CONNECTIONS = 8;
const THREADS = 2;
const FILES = 1000;
const MEMORY_BYTES = Number(process.env.BENCH_MEMORY_BYTES ?? 1024 ** 3);
const READ_RATE = 10_000_000; // bytes per second
const RSS_LIMIT_KIB = 150 * 1024;
/** The reference relay (bench/lib/bare-relay.ts): Node's HTTP stack alone, none of davtap's work. */
const BARE = 'bare node:http relay';
/** The floor for a relay in Node (bench/lib/tcp-pipe.ts): bytes copied, no HTTP at all. */
const PIPE = 'blind TCP pipe (node:net)';
/** A tuned C gateway on the same cores (bench/lib/nginx-proxy.ts). */
const NGINX = 'nginx reverse proxy';
/** davtap as an explicit HTTP proxy (no --upstream): the client sends absolute-form requests. */
const FORWARD = 'davtap forward';
const PIPE_SCRIPT = new URL('./lib/tcp-pipe.ts', import.meta.url).pathname;

// What a typical client asks for when listing (rclone, davfs2 and cadaver ask for about this).
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';

interface Scenario {
  name: string;
  path: string;
  depth: string;
  connections: number;
  threads: number;
  /** The scenario the targets are set for. */
  small: boolean;
}
const SCENARIOS: Scenario[] = [
  { name: 'PROPFIND Depth 0 (small)', path: '/bench/', depth: '0', connections: CONNECTIONS, threads: THREADS, small: true },
  { name: `PROPFIND Depth 1 (${FILES} files)`, path: '/bench/', depth: '1', connections: CONNECTIONS, threads: THREADS, small: false },
  // Without queueing behind 7 other connections: the latency a single client sees.
  { name: 'PROPFIND Depth 0 (small), 1 connection', path: '/bench/', depth: '0', connections: 1, threads: 1, small: false },
];

interface Target {
  name: string;
  url: string; // base, no trailing slash
  /** A forward proxy: requests go to `url` with absolute-form targets on this origin (no trailing slash). */
  origin?: string;
  pid?: number;
  stop(): Promise<void>;
}

interface Measured {
  target: string;
  scenario: string;
  wrk: WrkResult;
  bodyBytes: number;
  /** Seconds the target kept a core busy after the load ended (undefined: still busy after 120 s). */
  drainSeconds?: number | undefined;
}

async function populate(apache: ApacheServer): Promise<void> {
  // Files are written straight into the DocumentRoot (1,000 PUTs would only add set-up time);
  // Apache only reads them, so root ownership is fine.
  await mkdir(path.join(apache.dataDir, 'bench'));
  const width = String(FILES).length;
  for (let i = 0; i < FILES; i++) {
    await writeFile(path.join(apache.dataDir, 'bench', `file-${String(i).padStart(width, '0')}.txt`), `file ${i}\n`.repeat(1 + (i % 7)));
  }
  // Apache gives weak ETags (W/"…") for a second after a write: wait, so that every target is
  // measured on the same bytes.
  await new Promise((r) => setTimeout(r, 1_100));
}

function davtapArgs(upstream: string, db: string): string[] {
  return ['--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', db];
}

async function davtapTarget(
  upstream: string,
  work: string,
  label: string,
  opts: { nodeArgs?: string[]; extraArgs?: string[]; stopTimeoutMs?: number } = {},
): Promise<Target & { proc: DavtapProcess }> {
  const args = [...davtapArgs(upstream, path.join(work, `${label}.db`)), ...(opts.extraArgs ?? [])];
  const proc = await startDavtap(args, { stdout: 'ignore', nodeArgs: opts.nodeArgs, stopTimeoutMs: opts.stopTimeoutMs });
  return { name: 'davtap', url: proc.url, pid: proc.pid, proc, stop: async () => void (await proc.stop()) };
}

/** davtap in forward mode: no --upstream, its interception CA in the bench's temp dir. */
async function davtapForwardTarget(upstream: string, work: string): Promise<Target & { db: string }> {
  const db = path.join(work, 'forward.db');
  const args = ['--listen', '127.0.0.1:0', '--no-ui', '--db', db, '--ca-dir', path.join(work, 'forward-ca')];
  // The CA is created at start-up: allow for the key generation.
  const proc = await startDavtap(args, { stdout: 'ignore', readyTimeoutMs: 60_000 });
  return { name: FORWARD, url: proc.url, origin: upstream.replace(/\/$/, ''), pid: proc.pid, db, stop: async () => void (await proc.stop()) };
}

/** One request through an explicit HTTP proxy, in absolute form, as curl -x sends it. */
function requestVia(
  proxy: string,
  url: string,
  method: string,
  opts: { headers: Record<string, string>; body: string },
): Promise<{ status: number; body: Buffer }> {
  const via = new URL(proxy);
  const body = Buffer.from(opts.body);
  const headers = { ...opts.headers, 'Content-Length': String(body.length) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: via.hostname, port: via.port, method, path: url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url} via ${proxy}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The flows a davtap database holds, by mode. */
function flowModes(db: string): Map<string, number> {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const rows = conn.prepare('SELECT mode, count(*) AS n FROM flows GROUP BY mode').all() as Array<{ mode: string; n: number }>;
    return new Map(rows.map((r) => [r.mode, r.n]));
  } finally {
    conn.close();
  }
}

async function measure(target: Target, scenario: Scenario, durationSeconds: number): Promise<Measured> {
  const headers: Record<string, string> = { Depth: scenario.depth, 'Content-Type': 'application/xml; charset=utf-8' };
  const absolute = target.origin !== undefined ? `${target.origin}${scenario.path}` : undefined;
  // To a forward proxy: the origin's URL as the target and its authority as Host (as curl -x sends).
  if (target.origin !== undefined) headers.Host = new URL(target.origin).host;
  const req: WrkRequest = {
    url: `${target.url}${scenario.path}`,
    ...(absolute !== undefined ? { target: absolute } : {}),
    method: 'PROPFIND',
    headers,
    body: PROPFIND_BODY,
  };
  // One request first: the body size is the same through every proxy, or the comparison is void.
  const probe =
    absolute !== undefined
      ? await requestVia(target.url, absolute, 'PROPFIND', { headers, body: PROPFIND_BODY })
      : await request(req.url, 'PROPFIND', { headers, body: PROPFIND_BODY });
  if (probe.status !== 207) throw new Error(`${target.name}: ${scenario.name} answered ${probe.status}`);
  const shape = { connections: scenario.connections, threads: scenario.threads };
  await runWrk(req, { ...shape, durationSeconds: WARMUP_S });
  const wrk = await runWrk(req, { ...shape, durationSeconds });
  return { target: target.name, scenario: scenario.name, wrk, bodyBytes: probe.body.length };
}

function verdict(ok: boolean): string {
  return ok ? 'met' : '**missed**';
}

async function memoryRun(work: string, extraArgs: string[] = []): Promise<{ text: string; ok: boolean }> {
  const origin = await startBigOrigin(MEMORY_BYTES);
  let target: (Target & { proc: DavtapProcess }) | undefined;
  try {
    target = await davtapTarget(origin.url, work, `memory${extraArgs.join('')}`, { extraArgs });
    const idle = readRss(target.pid!);
    const sampler = sampleRss(target.pid!, 50);
    const boundMs = (MEMORY_BYTES / READ_RATE) * 1000 * 2 + 30_000;
    const read = await slowGet(`${target.url}/big.bin`, READ_RATE, boundMs).catch((err: unknown) => {
      sampler.stop();
      throw err;
    });
    const rss = sampler.stop();
    const ok = rss.peakKiB < RSS_LIMIT_KIB && rss.hwmKiB < RSS_LIMIT_KIB;
    const complete = read.bytes === MEMORY_BYTES && read.status === 200;
    const text = [
      `### Memory: ${(MEMORY_BYTES / 1024 ** 3).toFixed(2)} GiB response read at ${READ_RATE / 1e6} MB/s through davtap` +
        (extraArgs.length ? ` with \`${extraArgs.join(' ')}\`` : ' (default options)'),
      '',
      table(
        ['measure', 'value'],
        [
          ['bytes received by the client', `${read.bytes}${complete ? ' (complete)' : ` of ${MEMORY_BYTES} (INCOMPLETE, status ${read.status})`}`],
          ['transfer time', `${fixed(read.seconds, 1)} s (${fixed(read.bytes / read.seconds / 1e6, 1)} MB/s)`],
          ['davtap RSS before the transfer', idle ? mib(idle.rssKiB) : 'n/a'],
          ['davtap peak RSS, sampled every 50 ms (VmRSS)', `${mib(rss.peakKiB)} (${rss.samples} samples)`],
          ['davtap peak RSS, kernel high-water mark (VmHWM)', mib(rss.hwmKiB)],
          ['target: peak RSS < 150 MB', verdict(ok && complete)],
        ],
      ),
      '',
    ].join('\n');
    return { text, ok: ok && complete };
  } finally {
    await target?.stop();
    await origin.close();
  }
}

async function profileDavtap(upstream: string, work: string, scenario: Scenario, index: number): Promise<string> {
  const dir = path.join(work, `cpu-prof-${index}`);
  await mkdir(dir, { recursive: true });
  // The profile is written only when davtap exits by itself: give it time to drain its store.
  const target = await davtapTarget(upstream, work, `profile-${index}`, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`], stopTimeoutMs: 30_000 });
  let stopped: Awaited<ReturnType<DavtapProcess['stop']>>;
  let stopSeconds = 0;
  try {
    await measure(target, scenario, Math.min(DURATION_S, 5));
  } finally {
    const stopStarted = Date.now();
    stopped = await target.proc.stop();
    stopSeconds = (Date.now() - stopStarted) / 1000;
  }
  const profiles = await profilesIn(dir);
  const title = `### Where davtap spends its time: ${scenario.name} (node --cpu-prof, self time, all threads)`;
  if (profiles.length === 0) {
    return `${title}\n\n(no profile written: davtap ${stopped.killed ? 'did not exit within 30 s of SIGTERM and was killed' : `exited with ${stopped.code ?? stopped.signal}`})\n`;
  }
  const stopNote = `${profiles.length} thread profile(s); davtap took ${fixed(stopSeconds, 1)} s to exit after SIGTERM at the end of the load.`;
  return [
    title,
    '',
    stopNote,
    '',
    table(['component', 'self ms', '%'], byComponent(profiles).slice(0, 10).map((c) => [c.component, fixed(c.selfMs, 0), fixed(c.percent, 1)])),
    '',
    table(['function', 'where', 'self ms', '%'], hotSpots(profiles, 12).map((h) => [h.name, h.where, fixed(h.selfMs, 0), fixed(h.percent, 1)])),
    '',
  ].join('\n');
}

export async function run(): Promise<string> {
  const work = await mkdtemp(path.join(tmpdir(), 'davtap-bench-proxy-'));
  const apache = await startApache({ accessLog: false });
  const out: string[] = [];
  try {
    await populate(apache);
    const upstream = apache.url;
    const results: Measured[] = [];
    const starters: Array<() => Promise<Target>> = [
      async () => ({ name: 'direct', url: upstream.replace(/\/$/, ''), pid: apache.pid, stop: async () => {} }),
      () => davtapTarget(upstream, work, 'load'),
    ];
    let forwardDb: string | undefined;
    starters.push(async () => {
      const f = await davtapForwardTarget(upstream, work);
      forwardDb = f.db;
      return f;
    });
    starters.push(async () => {
      const r = await startBareRelay(upstream);
      return { name: BARE, url: r.url, pid: r.pid, stop: r.stop };
    });
    starters.push(async () => {
      const r = await startListeningChild(['--import', 'tsx', PIPE_SCRIPT, upstream], 'TCP pipe');
      return { name: PIPE, url: r.url, pid: r.pid, stop: r.stop };
    });
    if (nginxInstalled()) {
      starters.push(async () => {
        const n = await startNginxProxy(upstream);
        return { name: NGINX, url: n.url, pid: n.pid, stop: n.stop };
      });
    }
    if (mitmdumpInstalled()) {
      starters.push(async () => {
        const m = await startMitmdump(upstream);
        return { name: 'mitmdump', url: m.url.replace(/\/$/, ''), pid: m.pid, stop: m.stop };
      });
    }
    let davtapHwm: number | undefined;
    let forwardHwm: number | undefined;
    // All targets run at once (an idle one costs nothing) and each scenario measures them back to
    // back, so that load from elsewhere on this shared machine skews the ratios less.
    const targets: Target[] = [];
    try {
      for (const start of starters) targets.push(await start());
      for (const scenario of SCENARIOS) {
        for (const target of targets) {
          const m = await measure(target, scenario, DURATION_S);
          // What a proxy still does after its last response (davtap: analysing and storing a
          // backlog) must not run during the next target's measurement.
          if (target.pid !== undefined && target.name !== 'direct') m.drainSeconds = await waitIdle(target.pid, 120_000);
          results.push(m);
        }
      }
      const davtap = targets.find((t) => t.name === 'davtap');
      davtapHwm = davtap ? readRss(davtap.pid!)?.hwmKiB : undefined;
      const forward = targets.find((t) => t.name === FORWARD);
      forwardHwm = forward ? readRss(forward.pid!)?.hwmKiB : undefined;
    } finally {
      for (const target of targets) await target.stop();
    }

    // The forward figures stand only if the requests went through davtap's forward relay: its store,
    // complete once it has stopped, must hold forward flows and nothing else.
    let forwardNote: string | undefined;
    if (forwardDb !== undefined) {
      const modes = flowModes(forwardDb);
      const forwardFlows = modes.get('forward') ?? 0;
      const others = [...modes].filter(([mode]) => mode !== 'forward');
      if (forwardFlows === 0 || others.length > 0) {
        throw new Error(`${FORWARD}: its store holds ${[...modes].map(([m, n]) => `${n} ${m}`).join(', ') || 'no'} flows, expected forward flows only`);
      }
      forwardNote = `${FORWARD} recorded ${forwardFlows} flows, all in forward mode.`;
    }

    out.push(
      `### Load: keep-alive connections, wrk -t${THREADS} -c${CONNECTIONS} (or -t1 -c1) -d${DURATION_S}s --latency, after a ${WARMUP_S} s warm-up`,
      '',
      table(
        ['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'body bytes', 'busy after load'],
        results.map((r) => [
          r.scenario,
          r.target,
          fixed(r.wrk.requestsPerSecond, 0),
          fixed(r.wrk.p50Ms, 3),
          fixed(r.wrk.p99Ms, 3),
          r.wrk.requests,
          r.wrk.non2xx + r.wrk.socketErrors,
          r.bodyBytes === results.find((d) => d.target === 'direct' && d.scenario === r.scenario)?.bodyBytes ? r.bodyBytes : `${r.bodyBytes} (differs from direct!)`,
          r.target === 'direct' ? '' : 'drainSeconds' in r ? (r.drainSeconds === undefined ? '> 120 s' : `${fixed(r.drainSeconds, 1)} s`) : '',
        ]),
      ),
      '',
    );

    const get = (target: string, scenario: Scenario) => results.find((r) => r.target === target && r.scenario === scenario.name);
    const ratioRows: Array<Array<string | number>> = [];
    // Scenarios whose figures call for a profile: the target scenario when a target is missed, any
    // other when davtap gives less than half of direct's throughput.
    const toProfile: Scenario[] = [];
    for (const scenario of SCENARIOS) {
      const direct = get('direct', scenario)!;
      const davtap = get('davtap', scenario)!;
      const mitm = get('mitmdump', scenario);
      const small = scenario.small;
      const vsDirect = davtap.wrk.requestsPerSecond / direct.wrk.requestsPerSecond;
      const added = davtap.wrk.p50Ms - direct.wrk.p50Ms;
      let missed = small ? vsDirect < 0.5 || added >= 0.5 : vsDirect < 0.5 && scenario.connections > 1;
      ratioRows.push([scenario.name, 'davtap / direct req/s', `${fixed(vsDirect)}x`, small ? '≥ 0.5x' : '', small ? verdict(vsDirect >= 0.5) : '']);
      if (mitm) {
        const vsMitm = davtap.wrk.requestsPerSecond / mitm.wrk.requestsPerSecond;
        ratioRows.push([scenario.name, 'davtap / mitmdump req/s', `${fixed(vsMitm)}x`, small ? '≥ 5x' : '', small ? verdict(vsMitm >= 5) : '']);
        if (small) missed ||= vsMitm < 5;
      }
      ratioRows.push([scenario.name, 'p50 added by davtap', `${fixed(added, 3)} ms`, small ? '< 0.5 ms' : '', small ? verdict(added < 0.5) : '']);
      const forward = get(FORWARD, scenario);
      if (forward) {
        ratioRows.push([scenario.name, `${FORWARD} / direct req/s`, `${fixed(forward.wrk.requestsPerSecond / direct.wrk.requestsPerSecond)}x`, '', '']);
        ratioRows.push([scenario.name, `p50 added by ${FORWARD}`, `${fixed(forward.wrk.p50Ms - direct.wrk.p50Ms, 3)} ms`, '', '']);
        ratioRows.push([scenario.name, `${FORWARD} / davtap req/s`, `${fixed(forward.wrk.requestsPerSecond / davtap.wrk.requestsPerSecond)}x`, '', '']);
      }
      const bare = get(BARE, scenario);
      if (bare) {
        ratioRows.push([scenario.name, `${BARE} / direct req/s`, `${fixed(bare.wrk.requestsPerSecond / direct.wrk.requestsPerSecond)}x`, '(reference)', '']);
        ratioRows.push([scenario.name, `davtap / ${BARE} req/s`, `${fixed(davtap.wrk.requestsPerSecond / bare.wrk.requestsPerSecond)}x`, '(reference)', '']);
      }
      // What the machine allows any relay: wrk, Apache and the relay share the same 2 cores.
      for (const name of [PIPE, NGINX]) {
        const ref = get(name, scenario);
        if (ref) {
          ratioRows.push([scenario.name, `${name} / direct req/s`, `${fixed(ref.wrk.requestsPerSecond / direct.wrk.requestsPerSecond)}x`, '(reference)', '']);
          ratioRows.push([scenario.name, `p50 added by ${name}`, `${fixed(ref.wrk.p50Ms - direct.wrk.p50Ms, 3)} ms`, '(reference)', '']);
        }
      }
      if (missed) toProfile.push(scenario);
    }
    if (!mitmdumpInstalled()) ratioRows.push(['', 'davtap / mitmdump req/s', 'n/a (mitmdump not installed)', '≥ 5x', '']);
    out.push('### Ratios', '', table(['scenario', 'measure', 'value', 'target', ''], ratioRows), '');
    if (davtapHwm !== undefined) out.push(`davtap's peak RSS over the load runs (VmHWM): ${mib(davtapHwm)}.`, '');
    if (forwardHwm !== undefined) out.push(`${FORWARD}'s peak RSS over the load runs (VmHWM): ${mib(forwardHwm)}.`, '');
    if (forwardNote !== undefined) out.push(forwardNote, '');

    // A missed target comes with the profile that explains it.
    for (const [i, scenario] of toProfile.entries()) out.push(await profileDavtap(upstream, work, scenario, i));

    const memory = await memoryRun(work);
    out.push(memory.text);
    if (!memory.ok) {
      // Tells whether the tap's body capture (default --max-body 64MiB) or the relay holds the memory.
      out.push((await memoryRun(work, ['--max-body', '1MiB'])).text);
    }
  } finally {
    await apache.stop();
    await rm(work, { recursive: true, force: true });
  }
  return out.join('\n');
}
