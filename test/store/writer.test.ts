import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoreError } from '../../src/errors.js';
import { createFlowWriter, openReader, openStore, type FlowWriter } from '../../src/store/index.js';
import type { Flow, Resource } from '../../src/types.js';
import { failureFinding, makeFlow, truncationFinding } from './make-flow.js';
import { tempDb } from './temp.js';

/** Waits (bounded) until `done()` holds. */
async function until(done: () => boolean, ms = 3000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 5) {
    if (done()) return true;
    await sleep(5);
  }
  return done();
}


/**
 * A writer on a database whose write lock another connection holds (BEGIN IMMEDIATE on `other`);
 * `other.db.exec('COMMIT')` lets it go. Both connections close when the test ends.
 */
function lockedOut(t: ExecutionContext, options: { tickMs?: number }) {
  const file = tempDb(t);
  const store = openStore(file);
  const other = openStore(file);
  t.teardown(() => {
    other.close();
    store.close();
  });
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { ...options, onError: (e) => errors.push(e) });
  other.db.exec('BEGIN IMMEDIATE');
  return { file, store, other, writer, errors };
}

test('flows enqueued together are committed in one transaction on the next tick', async (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  const reader = openReader(file);
  t.teardown(() => {
    reader.close();
    store.close();
  });
  const writer = createFlowWriter(store, { tickMs: 20, budgetMs: 10_000 });
  for (let i = 0; i < 500; i++) writer.enqueue(makeFlow(i, { resources: 5 }));
  // enqueue only queues: nothing touches the database on the caller's path.
  t.is(reader.countFlows(), 0);
  t.is(writer.stats().pending, 500);
  t.true(await until(() => writer.stats().pending === 0));
  t.is(reader.countFlows(), 500);
  t.like(writer.stats(), { enqueued: 500, written: 500, failed: 0, transactions: 1 });
});

test('flows arriving over several ticks take one transaction per tick, not one per flow', async (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, { tickMs: 15, budgetMs: 10_000 });
  for (let burst = 0; burst < 3; burst++) {
    for (let i = 0; i < 100; i++) writer.enqueue(makeFlow(burst * 100 + i, { resources: 2 }));
    t.true(await until(() => writer.stats().pending === 0));
  }
  t.is(store.countFlows(), 300);
  t.is(writer.stats().transactions, 3);
});

test('a burst larger than the time budget is written in several transactions, letting the event loop run in between', async (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const commits: number[] = [];
  const turnsAtCommit: number[] = [];
  let loopTurns = 0;
  const writer = createFlowWriter(store, {
    tickMs: 5,
    budgetMs: 1,
    onCommit: ({ flows }) => {
      commits.push(flows);
      turnsAtCommit.push(loopTurns);
    },
  });
  for (let i = 0; i < 400; i++) writer.enqueue(makeFlow(i, { resources: 20 }));
  // Counts how often other work (the proxy's sockets, say) gets the event loop while the burst is written.
  const spin = setInterval(() => loopTurns++, 0);
  t.true(await until(() => writer.stats().pending === 0));
  clearInterval(spin);
  t.is(store.countFlows(), 400);
  t.true(commits.length > 1, `${commits.length} transactions`);
  t.is(writer.stats().transactions, commits.length);
  t.is(
    commits.reduce((a, b) => a + b, 0),
    400,
  );
  // Our timer ran between the first and the last transaction of the burst.
  t.true(turnsAtCommit.at(-1)! > turnsAtCommit[0]!, turnsAtCommit.join(','));
});

test('close() commits everything still queued', async (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store, { tickMs: 60_000 });
  for (let i = 0; i < 123; i++) writer.enqueue(makeFlow(i, { resources: 3 }));
  await writer.close();
  store.close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.countFlows(), 123);
});

test('a flow read back equals the flow written, with findings, ledger and bodies', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  const flow = makeFlow(7, { failing: [2, 9], findings: [truncationFinding, { ...failureFinding, consequenceOf: 'MS001' }], injected: 'cut:100' });
  flow.response!.informational = [{ status: 102, rawHeaders: [] }];
  flow.response!.rawTrailers = ['X-Checksum', 'abc'];
  flow.response!.decodeError = 'incorrect header check';
  flow.outcome = { kind: 'upstream-aborted', code: 'ECONNRESET', message: 'upstream closed after 4,096 of 10,240 bytes' };
  flow.analysis!.resources[3]!.extraHrefs = ['/other'];
  flow.analysis!.resources[3]!.description = 'why';
  writer.enqueue(flow);
  writer.flush();
  const { seq, storage, marked, ...back } = store.getFlow('flow-7')!;
  t.is(seq, 1);
  t.false(marked);
  t.deepEqual(storage, { requestStored: flow.request.body.bytes.length, responseStored: flow.response!.body.bytes.length, decodedStored: 0, pruned: false, prunedBytes: 0 });
  t.deepEqual(back, flow);
  t.deepEqual(store.findingsFor('flow-7'), flow.analysis!.findings);
  t.deepEqual(store.resourcesFor('flow-7'), flow.analysis!.resources);
  t.is(store.getFlow('nope'), null);
  t.deepEqual(store.findingsFor('nope'), []);
});

