// Large bodies written in parts while they arrive (src/store/spool.ts), read back joined, pruned,
// and cleaned up when their flow never got a row. A real database in a temp dir.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import type { StoreError } from '../../src/errors.js';
import { createFlowWriter, createSpooler, openReader, openStore, type Spooler } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const KiB = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function feed(spool: { add(c: Buffer): void }, body: Buffer, piece: number): void {
  for (let at = 0; at < body.length; at += piece) spool.add(body.subarray(at, at + piece));
}

/** A flow whose response body went through the spool in pieces, as the pipeline worker does it. */
function spooledFlow(spooler: Spooler, flow: Flow, size: number, piece: number): Flow {
  const spool = spooler.open(flow.id, 'response', 1e9);
  feed(spool, randomBytes(size), piece);
  const done = spool.finish();
  flow.response!.body = { bytes: done.bytes, bytesSeen: size, captureComplete: true, spooled: done.spooled! };
  return flow;
}

test('a body larger than a part is written in parts and read back byte for byte; the row says how many bytes were spooled', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const spooler = createSpooler(store, { partBytes: 64 * KiB, onError: (e) => errors.push(e) });
  const writer = createFlowWriter(store);
  const body = randomBytes(1_000_003);
  const flow = makeFlow(1);
  const spool = spooler.open(flow.id, 'response', 10 * 1024 * 1024);
  feed(spool, body, 7_919);
  // Parts are on disk before the flow ends, each a little over 64 KiB (a part is written once
  // the bytes held reach the part size), together all but the last few bytes.
  const parts = store.db.prepare('SELECT length(bytes) AS n FROM body_parts WHERE flow_id = ? ORDER BY part').all(flow.id) as { n: number }[];
  t.true(parts.length >= 13, `${parts.length} parts`);
  t.true(parts.every((p) => p.n >= 64 * KiB && p.n < 64 * KiB + 7_919), JSON.stringify(parts));
  t.true(body.length - parts.reduce((a, p) => a + p.n, 0) < 64 * KiB);
  const done = spool.finish();
  t.is(done.bytes.length, 0);
  t.is(done.spooled, body.length);
  flow.response!.body = { bytes: done.bytes, bytesSeen: body.length, captureComplete: true, spooled: done.spooled! };
  writer.enqueue(flow);
  writer.flush();
  t.deepEqual(errors, []);

  const reader = openReader(file);
  t.teardown(() => reader.close());
  const got = reader.getFlow(flow.id)!;
  t.is(got.response!.body.bytes.length, body.length);
  t.is(sha(got.response!.body.bytes), sha(body));
  t.true(got.response!.body.captureComplete);
  t.is(got.storage.responseStored, body.length);
  t.true(reader.listFlows({ limit: 1 })[0]!.captureComplete);
  // Nothing went to the whole-body table for it.
  t.is(Number((store.db.prepare("SELECT count(*) AS n FROM bodies WHERE kind = 'response'").get() as { n: number }).n), 0);
});

test('a body smaller than a part is handed back whole and stored with its flow, without parts', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const spooler = createSpooler(store, { partBytes: 64 * KiB, onError: () => t.fail() });
  const body = randomBytes(20_000);
  const spool = spooler.open('small', 'response', 1024 * 1024);
  feed(spool, body, 3_000);
  const done = spool.finish();
  t.is(done.spooled, undefined);
  t.true(done.bytes.equals(body));
  t.is(Number((store.db.prepare('SELECT count(*) AS n FROM body_parts').get() as { n: number }).n), 0);
});

test('the cap keeps the first bytes only, also across a part boundary', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const spooler = createSpooler(store, { partBytes: 1000, onError: () => t.fail() });
  const body = randomBytes(10_000);
  const spool = spooler.open('capped', 'decoded', 2_500);
  feed(spool, body, 700);
  const done = spool.finish();
  t.is(done.spooled, 2_500);
  t.true(store.spooledBody('capped', 'decoded').equals(body.subarray(0, 2_500)));
  t.is(store.spooledBody('capped', 'response').length, 0);
});

test('parts whose flow never got a row are removed when asked (a writer does so on open), and discard removes a body', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const spooler = createSpooler(store, { partBytes: 100, onError: () => t.fail() });
  const writer = createFlowWriter(store);
  const kept = spooledFlow(spooler, makeFlow(7), 1_000, 250);
  writer.enqueue(kept);
  writer.flush();
  const orphan = spooler.open('killed-mid-transfer', 'response', 1e6);
  feed(orphan, randomBytes(1_000), 250);
  const dropped = spooler.open('dropped', 'response', 1e6);
  feed(dropped, randomBytes(1_000), 250);
  dropped.discard();
  const count = () => Number((store.db.prepare('SELECT count(*) AS n FROM body_parts').get() as { n: number }).n);
  // Four parts of 250 bytes each for the kept flow and the orphan; none left for the discarded one.
  t.is(count(), 4 + 4);
  t.is(spooler.removeOrphans(), 4);
  t.is(count(), 4);
  t.is(store.spooledBody(kept.id, 'response').length, 1_000);
});

test('--max-db-size pruning removes spooled bodies too, and the flow says so', (t) => {
  const file = tempDb(t);
  const store = openStore(file, { maxDbSize: 1024 * 1024 });
  t.teardown(() => store.close());
  const spooler = createSpooler(store, { partBytes: 64 * KiB, onError: () => t.fail() });
  const writer = createFlowWriter(store);
  for (let i = 0; i < 6; i++) {
    writer.enqueue(spooledFlow(spooler, makeFlow(i), 300_000, 65_536));
    writer.flush();
  }
  t.true(writer.stats().prunedFlows >= 2, `pruned ${writer.stats().prunedFlows}`);
  const first = store.getFlow('flow-0')!;
  t.true(first.storage.pruned);
  t.is(first.response!.body.bytes.length, 0);
  t.false(first.response!.body.captureComplete);
  t.is(Number((store.db.prepare("SELECT count(*) AS n FROM body_parts WHERE flow_id = 'flow-0'").get() as { n: number }).n), 0);
  t.is(store.getFlow('flow-5')!.response!.body.bytes.length, 300_000);
});
