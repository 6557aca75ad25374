// RULES.md §4: what real servers' 207s look like. None of these quirks may raise an error; each
// body below reproduces one server's documented shape (the real Apache and Radicale captures are
// checked in captures.test.ts and check.test.ts).
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import type { Analysis, RequestContext } from '../../src/types.js';

const NAMED = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:getetag/><D:resourcetype/></D:prop></D:propfind>';

function check(body: string, headers: string[], req: Partial<RequestContext> = {}, status = 207, reason = 'Multi-Status'): Analysis {
  const request: RequestContext = { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Host', 'dav.example.org', 'Depth', '1'], scheme: 'https', authority: 'dav.example.org', body: Buffer.from(NAMED), ...req };
  return analyze(request, { status, reason, httpVersion: '1.1', rawHeaders: headers, bodyForm: 'payload' }, Buffer.from(body), { outcome: 'complete', closeKind: 'fin' });
}

const errors = (a: Analysis) => a.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);

test('IIS: absolute-URI hrefs, status before prop, Microsoft DAV: extras, Depth: 1,noroot', (t) => {
  const body = `<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>https://dav.example.org/dav/a.txt</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:displayname>a.txt</D:displayname><D:getetag>"1"</D:getetag><D:resourcetype/><D:ishidden>0</D:ishidden><D:iscollection>0</D:iscollection></D:prop></D:propstat></D:response></D:multistatus>`;
  const a = check(body, ['Content-Type', 'text/xml', 'Server', 'Microsoft-IIS/10.0'], { rawHeaders: ['Host', 'dav.example.org', 'Depth', '1,noroot'] });
  t.deepEqual(errors(a), []);
  t.false(a.findings.some((f) => f.rule === 'MS402'));
  t.true(a.findings.some((f) => f.rule === 'MS210' && /out of the DTD order/.test(f.message)));
});

test('lighttpd: newlines inside href and status, HTTP/1.0 status lines, inline xmlns, Microsoft datatypes namespace', (t) => {
  const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/">\n<D:response>\n<D:href>\n/dav/\n</D:href>\n<D:propstat>\n<D:prop>\n<D:displayname>dav</D:displayname><D:getetag>"d"</D:getetag><D:resourcetype><D:collection/></D:resourcetype><D:getlastmodified ns0:dt="dateTime.rfc1123">Sat, 21 Nov 2026 05:00:00 GMT</D:getlastmodified><foo xmlns="http://example.com/ns/">x</foo>\n</D:prop>\n<D:status>\nHTTP/1.0 200 OK\n</D:status>\n</D:propstat>\n</D:response>\n</D:multistatus>\n`;
  const a = check(body, ['Content-Type', 'application/xml; charset="utf-8"', 'Server', 'lighttpd/1.4.69']);
  t.deepEqual(errors(a), []);
  t.is(a.resources[0]!.href, '/dav/');
  t.is(a.resources[0]!.propstats[0]!.status, 200);
});

test('nginx dav-ext: only the live properties it has, unsupported requested ones silently omitted (MS401 is info)', (t) => {
  const body = `<?xml version="1.0" encoding="utf-8" ?>\n<D:multistatus xmlns:D="DAV:">\n<D:response>\n<D:href>/dav/</D:href>\n<D:propstat>\n<D:prop>\n<D:displayname>dav</D:displayname>\n<D:resourcetype><D:collection/></D:resourcetype>\n</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n</D:multistatus>\n`;
  const a = check(body, ['Content-Type', 'text/xml; charset=utf-8', 'Server', 'nginx/1.22.1', 'Content-Length', String(body.length)]);
  t.deepEqual(errors(a), []);
  t.true(a.findings.some((f) => f.rule === 'MS401' && f.severity === 'info'));
});

