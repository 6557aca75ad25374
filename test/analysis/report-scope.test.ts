// MS303 on REPORTs: the Depth-scoped ones answer inside the Request-URI; multiget and the RFC 3744
// principal REPORTs have scope rules of their own and are not judged by it.
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import type { RequestContext, ResponseHead } from '../../src/types.js';

function ms303(root: string, ns: string, depth: string | undefined, hrefs: string[]) {
  const reqBody = `<?xml version="1.0"?><X:${root} xmlns:X="${ns}" xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></X:${root}>`;
  const rawHeaders = ['Host', '127.0.0.1', 'Content-Type', 'application/xml', ...(depth !== undefined ? ['Depth', depth] : [])];
  const req: RequestContext = { method: 'REPORT', target: '/cal/alice/', rawHeaders, body: Buffer.from(reqBody) };
  const body = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">${hrefs.map((h) => `<D:response><D:href>${h}</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`).join('')}</D:multistatus>`;
  const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' };
  return analyze(req, head, Buffer.from(body), { outcome: 'complete', closeKind: 'fin' }).findings.filter((f) => f.rule === 'MS303');
}

const CALDAV = 'urn:ietf:params:xml:ns:caldav';
const CARDDAV = 'urn:ietf:params:xml:ns:carddav';

test('Depth-scoped REPORTs with an href outside the Request-URI raise MS303', (t) => {
  t.is(ms303('calendar-query', CALDAV, '1', ['/cal/alice/a.ics', '/cal/bob/b.ics']).length, 1);
  t.is(ms303('addressbook-query', CARDDAV, '1', ['/alice/a.vcf']).length, 1);
  t.is(ms303('sync-collection', 'DAV:', '0', ['/elsewhere/a.ics']).length, 1);
  t.is(ms303('expand-property', 'DAV:', undefined, ['/principals/alice/']).length, 1, 'expand-property answers for the Request-URI even without Depth');
  t.is(ms303('some-vendor-report', 'http://example.org/ns', '1', ['/other/x']).length, 1, 'any REPORT sent with a Depth header');
});

test('Depth-scoped REPORTs answered inside the Request-URI do not', (t) => {
  t.deepEqual(ms303('calendar-query', CALDAV, '1', ['/cal/alice/a.ics', '/cal/alice/sub/b.ics']), []);
  t.deepEqual(ms303('expand-property', 'DAV:', '0', ['/cal/alice/']), []);
});

test('multiget, principal REPORTs and unknown REPORTs without Depth are left to their own rules', (t) => {
  t.deepEqual(ms303('calendar-multiget', CALDAV, '1', ['/other/a.ics']), []);
  t.deepEqual(ms303('principal-property-search', 'DAV:', '0', ['/principals/users/alice/']), []);
  t.deepEqual(ms303('principal-match', 'DAV:', '0', ['/principals/users/alice/']), []);
  t.deepEqual(ms303('acl-principal-prop-set', 'DAV:', '0', ['/principals/users/alice/']), []);
  t.deepEqual(ms303('some-vendor-report', 'http://example.org/ns', undefined, ['/other/x']), []);
});