test('a flow without a response or analysis round-trips too', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  const flow = makeFlow(1, { status: null, outcome: { kind: 'error', code: 'ECONNREFUSED' } });
  writer.enqueue(flow);
  writer.flush();
  const { seq: _seq, storage: _storage, marked: _marked, ...back } = store.getFlow('flow-1')!;
  t.deepEqual(back, flow);
  const row = store.listFlows()[0]!;
  t.like(row, { status: null, analyzed: false, resources: null, outcome: { kind: 'error', code: 'ECONNREFUSED', message: null } });
});

test('the store cuts bodies at maxBodyBytes and records it on the flow', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, { maxBodyBytes: 1000 });
  const flow = makeFlow(1, { bodyBytes: 5000 });
  writer.enqueue(flow);
  writer.flush();
  const back = store.getFlow('flow-1')!;
  t.is(back.response!.body.bytes.length, 1000);
  t.is(back.response!.body.bytesSeen, 5000);
  t.false(back.response!.body.captureComplete);
  t.is(back.storage.responseStored, 1000);
  t.false(store.listFlows()[0]!.captureComplete);
  // The request body was under the cap: complete.
  t.true(back.request.body.captureComplete);
});

test('one bad flow in a batch does not cost the others', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { onError: (e) => errors.push(e) });
  writer.enqueue(makeFlow(1));
  writer.enqueue(makeFlow(2));
  writer.enqueue(makeFlow(1)); // same id again
  writer.enqueue(makeFlow(3));
  writer.flush();
  t.is(store.countFlows(), 3);
  t.like(writer.stats(), { written: 3, failed: 1, errors: 1 });
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /could not store 1 flow\(s\).*UNIQUE constraint failed: flows\.id/);
});

function fillDisk(t: ExecutionContext): { writer: FlowWriter; errors: StoreError[]; raise: () => void; count: () => number } {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { onError: (e) => errors.push(e) });
  writer.enqueue(makeFlow(0));
  writer.flush();
  // A real SQLITE_FULL: cap the database at the pages it has now.
  const pages = store.db.pragma('page_count', { simple: true }) as number;
  store.db.pragma(`max_page_count = ${pages}`);
  return { writer, errors, raise: () => store.db.pragma('max_page_count = 1073741823'), count: () => store.countFlows() };
}

test('a full disk is reported and counted, and the writer keeps accepting flows', (t) => {
  const { writer, errors, raise, count } = fillDisk(t);
  for (let i = 1; i <= 20; i++) writer.enqueue(makeFlow(i, { bodyBytes: 20_000 }));
  t.notThrows(() => writer.flush());
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /could not store 20 flow\(s\) in .*flows\.db: database or disk is full \(SQLITE_FULL\)/);
  t.like(writer.stats(), { written: 1, failed: 20, errors: 1 });
  t.is(count(), 1);
  // Room again: later flows are stored.
  raise();
  for (let i = 21; i <= 25; i++) writer.enqueue(makeFlow(i));
  writer.flush();
  t.is(count(), 6);
  t.like(writer.stats(), { written: 6, failed: 20 });
});

test('a database that became read-only is reported per batch without throwing', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { onError: (e) => errors.push(e) });
  store.db.pragma('query_only = ON');
  for (let i = 0; i < 3; i++) writer.enqueue(makeFlow(i));
  writer.flush();
  writer.enqueue(makeFlow(10));
  writer.flush();
  t.is(errors.length, 2);
  t.regex(errors[0]!.message, /SQLITE_READONLY/);
  t.like(writer.stats(), { written: 0, failed: 4 });
});

test('enqueue never throws, even for a malformed flow or after close', async (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { onError: (e) => errors.push(e) });
  t.notThrows(() => writer.enqueue({ id: 'broken' } as unknown as Flow));
  t.notThrows(() => writer.enqueue(null as unknown as Flow));
  writer.enqueue(makeFlow(1));
  t.notThrows(() => writer.flush());
  t.is(store.countFlows(), 1);
  t.like(writer.stats(), { written: 1, failed: 2 });
  await writer.close();
  t.notThrows(() => writer.enqueue(makeFlow(2)));
  t.like(writer.stats(), { dropped: 1 });
  t.regex(errors.at(-1)!.message, /arrived after the writer closed/);
  t.is(store.countFlows(), 1);
});

test('a full queue drops and counts flows instead of growing without bound', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const errors: StoreError[] = [];
  const writer = createFlowWriter(store, { maxQueue: 10, tickMs: 60_000, onError: (e) => errors.push(e) });
  for (let i = 0; i < 15; i++) writer.enqueue(makeFlow(i, { resources: 1 }));
  t.like(writer.stats(), { pending: 10, dropped: 5 });
  writer.flush();
  t.is(store.countFlows(), 10);
  t.regex(errors[0]!.message, /5 flow\(s\) not stored: the write queue was full/);
});

