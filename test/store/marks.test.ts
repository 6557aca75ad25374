// Marks (mitmproxy's `~marked`): the user's notes on a capture, written even through a reader, read
// back in rows, flows and filters; a file from before marks reads as unmarked.
import test from 'ava';
import { createFlowWriter, openReader, openStore, schemaVersion, Store } from '../../src/store/index.js';
import { StoreError } from '../../src/errors.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

function recorded(file: string, n: number): void {
  const store = openStore(file);
  const writer = createFlowWriter(store);
  for (let i = 0; i < n; i++) writer.enqueue(makeFlow(i, { resources: 2 }));
  writer.flush();
  store.close();
}

/** A file as the davtap before marks left it (schema version 6), its flows inserted as that one did. */
function recordedBeforeMarks(file: string, n: number): void {
  const old = new Store(file, {}, 6);
  const insert = old.db.prepare(
    `INSERT INTO flows (id, mode, client_address, client_port, start, method, url, target, host, path, request_http_version,
       request_headers, request_bytes_seen, request_capture_complete, status, reason, outcome_kind)
     VALUES (?, 'reverse', '127.0.0.1', 5000, 1000, 'PROPFIND', 'http://127.0.0.1/dav/', '/dav/', '127.0.0.1', '/dav/', '1.1',
       '["Depth","1"]', 0, 1, 207, 'Multi-Status', 'complete')`,
  );
  for (let i = 0; i < n; i++) insert.run(`flow-${i}`);
  old.close();
}

test('a reader marks and unmarks flows while the writer keeps its connection; rows, flows and ~marked see it', (t) => {
  const file = tempDb(t);
  recorded(file, 4);
  const writer = openStore(file);
  t.teardown(() => writer.close());
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.countFlows('~marked'), 0);
  t.true(reader.toggleMarked('flow-1'));
  t.true(reader.setMarked('flow-3', true));
  t.deepEqual(reader.listFlows({ filter: '~marked', order: 'asc' }).map((r) => r.id), ['flow-1', 'flow-3']);
  t.true(reader.getRow('flow-1')!.marked);
  t.false(reader.getRow('flow-0')!.marked);
  t.true(reader.getFlow('flow-3')!.marked);
  // The writer's own connection sees the marks too.
  t.is(writer.countFlows('~marked'), 2);
  t.false(reader.toggleMarked('flow-1'));
  t.deepEqual(writer.listFlows({ filter: '~marked' }).map((r) => r.id), ['flow-3']);
  t.false(reader.setMarked('flow-404', true), 'no such flow');
});

test('a reader of a version-6 file (before marks) reads every flow as unmarked, ~marked matches none, and marking says to upgrade', (t) => {
  const file = tempDb(t);
  recordedBeforeMarks(file, 3);
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.db.pragma('user_version', { simple: true }), 6);
  t.is(reader.countFlows('~marked'), 0);
  t.is(reader.countFlows('!~marked'), 3);
  t.false(reader.listFlows()[0]!.marked);
  t.false(reader.getFlow('flow-0')!.marked);
  const err = t.throws(() => reader.setMarked('flow-0', true), { instanceOf: StoreError });
  t.regex(err!.message, /predates marks; open it once with 'davtap proxy --db'/);
  reader.close();

  const upgraded = openStore(file);
  t.teardown(() => upgraded.close());
  t.is(upgraded.db.pragma('user_version', { simple: true }), schemaVersion);
  t.true(upgraded.setMarked('flow-0', true));
  t.is(upgraded.countFlows('~marked'), 1);
});
