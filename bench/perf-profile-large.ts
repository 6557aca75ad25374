// `node --import tsx bench/perf-profile-large.ts get|propfind [BYTES] [LABEL]`: where davtap's CPU
// goes on one large body (the large-body part of bench/perf.bench.ts). Runs the built davtap with
// `node --cpu-prof` in front of a generated origin (a GET of BYTES, default 256 MiB; or a
// Depth-infinity 207 of BYTES), reads the body once with curl, then prints davtap's rate, peak RSS
// and CPU per thread, and the top self-time functions of each thread (relay, pipeline worker);
// with LABEL, also writes them to bench/profiles/LABEL.txt. DAVTAP_ARGS adds davtap options;
// PROFILE=0 runs without the profiler (its own cost is not small on a fast transfer).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { startDavtap } from '../test/helpers/davtap-process.js';
import { byComponent, hotSpots, type Profile } from './lib/cpuprofile.js';
import { waitIdle } from './lib/idle.js';
import { startListingOrigin } from './lib/listing-origin.js';
import { sampleRss, startBigOrigin } from './lib/memory.js';
import { fixed, table } from './lib/table.js';
import { cpuDelta, threadCpu } from './lib/threads.js';

const kind = process.argv[2] === 'propfind' ? 'propfind' : 'get';
const bytes = Number(process.argv[3] ?? 256 * 1024 * 1024);
const label = process.argv[4];
const profile = process.env.PROFILE !== '0';

function curl(url: string): Promise<string> {
  const args = ['-s', '-o', '/dev/null', '--noproxy', '*', '-X', kind === 'get' ? 'GET' : 'PROPFIND', '-H', 'Depth: infinity', '-w', '%{http_code} %{size_download} %{speed_download}', url];
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
}

const origin = kind === 'get' ? await startBigOrigin(bytes) : await startListingOrigin(bytes);
const work = await mkdtemp(path.join(tmpdir(), 'davtap-perf-profile-large-'));
const out: string[] = [];
try {
  const dir = path.join(work, 'prof');
  await mkdir(dir);
  const args = ['--upstream', origin.url.replace(/\/$/, ''), '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, 'p.db'), ...(process.env.DAVTAP_ARGS ?? '').split(' ').filter(Boolean)];
  const proc = await startDavtap(args, { stdout: 'ignore', nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [], stopTimeoutMs: 60_000 });
  // Its start (the CA, the store) is not what is measured: idle first.
  await waitIdle(proc.pid, 30_000);
  const rss = sampleRss(proc.pid, 50);
  const before = threadCpu(proc.pid)!;
  const [status, size, speed] = (await curl(`${proc.url}/big`)).split(' ').map(Number);
  await waitIdle(proc.pid, 120_000);
  const cpu = cpuDelta(threadCpu(proc.pid)!, before);
  const peak = rss.stop();
  await proc.stop();
  out.push(
    `davtap ${kind === 'get' ? 'GET' : 'PROPFIND 207'} of ${size} bytes (status ${status}): ${fixed(speed! / 1e6, 0)} MB/s${profile ? ' under the profiler' : ''}, ` +
      `peak RSS ${fixed((Math.max(peak.peakKiB, peak.hwmKiB) * 1024) / 1e6, 0)} MB, CPU ms relay / pipeline / other ${cpu.relayMs} / ${cpu.pipelineMs} / ${cpu.otherMs}; ` +
      `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
  );
  for (const f of profile ? (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile')).sort() : []) {
    const thread = Number(f.split('.').at(-3));
    const p = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as Profile;
    const spots = hotSpots(p, Number.MAX_SAFE_INTEGER);
    const total = spots.reduce((a, h) => a + h.selfMs, 0);
    const idle = spots.filter((h) => h.name === '(idle)').reduce((a, h) => a + h.selfMs, 0);
    out.push(`## ${thread === 0 ? 'relay (main thread)' : thread === 1 ? 'pipeline worker' : `thread ${thread}`}: ${fixed(total, 0)} ms profiled (start included), ${fixed(total - idle, 0)} ms busy`, '');
    out.push(table(['component', 'self ms', '%'], byComponent(p).slice(0, 8).map((c) => [c.component, fixed(c.selfMs, 0), fixed(c.percent, 1)])), '');
    out.push(table(['function', 'where', 'self ms', '%'], hotSpots(p, 25).map((h) => [h.name, h.where, fixed(h.selfMs, 0), fixed(h.percent, 1)])), '');
  }
} finally {
  await origin.close();
  await rm(work, { recursive: true, force: true });
}
const text = out.join('\n');
if (label) {
  const profiles = path.join(path.dirname(new URL(import.meta.url).pathname), 'profiles');
  await mkdir(profiles, { recursive: true });
  await writeFile(path.join(profiles, `${label}.txt`), text + '\n');
}
process.stdout.write(text + '\n');
