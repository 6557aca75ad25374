// The pipeline worker's memory of listings and removals (MS403 across listings): what it keeps,
// for how long, and what it forgets when a bound is reached. Flows as the proxy records them,
// analyzed by the real analyzer.
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import { ListingHistory } from '../../src/pipeline/listing-history.js';
import type { Flow, RawHeaders } from '../../src/types.js';

const UP = 'http://127.0.0.1:8001';
let ids = 0;

/** A listing; the collection's own response carries `ctag` as CalendarServer's getctag when given. */
function multistatus(self: string, members: string[], ctag?: string): string {
  const response = (href: string, prop = '<D:getetag>"e"</D:getetag>') => `<D:response><D:href>${href}</D:href><D:propstat><D:prop>${prop}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  const own = ctag !== undefined ? `<CS:getctag xmlns:CS="http://calendarserver.org/ns/">${ctag}</CS:getctag>` : '<D:displayname>collection</D:displayname>';
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${response(self, own)}${members.map((m) => response(m)).join('')}</D:multistatus>\n`;
}

function flow(method: string, path: string, status: number, start: number, opts: { requestHeaders?: RawHeaders; body?: string; end?: number } = {}): Flow {
  const requestHeaders = opts.requestHeaders ?? [];
  const body = Buffer.from(opts.body ?? '');
  const responseHeaders: RawHeaders = opts.body !== undefined ? ['Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(body.length)] : [];
  const f: Flow = {
    id: `flow-${++ids}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 50000 },
    timings: { start, firstByte: start + 5, end: opts.end ?? start + 10 },
    request: { method, url: UP + path, target: path, httpVersion: '1.1', rawHeaders: requestHeaders, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
    response: { status, reason: '', httpVersion: '1.1', rawHeaders: responseHeaders, framing: 'content-length', declaredLength: body.length, body: { bytes: body, bytesSeen: body.length, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
    outcome: { kind: 'complete' },
  };
  if (status === 207) {
    f.analysis = analyze({ method, target: path, rawHeaders: requestHeaders }, { status, reason: '', httpVersion: '1.1', rawHeaders: responseHeaders, bodyForm: 'payload' }, body);
  }
  return f;
}

const list = (path: string, members: string[], start: number, requestHeaders: RawHeaders = ['Depth', '1'], ctag?: string) =>
  flow('PROPFIND', path, 207, start, { requestHeaders, body: multistatus(path, members, ctag) });

const files = (dir: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${dir}f${from + i}.txt`);

test('the second listing of a collection that lost a member gets MS403; an unchanged or grown one does not', (t) => {
  const h = new ListingHistory({ formatTime: (ms) => `@${ms}` });
  t.is(h.observe(list('/dav/', ['/dav/a', '/dav/b'], 1000)), undefined, 'nothing to compare the first listing with');
  t.is(h.observe(list('/dav/', ['/dav/a', '/dav/b', '/dav/c'], 2000)), undefined);
  const f = h.observe(list('/dav/', ['/dav/a', '/dav/c'], 5000))!;
  t.is(f.rule, 'MS403');
  t.regex(f.message, /^member set shrank versus the listing seen at @2000 \(3 s ago\): 3 members then, 2 members now; 1 missing .*: \/dav\/b \(a client that bypasses davtap may have removed it;/);
  t.is(f.blame, 'unknown', 'no version marker: another client may have removed it');
  // The shrunk listing is now the reference: the same answer again is no news.
  t.is(h.observe(list('/dav/', ['/dav/a', '/dav/c'], 6000)), undefined);
  t.deepEqual(h.stats(), { collections: 1, members: 2, removals: 0, inFlight: 0 });
});

test('a DELETE or MOVE seen in between explains the shrink; a refused one does not; PUT and MKCOL do not matter', (t) => {
  const h = new ListingHistory();
  h.observe(list('/dav/', ['/dav/a', '/dav/b', '/dav/sub/', '/dav/sub/x'], 1000, ['Depth', 'infinity']));
  h.observe(flow('DELETE', '/dav/a', 204, 1500));
  h.observe(flow('MOVE', '/dav/sub/', 201, 1600, { requestHeaders: ['Destination', `${UP}/dav/moved/`] }));
  h.observe(flow('DELETE', '/dav/b', 423, 1700));
  h.observe(flow('PUT', '/dav/new', 201, 1800));
  h.observe(flow('MKCOL', '/dav/moved/', 201, 1850));
  const f = h.observe(list('/dav/', ['/dav/new', '/dav/moved/'], 3000, ['Depth', 'infinity']))!;
  t.deepEqual(f.evidence['missing'], ['/dav/b']);
  t.is(f.evidence['removedThroughDavtap'], 3);
  t.is(h.stats().removals, 3, 'DELETE a, MOVE source and destination');
});

test('listings are compared per collection, per Depth and per user', (t) => {
  const h = new ListingHistory();
  const alice = ['Depth', '1', 'Authorization', `Basic ${Buffer.from('alice:pw').toString('base64')}`];
  const bob = ['Depth', '1', 'Authorization', `Basic ${Buffer.from('bob:pw').toString('base64')}`];
  h.observe(list('/dav/', ['/dav/a', '/dav/b'], 1000, alice));
  t.is(h.observe(list('/dav/', ['/dav/a'], 2000, bob)), undefined, 'bob may not see b');
  t.is(h.observe(list('/dav/', ['/dav/a'], 2100, ['Depth', 'infinity'])), undefined);
  t.is(h.observe(list('/dav/other/', [], 2200)), undefined);
  t.truthy(h.observe(list('/dav/', ['/dav/a'], 3000, alice)));
});

test('a listing older than the age limit is forgotten, not compared', (t) => {
  const h = new ListingHistory({ maxAgeMs: 60_000 });
  h.observe(list('/dav/', ['/dav/a', '/dav/b'], 1000));
  t.is(h.observe(list('/dav/', ['/dav/a'], 1000 + 60_001)), undefined);
  t.truthy(h.observe(list('/dav/', [], 1000 + 61_000)), 'the new listing is the reference now');
});

test('the collection cap forgets the least recently listed collection first', (t) => {
  const h = new ListingHistory({ maxCollections: 2 });
  h.observe(list('/dav/1/', ['/dav/1/a'], 1000));
  h.observe(list('/dav/2/', ['/dav/2/a'], 1100));
  h.observe(list('/dav/1/', ['/dav/1/a'], 1200));
  h.observe(list('/dav/3/', ['/dav/3/a'], 1300));
  t.is(h.stats().collections, 2);
  t.truthy(h.observe(list('/dav/1/', [], 2000)), '/dav/1/ was kept');
  t.is(h.observe(list('/dav/2/', [], 2100)), undefined, '/dav/2/ was forgotten');
});

test('member caps: a listing keeps its first members and its count; the total cap forgets whole listings', (t) => {
  const h = new ListingHistory({ maxMembersPerListing: 3, maxMembersTotal: 5 });
  h.observe(list('/dav/big/', files('/dav/big/', 10), 1000));
  t.deepEqual(h.stats(), { collections: 1, members: 3, removals: 0, inFlight: 0 });
  const f = h.observe(list('/dav/big/', files('/dav/big/', 9, 1), 2000))!;
  t.deepEqual(f.evidence['missing'], ['/dav/big/f0.txt']);
  t.like(f.evidence, { previousMembers: 10, previousMembersKept: 3 });
  h.observe(list('/dav/small/', files('/dav/small/', 3), 2100));
  t.deepEqual(h.stats(), { collections: 1, members: 3, removals: 0, inFlight: 0 }, 'the big listing went to make room');
  t.is(h.observe(list('/dav/big/', [], 3000)), undefined);
});

test('when the removal log overflows after a listing, that listing is not compared', (t) => {
  const h = new ListingHistory({ maxRemovals: 2 });
  h.observe(list('/dav/', ['/dav/a', '/dav/b'], 1000));
  for (let i = 0; i < 3; i++) h.observe(flow('DELETE', `/dav/x${i}`, 204, 1100 + i));
  t.is(h.stats().removals, 2);
  t.is(h.observe(list('/dav/', ['/dav/a'], 2000)), undefined, 'the dropped removal might have been /dav/b');
  // The next listing is compared again: no removal was dropped since it started.
  t.truthy(h.observe(list('/dav/', [], 3000)));
});

test('a listing that started before the kept one ended is not compared, and does not replace it', (t) => {
  const h = new ListingHistory();
  h.observe(flow('PROPFIND', '/dav/', 207, 2000, { requestHeaders: ['Depth', '1'], body: multistatus('/dav/', ['/dav/a', '/dav/b']), end: 2500 }));
  // Started at 1900 and finished later: it may have read the collection before b existed.
  t.is(h.observe(flow('PROPFIND', '/dav/', 207, 1900, { requestHeaders: ['Depth', '1'], body: multistatus('/dav/', ['/dav/a']), end: 2600 })), undefined);
  t.truthy(h.observe(list('/dav/', ['/dav/a'], 3000)), 'the 2000 listing stayed the reference');
});

test("the collection's own version marker decides: changed, the shrink is the collection's news; unchanged, the server left members out", (t) => {
  const h = new ListingHistory({ formatTime: (ms) => `@${ms}` });
  h.observe(list('/cal/', ['/cal/a.ics', '/cal/b.ics'], 1000, ['Depth', '1'], '"ctag-1"'));
  // Another client (not through davtap) deleted b.ics: the getctag moved on, nothing to report.
  t.is(h.observe(list('/cal/', ['/cal/a.ics'], 2000, ['Depth', '1'], '"ctag-2"')), undefined);
  // Same getctag as the listing before, yet a member is gone: the server's omission.
  h.observe(list('/cal/', ['/cal/a.ics', '/cal/c.ics'], 3000, ['Depth', '1'], '"ctag-3"'));
  const f = h.observe(list('/cal/', ['/cal/a.ics'], 4000, ['Depth', '1'], '"ctag-3"'))!;
  t.is(f.rule, 'MS403');
  t.is(f.blame, 'server');
  t.regex(f.message, /1 missing .*: \/cal\/c\.ics although the collection's getctag is unchanged \("ctag-3"\): the server left it out/);
  t.is(f.evidence['versionMarker'], '{http://calendarserver.org/ns/}getctag="ctag-3"');
});

test('a DELETE still in flight when a listing ends may already have removed its member: no MS403', (t) => {
  const h = new ListingHistory();
  h.observe(list('/dav/', ['/dav/a', '/dav/b'], 1000));
  // The DELETE goes upstream at 1500; the listing (1600–1610) ends before the DELETE's answer does.
  h.writeStarted({ id: 'del-b', method: 'DELETE', url: `${UP}/dav/b`, target: '/dav/b', requestHeaders: [], at: 1500 });
  t.is(h.stats().inFlight, 1);
  t.is(h.observe(list('/dav/', ['/dav/a'], 1600)), undefined);
  const del = flow('DELETE', '/dav/b', 204, 1500, { end: 1700 });
  del.id = 'del-b';
  t.is(h.observe(del), undefined);
  t.is(h.stats().inFlight, 0, 'its flow ended: no longer in flight');
  // A PUT in flight removes nothing: a member missing meanwhile is still reported.
  h.writeStarted({ id: 'put-c', method: 'PUT', url: `${UP}/dav/c`, target: '/dav/c', requestHeaders: [], at: 1800 });
  t.is(h.stats().inFlight, 0);
  t.is(h.observe(list('/dav/', [], 2000))?.rule, 'MS403');
});
