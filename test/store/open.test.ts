import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StoreError } from '../../src/errors.js';
import { createFlowWriter, openReader, openStore, schemaVersion, Store } from '../../src/store/index.js';
import { makeFlow } from './make-flow.js';
import { tempDb, tempDir } from './temp.js';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
// better-sqlite3's errors are not native Error objects, which t.throws insists on: report code and message.
function sqliteFailure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}
const mode = (file: string) => fs.statSync(file).mode & 0o777;

test('a fresh database gets the current schema, WAL and the pragmas', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  t.is(store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(store.db.pragma('synchronous', { simple: true }), 1); // NORMAL
  t.is(store.db.pragma('foreign_keys', { simple: true }), 1);
  const tables = (store.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  t.deepEqual(tables, ['bodies', 'body_parts', 'findings', 'flow_bodies', 'flows', 'resources', 'runs']);
  const indexes = (store.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name);
  for (const name of ['flows_method', 'flows_status', 'findings_rule', 'findings_category']) t.true(indexes.includes(name), name);
  // Dropped in version 12: no query used them, every flow paid for them.
  for (const name of ['flows_outcome', 'flows_path']) t.false(indexes.includes(name), name);
});

test('the database and its WAL companions are created 0600', async (t) => {
  const file = tempDb(t);
  const umask = process.umask(0o000); // even with a permissive umask
  let store: Store;
  try {
    store = openStore(file);
  } finally {
    process.umask(umask);
  }
  t.teardown(() => store.close());
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(1));
  writer.flush();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) t.is(mode(f).toString(8), '600', f);
  await writer.close();
  store.close();
  // Closing removes the WAL files; SQLite recreates them with the database's mode on reopening.
  t.false(fs.existsSync(`${file}-wal`));
  const umask2 = process.umask(0o000);
  try {
    store = openStore(file);
  } finally {
    process.umask(umask2);
  }
  const again = createFlowWriter(store);
  again.enqueue(makeFlow(2));
  again.flush();
  await again.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) t.is(mode(f).toString(8), '600', `${f} after reopening`);
});

test('the filter indexes are used by the queries the UI makes', (t) => {
  const store = openStore(tempDb(t));
  t.teardown(() => store.close());
  const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
  t.regex(plan("SELECT seq FROM flows f WHERE f.method = 'PROPFIND'"), /flows_method/);
  t.regex(plan('SELECT seq FROM flows f WHERE f.status BETWEEN 400 AND 499'), /flows_status/);
  t.regex(plan("SELECT flow_seq FROM findings x WHERE x.rule = 'MS001'"), /findings_rule/);
  t.regex(plan("SELECT flow_seq FROM findings x WHERE x.category = 'truncation'"), /findings_category/);
});

test('an older schema is upgraded in place and keeps its flows', (t) => {
  const file = tempDb(t);
  // Build a version-1 database with one flow, as the first release would have left it.
  const old = new Store(file, {}, 1);
  t.is(old.db.pragma('user_version', { simple: true }), 1);
  old.db
    .prepare(
      `INSERT INTO flows (id, mode, client_address, client_port, start, method, url, target, host, path, request_http_version,
         request_headers, request_bytes_seen, request_capture_complete, status, reason, outcome_kind)
       VALUES ('old-1', 'reverse', '127.0.0.1', 5000, 1000, 'PROPFIND', 'http://127.0.0.1/dav/', '/dav/', '127.0.0.1', '/dav/', '1.1',
         '["Depth","1"]', 0, 1, 207, 'Multi-Status', 'complete')`,
    )
    .run();
  t.regex(sqliteFailure(() => old.db.prepare('SELECT injected FROM flows').all()), /no such column/);
  old.close();

  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('user_version', { simple: true }), schemaVersion);
  t.true(schemaVersion > 1);
  const rows = store.listFlows();
  t.is(rows.length, 1);
  t.is(rows[0]!.id, 'old-1');
  t.is(rows[0]!.injected, null);
  t.is(store.getFlow('old-1')!.request.rawHeaders[0], 'Depth');
  // And the upgraded file takes new flows.
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(2, { injected: 'cut' }));
  writer.flush();
  t.is(store.countFlows('~i'), 1);
});

