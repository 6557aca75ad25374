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
