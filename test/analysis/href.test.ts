// Href normalization (what MS205/MS303 compare) and the URI-reference check of MS301.
import test from 'ava';
import { analyze, createAnalyzer } from '../../src/analysis/analyzer.js';
import { checkHrefSyntax, commonPrefix, isInwardHost, isWithin, normalizeHref, parseHref, removeDotSegments } from '../../src/analysis/href.js';

test('normalization decodes unreserved escapes, upper-cases the others and drops scheme and authority', (t) => {
  t.is(normalizeHref('/dav/%61%2fb%7e'), '/dav/a%2Fb~');
  t.is(normalizeHref('http://Host:80/dav/x'), '/dav/x');
  t.is(normalizeHref(' /dav/a/./b/../c '), '/dav/a/c');
  t.is(normalizeHref('/dav/a%20b'), '/dav/a%20b');
});

test('parseHref tells absolute URIs from absolute paths and strips default ports', (t) => {
  t.deepEqual(parseHref('https://user@Example.org:443/x?y'), { form: 'absolute-uri', scheme: 'https', authority: 'example.org', path: '/x' });
  t.is(parseHref('/x').form, 'absolute-path');
  t.is(parseHref('x/y').form, 'relative');
  t.is(parseHref('   ').form, 'empty');
});

test('dot-segments resolve like RFC 3986 §5.2.4', (t) => {
  t.is(removeDotSegments('/a/b/c/./../../g'), '/a/g');
  t.is(removeDotSegments('/a/..'), '/');
  t.is(removeDotSegments('/plain/path'), '/plain/path');
});

test('MS301 syntax: raw space, #, ?, brackets, controls and bad escapes are errors, raw non-ASCII a warning', (t) => {
  t.is(checkHrefSyntax('/dav/a%20b.txt'), undefined);
  t.is(checkHrefSyntax('http://[::1]:8080/dav/'), undefined);
  for (const bad of ['/dav/a b', '/dav/a#b', '/dav/a?b', '/dav/[x]', '/dav/\x01', '/dav/100%', '/dav/%zz']) t.is(checkHrefSyntax(bad)?.severity, 'error', bad);
  t.is(checkHrefSyntax('/dav/über')?.severity, 'warning');
  t.is(checkHrefSyntax('/dav/a b')?.offset, 6);
});

test('MS301 syntax: U+FFFD passes only where the body held bytes that were not UTF-8 (MS103 reports those)', (t) => {
  t.is(checkHrefSyntax('/dav/a-\uFFFD.txt', true), undefined);
  t.is(checkHrefSyntax('/dav/a-\uFFFD.txt')?.severity, 'warning');
  t.is(checkHrefSyntax('/dav/a-\uFFFD b.txt', true)?.what, 'raw space (must be %20)');
});

const propfind = { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Host', 'dav.example.org', 'Depth', '1'] };
const head207 = (length: number) => ({
  status: 207,
  reason: 'Multi-Status',
  httpVersion: '1.1',
  rawHeaders: ['Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(length)],
  bodyForm: 'payload' as const,
});

/** A Depth 1 listing of /dav/ whose member hrefs are the given raw bytes, analyzed whole. */
function listing(...hrefs: Buffer[]) {
  const body = listingBody(hrefs);
  return analyze(propfind, head207(body.length), body);
}

function listingBody(hrefs: Buffer[]): Buffer {
  const response = (href: Buffer) =>
    Buffer.concat([Buffer.from('<D:response><D:href>'), href, Buffer.from('</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n')]);
  return Buffer.concat([
    Buffer.from('<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n'),
    response(Buffer.from('/dav/')),
    ...hrefs.map(response),
    Buffer.from('</D:multistatus>\n'),
  ]);
}

const raw = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

test('bytes that are not UTF-8 in hrefs are MS103 once: not a query for MS301, nor a cut that makes two hrefs one for MS205', (t) => {
  const a = listing(raw('/dav/a-', [0xff, 0xfe], '1.txt'), raw('/dav/a-', [0xff], '2.txt'));
  t.deepEqual(a.findings.map((f) => f.rule), ['MS103']);
  t.is(a.findings[0]!.evidence.count, 3);
  t.deepEqual(a.resources.map((r) => r.href), ['/dav/', '/dav/a-\uFFFD\uFFFD1.txt', '/dav/a-\uFFFD2.txt']);
  t.deepEqual(a.resources.map((r) => r.hrefNormalized), ['/dav/', '/dav/a-\uFFFD\uFFFD1.txt', '/dav/a-\uFFFD2.txt']);
});

test('the bytes are told from a real \'?\' however the body is split into writes', (t) => {
  const body = listingBody([raw('/dav/a-', [0xff, 0xfe], '1.txt'), raw('/dav/b-', [0xff], '.txt?rev=2')]);
  const whole = analyze(propfind, head207(body.length), body);
  const summary = (a: typeof whole) => JSON.stringify([a.findings.map((f) => f.rule), a.resources.map((r) => r.href)]);
  t.is(summary(whole), JSON.stringify([['MS103', 'MS301'], ['/dav/', '/dav/a-\uFFFD\uFFFD1.txt', '/dav/b-?.txt?rev=2']]));
  for (let at = 1; at < body.length; at++) {
    const a = createAnalyzer(propfind, head207(body.length));
    a.write(body.subarray(0, at));
    a.write(body.subarray(at));
    const got = summary(a.end({ outcome: 'complete' }));
    if (got !== summary(whole)) return t.fail(`split at ${at}: ${got}`);
  }
  t.pass();
});

test('a real query beside bytes that are not UTF-8 is still MS301, in the same href or another', (t) => {
  const same = listing(raw('/dav/a-', [0xff], '.txt?rev=2'));
  t.deepEqual(same.findings.map((f) => `${f.rule} ${f.severity}`), ['MS103 error', 'MS301 error']);
  // Which '?' is the byte and which the query is not known: the href is kept as read.
  t.is(same.resources[1]!.href, '/dav/a-?.txt?rev=2');
  const other = listing(raw('/dav/a-', [0xff], '.txt'), raw('/dav/b.txt?rev=2'));
  t.deepEqual(other.findings.map((f) => `${f.rule} ${f.severity}`), ['MS103 error', 'MS301 error']);
  t.is(other.findings[1]!.evidence.href, '/dav/b.txt?rev=2');
  // An escaped '?' (a character reference) is a real '?' too.
  const ref = listing(raw('/dav/a-', [0xff], '.txt&#63;rev=2'));
  t.true(ref.findings.some((f) => f.rule === 'MS301'));
});

test('scope helpers: within, common prefix, inward hosts', (t) => {
  t.true(isWithin('/dav/cap/perm', '/dav/cap/perm/'));
  t.true(isWithin('/dav/cap/perm/x', '/dav/cap/'));
  t.false(isWithin('/dav/capx', '/dav/cap/'));
  t.is(commonPrefix('/webdav/data/', '/data/x'), '/');
  for (const h of ['10.1.2.3:8080', '192.168.0.1', '172.20.0.5', '127.0.0.1', 'localhost:8080', '[::1]:80', 'backend', 'srv.internal', 'nas.local']) t.true(isInwardHost(h), h);
  for (const h of ['dav.example.org', '8.8.8.8', '172.32.0.1']) t.false(isInwardHost(h), h);
});
