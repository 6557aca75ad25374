// The indexes behind the filters whose flows are few among many (schema version 11): a file written
// before them gets them from the first writer that opens it, and the filters' SQL is what lets
// SQLite use them (a query plan naming the index), so a filtered list does not read every row.
import test from 'ava';
import { parseFilter } from '../../src/filter/index.js';
import { filterToSql } from '../../src/store/filter-sql.js';
import { createFlowWriter, openReader, openStore, Store } from '../../src/store/index.js';
import { schemaVersion } from '../../src/store/schema.js';
import { failureFinding, makeFlow, truncationFinding } from './make-flow.js';
import { tempDb } from './temp.js';

const indexes = ['flows_unclean', 'flows_marked', 'flows_sev_info', 'flows_sev_warning', 'flows_sev_error'];

const indexNames = (store: Store): string[] =>
  (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name);

/** The query plan of a filtered page, as the store lists one (its seqs in order). */
function pagePlan(store: Store, filter: string): string {
  const { where, params } = filterToSql(parseFilter(filter));
  const rows = store.db.prepare(`EXPLAIN QUERY PLAN SELECT f.seq FROM flows f WHERE ${where} ORDER BY f.seq ASC LIMIT 10`).all(...params) as { detail: string }[];
  return rows.map((r) => r.detail).join(' | ');
}

function write(store: Store): void {
  const writer = createFlowWriter(store);
  for (let i = 0; i < 40; i++) {
    writer.enqueue(
      makeFlow(i, {
        resources: 1,
        ...(i % 10 === 3 ? { outcome: { kind: 'upstream-aborted', code: 'ECONNRESET' } } : {}),
        ...(i % 7 === 0 ? { findings: [truncationFinding] } : i % 5 === 0 ? { findings: [failureFinding] } : {}),
      }),
    );
  }
  writer.flush();
}

test('a version-10 file is upgraded by a writer with the filter indexes, and its flows filter as before', (t) => {
  const file = tempDb(t);
  const old = new Store(file, {}, 10);
  write(old);
  t.deepEqual(indexNames(old).filter((n) => indexes.includes(n)), []);
  const before = ['~e', '~sev error', '~sev warning', '~sev info', '!~sev info'].map((f) => old.countFlows(f));
  old.close();

  // A reader does not upgrade, and reads the file as it is.
  const reader = openReader(file);
  t.is(reader.db.pragma('user_version', { simple: true }), 10);
  t.is(reader.countFlows('~e'), before[0]!);
  reader.close();

  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  t.deepEqual(indexNames(store).filter((n) => indexes.includes(n)).sort(), [...indexes].sort());
  t.deepEqual(['~e', '~sev error', '~sev warning', '~sev info', '!~sev info'].map((f) => store.countFlows(f)), before);
  t.deepEqual(before, [4, 6, 12, 12, 28]);
  // Flows written after the upgrade are in the indexes too.
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(40, { resources: 1, outcome: { kind: 'timeout', code: 'ETIMEDOUT' }, findings: [truncationFinding] }));
  writer.flush();
  t.deepEqual(store.listFlows({ filter: '~e & ~sev error', order: 'asc' }).map((r) => r.id), ['flow-40']);
  t.is(store.countFlows('~e'), 5);
  t.true(store.setMarked('flow-5', true));
  t.deepEqual(
    store.listFlows({ filter: '~marked', order: 'asc' }).map((r) => r.id),
    ['flow-5'],
  );
});

test('the filters of rare flows read their own index, in seq order (no scan of every flow, no sort)', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  write(store);
  for (const [filter, index] of [
    ['~e', 'flows_unclean'],
    ['~marked', 'flows_marked'],
    ['~sev error', 'flows_sev_error'],
    ['~sev warning', 'flows_sev_warning'],
    ['~sev info', 'flows_sev_info'],
  ] as const) {
    const plan = pagePlan(store, filter);
    t.regex(plan, new RegExp(`USING (COVERING )?INDEX ${index}\\b`), `${filter}: ${plan}`);
    t.notRegex(plan, /TEMP B-TREE/, `${filter}: ${plan}`);
  }
});

test('~m names the matching methods recorded, so the method index answers in seq order', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  ['PROPFIND', 'GET', 'PROPPATCH', 'GET', 'PUT', 'PROPFIND'].forEach((method, i) => writer.enqueue(makeFlow(i, { resources: 1, method })));
  writer.flush();
  const ids = (filter: string) => store.listFlows({ filter, order: 'asc' }).map((r) => r.id);
  t.deepEqual(ids('~m GET'), ['flow-1', 'flow-3']);
  t.deepEqual(ids('~m ^prop'), ['flow-0', 'flow-2', 'flow-5']);
  t.deepEqual(ids('~m DELETE'), []);
  t.is(store.countFlows('~m p'), 4);
  // A method recorded after the first query is found by the next one.
  writer.enqueue(makeFlow(6, { resources: 1, method: 'DELETE' }));
  writer.flush();
  t.deepEqual(ids('~m DELETE'), ['flow-6']);
  // Counted a range of seqs at a time, the parts add up to the whole.
  const latest = store.latestSeq();
  t.is(store.countFlows('~m p', 0, 3) + store.countFlows('~m p', 3, latest), store.countFlows('~m p'));
  t.is(store.countFlows(null, 2, 5), 3);
});

test('a count taken a range of seqs at a time adds up to the whole, for every kind of filter', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  write(store);
  const latest = store.latestSeq();
  for (const filter of ['~f truncation', '!~f truncation', '~r MS601', '~r MS601 | ~e', '~sev warning', '~m PROPFIND & !~e', '~u user3', '~h Depth']) {
    const whole = store.countFlows(filter);
    let parts = 0;
    for (let after = 0; after < latest; after += 7) parts += store.countFlows(filter, after, Math.min(latest, after + 7));
    t.is(parts, whole, filter);
    t.true(whole > 0, filter);
  }
});
