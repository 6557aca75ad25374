// Whose fault a finding is (Finding.blame): stored with the finding, and for findings of files
// written before davtap recorded it, their rule's default from the catalogue.
import test from 'ava';
import { rules } from '../../src/analysis/analyzer.js';
import { createFlowWriter, openReader, openStore, schemaVersion, Store } from '../../src/store/index.js';
import { makeFlow, truncationFinding } from './make-flow.js';
import { tempDb } from './temp.js';

/** A flow and two findings as a davtap of schema version 4 wrote them: no blame column. */
function insertVersion4Flow(store: Store, id: string): void {
  const { lastInsertRowid } = store.db
    .prepare(
      `INSERT INTO flows (id, mode, client_address, client_port, start, method, url, target, host, path, request_http_version,
         request_headers, request_bytes_seen, request_capture_complete, status, reason, outcome_kind, analyzed)
       VALUES (?, 'reverse', '127.0.0.1', 5000, 1000, 'REPORT', 'http://dav.example/cal/', '/cal/', 'dav.example', '/cal/', '1.1',
         '["Host","dav.example"]', 0, 1, 207, 'Multi-Status', 'complete', 1)`,
    )
    .run(id);
  const add = store.db.prepare(`INSERT INTO findings (flow_seq, idx, rule, severity, category, message, evidence) VALUES (?, ?, ?, ?, ?, ?, '{}')`);
  add.run(lastInsertRowid, 0, 'MS604', 'warning', 'semantic', 'sync-collection with Depth: 1');
  add.run(lastInsertRowid, 1, 'MS501', 'warning', 'partial-failure', '1 of 2 resources failed');
}

test('a finding keeps its own blame through the store, also when it is not its rule\'s default', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(1, { findings: [truncationFinding] }));
  writer.flush();
  t.not(rules[truncationFinding.rule]!.blame, 'gateway');
  t.is(store.findingsFor('flow-1')[0]!.blame, 'gateway');
  t.is(store.db.prepare('SELECT blame FROM findings').pluck().get(), 'gateway');
});

test('findings of a version-4 database read with their rule\'s default blame, in a reader and after a writer upgrades it', (t) => {
  const file = tempDb(t);
  const old = new Store(file, {}, 4);
  insertVersion4Flow(old, 'old-1');
  old.close();

  const reader = openReader(file);
  t.is(reader.db.pragma('user_version', { simple: true }), 4, 'a reader never migrates');
  t.deepEqual(reader.findingsFor('old-1').map((f) => [f.rule, f.blame]), [['MS604', 'client'], ['MS501', 'server']]);
  reader.close();

  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  t.deepEqual(store.findingsFor('old-1').map((f) => [f.rule, f.blame]), [['MS604', 'client'], ['MS501', 'server']]);
});
