import test from 'ava';
import fs from 'node:fs';
import type { StoreError } from '../../src/errors.js';
import { createFlowWriter, openReader, openStore } from '../../src/store/index.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const MiB = 1024 * 1024;

test('past --max-db-size the oldest bodies are pruned, and each pruned flow says so', (t) => {
  const file = tempDb(t);
  const store = openStore(file, { maxDbSize: 2 * MiB });
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  // 80 flows of ~100 KB bodies in ticks of 8: about four times the limit.
  for (let tick = 0; tick < 10; tick++) {
    for (let i = 0; i < 8; i++) writer.enqueue(makeFlow(tick * 8 + i, { bodyBytes: 100_000, resources: 2 }));
    writer.flush();
  }
  const stats = writer.stats();
  t.is(stats.written, 80);
  t.true(stats.prunedFlows > 40, `pruned ${stats.prunedFlows}`);
  t.true(stats.prunedBytes >= stats.prunedFlows * 100_000);

  // Every flow is still listed; none lost its row, only old bodies went.
  t.is(store.countFlows(), 80);
  const rows = store.listFlows({ order: 'asc', limit: 100 });
  const pruned = rows.filter((r) => r.bodyPrunedBytes > 0).map((r) => r.seq);
  t.is(pruned.length, stats.prunedFlows);
  // Oldest first: the pruned flows are exactly the first ones.
  t.deepEqual(
    pruned,
    rows.slice(0, pruned.length).map((r) => r.seq),
  );
  t.true(rows.filter((r) => r.bodyPrunedBytes > 0).every((r) => !r.captureComplete));
  t.true(rows.at(-1)!.captureComplete);

  const old = store.getFlow('flow-0')!;
  t.true(old.storage.pruned);
  t.is(old.storage.prunedBytes, old.storage.requestStored + old.storage.responseStored);
  t.is(old.response!.body.bytes.length, 0);
  t.is(old.response!.body.bytesSeen, 100_000);
  t.false(old.response!.body.captureComplete);
  t.is(old.analysis!.resources.length, 2);
  const recent = store.getFlow('flow-79')!;
  t.false(recent.storage.pruned);
  t.is(recent.response!.body.bytes.length, 100_000);

  // The file stops growing at about the limit: pages freed by pruning are reused.
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const size = fs.statSync(file).size;
  t.true(size < 2 * MiB + 8 * 110_000, `file is ${size} bytes`);
});

test('without --max-db-size nothing is pruned', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  for (let i = 0; i < 30; i++) writer.enqueue(makeFlow(i, { bodyBytes: 100_000, resources: 1 }));
  writer.flush();
  t.is(writer.stats().prunedFlows, 0);
  t.is(store.countFlows(), 30);
  t.true(store.listFlows({ limit: 100 }).every((r) => r.bodyPrunedBytes === 0));
});

test('pruning carries on across reopenings without pruning a flow twice', (t) => {
  const file = tempDb(t);
  for (let round = 0; round < 2; round++) {
    const store = openStore(file, { maxDbSize: 1 * MiB });
    const writer = createFlowWriter(store);
    for (let i = 0; i < 20; i++) writer.enqueue(makeFlow(round * 100 + i, { bodyBytes: 100_000, resources: 1 }));
    writer.flush();
    store.close();
  }
  const reader = openReader(file);
  t.teardown(() => reader.close());
  const rows = reader.listFlows({ order: 'asc', limit: 100 });
  t.is(rows.length, 40);
  // A pruned flow records exactly the bytes it held once (never counted twice).
  for (const r of rows.filter((x) => x.bodyPrunedBytes > 0)) {
    const f = reader.getFlow(r.id)!;
    t.is(r.bodyPrunedBytes, f.storage.requestStored + f.storage.responseStored, r.id);
  }
  t.true(rows.filter((x) => x.bodyPrunedBytes > 0).length >= 25);
});

test('a database over the limit with no bodies left says so once', (t) => {
  const store = openStore(tempDb(t), { maxDbSize: 64 * 1024 });
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { onError: (e) => errors.push(e) });
  // Rows and ledgers alone (50 resources each) exceed 64 KiB.
  for (let tick = 0; tick < 3; tick++) {
    for (let i = 0; i < 20; i++) writer.enqueue(makeFlow(tick * 20 + i));
    writer.flush();
  }
  t.is(store.countFlows(), 60);
  const over = errors.filter((e) => /over --max-db-size with no bodies left/.test(e.message));
  t.is(over.length, 1);
});
