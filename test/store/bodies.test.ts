// Where whole bodies are kept: one row per flow in flow_bodies from schema version 12 on; `bodies`
// (a row per body) holds those of the flows recorded before, in an upgraded file. Everything that
// reads bodies (the flow detail, body filters, pruning) finds both, and readers of older files,
// including one that sees the file upgraded under it, read what is there.
import test from 'ava';
import { createFlowWriter, openReader, openStore, Store } from '../../src/store/index.js';
import { bodiesPerFlowVersion, schemaVersion } from '../../src/store/schema.js';
import type { Flow } from '../../src/types.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

/** A flow whose request, response and decoded bodies each say which flow and kind they are. */
function withBodies(i: number, decoded: boolean): Flow {
  const flow = makeFlow(i, { resources: 1 });
  const body = (kind: string) => Buffer.from(`<x>${kind} of flow ${i}</x>`);
  flow.request.body = { bytes: body('request'), bytesSeen: body('request').length, captureComplete: true };
  flow.response!.body = { bytes: body('response'), bytesSeen: body('response').length, captureComplete: true };
  if (decoded) flow.response!.decoded = { bytes: body('decoded'), bytesSeen: body('decoded').length, captureComplete: true };
  return flow;
}

function write(store: Store, flows: Flow[]): void {
  const writer = createFlowWriter(store);
  for (const f of flows) writer.enqueue(f);
  writer.flush();
  store.db.pragma('wal_checkpoint(PASSIVE)');
}

const count = (store: Store, sql: string): number => (store.db.prepare(sql).get() as { n: number }).n;

/** Each flow's bodies as read back: [request, response, decoded] text. */
const bodiesOf = (store: Store, ids: string[]): string[][] =>
  ids.map((id) => {
    const f = store.getFlow(id)!;
    return [f.request.body.bytes.toString(), f.response!.body.bytes.toString(), f.response!.decoded?.bytes.toString() ?? ''];
  });

const ids = (store: Store, filter: string): string[] => store.listFlows({ filter, order: 'asc' }).map((r) => r.id);

test('a flow\'s whole bodies are one flow_bodies row; the per-body table stays empty', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  write(store, [withBodies(1, false), withBodies(2, true), makeFlow(3, { status: null })]);
  t.is(count(store, 'SELECT count(*) AS n FROM flow_bodies'), 3);
  t.is(count(store, 'SELECT count(*) AS n FROM bodies'), 0);
  t.deepEqual(bodiesOf(store, ['flow-1', 'flow-2']), [
    ['<x>request of flow 1</x>', '<x>response of flow 1</x>', ''],
    ['<x>request of flow 2</x>', '<x>response of flow 2</x>', '<x>decoded of flow 2</x>'],
  ]);
  // A response with a decoded copy is searched in the copy.
  t.deepEqual(ids(store, '~bs "response of"'), ['flow-1']);
  t.deepEqual(ids(store, '~bs decoded'), ['flow-2']);
  t.deepEqual(ids(store, '~bq "request of flow 2"'), ['flow-2']);
  t.deepEqual(ids(store, '~b "of flow"'), ['flow-1', 'flow-2']);
  // flow-3 has a request body and no response.
  t.deepEqual(ids(store, '~bs .'), ['flow-1', 'flow-2']);
  t.deepEqual(ids(store, '~bq .'), ['flow-1', 'flow-2', 'flow-3']);
});

test(`a version-${bodiesPerFlowVersion - 1} file is upgraded at once: earlier bodies stay where they are and read, filter and prune with the new ones`, (t) => {
  const file = tempDb(t);
  const old = new Store(file, {}, bodiesPerFlowVersion - 1);
  write(old, [withBodies(1, false), withBodies(2, true)]);
  t.is(count(old, 'SELECT count(*) AS n FROM bodies'), 5);
  old.close();

  // A reader does not upgrade, and reads the bodies where they are.
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.db.pragma('user_version', { simple: true }), bodiesPerFlowVersion - 1);
  t.deepEqual(ids(reader, '~bs decoded'), ['flow-2']);

  const store = openStore(file);
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  // Nothing was copied: the earlier bodies are still a row per body.
  t.is(count(store, 'SELECT count(*) AS n FROM bodies'), 5);
  t.is(count(store, 'SELECT count(*) AS n FROM flow_bodies'), 0);
  const indexes = (store.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name);
  t.false(indexes.includes('flows_path'));
  t.false(indexes.includes('flows_outcome'));

  write(store, [withBodies(3, true), withBodies(4, false)]);
  t.is(count(store, 'SELECT count(*) AS n FROM flow_bodies'), 2);
  const all = ['flow-1', 'flow-2', 'flow-3', 'flow-4'];
  t.deepEqual(bodiesOf(store, all), [
    ['<x>request of flow 1</x>', '<x>response of flow 1</x>', ''],
    ['<x>request of flow 2</x>', '<x>response of flow 2</x>', '<x>decoded of flow 2</x>'],
    ['<x>request of flow 3</x>', '<x>response of flow 3</x>', '<x>decoded of flow 3</x>'],
    ['<x>request of flow 4</x>', '<x>response of flow 4</x>', ''],
  ]);
  for (const s of [store, reader]) {
    t.deepEqual(ids(s, '~bs decoded'), ['flow-2', 'flow-3']);
    t.deepEqual(ids(s, '~bs "response of"'), ['flow-1', 'flow-4']);
    t.deepEqual(ids(s, '~bq request'), all);
    t.deepEqual(ids(s, '~b "flow [14]<"'), ['flow-1', 'flow-4']);
  }
  // The reader opened before the upgrade reads the later flows' bodies too.
  t.deepEqual(bodiesOf(reader, ['flow-3']), [['<x>request of flow 3</x>', '<x>response of flow 3</x>', '<x>decoded of flow 3</x>']]);

  store.close();

  // Pruning (a limit of one byte: every body goes) empties both tables.
  const pruning = openStore(file, { maxDbSize: 1 });
  t.teardown(() => pruning.close());
  const writer = createFlowWriter(pruning);
  writer.enqueue(makeFlow(5, { resources: 1 }));
  writer.flush();
  t.is(writer.stats().prunedFlows, 5);
  t.is(count(pruning, 'SELECT count(*) AS n FROM bodies'), 0);
  t.is(count(pruning, 'SELECT count(*) AS n FROM flow_bodies'), 0);
  t.deepEqual(ids(pruning, '~b .'), []);
  t.true(pruning.getFlow('flow-1')!.storage.pruned);
  t.true(pruning.getFlow('flow-3')!.storage.pruned);
});
