// The wire fuzzer (../helpers/wire-fuzz.ts) in the default suite: a few thousand seeded cases of
// mutated requests and responses through davtap in reverse mode, forward mode (absolute-form) and
// forward mode through a CONNECT tunnel, and every split point of a few first reads.
// DAVTAP_FUZZ_SEED=n replays a run, DAVTAP_FUZZ_CASES=n scales it (the cases of every test together);
// `npm run fuzz` is the long run (bench/fuzz.ts).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestProxy } from '../helpers/proxy.js';
import { FuzzHarness, formatFailures, generateCase, OriginReader, reproduce, splitCase, writeApart, type FuzzMode, type FuzzStats, type OriginReading, type OriginRequest } from '../helpers/wire-fuzz.js';

const SEED = Number(process.env.DAVTAP_FUZZ_SEED ?? 20261207);
const CASES = Number(process.env.DAVTAP_FUZZ_CASES ?? 2000);

let caDir = '';
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-fuzz-ca-'));
});
test.after.always(() => fs.rmSync(caDir, { recursive: true, force: true }));

async function harnessFor(t: ExecutionContext): Promise<FuzzHarness> {
  const harness = new FuzzHarness({ seed: SEED, lanes: 6, quietMs: 10, caseMs: 3_000, caDir, launch: (options) => startTestProxy(t, options) });
  await harness.start();
  t.teardown(() => harness.stop());
  return harness;
}

function check(t: ExecutionContext, stats: FuzzStats, cases: number): void {
  // This file again with the same cases; each failure also says how to replay its own case.
  const replay = `${reproduce(SEED, CASES)} npx ava test/proxy/fuzz.test.ts`;
  t.log(`${stats.cases} cases, ${stats.flows} flows, ${stats.originRequests} requests read by the origin (${stats.retried} sent again), outcomes ${JSON.stringify(stats.outcomes)}, origin refused ${JSON.stringify(stats.originRejects)}`);
  t.is(stats.cases, cases, 'every case ran');
  t.true(stats.flows > 0 && stats.originRequests > 0, 'the cases reached davtap and the origin');
  t.is(stats.crashes, 0, `uncaught exceptions; replay with ${replay}\n${formatFailures(stats.failures)}`);
  t.is(stats.internalFaults, 0, `EDAVTAP flows; replay with ${replay}\n${formatFailures(stats.failures)}`);
  t.is(stats.desyncs, 0, `desyncs; replay with ${replay}\n${formatFailures(stats.failures)}`);
  t.deepEqual(stats.failures, [], `replay with ${replay}\n${formatFailures(stats.failures)}`);
}

test.serial('the harness’s split writes arrive as separate reads', async (t) => {
  const reads: number[] = [];
  const server = net.createServer((s) => s.on('data', (d: Buffer) => reads.push(d.length)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const socket = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, noDelay: true });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const bytes = Buffer.from('PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  await writeApart(socket, Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  for (let i = 0; i < 100 && reads.length < bytes.length; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(reads, Array.from(bytes, () => 1));
});

test('the origin’s lenient reading sees the request hidden by a request framed two ways; its strict reading refuses it', (t) => {
  const bytes = Buffer.from('POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
  const read = (reading: OriginReading) => {
    const requests: OriginRequest[] = [];
    const errors: string[] = [];
    const reader = new OriginReader(1, reading, { head: (r) => requests.push(r), complete: () => {}, error: (why) => errors.push(why) });
    // Byte by byte: the reading does not depend on how the bytes come.
    for (let i = 0; i < bytes.length; i++) reader.feed(bytes.subarray(i, i + 1));
    return { targets: requests.map((r) => `${r.target}${r.complete ? '' : ' (incomplete)'}`), errors };
  };
  t.deepEqual(read('lenient'), { targets: ['/a', '/smuggled'], errors: [] });
  t.deepEqual(read('strict'), { targets: [], errors: ['Transfer-Encoding with Content-Length'] });
});

// The cases of the run, by mode (forward mode costs more per case: node:http on both sides).
const share: Array<[FuzzMode, number]> = [
  ['reverse', 0.4],
  ['forward', 0.35],
  ['connect', 0.25],
];
let firstIndex = 0;
for (const [mode, part] of share) {
  const count = Math.max(1, Math.round(CASES * part * 0.8));
  const first = firstIndex;
  firstIndex += count;
  test.serial(`${mode}: ${count} fuzzed cases leave davtap running, each flow recorded once, as the origin read it`, async (t) => {
    const harness = await harnessFor(t);
    await harness.run(first, count, (index, targets) => generateCase(SEED, index, targets, mode));
    check(t, harness.stats, count);
  });
}

// Requests split in two at every point: the first read ends anywhere in the head or the body.
const sweep = [
  'PUT /dav/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n',
  'PROPFIND /dav/ HTTP/1.1\r\nHost: h\r\nDepth: 1\r\nContent-Length: 11\r\n\r\nhello worldGET /next HTTP/1.1\r\nHost: h\r\n\r\n',
  'PUT /dav/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
];

test.serial('every split point of a few first reads, in every mode', async (t) => {
  const harness = await harnessFor(t);
  const items: Array<{ mode: FuzzMode; text: string; at: number }> = [];
  for (const mode of ['reverse', 'forward', 'connect'] as const) {
    for (const text of sweep) for (let at = 1; at < text.length + (mode === 'reverse' ? 0 : 20); at++) items.push({ mode, text, at });
  }
  // All of them at the default scale; a smaller DAVTAP_FUZZ_CASES takes every n-th.
  const count = Math.max(1, Math.round(items.length * Math.min(1, CASES / 2000)));
  const step = items.length / count;
  const picked = Array.from({ length: count }, (_, i) => items[Math.floor(i * step)]!);
  await harness.run(0, picked.length, (index, targets) => {
    const { mode, text, at } = picked[index]!;
    const request = mode === 'reverse' ? text : mode === 'forward' ? text.replace(/(PUT|PROPFIND|POST|GET) \//g, (_m, method: string) => `${method} http://${targets.authority}/`) : `CONNECT ${targets.authority} HTTP/1.1\r\nHost: ${targets.authority}\r\n\r\n${text}`;
    return splitCase(index, mode, Buffer.from(request, 'latin1'), at);
  });
  check(t, harness.stats, picked.length);
});
