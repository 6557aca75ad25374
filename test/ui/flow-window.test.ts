import test from 'ava';
import path from 'node:path';
import { parseFilter } from '../../src/filter/index.js';
import { FlowWindow, type FlowSource } from '../../ui/flow-window.js';
import { openStoreSource } from '../../ui/flow-source.js';
import { writeFlows, tempDir } from './db.js';
import { deleteLocked, plainGet, propfindWithFailures, sampleFlows } from './flows.js';

/** The real store source, with the rows each query returned counted. */
function counting(source: FlowSource): FlowSource & { rowsLoaded: number; queries: number } {
  const counted = {
    rowsLoaded: 0,
    queries: 0,
    latestSeq: () => source.latestSeq(),
    count: (f: Parameters<FlowSource['count']>[0]) => source.count(f),
    countNew: (f: Parameters<FlowSource['count']>[0], after: number, upto: number) => source.countNew(f, after, upto),
    list: (f: Parameters<FlowSource['list']>[0], offset: number, limit: number) => {
      const rows = source.list(f, offset, limit);
      counted.queries++;
      counted.rowsLoaded += rows.length;
      return rows;
    },
    getFlow: (id: string) => source.getFlow(id),
    close: () => source.close(),
  };
  return counted;
}

const start = Date.UTC(2026, 10, 21, 6, 0, 0);

test('the window loads only the rows around the cursor, in capture order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, Array.from({ length: 2000 }, (_, i) => plainGet(start + i, `/dav/file-${i}.txt`)));
  const source = counting(openStoreSource(file));
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.setHeight(40);
  w.refresh();
  t.is(w.total, 2000);
  t.deepEqual(w.visible().map((r) => r.path).slice(0, 2), ['/dav/file-0.txt', '/dav/file-1.txt']);
  t.true(source.rowsLoaded <= 120, `loaded ${source.rowsLoaded} rows for one screen`);
  w.end();
  const last = w.visible();
  t.is(last.length, 40);
  t.is(last.at(-1)!.path, '/dav/file-1999.txt');
  t.is(w.selected()!.path, '/dav/file-1999.txt');
  w.pageUp();
  t.is(w.selected()!.path, '/dav/file-1959.txt');
  w.home();
  t.is(w.selected()!.path, '/dav/file-0.txt');
  t.true(source.rowsLoaded <= 400, `paging loaded ${source.rowsLoaded} rows, not 2000`);
});

test('moving within the loaded window does not query again', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, Array.from({ length: 300 }, (_, i) => plainGet(start + i, `/f${i}`)));
  const source = counting(openStoreSource(file));
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.setHeight(20);
  w.refresh();
  w.visible();
  const before = source.queries;
  for (let i = 0; i < 15; i++) {
    w.move(1);
    w.visible();
  }
  t.is(source.queries, before);
  t.is(w.selected()!.path, '/f15');
});

test('a filter narrows the rows and the count; clearing it brings them back', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, sampleFlows(start));
  const source = openStoreSource(file);
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.setHeight(10);
  w.refresh();
  t.is(w.total, 5);
  w.setFilter(parseFilter('~m PROPFIND'));
  t.deepEqual(w.visible().map((r) => r.path), ['/dav/projects/', '/dav/big/']);
  w.setFilter(parseFilter('~f truncation'));
  t.deepEqual(w.visible().map((r) => r.path), ['/dav/big/']);
  w.setFilter(parseFilter('~e'));
  t.deepEqual(w.visible().map((r) => r.method), ['PROPFIND', 'MKCOL']);
  w.setFilter(null);
  t.is(w.total, 5);
});

test('follow mode keeps the newest flow selected as flows arrive', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, [plainGet(start)]);
  const source = openStoreSource(file);
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.follow = true;
  w.setHeight(3);
  w.refresh();
  const seq = source.latestSeq();
  await writeFlows(file, [propfindWithFailures(start + 1), deleteLocked(start + 2), plainGet(start + 3, '/newest')]);
  t.not(source.latestSeq(), seq);
  w.refresh();
  t.is(w.total, 4);
  t.is(w.selected()!.path, '/newest');
  t.is(w.visible().length, 3);
  w.follow = false;
  w.home();
  await writeFlows(file, [plainGet(start + 4, '/later')]);
  w.refresh();
  t.is(w.selected()!.seq, w.visible()[0]!.seq, 'without follow the cursor stays where it was');
});

test('the detail of a selected row is read back whole from the store', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, sampleFlows(start));
  const source = openStoreSource(file);
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.refresh();
  w.move(2);
  const row = w.selected()!;
  t.is(row.path, '/dav/big/');
  t.is(row.errors, 2);
  t.is(row.outcome, 'upstream-aborted');
  const flow = source.getFlow(row.id)!;
  t.is(flow.analysis!.findings.length, 3);
  t.is(flow.response!.body.bytes.length, 32_768);
});

test('a poll adds only the new flows that match the filter, counting each flow once', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, sampleFlows(start));
  const source = openStoreSource(file);
  t.teardown(() => source.close());
  const w = new FlowWindow(source);
  w.setHeight(10);
  let seq = w.setFilter(parseFilter('~m PROPFIND'));
  t.is(w.total, 2);
  await writeFlows(file, [plainGet(start + 10), propfindWithFailures(start + 11), deleteLocked(start + 12)]);
  const upto = source.latestSeq();
  t.is(source.countNew(parseFilter('~m PROPFIND'), seq, upto), 1);
  t.is(source.countNew(null, seq, upto), 3);
  t.is(source.countNew(null, seq, upto - 1), 2, 'flows past the upper bound are left for the next poll');
  w.appended(seq, upto);
  seq = upto;
  t.is(w.total, 3);
  t.is(w.total, source.count(parseFilter('~m PROPFIND')));
  t.deepEqual(w.visible().map((r) => r.path), ['/dav/projects/', '/dav/big/', '/dav/projects/']);
  w.appended(seq, source.latestSeq());
  t.is(w.total, 3, 'a poll that saw no new flow changes nothing');
});
