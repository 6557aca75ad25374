// `npm run perf-profile [LABEL]`: where davtap's CPU goes under the small-PROPFIND flood of
// bench/perf.bench.ts. Runs the built davtap with `node --cpu-prof` against Apache, wrk -t2 -c8 for
// PERF_DURATION seconds (default 8), then writes the top self-time functions of each thread (relay,
// pipeline worker) to bench/profiles/LABEL.txt and prints them. Node writes one profile per thread,
// named CPU.<date>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the relay, 1 the pipeline worker.
// PROFILE_TARGET=relay-only profiles davtap's relay without the pipeline (bench/lib/relay-only.ts)
// instead; PROFILE_CONNECTIONS=1 profiles the 1-connection latency run (wrk -t1 -c1) instead of -t2 -c8.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { startApache } from '../test/helpers/apache.js';
import { startDavtap } from '../test/helpers/davtap-process.js';
import { startListeningChild } from './lib/bare-relay-process.js';
import { byComponent, hotSpots, type Profile } from './lib/cpuprofile.js';
import { waitIdle } from './lib/idle.js';
import { fixed, table } from './lib/table.js';
import { runWrk } from './lib/wrk.js';

const DURATION_S = Number(process.env.PERF_DURATION ?? 8);
const label = process.argv[2] ?? 'profile';
const RELAY_ONLY = process.env.PROFILE_TARGET === 'relay-only';
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 8);
const THREADS = CONNECTIONS > 1 ? 2 : 1;
const RELAY_ONLY_SCRIPT = new URL('./lib/relay-only.ts', import.meta.url).pathname;
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';

const work = await mkdtemp(path.join(tmpdir(), 'davtap-perf-profile-'));
const apache = await startApache({ accessLog: false });
const out: string[] = [];
try {
  await mkdir(path.join(apache.dataDir, 'bench'));
  for (let i = 0; i < 10; i++) await writeFile(path.join(apache.dataDir, 'bench', `file-${i}.txt`), `file ${i}\n`);
  await new Promise((r) => setTimeout(r, 1_100));
  const dir = path.join(work, 'prof');
  await mkdir(dir);
  const proc = RELAY_ONLY
    ? await startListeningChild(['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', RELAY_ONLY_SCRIPT, apache.url], 'relay only')
    : await startDavtap(['--upstream', apache.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, 'p.db')], {
        stdout: 'ignore',
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        stopTimeoutMs: 60_000,
      });
  const req = { url: `${proc.url}/bench/`, method: 'PROPFIND', headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY };
  const w = await runWrk(req, { connections: CONNECTIONS, threads: THREADS, durationSeconds: DURATION_S });
  await waitIdle(proc.pid, 120_000);
  await proc.stop();
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  out.push(`${RELAY_ONLY ? 'relay only' : 'davtap'} under wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION_S}s, small PROPFIND Depth 0: ${w.requests} requests (${fixed(w.requestsPerSecond, 0)} req/s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`, '');
  for (const f of files) {
    const thread = Number(f.split('.').at(-3));
    const profile = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as Profile;
    const totalMs = profile.timeDeltas.reduce((a, b) => a + b, 0) / 1000;
    const name = thread === 0 ? 'relay (main thread)' : thread === 1 ? 'pipeline worker' : `thread ${thread}`;
    const idle = hotSpots(profile, Number.MAX_SAFE_INTEGER).filter((h) => h.name === '(idle)').reduce((a, h) => a + h.selfMs, 0);
    out.push(`## ${name}: ${fixed(totalMs, 0)} ms profiled, ${fixed(totalMs - idle, 0)} ms busy (${fixed(((totalMs - idle) * 1000) / w.requests, 1)} µs per request)`, '');
    out.push(table(['component', 'self ms', '%'], byComponent(profile).slice(0, 8).map((c) => [c.component, fixed(c.selfMs, 0), fixed(c.percent, 1)])), '');
    out.push(table(['function', 'where', 'self ms', '%'], hotSpots(profile, 30).map((h) => [h.name, h.where, fixed(h.selfMs, 0), fixed(h.percent, 1)])), '');
  }
} finally {
  await apache.stop();
  await rm(work, { recursive: true, force: true });
}
const text = out.join('\n');
const profiles = path.join(path.dirname(new URL(import.meta.url).pathname), 'profiles');
await mkdir(profiles, { recursive: true });
await writeFile(path.join(profiles, `${label}.txt`), text + '\n');
process.stdout.write(text + '\n');
