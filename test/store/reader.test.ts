import test, { type ExecutionContext } from 'ava';
import { FilterSyntaxError, parseFilter } from '../../src/filter/index.js';
import { createFlowWriter, openReader, openStore, type Store } from '../../src/store/index.js';
import { failureFinding, makeFlow, truncationFinding } from './make-flow.js';
import { tempDb } from './temp.js';

function seeded(t: ExecutionContext, n: number): { file: string; store: Store } {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  for (let i = 0; i < n; i++) {
    writer.enqueue(
      makeFlow(i, {
        resources: 3,
        method: i % 4 === 0 ? 'GET' : 'PROPFIND',
        status: i % 4 === 0 ? 200 : 207,
        findings: i % 10 === 0 ? [] : i % 5 === 0 ? [truncationFinding] : [],
        failing: i % 3 === 0 ? [1] : [],
      }),
    );
  }
  writer.flush();
  return { file, store };
}

test('listFlows pages newest first by default, oldest first on request', (t) => {
  const { store } = seeded(t, 25);
  const first = store.listFlows({ limit: 10 });
  t.deepEqual(
    first.map((r) => r.seq),
    [25, 24, 23, 22, 21, 20, 19, 18, 17, 16],
  );
  const second = store.listFlows({ limit: 10, offset: 10 });
  t.is(second[0]!.seq, 15);
  const last = store.listFlows({ limit: 10, offset: 20 });
  t.is(last.length, 5);
  const asc = store.listFlows({ order: 'asc', limit: 3 });
  t.deepEqual(
    asc.map((r) => r.id),
    ['flow-0', 'flow-1', 'flow-2'],
  );
});

test('paging stays right when seqs have gaps (rows removed by hand)', (t) => {
  const { store } = seeded(t, 12);
  store.db.prepare('DELETE FROM flows WHERE seq IN (3, 4, 9)').run();
  const asc = (offset: number) => store.listFlows({ order: 'asc', offset, limit: 4 }).map((r) => r.seq);
  const desc = (offset: number) => store.listFlows({ offset, limit: 4 }).map((r) => r.seq);
  t.deepEqual(asc(0), [1, 2, 5, 6]);
  t.deepEqual(asc(4), [7, 8, 10, 11]);
  t.deepEqual(asc(8), [12]);
  t.deepEqual(desc(0), [12, 11, 10, 8]);
  t.deepEqual(desc(4), [7, 6, 5, 2]);
  t.deepEqual(desc(8), [1]);
});

test('paging past the end returns nothing', (t) => {
  const { store } = seeded(t, 5);
  t.deepEqual(store.listFlows({ offset: 5 }), []);
  t.deepEqual(store.listFlows({ offset: 50, order: 'asc' }), []);
  t.deepEqual(
    store.listFlows({ offset: 4 }).map((r) => r.seq),
    [1],
  );
});

test('latestSeq and afterSeq let a reader fetch only what is new', (t) => {
  const { store } = seeded(t, 5);
  const seen = store.latestSeq();
  t.is(seen, 5);
  const writer = createFlowWriter(store);
  for (let i = 100; i < 103; i++) writer.enqueue(makeFlow(i));
  writer.flush();
  t.is(store.latestSeq(), 8);
  t.deepEqual(
    store.listFlows({ afterSeq: seen, order: 'asc' }).map((r) => r.id),
    ['flow-100', 'flow-101', 'flow-102'],
  );
  t.deepEqual(store.listFlows({ afterSeq: seen, filter: '~c 200' }), []);
  t.is(store.countFlows(null, seen), 3);
  t.is(store.countFlows('~m PROPFIND', seen), 3);
  t.is(store.countFlows('~m GET', seen), 0);
  t.is(store.countFlows('~m GET'), 2);
});

test('an empty database has latestSeq 0 and no rows', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  t.is(store.latestSeq(), 0);
  t.is(store.countFlows(), 0);
  t.deepEqual(store.listFlows(), []);
});

test('filters apply to listing and counting, as text or as a parsed tree', (t) => {
  const { store } = seeded(t, 40);
  t.is(store.countFlows('~m GET'), 10);
  t.is(store.countFlows(parseFilter('~m GET')), 10);
  t.is(store.countFlows(''), 40);
  t.is(store.countFlows('~f truncation'), 4); // 5, 15, 25, 35
  const rows = store.listFlows({ filter: '~f truncation', order: 'asc' });
  t.deepEqual(
    rows.map((r) => r.id),
    ['flow-5', 'flow-15', 'flow-25', 'flow-35'],
  );
  t.like(rows[0], { findings: { error: 1, warning: 0, info: 0 }, analyzed: true, resources: 3, failed: 0 });
});

test('a bad filter throws FilterSyntaxError from the reader', (t) => {
  const { store } = seeded(t, 1);
  const err = t.throws(() => store.listFlows({ filter: '~c 2x' }), { instanceOf: FilterSyntaxError });
  t.is(err!.position, 3);
});

test('light rows carry what the flow list shows and nothing heavy', (t) => {
  const { store } = seeded(t, 3);
  const row = store.listFlows({ order: 'asc', limit: 1 })[0]!;
  t.like(row, {
    seq: 1,
    id: 'flow-0',
    method: 'GET',
    status: 200,
    path: '/dav/calendars/user0/',
    host: '127.0.0.1:8080',
    contentType: 'application/xml; charset=utf-8',
    framing: 'content-length',
    captureComplete: true,
    durationMs: 7,
    client: '127.0.0.1:40000',
    injected: null,
    bodyPrunedBytes: 0,
  });
  t.false('request' in row);
  t.false('rawHeaders' in row);
  t.deepEqual(store.getRow('flow-0'), row);
});

test('a read-only reader sees the writer commit tick by tick', (t) => {
  const { file, store } = seeded(t, 2);
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.latestSeq(), 2);
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(50, { findings: [failureFinding] }));
  t.is(reader.latestSeq(), 2);
  writer.flush();
  t.is(reader.latestSeq(), 3);
  t.deepEqual(reader.findingsFor('flow-50'), [failureFinding]);
});
