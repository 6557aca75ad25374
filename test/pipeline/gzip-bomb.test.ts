// A gzip bomb through the real proxy and the live pipeline (worker thread, real database): the
// client gets every compressed byte, while the tap decodes no more than the capture cap and the
// analysis no more than it reads. Without those stops, 2 MB of gzip inflates to 2 GiB twice (the
// decoded copy and the analyzer), several seconds of CPU, and the flow is recorded that late.
import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openReader } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { curl } from '../helpers/curl.js';
import { gzipBomb } from '../helpers/gzip-bomb.js';
import { response, startOrigin } from '../helpers/origin.js';
import { startTestPipeline } from '../helpers/pipeline.js';
import { startTestProxy } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a 207 of 2 MB gzip that inflates to 2 GiB: relayed whole, decoded up to the 1 MiB cap, recorded promptly, no truncation reported', async (t) => {
  const bomb = gzipBomb(2048);
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Encoding': 'gzip', 'Content-Length': bomb.length }));
    for (let at = 0; at < bomb.length; at += 256 * 1024) {
      if (!socket.write(bomb.subarray(at, at + 256 * 1024))) await new Promise((r) => socket.once('drain', r));
    }
  });
  t.teardown(() => origin.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-bomb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, 'flows.db');
  const relayed: Flow[] = [];
  const { hooks, waitForFlows, close } = await startTestPipeline(
    t,
    { dbPath, maxBody: MiB, lines: false, onLines: () => {}, log: () => {} },
    { onFlow: (flow) => relayed.push(flow) },
  );
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), maxBody: MiB, hooks });

  const before = process.cpuUsage();
  const got = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Accept-Encoding: gzip', `${proxy.url}dav/`]);
  t.is(got.code, 0, got.stderr);
  t.is(sha(got.stdout), sha(bomb), 'the client gets the compressed bytes untouched');
  await waitForFlows(1);
  const relayedAt = performance.now();
  await proxy.close();
  await close();
  const settleMs = performance.now() - relayedAt;
  const used = process.cpuUsage(before);
  const cpu = (used.user + used.system) / 1e6;

  t.log(`${cpu.toFixed(2)} s of CPU; recorded and closed ${settleMs.toFixed(0)} ms after the relay`);
  // Inflating 2 GiB twice costs 7–9 s of CPU here, and the flow comes 15–20 s after the relay;
  // the capped path costs under half a second. The wall-clock bound is loose: the suite shares
  // two cores, and a loaded run took 4 s.
  t.true(cpu < 2, `${cpu.toFixed(2)} s of CPU`);
  t.true(settleMs < 10_000, `recorded and closed ${settleMs.toFixed(0)} ms after the relay`);

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  const flow = store.getFlow(relayed[0]!.id)!;
  t.is(flow.response!.body.bytesSeen, bomb.length);
  const decoded = flow.response!.decoded!;
  t.false(decoded.captureComplete);
  t.is(decoded.bytes.length, MiB);
  t.true(decoded.bytesSeen < 2 * MiB, `${decoded.bytesSeen} bytes decoded`);
  t.is(flow.response!.decodeError, 'decoded copy stopped at the 1 MiB capture cap; the rest was relayed but not decoded');
  const findings = store.findingsFor(flow.id);
  t.true(store.listFlows({ limit: 1 })[0]!.analyzed);
  t.deepEqual(
    findings.filter((f) => f.category === 'truncation').map((f) => f.rule),
    [],
    'the caps are davtap\'s own, not a server truncation',
  );
  t.false(findings.some((f) => f.rule === 'MS004'));
});
