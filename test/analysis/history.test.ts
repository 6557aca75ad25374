// MS403 across time, the pure part: which exchanges are listings or removals, and when a listing
// lost members versus an earlier one. The analyses come from the real analyzer on real-shaped
// multistatus bodies.
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import { compareListings, identityOf, memberKey, observe, type ListingObservation, type ObservedExchange, type PreviousListing, type Removal } from '../../src/analysis/history.js';
import type { RawHeaders } from '../../src/types.js';

const UP = 'http://127.0.0.1:8001';

function multistatus(self: string, members: string[], selfStatus = 'HTTP/1.1 200 OK'): string {
  const response = (href: string, status: string) =>
    `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getetag>"e"</D:getetag></D:prop><D:status>${status}</D:status></D:propstat></D:response>\n`;
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${response(self, selfStatus)}${members.map((m) => response(m, 'HTTP/1.1 200 OK')).join('')}</D:multistatus>\n`;
}

/** A PROPFIND exchange whose analysis is the analyzer's on `body`. */
function propfind(path: string, body: string, opts: { depth?: string | null; headers?: RawHeaders; responseHeaders?: RawHeaders; cut?: number; outcome?: ObservedExchange['outcome'] } = {}): ObservedExchange {
  const requestHeaders: RawHeaders = [...(opts.depth === null ? [] : ['Depth', opts.depth ?? '1']), ...(opts.headers ?? [])];
  const bytes = Buffer.from(body);
  const responseHeaders: RawHeaders = ['Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(bytes.length), ...(opts.responseHeaders ?? [])];
  const sent = opts.cut !== undefined ? bytes.subarray(0, opts.cut) : bytes;
  const analysis = analyze(
    { method: 'PROPFIND', target: path, scheme: 'http', authority: '127.0.0.1:8001', rawHeaders: requestHeaders },
    { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: responseHeaders, bodyForm: 'payload' },
    sent,
    opts.cut !== undefined ? { outcome: 'upstream-aborted', closeKind: 'fin' } : { outcome: 'complete' },
  );
  return { method: 'PROPFIND', url: UP + path, target: path, requestHeaders, status: 207, responseHeaders, outcome: opts.outcome ?? (opts.cut !== undefined ? 'upstream-aborted' : 'complete'), injected: false, analysis };
}

function exchange(method: string, path: string, status: number | null, headers: RawHeaders = [], target = path): ObservedExchange {
  return { method, url: UP + path, target, requestHeaders: headers, status, responseHeaders: [], outcome: status === null ? 'error' : 'complete', injected: false };
}

function listing(ex: ObservedExchange): ListingObservation {
  const o = observe(ex);
  if (o.kind !== 'listing') throw new Error(`not a listing: ${o.kind === 'none' ? o.reason : o.kind}`);
  return o;
}

const previousOf = (l: ListingObservation, start: number, end = start + 100): PreviousListing => ({ start, end, members: l.members, total: l.members.length, flowId: 'f1' });
const removal = (path: string, at: number, upstream = UP): Removal => ({ upstream, path: memberKey(path), method: 'DELETE', at });
const clock = (ms: number) => `t${ms}`;

test('a complete Depth 1 listing is observed with its members, the collection itself left out', (t) => {
  const o = listing(propfind('/dav/docs/', multistatus('/dav/docs/', ['/dav/docs/a.txt', `${UP}/dav/docs/b%20c.txt`, '/dav/docs/sub/'])));
  t.deepEqual(o.members, ['/dav/docs/a.txt', '/dav/docs/b%20c.txt', '/dav/docs/sub/']);
  t.is(o.collection, '/dav/docs');
  t.is(o.depth, '1');
  t.is(o.upstream, UP);
  t.is(o.key, ` ${UP}/dav/docs/ 1`);
});

test('no Depth header is a Depth infinity listing, keyed apart from Depth 1', (t) => {
  const body = multistatus('/dav/', ['/dav/a.txt']);
  const inf = listing(propfind('/dav/', body, { depth: null }));
  t.is(inf.depth, 'infinity');
  t.not(inf.key, listing(propfind('/dav/', body)).key);
});

test('listings that are not whole answers are not observed, each for its reason', (t) => {
  const body = multistatus('/dav/', ['/dav/a.txt', '/dav/b.txt', '/dav/c.txt']);
  const reason = (ex: ObservedExchange) => {
    const o = observe(ex);
    return o.kind === 'none' ? o.reason : o.kind;
  };
  t.is(reason(propfind('/dav/', body, { depth: '0' })), 'Depth 0');
  t.is(reason(propfind('/dav/', body, { headers: ['X-NC-Paginate', 'true'] })), 'paginated (X-NC-Paginate)');
  t.is(reason(propfind('/dav/', body, { responseHeaders: ['X-NC-Paginate', 'true', 'X-NC-Paginate-Total', '40'] })), 'paginated (X-NC-Paginate)');
  t.is(reason(propfind('/dav/', multistatus('/dav/', ['/dav/a.txt'], 'HTTP/1.1 507 Insufficient Storage'))), 'paged by the server (507 on the request-URI)');
  t.regex(reason(propfind('/dav/', body, { cut: body.length - 60 })), /^transfer upstream-aborted/);
  // Transport complete but the XML stops short (a server-side cut): MS006.
  t.is(reason(propfind('/dav/', body.slice(0, body.length - 40), { outcome: 'complete' })), 'truncated (MS006)');
  t.is(reason({ ...propfind('/dav/', body), injected: true }), 'fault injected by davtap');
  t.is(reason({ ...propfind('/dav/', body), status: 404 }), 'status 404');
  const { analysis: _a, ...unanalyzed } = propfind('/dav/', body);
  t.is(reason(unanalyzed), 'not analyzed');
});

test('DELETE and MOVE are removals unless refused; a lost answer still counts; COPY removes only where it lands', (t) => {
  t.deepEqual(observe(exchange('DELETE', '/dav/a.txt', 204)), { kind: 'removal', upstream: UP, method: 'DELETE', paths: ['/dav/a.txt'] });
  t.deepEqual(observe(exchange('DELETE', '/dav/a.txt', 423)), { kind: 'none', reason: 'DELETE answered 423' });
  t.is(observe(exchange('DELETE', '/dav/a.txt', null)).kind, 'removal');
  t.deepEqual(observe(exchange('MOVE', '/dav/a.txt', 201, ['Destination', 'http://127.0.0.1:8080/dav/b.txt'])), { kind: 'removal', upstream: UP, method: 'MOVE', paths: ['/dav/a.txt', '/dav/b.txt'] });
  t.deepEqual(observe(exchange('COPY', '/dav/a.txt', 204, ['Destination', '/dav/b%20c.txt'])), { kind: 'removal', upstream: UP, method: 'COPY', paths: ['/dav/b c.txt'] });
  t.is(observe(exchange('PUT', '/dav/a.txt', 201)).kind, 'none');
  // Reverse mode with an upstream prefix: the client's Destination lacks it, the upstream's paths have it.
  const moved = observe(exchange('MOVE', '/remote.php/dav/a.txt', 201, ['Destination', 'http://127.0.0.1:8080/b/'], '/a.txt'));
  t.deepEqual(moved.kind === 'removal' ? moved.paths : [], ['/remote.php/dav/a.txt', '/remote.php/dav/b']);
});

test('a member missing since the previous listing, not removed through davtap, is MS403 with counts, names and the time', (t) => {
  const before = listing(propfind('/dav/', multistatus('/dav/', ['/dav/a.txt', '/dav/b.txt', '/dav/c.txt', '/dav/d.txt'])));
  const after = listing(propfind('/dav/', multistatus('/dav/', ['/dav/a.txt', '/dav/new.txt'])));
  const f = compareListings(previousOf(before, 10_000), { start: 52_000, listing: after }, [], { formatTime: clock, messageExamples: 2 })!;
  t.is(f.rule, 'MS403');
  t.is(f.severity, 'warning');
  t.is(f.category, 'truncation');
  t.is(
    f.message,
    'member set shrank versus the listing seen at t10000 (42 s ago): 4 members then, 2 members now; 3 missing without a DELETE or MOVE through davtap: /dav/b.txt, /dav/c.txt and 1 more (a client that bypasses davtap may have removed them; a server that leaves members out of a Depth 1 listing makes sync clients delete them)',
  );
  t.like(f.evidence, { href: '/dav/b.txt', previousMembers: 4, members: 2, missingCount: 3, ageSeconds: 42, previousFlow: 'f1', removedThroughDavtap: 0 });
  t.deepEqual(f.evidence['missing'], ['/dav/b.txt', '/dav/c.txt', '/dav/d.txt']);
  t.regex(compareListings(previousOf(before, Date.UTC(2026, 0, 1, 9, 5, 7)), { start: Date.UTC(2026, 0, 1, 9, 6, 0), listing: after }, [])!.message, /seen at 09:05:07 UTC \(53 s ago\)/);
});

test('members removed by DELETE or MOVE of themselves or an ancestor since the previous listing explain the shrink', (t) => {
  const before = listing(propfind('/dav/', multistatus('/dav/', ['/dav/a.txt', '/dav/sub/', '/dav/sub/x.txt', '/dav/b.txt']), { depth: 'infinity' }));
  const after = listing(propfind('/dav/', multistatus('/dav/', ['/dav/a.txt']), { depth: 'infinity' }));
  const prev = previousOf(before, 1000);
  t.is(compareListings(prev, { start: 5000, listing: after }, [removal('/dav/sub/', 2000), removal('/dav/b.txt', 3000)]), undefined);
  // One removal short: b.txt is still unexplained.
  const f = compareListings(prev, { start: 5000, listing: after }, [removal('/dav/sub', 2000)])!;
  t.deepEqual(f.evidence['missing'], ['/dav/b.txt']);
  t.is(f.evidence['removedThroughDavtap'], 2);
  // A removal that ended before the previous listing started explains nothing (b.txt came back since).
  t.deepEqual(compareListings(prev, { start: 5000, listing: after }, [removal('/dav/sub', 2000), removal('/dav/b.txt', 500)])!.evidence['missing'], ['/dav/b.txt']);
  // A removal on another upstream explains nothing either.
  t.is(compareListings(prev, { start: 5000, listing: after }, [removal('/dav/sub', 2000), removal('/dav/b.txt', 3000, 'http://127.0.0.1:9')])!.evidence['missingCount'], 1);
  // Deleting the collection itself (or the root) explains every member.
  t.is(compareListings(prev, { start: 5000, listing: after }, [removal('/dav/', 2000)]), undefined);
  t.is(compareListings(prev, { start: 5000, listing: after }, [removal('/', 2000)]), undefined);
});

test('no finding when members were only added, when escapes differ, or when the comparison cannot be trusted', (t) => {
  const before = listing(propfind('/dav/', multistatus('/dav/', ['/dav/a%20b.txt', '/dav/c.txt'])));
  const grown = listing(propfind('/dav/', multistatus('/dav/', [`${UP}/dav/a b.txt`, '/dav/c.txt/', '/dav/d.txt'])));
  t.is(compareListings(previousOf(before, 1000), { start: 5000, listing: grown }, []), undefined);
  const shrunk = listing(propfind('/dav/', multistatus('/dav/', ['/dav/c.txt'])));
  t.truthy(compareListings(previousOf(before, 1000), { start: 5000, listing: shrunk }, []));
  // The two listings overlapped in time: either could have seen the collection first.
  t.is(compareListings(previousOf(before, 1000, 6000), { start: 5000, listing: shrunk }, []), undefined);
  // Removals may have been dropped from the caller's log since the previous listing.
  t.is(compareListings(previousOf(before, 1000), { start: 5000, listing: shrunk }, [], { removalsComplete: false }), undefined);
});

test('listings under different credentials are keyed apart; the key keeps no secret', (t) => {
  const basic = (user: string, pass: string) => ['Authorization', `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`];
  const body = multistatus('/dav/', ['/dav/a.txt']);
  const alice = listing(propfind('/dav/', body, { headers: basic('alice', 's3cret') }));
  const bob = listing(propfind('/dav/', body, { headers: basic('bob', 's3cret') }));
  t.not(alice.key, bob.key);
  t.is(alice.key, listing(propfind('/dav/', body, { headers: basic('alice', 'other') })).key);
  t.false(alice.key.includes('s3cret'));
  t.is(identityOf(['Authorization', 'Digest username="carol", realm="dav", response="abc"']), 'digest:carol');
  const bearer = identityOf(['Authorization', 'Bearer eyJtoken']);
  t.regex(bearer, /^bearer:[0-9a-f]+$/);
  t.false(bearer.includes('eyJtoken'));
  t.is(identityOf([]), '');
});

test('members are found whether the server escapes the collection path as the client did or not, also at the root', (t) => {
  // The client asked for /dav/my%20docs/; the server writes the path with a raw space (MS301 says
  // so, the ledger keeps it) and one member escaped.
  const spaced = listing(propfind('/dav/my%20docs/', multistatus('/dav/my docs/', ['/dav/my docs/a.txt', '/dav/my%20docs/b.txt', '/dav/elsewhere.txt'])));
  t.deepEqual(spaced.members, ['/dav/my docs/a.txt', '/dav/my%20docs/b.txt']);
  t.is(spaced.collection, '/dav/my docs');
  const root = listing(propfind('/', multistatus('/', ['/a.txt', '/sub/'])));
  t.deepEqual(root.members, ['/a.txt', '/sub/']);
  t.is(root.collection, '');
  const later = listing(propfind('/', multistatus('/', ['/sub/'])));
  t.deepEqual(compareListings(previousOf(root, 1000), { start: 5000, listing: later }, [])?.evidence['missing'], ['/a.txt']);
});
