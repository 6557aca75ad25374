// Whether the client spoke TLS to davtap (Flow.client.tls): stored, read back, and absent (plain)
// for flows of files written before davtap recorded it.
import test, { type ExecutionContext } from 'ava';
import { createFlowWriter, openReader, openStore, schemaVersion, Store } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const withTls = (flow: Flow, tls: Flow['client']['tls']): Flow => ({ ...flow, client: { ...flow.client, ...(tls ? { tls } : {}) } });

function written(t: ExecutionContext, flows: Flow[]): { file: string; store: Store } {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  for (const f of flows) writer.enqueue(f);
  writer.flush();
  return { file, store };
}

/** A flows row as a davtap of schema version 3 wrote it: no client_tls or client_sni columns. */
function insertVersion3Flow(store: Store, id: string): void {
  store.db
    .prepare(
      `INSERT INTO flows (id, mode, client_address, client_port, start, method, url, target, host, path, request_http_version,
         request_headers, request_bytes_seen, request_capture_complete, status, reason, outcome_kind)
       VALUES (?, 'reverse', '127.0.0.1', 5000, 1000, 'PROPFIND', 'https://dav.example/dav/', '/dav/', 'dav.example', '/dav/', '1.1',
         '["Host","127.0.0.1:8080"]', 0, 1, 207, 'Multi-Status', 'complete')`,
    )
    .run(id);
}

test('a TLS client, with and without SNI, and a plain one come back as recorded', (t) => {
  const flows = [withTls(makeFlow(1), { sni: 'dav.example' }), withTls(makeFlow(2), {}), makeFlow(3)];
  const { file, store } = written(t, flows);
  t.deepEqual(store.getFlow('flow-1')!.client, { address: '127.0.0.1', port: 40001, tls: { sni: 'dav.example' } });
  t.deepEqual(store.getFlow('flow-2')!.client, { address: '127.0.0.1', port: 40002, tls: {} });
  const plain = store.getFlow('flow-3')!.client;
  t.deepEqual(plain, { address: '127.0.0.1', port: 40003 });
  t.false('tls' in plain, 'a plain client has no tls key at all');
  // The light rows of the flow list say it too, in a reader as in the writer's store.
  const reader = openReader(file);
  t.teardown(() => reader.close());
  for (const s of [store, reader]) {
    t.deepEqual(
      s.listFlows({ order: 'asc' }).map((r) => r.clientTls),
      [{ sni: 'dav.example' }, {}, null],
    );
    t.deepEqual(s.getRow('flow-1')!.clientTls, { sni: 'dav.example' });
    t.is(s.getRow('flow-3')!.clientTls, null);
  }
});

test('a version-3 database is upgraded by a writer: its flows read as plain, new flows keep their TLS', (t) => {
  const file = tempDb(t);
  const old = new Store(file, {}, 3);
  insertVersion3Flow(old, 'old-1');
  old.close();

  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  t.deepEqual(store.getFlow('old-1')!.client, { address: '127.0.0.1', port: 5000 });
  t.is(store.listFlows()[0]!.clientTls, null);
  const writer = createFlowWriter(store);
  writer.enqueue(withTls(makeFlow(7), { sni: 'cal.example' }));
  writer.flush();
  t.deepEqual(store.getFlow('flow-7')!.client.tls, { sni: 'cal.example' });
  t.deepEqual(
    store.listFlows({ order: 'asc' }).map((r) => [r.id, r.clientTls]),
    [['old-1', null], ['flow-7', { sni: 'cal.example' }]],
  );
});

test('a reader opens a version-3 database as it is (no upgrade): its flows read as plain', (t) => {
  const file = tempDb(t);
  const old = new Store(file, {}, 3);
  insertVersion3Flow(old, 'old-1');
  old.close();

  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.db.pragma('user_version', { simple: true }), 3, 'a reader never migrates');
  const rows = reader.listFlows();
  t.is(rows.length, 1);
  t.is(rows[0]!.clientTls, null);
  t.deepEqual(reader.listFlows({ filter: '~m PROPFIND', offset: 0 }).map((r) => r.clientTls), [null]);
  t.deepEqual(reader.getRow('old-1'), rows[0]);
  const flow = reader.getFlow('old-1')!;
  t.deepEqual(flow.client, { address: '127.0.0.1', port: 5000 });
  t.is(flow.request.url, 'https://dav.example/dav/');
});

test('a reader still refuses a database older than it can read without an upgrade', (t) => {
  const file = tempDb(t);
  new Store(file, {}, 2).close();
  t.throws(() => openReader(file), { message: /schema version 2; open it once with 'davtap proxy --db'/ });
});
