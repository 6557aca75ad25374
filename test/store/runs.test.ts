// How a proxy run was started is recorded in the database, where a UI attached to the file reads it.
import test from 'ava';
import { openReader, openStore } from '../../src/store/index.js';
import { tempDb } from './temp.js';

test('the newest recorded run comes back to a reader, with its mode, addresses and upstream', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.latestRun(), null, 'no run recorded yet');
  store.recordRun({ started: 1000, mode: 'forward', listen: ['http://127.0.0.1:8080/'] });
  t.deepEqual(reader.latestRun(), { id: 1, started: 1000, mode: 'forward', listen: ['http://127.0.0.1:8080/'] });
  store.recordRun({ started: 2000, mode: 'reverse', listen: ['http://127.0.0.1:8443/'], upstream: 'http://dav.example:8081/', publicUrl: 'https://dav.example/' });
  t.deepEqual(reader.latestRun(), {
    id: 2, started: 2000, mode: 'reverse', listen: ['http://127.0.0.1:8443/'], upstream: 'http://dav.example:8081/', publicUrl: 'https://dav.example/',
  });
});

test('a file from before runs were recorded reads as no run, for a reader that does not upgrade it', (t) => {
  const file = tempDb(t);
  const old = openStore(file);
  old.db.exec('DROP TABLE runs; PRAGMA user_version = 9');
  old.close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.latestRun(), null);
  t.throws(() => reader.recordRun({ started: 1, mode: 'forward', listen: [] }), { message: /cannot record the run/ });
});
