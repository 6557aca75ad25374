// The LIKE prefilter of body searches (src/filter/literal.ts): a necessary condition, or none.
import test from 'ava';
import { headerLikePrefilter, likePrefilter } from '../../src/filter/literal.js';

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

test('a header pattern becomes a LIKE over the headers as stored (JSON): cut at the colon after the name and at what JSON escapes', (t) => {
  const json = JSON.stringify(['Host', '127.0.0.1:8080', 'Depth', '1', 'X-Quote', 'say "hi" \\ bye', 'Server', 'nginx/1.22']);
  t.is(headerLikePrefilter('Depth: 1'), '%Depth%1%');
  t.is(headerLikePrefilter('^server: nginx'), '%server%nginx%');
  t.is(headerLikePrefilter('^server:\\s*nginx'), null, 'a quantifier: not understood here');
  t.is(headerLikePrefilter('X-Quote: say "hi" \\\\ bye'), '%X-Quote%say %hi%bye%');
  t.is(headerLikePrefilter('host: 127.0.0.1:8080'), '%host%127%0%0%1%8080%');
  // Each of these, as a line regex, matches a line of the headers; the LIKE lets their JSON through.
  const lines = ['Host: 127.0.0.1:8080', 'Depth: 1', 'X-Quote: say "hi" \\ bye', 'Server: nginx/1.22'];
  for (const pattern of ['Depth: 1', 'h: 1', 'epth:', ': nginx', '^server: nginx', 'X-Quote: say "hi" \\\\ bye', 'ost: 127.0.0.1:80']) {
    t.true(lines.some((l) => new RegExp(pattern, 'i').test(l)), pattern);
    const like = headerLikePrefilter(pattern);
    if (like === null) continue;
    const re = new RegExp(`^${like.split('%').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'is');
    t.regex(json, re, `${pattern} -> ${like}`);
  }
  // Too little literal text left: no prefilter.
  t.is(headerLikePrefilter('a: b'), null);
  t.is(headerLikePrefilter('x|y'), null);
});
