// A gzip bomb through the real davtap: an origin on loopback answers with 10 MB of gzip that
// inflates to 10 GiB, through the built CLI (`bin/davtap --upstream … --no-ui`, default --max-body
// 64 MiB) as a child process. The client reads the compressed bytes without decoding them. For
// each response, davtap's CPU time (utime + stime of every thread, from /proc/PID/stat) while it
// relays, decodes and records it, and how long after the relay the flow line came; then how long
// SIGTERM takes right after a third bomb. Decoding stops at the capture cap, so the figure is the cap's worth, not the
// bomb's: it prints `gzip-bomb-cpu=N.Ns` (the larger of the two responses) and exits 1 above 2 s.
//
//   npm run build && node --import tsx bench/hostile/gzip-bomb.ts
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipBomb } from '../../test/helpers/gzip-bomb.js';
import { responseLength } from './davtap-child.js';
import { startDavtap, type DavtapProcess } from '../../test/helpers/davtap-process.js';

const INFLATED_MIB = 10 * 1024;
const LIMIT_S = 2;

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds the process has used so far, all threads (fields 14 and 15 of /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function waitFor(what: string, test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sec = (s: number) => `${s.toFixed(1)} s`;

async function main(): Promise<number> {
  const bomb = gzipBomb(INFLATED_MIB);
  const origin = http.createServer((req, res) => {
    const is207 = req.method === 'PROPFIND';
    res.writeHead(is207 ? 207 : 200, {
      'Content-Type': is207 ? 'application/xml; charset=utf-8' : 'application/octet-stream',
      'Content-Encoding': 'gzip',
      'Content-Length': bomb.length,
    });
    res.end(bomb);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const upstream = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-bomb-bench-'));
  let davtap: DavtapProcess | undefined;
  try {
    davtap = await startDavtap(['--upstream', upstream, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'flows.db')], { stopTimeoutMs: 120_000 });
    const d = davtap;
    console.log(`gzip bomb: ${bomb.length.toLocaleString('en')} bytes of gzip inflating to ${INFLATED_MIB / 1024} GiB, through bin/davtap (default --max-body 64 MiB), pid ${d.pid}`);
    // Let start-up settle (the worker opening the store) before counting.
    await new Promise((r) => setTimeout(r, 500));
    let worst = 0;
    for (const [method, name] of [['GET', '/bomb.bin'], ['PROPFIND', '/bomb.xml']] as const) {
      const cpu0 = cpuSeconds(d.pid);
      const t0 = performance.now();
      const got = await responseLength(`${d.url}${name}`, method, { 'Accept-Encoding': 'gzip', Depth: '1' });
      if (got !== bomb.length) throw new Error(`${method} ${name}: the client got ${got} bytes, not ${bomb.length}`);
      const relayed = performance.now();
      await waitFor(`the flow line of ${name}`, () => d.stdout().includes(` ${name} `), 120_000);
      const recorded = performance.now();
      const cpu = cpuSeconds(d.pid) - cpu0;
      worst = Math.max(worst, cpu);
      console.log(
        `  ${method} ${name}: cpu ${sec(cpu)}; relayed in ${sec((relayed - t0) / 1000)}, flow recorded ${sec((recorded - relayed) / 1000)} after that`,
      );
    }
    // Stopping right after a bomb relayed: davtap records the flows it has before it exits.
    await responseLength(`${d.url}/bomb-last.xml`, 'PROPFIND', { 'Accept-Encoding': 'gzip', Depth: '1' });
    const s0 = performance.now();
    const end = await d.stop();
    const recordedLast = d.stdout().includes(' /bomb-last.xml ');
    console.log(
      `  SIGTERM right after a third bomb relayed → exit in ${sec((performance.now() - s0) / 1000)} (code ${end.code}${end.killed ? ', had to be killed' : ''}; its flow ${recordedLast ? 'recorded' : 'NOT recorded'})`,
    );
    console.log(`gzip-bomb-cpu=${worst.toFixed(1)}s`);
    return worst <= LIMIT_S && !end.killed && recordedLast ? 0 : 1;
  } finally {
    await davtap?.stop();
    origin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : String(err));
    process.exit(2);
  },
);
