import test from 'ava';
import { SeenHrefs } from '../../src/analysis/seen-hrefs.js';

test('every href is recorded at its first index and found again as the table grows past its start size', (t) => {
  const seen = new SeenHrefs();
  const n = 5000;
  for (let i = 0; i < n; i++) t.is(seen.firstIndex(`/dav/file-${i}.txt`, i), undefined);
  // Second time round (later response indexes), each href answers with where it first stood.
  let wrong = 0;
  for (let i = 0; i < n; i++) if (seen.firstIndex(`/dav/file-${i}.txt`, n + i) !== i) wrong++;
  t.is(wrong, 0);
  t.is(seen.firstIndex('/dav/never-seen.txt', 2 * n), undefined);
  t.is(seen.firstIndex('/dav/never-seen.txt', 2 * n + 1), 2 * n);
});

test('a short answer (hrefs compared as strings) reports its duplicates at their first index, before and after the table is made', (t) => {
  const seen = new SeenHrefs();
  t.is(seen.firstIndex('/dav/a', 0), undefined);
  t.is(seen.firstIndex('/dav/b', 1), undefined);
  t.is(seen.firstIndex('/dav/a', 2), 0);
  t.is(seen.firstIndex('/dav/b', 3), 1);
  // Past the short list: the hrefs recorded before must still be found.
  for (let i = 4; i < 40; i++) t.is(seen.firstIndex(`/dav/x${i}`, i), undefined);
  t.is(seen.firstIndex('/dav/a', 40), 0);
  t.is(seen.firstIndex('/dav/b', 41), 1);
  t.is(seen.firstIndex('/dav/x4', 42), 4);
});
