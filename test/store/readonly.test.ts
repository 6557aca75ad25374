// Reading a database without writing beside it: exports from read-only media, and snapshots that
// leave no -wal or -shm behind.
import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createFlowWriter, openReader, openStore } from '../../src/store/index.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

async function closedDb(t: Parameters<typeof tempDb>[0], flows: number): Promise<string> {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store, { tickMs: 1 });
  for (let i = 0; i < flows; i++) writer.enqueue(makeFlow(i));
  await writer.close();
  store.close();
  return file;
}

test('a snapshot of a database no proxy has open reads every flow and creates nothing beside it', async (t) => {
  const file = await closedDb(t, 3);
  const dir = path.dirname(file);
  t.deepEqual(fs.readdirSync(dir), ['flows.db'], 'a clean close leaves the main file only');
  const before = sha(file);
  const reader = openReader(file, { snapshot: true });
  t.is(reader.countFlows(null), 3);
  t.truthy(reader.getFlow('flow-2'));
  t.deepEqual(fs.readdirSync(dir), ['flows.db'], 'no -wal or -shm while open');
  reader.close();
  t.deepEqual(fs.readdirSync(dir), ['flows.db']);
  t.is(sha(file), before);
});

test('a live reader (the UI) of the same database reads it the usual way, through the WAL', async (t) => {
  // The UI follows a proxy that may start later: it must not read the file as immutable when it can
  // do otherwise. SQLite then creates the -shm beside it, which a snapshot (above) does not.
  const file = await closedDb(t, 1);
  const reader = openReader(file);
  t.is(reader.countFlows(null), 1);
  reader.close();
  t.true(fs.existsSync(`${file}-shm`));
});

test('a snapshot while a writer has the database open sees what is only in the WAL yet', async (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, { tickMs: 1 });
  for (let i = 0; i < 4; i++) writer.enqueue(makeFlow(i));
  writer.flush();
  t.true(fs.statSync(`${file}-wal`).size > 0, 'the flows sit in the WAL, not yet checkpointed');
  const reader = openReader(file, { snapshot: true });
  t.teardown(() => reader.close());
  t.is(reader.countFlows(null), 4, 'an immutable read of the main file alone would miss them');
  await writer.close();
});
