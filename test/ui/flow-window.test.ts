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

/** The real store source, with the reads each list query started from. */
function listing(source: FlowSource): FlowSource & { lists: { offset: number; afterSeq: number | undefined }[] } {
  const lists: { offset: number; afterSeq: number | undefined }[] = [];
  return {
    ...source,
    lists,
    list: (f, offset, limit, afterSeq) => {
      lists.push({ offset, afterSeq });
      return source.list(f, offset, limit, afterSeq);
    },
  };
}

test('a count in steps shows the first rows at once, says it is a lower bound, and ends exact', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  // Every third flow is a PROPFIND: 400 of 1,200.
  await writeFlows(
    file,
    Array.from({ length: 1200 }, (_, i) => (i % 3 === 0 ? { ...propfindWithFailures(start + i, 1), id: `p-${i}` } : { ...plainGet(start + i, `/g${i}`), id: `g-${i}` })),
  );
  const source = listing(openStoreSource(file));
  t.teardown(() => source.close());
  t.true(source.countsInSteps);
  // Steps of 100 seqs that never fit their budget: one range per step.
  const w = new FlowWindow(source, { firstStepMs: 0, firstChunk: 100 });
  w.setHeight(10);
  const seq = w.setFilter(parseFilter('~m PROPFIND'));
  t.is(seq, 1200);
  t.true(w.counting);
  t.true(w.total > 0 && w.total < 400, `after one step: ${w.total}`);
  t.deepEqual(w.visible().slice(0, 2).map((r) => r.id), ['p-0', 'p-3']);
  let steps = 1;
  while (w.countStep(0)) steps++;
  t.false(w.counting);
  t.true(steps > 2, `${steps} steps`);
  t.is(w.total, 400);
  t.is(w.total, source.count(parseFilter('~m PROPFIND')));
  // The end of the list is read from the nearest point the count passed, not from the first flow.
  source.lists.length = 0;
  w.end();
  t.is(w.selected()!.id, 'p-1197');
  t.deepEqual(w.visible().map((r) => r.id).slice(-2), ['p-1194', 'p-1197']);
  const last = source.lists.at(-1)!;
  t.true(last.afterSeq !== undefined && last.afterSeq > 900 && last.offset < 100, JSON.stringify(last));
  w.home();
  w.move(150);
  t.is(w.selected()!.id, 'p-450');
  // Without a filter the store finds the offset itself.
  w.setFilter(null);
  while (w.countStep(0));
  t.is(w.total, 1200);
  source.lists.length = 0;
  w.end();
  t.is(w.selected()!.id, 'g-1199');
  t.deepEqual(source.lists.at(-1), { offset: 1200 - 20, afterSeq: undefined });
});

test('flows that arrive while a count is in steps are counted once, by the count or by the poll after it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'flows.db');
  await writeFlows(file, Array.from({ length: 600 }, (_, i) => ({ ...plainGet(start + i, `/g${i}`), id: `g-${i}` })));
  const source = openStoreSource(file);
  t.teardown(() => source.close());
  const w = new FlowWindow(source, { firstStepMs: 0, firstChunk: 100 });
  w.setHeight(5);
  w.follow = true;
  let seq = w.setFilter(parseFilter('~u /g'));
  t.true(w.counting);
  await writeFlows(file, Array.from({ length: 50 }, (_, i) => ({ ...plainGet(start + 600 + i, `/g-new${i}`), id: `n-${i}` })));
  w.appended(seq, source.latestSeq());
  seq = source.latestSeq();
  while (w.countStep(0));
  t.is(w.total, 650);
  t.is(w.selected()!.id, 'n-49', 'follow mode ends on the newest flow once counted');
  await writeFlows(file, [{ ...plainGet(start + 700, '/g-last'), id: 'last' }, { ...plainGet(start + 701, '/other'), id: 'other' }]);
  w.appended(seq, source.latestSeq());
  t.false(w.counting);
  t.is(w.total, 651);
  t.is(w.selected()!.id, 'last');
});
