// The demo origin on its own (no davtap in front): what it answers to each method, and that every
// 207 it sends is one davtap's analyzer finds nothing wrong with, so that what the demo shows comes
// from the faults injected in front of it only.
import test from 'ava';
import http from 'node:http';
import { analyze } from '../../src/analysis/analyzer.js';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/origin.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(origin: DemoOrigin, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, origin.url), { method, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) }, agent: false, timeout: 5000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The rule ids davtap's analyzer reports on an answer (as if davtap had relayed it). */
function rulesOn(origin: DemoOrigin, method: string, path: string, headers: Record<string, string>, body: string | undefined, answer: Answer): string[] {
  const raw = (h: Record<string, string | string[] | undefined>) => Object.entries(h).flatMap(([k, v]) => (v === undefined ? [] : [k, Array.isArray(v) ? v.join(', ') : v]));
  const result = analyze(
    { method, target: path, scheme: 'http', authority: origin.url.host, rawHeaders: ['Host', origin.url.host, ...raw(headers)], ...(body !== undefined ? { body: Buffer.from(body) } : {}) },
    { status: answer.status, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: raw(answer.headers), bodyForm: 'payload' },
    Buffer.from(answer.body),
  );
  return result.findings.map((f) => f.rule);
}

const xml = { 'Content-Type': 'application/xml; charset=utf-8' };
const propfind = (props: string) => `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>${props}</d:prop></d:propfind>`;
const sync = (token: string) => `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;

let origin: DemoOrigin;
test.before(async () => {
  origin = await startDemoOrigin();
});
test.after.always(() => origin?.close());

test('PROPFIND Depth 1 lists a collection and its members, namespace-correct, and the analyzer finds nothing', async (t) => {
  const headers = { Depth: '1', ...xml };
  const body = propfind('<d:resourcetype/><d:displayname/><d:getetag/><d:getlastmodified/><d:getcontenttype/>');
  const a = await send(origin, 'PROPFIND', '/files/', headers, body);
  t.is(a.status, 207);
  t.regex(a.headers['content-type']!, /^application\/xml/);
  t.regex(a.body, /<D:multistatus xmlns:D="DAV:"/);
  for (const href of ['/files/', '/files/notes.txt', '/files/photos/', '/files/archive/']) t.true(a.body.includes(`<D:href>${href}</D:href>`), href);
  t.notRegex(a.body, /404 Not Found/);
  t.deepEqual(rulesOn(origin, 'PROPFIND', '/files/', headers, body, a), []);
});

test('Depth 0 answers the resource only; Depth infinity is refused with propfind-finite-depth; allprop and propname work', async (t) => {
  const zero = await send(origin, 'PROPFIND', '/files/', { Depth: '0' });
  t.is(zero.status, 207);
  t.is(zero.body.match(/<D:response>/g)?.length, 1);
  t.deepEqual(rulesOn(origin, 'PROPFIND', '/files/', { Depth: '0' }, undefined, zero), []);
  const infinity = await send(origin, 'PROPFIND', '/', { Depth: 'infinity' });
  t.is(infinity.status, 403);
  t.regex(infinity.body, /<D:propfind-finite-depth\/>/);
  const names = await send(origin, 'PROPFIND', '/calendars/alice/home/', { Depth: '0', ...xml }, '<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>');
  t.regex(names.body, /<C:supported-calendar-component-set\/>/);
  t.regex(names.body, /<CS:getctag\/>/);
});

test('a property a resource lacks is a 404 propstat, never silently left out', async (t) => {
  const a = await send(origin, 'PROPFIND', '/files/notes.txt', { Depth: '0', ...xml }, propfind('<d:getetag/><cs:getctag/>'));
  t.regex(a.body, /<D:propstat><D:prop><CS:getctag\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found<\/D:status><\/D:propstat>/);
});

test('PROPPATCH sets dead properties in any namespace and is all or nothing with a protected one', async (t) => {
  const set = '<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:demo"><d:set><d:prop><x:color>green</x:color></d:prop></d:set></d:propertyupdate>';
  const ok = await send(origin, 'PROPPATCH', '/files/todo.md', xml, set);
  t.is(ok.status, 207);
  t.regex(ok.body, /<x0:color xmlns:x0="urn:example:demo"\/><\/D:prop><D:status>HTTP\/1.1 200 OK/);
  t.deepEqual(rulesOn(origin, 'PROPPATCH', '/files/todo.md', xml, set, ok), []);
  const read = await send(origin, 'PROPFIND', '/files/todo.md', { Depth: '0', ...xml }, '<d:propfind xmlns:d="DAV:" xmlns:x="urn:example:demo"><d:prop><x:color/></d:prop></d:propfind>');
  t.regex(read.body, /<x0:color xmlns:x0="urn:example:demo">green<\/x0:color>/);
  const mixed = await send(origin, 'PROPPATCH', '/files/todo.md', xml, '<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:demo"><d:set><d:prop><d:getetag>"x"</d:getetag><x:size>9</x:size></d:prop></d:set></d:propertyupdate>');
  t.regex(mixed.body, /403 Forbidden<\/D:status><D:error><D:cannot-modify-protected-property\/>/);
  t.regex(mixed.body, /424 Failed Dependency/);
  const after = await send(origin, 'PROPFIND', '/files/todo.md', { Depth: '0', ...xml }, '<d:propfind xmlns:d="DAV:" xmlns:x="urn:example:demo"><d:prop><x:size/></d:prop></d:propfind>');
  t.regex(after.body, /404 Not Found/, 'nothing of a failed PROPPATCH was applied');
});

test('calendar-query filters by component and time range; calendar-multiget answers 404 for an unknown href', async (t) => {
  const query = '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20260201T000000Z" end="20260301T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>';
  const q = await send(origin, 'REPORT', '/calendars/alice/home/', { Depth: '1', ...xml }, query);
  t.is(q.status, 207);
  t.regex(q.body, /birthday\.ics/);
  t.notRegex(q.body, /dentist\.ics|groceries\.ics/);
  t.deepEqual(rulesOn(origin, 'REPORT', '/calendars/alice/home/', { Depth: '1', ...xml }, query, q), []);
  const get = '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>/calendars/alice/home/dentist.ics</d:href><d:href>/calendars/alice/home/gone.ics</d:href></c:calendar-multiget>';
  const m = await send(origin, 'REPORT', '/calendars/alice/home/', { Depth: '1', ...xml }, get);
  t.regex(m.body, /<C:calendar-data>BEGIN:VCALENDAR\r\n/);
  t.regex(m.body, /<D:href>\/calendars\/alice\/home\/gone\.ics<\/D:href><D:status>HTTP\/1.1 404 Not Found/);
  const card = '<r:addressbook-multiget xmlns:d="DAV:" xmlns:r="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><r:address-data/></d:prop><d:href>/contacts/alice/book/bob.vcf</d:href></r:addressbook-multiget>';
  const c = await send(origin, 'REPORT', '/contacts/alice/book/', { Depth: '1', ...xml }, card);
  t.regex(c.body, /<CR:address-data>BEGIN:VCARD/);
  t.deepEqual(rulesOn(origin, 'REPORT', '/contacts/alice/book/', { Depth: '1', ...xml }, card, c), []);
});

test('sync-collection: a token, then only what changed since (a PUT as a member with propstat, a DELETE as a 404)', async (t) => {
  const first = await send(origin, 'REPORT', '/contacts/alice/book/', { Depth: '0', ...xml }, sync(''));
  t.is(first.status, 207);
  t.deepEqual(rulesOn(origin, 'REPORT', '/contacts/alice/book/', { Depth: '0', ...xml }, sync(''), first), []);
  const token = /<D:sync-token>([^<]+)<\/D:sync-token>/.exec(first.body)![1]!;
  t.regex(token, /^http:\/\/davtap\.demo\/sync\/\d+$/);
  const put = await send(origin, 'PUT', '/contacts/alice/book/erin.vcf', { 'Content-Type': 'text/vcard', 'If-None-Match': '*' }, 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Erin\r\nEND:VCARD\r\n');
  t.is(put.status, 201);
  t.truthy(put.headers.etag);
  t.is((await send(origin, 'DELETE', '/contacts/alice/book/dave.vcf')).status, 204);
  const delta = await send(origin, 'REPORT', '/contacts/alice/book/', { Depth: '0', ...xml }, sync(token));
  t.regex(delta.body, /<D:href>\/contacts\/alice\/book\/erin\.vcf<\/D:href><D:propstat>/);
  t.regex(delta.body, /<D:href>\/contacts\/alice\/book\/dave\.vcf<\/D:href><D:status>HTTP\/1.1 404 Not Found/);
  t.notRegex(delta.body, /bob\.vcf/);
  t.deepEqual(rulesOn(origin, 'REPORT', '/contacts/alice/book/', { Depth: '0', ...xml }, sync(token), delta), []);
  const bad = await send(origin, 'REPORT', '/contacts/alice/book/', { Depth: '0', ...xml }, sync('http://elsewhere/1'));
  t.is(bad.status, 403);
  t.regex(bad.body, /<D:valid-sync-token\/>/);
});

test('PUT, GET, MKCOL and DELETE with their preconditions; OPTIONS names the DAV classes', async (t) => {
  t.is((await send(origin, 'PUT', '/nowhere/x.txt', {}, 'x')).status, 409);
  t.is((await send(origin, 'PUT', '/calendars/alice/home/bad.ics', {}, 'not a calendar')).status, 403);
  const created = await send(origin, 'PUT', '/files/new.txt', { 'Content-Type': 'text/plain' }, 'new');
  t.is(created.status, 201);
  t.is((await send(origin, 'PUT', '/files/new.txt', { 'If-Match': '"stale"' }, 'newer')).status, 412);
  t.is((await send(origin, 'PUT', '/files/new.txt', { 'If-Match': created.headers.etag as string }, 'newer')).status, 204);
  t.is((await send(origin, 'GET', '/files/new.txt')).body, 'newer');
  t.is((await send(origin, 'MKCOL', '/files/folder/')).status, 201);
  t.is((await send(origin, 'MKCOL', '/files/folder/')).status, 405);
  t.is((await send(origin, 'MKCOL', '/no/such/')).status, 409);
  t.is((await send(origin, 'DELETE', '/files/folder/')).status, 204);
  t.is((await send(origin, 'GET', '/files/folder/')).status, 404);
  const options = await send(origin, 'OPTIONS', '/');
  t.is(options.headers.dav, '1, 3, calendar-access, addressbook');
  t.regex(options.headers.allow!, /PROPFIND/);
  t.is((await send(origin, 'LOCK', '/files/notes.txt')).status, 405);
});

test('a body that is not well-formed XML, or carries a DOCTYPE, is a 400, never parsed further', async (t) => {
  t.is((await send(origin, 'PROPFIND', '/', { Depth: '0' }, '<d:propfind xmlns:d="DAV:"><d:prop>')).status, 400);
  const doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>';
  const refused = await send(origin, 'PROPFIND', '/', { Depth: '0' }, doctype);
  t.is(refused.status, 400);
  t.regex(refused.body, /DOCTYPE/);
  t.is((await send(origin, 'PROPFIND', '/', { Depth: '0' }, '<x:propfind xmlns:x="urn:not-dav"/>')).status, 400);
});