test('a database from a newer davtap is refused and left byte-identical', (t) => {
  const file = tempDb(t);
  const db = new Database(file);
  db.exec('CREATE TABLE flows (seq INTEGER PRIMARY KEY, future TEXT)');
  db.prepare("INSERT INTO flows (future) VALUES ('x')").run();
  db.pragma(`user_version = ${schemaVersion + 5}`);
  db.close();
  const before = sha(file);
  const err = t.throws(() => openStore(file), { instanceOf: StoreError });
  t.regex(err!.message, new RegExp(`written by a newer davtap \\(schema version ${schemaVersion + 5}; this davtap knows up to ${schemaVersion}\\)`));
  t.is(err!.exitCode, 2);
  t.throws(() => openReader(file), { instanceOf: StoreError });
  t.is(sha(file), before);
  t.false(fs.existsSync(`${file}-wal`));
});

test('a file that is not SQLite is refused with a clear message and left alone', (t) => {
  const file = tempDb(t, 'notes.db');
  fs.writeFileSync(file, 'these are my notes, not a database\n'.repeat(200));
  const before = sha(file);
  const err = t.throws(() => openStore(file), { instanceOf: StoreError });
  t.regex(err!.message, /notes\.db is not a davtap database \(not an SQLite file\)/);
  t.is(sha(file), before);
});

test('an SQLite database of another program is refused', (t) => {
  const file = tempDb(t);
  const db = new Database(file);
  db.exec('CREATE TABLE contacts (name TEXT)');
  db.close();
  const err = t.throws(() => openStore(file), { instanceOf: StoreError });
  t.regex(err!.message, /an SQLite database but not a davtap one/);
});

test('a reader needs an existing, current database', (t) => {
  const dir = tempDir(t);
  t.throws(() => openReader(path.join(dir, 'missing.db')), { instanceOf: StoreError, message: /no such database/ });
  t.false(fs.existsSync(path.join(dir, 'missing.db')));
  const old = path.join(dir, 'old.db');
  new Store(old, {}, 1).close();
  t.throws(() => openReader(old), { instanceOf: StoreError, message: /schema version 1; open it once with 'davtap proxy --db'/ });
});

test('a read-only store cannot take a writer or write', (t) => {
  const file = tempDb(t);
  openStore(file).close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.true(reader.readonly);
  t.throws(() => createFlowWriter(reader), { instanceOf: StoreError, message: /read-only/ });
  t.regex(sqliteFailure(() => reader.db.exec("INSERT INTO findings VALUES (1, 0, 'MS001', 'error', 'truncation', 'm', '{}', NULL, NULL, 'server')")), /^SQLITE_READONLY/);
});

test('an invalid --max-db-size is a store error and creates no file', (t) => {
  const file = tempDb(t);
  t.throws(() => openStore(file, { maxDbSize: 0 }), { instanceOf: StoreError, message: /--max-db-size must be a positive number/ });
  t.false(fs.existsSync(file));
});

/** Makes `file` unwritable for this process: a 0444 mode, or for root (whom modes do not stop) the immutable attribute. */
function makeUnwritable(t: ExecutionContext, file: string): void {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', file]);
    t.teardown(() => execFileSync('chattr', ['-i', file]));
  } else {
    fs.chmodSync(file, 0o444);
  }
}

test('a database file that cannot be written is refused at open with a clear message', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store);
  writer.enqueue(makeFlow(1));
  store.close();
  makeUnwritable(t, file);
  const before = sha(file);
  const err = t.throws(() => openStore(file), { instanceOf: StoreError });
  t.regex(err!.message, /cannot write .*flows\.db: attempt to write a readonly database \(check its permissions, or open it read-only\)/);
  t.is(sha(file), before);
  // Reading it is still possible.
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.countFlows(), 1);
});
