// Where the sandwich compares its pairs: inline on the relay thread, or on its comparison worker
// (the default). Load: 4 clients PROPFIND a 207 of 400 responses (~100 KB) through the sandwich
// around the honest Node test gateway, in front of a raw origin that answers from memory; a probe
// client meanwhile GETs a small file through the same front listener, one request at a time. The
// two modes alternate round by round in one run (the machine's load hits both alike); figures are
// medians over the rounds: the probe's relay latency and the relay thread's event-loop delay.
// Everything runs in this process (origin, gateway, clients), the same for both modes.
// BENCH_ONLY=sandwich-compare npm run bench; COMPARE_ROUNDS=N COMPARE_ROUND_MS=M for other lengths.
import http from 'node:http';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startSandwich } from '../src/sandwich/run.js';
import type { CompareOn } from '../src/sandwich/comparer.js';
import { startGateway } from '../test/helpers/gateway.js';
import { response, startOrigin } from '../test/helpers/origin.js';
import { fixed, table } from './lib/table.js';

const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 4);
const ROUND_MS = Number(process.env.COMPARE_ROUND_MS ?? 3000);
const LOAD_CLIENTS = 4;

function multistatus(n: number): Buffer {
  const one = (i: number) =>
    `<D:response><D:href>/dav/docs/file-${i}.txt</D:href><D:propstat><D:prop><D:displayname>file ${i}</D:displayname><D:getcontentlength>${i * 7}</D:getcontentlength><D:getetag>"e${i}"</D:getetag><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
  return Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${Array.from({ length: n }, (_, i) => one(i)).join('')}</D:multistatus>\n`);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function send(url: string, method: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: number[]): number => quantile(xs, 0.5);

interface Round {
  probeP50: number;
  probeP99: number;
  eldP99: number;
  pairs: number;
}

async function round(on: CompareOn, originUrl: string): Promise<Round> {
  const gw = await startGateway('honest');
  let pairs = 0;
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: 0 },
    gateway: new URL(gw.url),
    origin: new URL(originUrl),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 },
    hooks: { onFlow: () => {} },
    onPair: () => pairs++,
    compareOn: on,
  });
  gw.upstream = new URL(sandwich.back.url);
  const front = sandwich.front.url.replace(/\/$/, '');
  const end = Date.now() + ROUND_MS;
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const probe: number[] = [];
  const load = Array.from({ length: LOAD_CLIENTS }, async () => {
    while (Date.now() < end) await send(`${front}/dav/docs/`, 'PROPFIND', { Depth: '1' });
  });
  const probing = (async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      await send(`${front}/small.txt`, 'GET');
      probe.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  })();
  await Promise.all([...load, probing]);
  eld.disable();
  await sandwich.close();
  await gw.close();
  return { probeP50: quantile(probe, 0.5), probeP99: quantile(probe, 0.99), eldP99: eld.percentile(99) / 1e6, pairs };
}

export async function run(): Promise<string> {
  const big = multistatus(400);
  const origin = await startOrigin((req, socket) => {
    if (req.method === 'PROPFIND') socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': big.length }, big));
    else socket.write(response(200, { 'Content-Type': 'text/plain', 'Content-Length': 6 }, 'small\n'));
  });
  const load = os.loadavg()[0]!;
  const results: Record<CompareOn, Round[]> = { inline: [], worker: [] };
  try {
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so that a trend in the machine's load favours neither.
      const order: CompareOn[] = i % 2 === 0 ? ['inline', 'worker'] : ['worker', 'inline'];
      for (const on of order) results[on].push(await round(on, origin.url));
    }
  } finally {
    await origin.close();
    agent.destroy();
  }
  const loadAfter = os.loadavg()[0]!;
  const summary = (on: CompareOn) => ({
    p50: median(results[on].map((r) => r.probeP50)),
    p99: median(results[on].map((r) => r.probeP99)),
    eld: median(results[on].map((r) => r.eldP99)),
    pairs: median(results[on].map((r) => r.pairs)),
  });
  const a = summary('inline');
  const b = summary('worker');
  const rows = [
    ['inline (relay thread)', fixed(a.p50), fixed(a.p99), fixed(a.eld), String(a.pairs)],
    ['worker', fixed(b.p50), fixed(b.p99), fixed(b.eld), String(b.pairs)],
    ['worker / inline', fixed(b.p50 / a.p50), fixed(b.p99 / a.p99), fixed(b.eld / a.eld), fixed(b.pairs / a.pairs)],
  ];
  return [
    '### Sandwich: comparison off the relay thread',
    '',
    `${ROUNDS} rounds of ${ROUND_MS / 1000} s per mode, alternating; ${LOAD_CLIENTS} clients PROPFIND a ${(big.length / 1024).toFixed(0)} KiB 207 (400 responses) while a probe GETs a small file; load average ${load.toFixed(1)} before, ${loadAfter.toFixed(1)} after (${os.cpus().length} cores). Medians over the rounds.`,
    '',
    table(['compared', 'probe p50 ms', 'probe p99 ms', 'relay event-loop delay p99 ms', 'pairs per round'], rows),
  ].join('\n');
}
