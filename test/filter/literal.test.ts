// The LIKE prefilter of body searches (src/filter/literal.ts): a necessary condition, or none.
import test from 'ava';
import { likePrefilter } from '../../src/filter/literal.js';

test('literal text is an exact LIKE; escaped punctuation is literal; LIKE wildcards are escaped', (t) => {
  t.deepEqual(likePrefilter('getetag'), { like: '%getetag%', exact: true });
  t.deepEqual(likePrefilter('file-1\\.ics'), { like: '%file-1.ics%', exact: true });
  t.deepEqual(likePrefilter('100%_done\\\\'), { like: '%100\\%\\_done\\\\%', exact: true });
  t.deepEqual(likePrefilter('<D:href>/cal/'), { like: '%<D:href>/cal/%', exact: true });
});

test('gaps (., anchors, \\d \\s \\b, non-ASCII letters) split the text into runs that must appear in order', (t) => {
  t.deepEqual(likePrefilter('HTTP/1.1 404'), { like: '%HTTP/1%1 404%', exact: false });
  t.deepEqual(likePrefilter('^<\\?xml'), { like: '%<?xml%', exact: false });
  t.deepEqual(likePrefilter('status\\s+'), null, 'a quantifier: not understood here');
  t.deepEqual(likePrefilter('getetag\\b'), { like: '%getetag%', exact: false });
  t.deepEqual(likePrefilter('café crème'), { like: '%caf% cr%me%', exact: false });
});

test('anything more than text with gaps gets no prefilter, nor do runs too short to rule anything out', (t) => {
  for (const p of ['a|b', 'get(etag)', '[ab]cd', 'abc?', 'abc*', 'abc+', 'x{2}', '\\x41bcd', '\\u0041bcd', '(?:abc)', '\\1abc', 'ab', 'a.b.c', '\\']) {
    t.is(likePrefilter(p), null, p);
  }
});