test('an onError handler that throws does not stop the writer', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, {
    onError: () => {
      throw new Error('handler bug');
    },
  });
  writer.enqueue(makeFlow(1));
  writer.enqueue(makeFlow(1));
  t.notThrows(() => writer.flush());
  writer.enqueue(makeFlow(2));
  writer.flush();
  t.is(store.countFlows(), 2);
});

test('a database locked by another writer delays flows briefly and stores them once the lock goes', (t) => {
  const { store, other, writer, errors } = lockedOut(t, {});
  writer.enqueue(makeFlow(1));
  const started = performance.now();
  writer.flush();
  const waited = performance.now() - started;
  writer.enqueue(makeFlow(2));
  writer.flush();
  t.true(waited < 2000, `flush held the event loop ${waited} ms`);
  // Reported once for the episode; nothing lost yet.
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /is locked by another connection \(SQLITE_BUSY\); 1 flow\(s\) wait for the next attempt/);
  t.like(writer.stats(), { written: 0, failed: 0, pending: 2 });
  other.db.exec('COMMIT');
  writer.flush();
  t.is(store.countFlows(), 2);
  t.like(writer.stats(), { written: 2, failed: 0, pending: 0 });
});

test('the writer retries a locked database on its own ticks', async (t) => {
  const { store, other, writer, errors } = lockedOut(t, { tickMs: 10 });
  writer.enqueue(makeFlow(1));
  t.true(await until(() => errors.length > 0));
  t.is(writer.stats().pending, 1);
  other.db.exec('COMMIT');
  t.true(await until(() => writer.stats().pending === 0));
  t.is(store.countFlows(), 1);
  t.is(errors.length, 1);
});

test('flows still locked out when the writer closes are counted as failed and reported', async (t) => {
  const { other, writer, errors } = lockedOut(t, {});
  for (let i = 0; i < 3; i++) writer.enqueue(makeFlow(i));
  await writer.close();
  other.db.exec('ROLLBACK');
  t.like(writer.stats(), { written: 0, failed: 3, pending: 0 });
  t.regex(errors.at(-1)!.message, /could not store 3 flow\(s\) in .*database is locked \(SQLITE_BUSY\)/);
});

test('closing the store writes what its writer still has queued', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store, { tickMs: 60_000 });
  for (let i = 0; i < 7; i++) writer.enqueue(makeFlow(i, { resources: 1 }));
  store.close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.countFlows(), 7);
  t.like(writer.stats(), { written: 7, pending: 0 });
});

test('WAL checkpoints run off the writer connection and keep the WAL bounded', async (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, { checkpointMs: 20 });
  // The writer's own commits never checkpoint (that would fsync on the proxy's event loop).
  t.is(store.db.pragma('wal_autocheckpoint', { simple: true }), 0);
  let written = 0;
  let largestWal = 0;
  for (let round = 0; round < 12; round++) {
    for (let i = 0; i < 10; i++) writer.enqueue(makeFlow(round * 10 + i, { bodyBytes: 100_000, resources: 1 }));
    writer.flush();
    written += 10 * 100_000;
    largestWal = Math.max(largestWal, fs.statSync(`${file}-wal`).size);
    await sleep(60);
  }
  // Frames reached the database file (by the worker: this connection did not checkpoint)…
  t.true(fs.statSync(file).size > written / 2, `database file ${fs.statSync(file).size} bytes`);
  // …and the WAL was reused from its start instead of growing with everything written.
  t.true(largestWal < written / 3, `WAL reached ${largestWal} bytes for ${written} written`);
  await writer.close();
});

test('a ledger with a repeated index keeps the first entry of each and stores the flow', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  const flow = makeFlow(1, { resources: 3 });
  const [a, b, c] = flow.analysis!.resources as [Resource, Resource, Resource];
  flow.analysis!.resources = [a, b, { ...b, href: '/again' }, c, { ...a, href: '/first-again' }];
  writer.enqueue(flow);
  writer.flush();
  t.is(writer.stats().written, 1);
  t.deepEqual(store.resourcesFor('flow-1'), [a, b, c]);
});

test('host and path come from each flow\'s URL, whether it repeats, differs or does not parse', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  const urls = ['http://Example.org:80/a/../b?x=1', 'https://example.org:8443/c', 'http://Example.org:80/a/../b?x=1', 'not a url'];
  urls.forEach((url, i) => {
    const flow = makeFlow(i);
    flow.request.url = url;
    flow.request.target = `/target-${i}`;
    writer.enqueue(flow);
  });
  writer.flush();
  const rows = store.listFlows({ order: 'asc' }).map((r) => [r.host, r.path]);
  t.deepEqual(rows, [
    ['example.org', '/b?x=1'],
    ['example.org:8443', '/c'],
    ['example.org', '/b?x=1'],
    ['', '/target-3'],
  ]);
});
