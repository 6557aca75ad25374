// Which REPORT a flow made is named once, when it is recorded (and for flows recorded before, when
// a writer upgrades the file), so that the flow list reads a column rather than a body.
import test, { type ExecutionContext } from 'ava';
import { createFlowWriter, openReader, openStore, type Store } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const calendarMultiget =
  '<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href>/cal/a.ics</D:href></C:calendar-multiget>';

function report(n: number, body: string): Flow {
  const flow = makeFlow(n, { method: 'REPORT' });
  return { ...flow, request: { ...flow.request, body: { bytes: Buffer.from(body), bytesSeen: Buffer.byteLength(body), captureComplete: true } } };
}

function write(t: ExecutionContext, store: Store, flows: Flow[]): void {
  const writer = createFlowWriter(store);
  for (const f of flows) writer.enqueue(f);
  writer.flush();
  t.is(writer.stats().failed, 0);
}

test('a REPORT row carries its report name; other methods carry none', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  write(t, store, [report(1, calendarMultiget), report(2, '<D:sync-collection xmlns:D="DAV:"/>'), report(3, 'garbage'), makeFlow(4)]);
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.deepEqual(
    reader.listFlows({ order: 'asc' }).map((r) => [r.method, r.report]),
    [['REPORT', 'calendar-multiget'], ['REPORT', 'sync-collection'], ['REPORT', null], ['PROPFIND', null]],
  );
});

test('upgrading a version-7 file names the REPORTs it already holds, from their stored request bodies', (t) => {
  const file = tempDb(t);
  const old = openStore(file);
  write(t, old, [report(1, '<A:addressbook-query xmlns:A="urn:ietf:params:xml:ns:carddav"/>'), makeFlow(2)]);
  // The file as a davtap of schema version 7 left it: no report column (nor what later versions added).
  old.db.exec(
    'ALTER TABLE flows DROP COLUMN report; ALTER TABLE flows DROP COLUMN leg; ALTER TABLE flows DROP COLUMN paired_with; DROP TABLE runs; ' +
      'DROP INDEX flows_unclean; DROP INDEX flows_marked; DROP INDEX flows_sev_info; DROP INDEX flows_sev_warning; DROP INDEX flows_sev_error; ' +
      // Bodies a row per body, as before version 12.
      "INSERT INTO bodies (flow_seq, kind, bytes) SELECT flow_seq, 'request', request FROM flow_bodies WHERE request IS NOT NULL; " +
      "INSERT INTO bodies (flow_seq, kind, bytes) SELECT flow_seq, 'response', response FROM flow_bodies WHERE response IS NOT NULL; " +
      'DROP TABLE flow_bodies; CREATE INDEX flows_outcome ON flows(outcome_kind); CREATE INDEX flows_path ON flows(path); PRAGMA user_version = 7',
  );
  old.close();
  // A reader does not upgrade: the column reads as absent.
  const before = openReader(file);
  t.deepEqual(before.listFlows({ order: 'asc' }).map((r) => r.report), [null, null]);
  before.close();
  const store = openStore(file);
  t.teardown(() => store.close());
  t.deepEqual(store.listFlows({ order: 'asc' }).map((r) => r.report), ['addressbook-query', null]);
});
