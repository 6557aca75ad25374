// The cost of relaying any method token (src/proxy/method-shim.ts) on the normal path: small
// PROPFIND Depth 0 requests/s through davtap's relay with the shim (the default) and without it
// (anyMethod: false), against Debian's Apache mod_dav, 8 keep-alive connections (wrk). The two
// variants alternate, twice, in the same run, so that drift on a shared machine shows.
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, startApache } from '../test/helpers/apache.js';
import { tiedToParent } from '../test/helpers/davtap-process.js';
import { fixed, table } from './lib/table.js';
import { runWrk } from './lib/wrk.js';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = 2;
const ROUNDS = 2;
const CHILD = fileURLToPath(new URL('./lib/relay-only.ts', import.meta.url));
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';

interface Relay {
  url: string;
  stop(): Promise<void>;
}

async function startRelay(upstream: string, anyMethod: boolean): Promise<Relay> {
  const args = ['--import', 'tsx', CHILD, upstream, ...(anyMethod ? [] : ['--no-any-method'])];
  const child = spawn(...tiedToParent(process.execPath, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay not listening after 10 s: ${out}`)), 10_000);
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const m = /listening (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`relay exited with ${code}: ${out}`));
      });
    });
    return { url: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function run(): Promise<string> {
  const apache = await startApache({ accessLog: false });
  const rows: string[][] = [];
  const totals = { on: [] as number[], off: [] as number[] };
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
          const wrk = await runWrk(req, { ...shape, durationSeconds: DURATION_S });
          if (wrk.non2xx > 0 || wrk.socketErrors > 0) throw new Error(`${wrk.non2xx} non-2xx answers, ${wrk.socketErrors} socket errors`);
          (anyMethod ? totals.on : totals.off).push(wrk.requestsPerSecond);
          rows.push([String(round), anyMethod ? 'on (default)' : 'off', fixed(wrk.requestsPerSecond, 0), fixed(wrk.p50Ms, 2), fixed(wrk.p99Ms, 2)]);
        } finally {
          await relay.stop();
        }
      }
    }
  } finally {
    await apache.stop();
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const change = (mean(totals.on) / mean(totals.off) - 1) * 100;
  return [
    '## Method shim: cost on the normal path',
    '',
    `PROPFIND Depth 0 (small) through davtap's relay alone (no store, no analyzer), Apache mod_dav upstream, wrk 8 connections, ${DURATION_S} s per run after ${WARMUP_S} s warm-up; shim off and on alternate, ${ROUNDS} rounds.`,
    '',
    table(['round', 'any method (shim)', 'req/s', 'p50 ms', 'p99 ms'], rows),
    '',
    `Mean change with the shim on: ${change >= 0 ? '+' : ''}${fixed(change, 1)} % req/s.`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await run());