test('sabre/Nextcloud: Prefer return=minimal strips 404s, pagination headers, negative quota, 418 on removed sync members', (t) => {
  const body = `<?xml version="1.0"?>\n<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:response><d:href>/remote.php/dav/files/alice/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><d:quota-available-bytes>-3</d:quota-available-bytes></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response><d:response><d:href>/remote.php/dav/files/alice/a.txt</d:href><d:propstat><d:prop><d:resourcetype/><d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;
  const a = check(body, ['Content-Type', 'application/xml; charset=utf-8', 'Vary', 'Brief,Prefer'], {
    target: '/remote.php/dav/files/alice/',
    rawHeaders: ['Host', 'dav.example.org', 'Depth', '1', 'Prefer', 'return=minimal', 'X-NC-Paginate', 'true'],
  });
  t.deepEqual(errors(a), []);
  const sync = `<?xml version="1.0"?>\n<d:multistatus xmlns:d="DAV:"><d:response><d:href>/remote.php/dav/calendars/alice/cal/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status><d:propstat><d:prop><d:getetag/></d:prop><d:status>HTTP/1.1 418 I'm a teapot</d:status></d:propstat></d:response><d:sync-token>http://sabre.io/ns/sync/5</d:sync-token></d:multistatus>`;
  const s = check(sync, ['Content-Type', 'application/xml; charset=utf-8'], {
    method: 'REPORT',
    target: '/remote.php/dav/calendars/alice/cal/',
    rawHeaders: ['Host', 'dav.example.org'],
    body: Buffer.from('<d:sync-collection xmlns:d="DAV:"><d:sync-token>http://sabre.io/ns/sync/4</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'),
  });
  t.deepEqual(errors(s), []);
  t.is(s.summary.failedResources, 0);
});

test('rclone / golang.org/x/net/webdav: foreign properties with inline default-namespace redeclarations', (t) => {
  const body = `<?xml version="1.0" encoding="UTF-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:displayname>dav</D:displayname><D:getetag>"x"</D:getetag><D:resourcetype><D:collection xmlns:D="DAV:"/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><color xmlns="http://example.com/ns/"></color></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response></D:multistatus>`;
  const a = check(body, ['Content-Type', 'text/xml; charset=utf-8'], { rawHeaders: ['Host', 'dav.example.org', 'Depth', '0'] });
  t.deepEqual(errors(a), []);
  t.true(a.resources[0]!.propstats[1]!.props.includes('{http://example.com/ns/}color'));
});

test('wsgidav (Seafile): ns0 prefix, single-quoted declaration, reason phrase "207 Multistatus" (info only)', (t) => {
  const body = `<?xml version='1.0' encoding='UTF-8'?>\n<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/dav/</ns0:href><ns0:propstat><ns0:prop><ns0:displayname>dav</ns0:displayname><ns0:getetag>"e"</ns0:getetag><ns0:resourcetype><ns0:collection /></ns0:resourcetype></ns0:prop><ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response></ns0:multistatus>`;
  const a = check(body, ['Content-Type', 'application/xml; charset=utf-8'], {}, 207, 'Multistatus');
  t.deepEqual(errors(a), []);
  t.true(a.findings.some((f) => f.rule === 'MS210' && f.severity === 'info' && /207 Multistatus/.test(f.message)));
});

test('Apache: one URI under several prefixes, (status) reason phrases, collection hrefs without the trailing slash in DELETE', (t) => {
  const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">\n<D:response xmlns:lp1="DAV:" xmlns:g0="DAV:"><D:href>/dav/cap/perm</D:href><D:status>HTTP/1.1 403 (status)</D:status></D:response>\n</D:multistatus>\n`;
  const a = check(body, ['Content-Type', 'text/xml; charset="utf-8"'], { method: 'DELETE', target: '/dav/cap/perm/', rawHeaders: ['Host', '127.0.0.1:18081'], authority: '127.0.0.1:18081', scheme: 'http' });
  t.deepEqual(errors(a), []);
  t.true(a.findings.some((f) => f.rule === 'MS501'));
});

test('Radicale: default namespace, sync-token before the responses, empty 207 for an unsupported REPORT', (t) => {
  const body = `<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns="DAV:"><sync-token>http://radicale.org/ns/sync/abc</sync-token><response><href>/test/cal/e1.ics</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`;
  const sync = check(body, ['Content-Type', 'text/xml; charset=utf-8'], {
    method: 'REPORT',
    target: '/test/cal/',
    rawHeaders: ['Host', '127.0.0.1:18085'],
    body: Buffer.from('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'),
  });
  t.deepEqual(errors(sync), []);
  const empty = check(`<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns="DAV:" />`, ['Content-Type', 'text/xml; charset=utf-8'], {
    method: 'REPORT',
    target: '/test/',
    body: Buffer.from('<D:principal-property-search xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:principal-property-search>'),
  });
  t.deepEqual(errors(empty), []);
  t.deepEqual(empty.findings.filter((f) => f.severity !== 'info').map((f) => f.rule), []);
});
