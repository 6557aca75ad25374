// The request context the request-aware rules read.
import test from 'ava';
import { parseRequest, pathOfTarget, reportName } from '../../src/analysis/request.js';

const ctx = (method: string, headers: string[], body?: string, target = '/dav/') => ({ method, target, rawHeaders: headers, ...(body !== undefined ? { body: Buffer.from(body) } : {}) });

test('PROPFIND: Depth, prop list by namespace URI (not prefix), Prefer and Brief', (t) => {
  const r = parseRequest(ctx('propfind', ['Host', 'Example.org:8080', 'Depth', ' Infinity ', 'Brief', 't'], '<a:propfind xmlns:a="DAV:" xmlns:z="urn:x"><a:prop><a:getetag/><z:color/></a:prop></a:propfind>'));
  t.is(r.method, 'PROPFIND');
  t.is(r.depth, 'infinity');
  t.is(r.propfind, 'prop');
  t.deepEqual(r.requestedProps, ['{DAV:}getetag', '{urn:x}color']);
  t.true(r.preferMinimal);
  t.is(r.authority, 'example.org:8080');
});

test('an empty PROPFIND body is allprop; propname and allprop+include are told apart', (t) => {
  t.is(parseRequest(ctx('PROPFIND', [])).propfind, 'allprop');
  t.is(parseRequest(ctx('PROPFIND', [], '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>')).propfind, 'propname');
  const inc = parseRequest(ctx('PROPFIND', [], '<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-used-bytes/></D:include></D:propfind>'));
  t.is(inc.propfind, 'allprop');
  t.deepEqual(inc.includeProps, ['{DAV:}quota-used-bytes']);
  t.deepEqual(inc.requestedProps, []);
});

test('REPORT: multiget hrefs, sync-collection token and limit, Nextcloud pagination, noroot', (t) => {
  const mg = parseRequest(ctx('REPORT', ['Depth', '1'], '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href> /cal/a.ics </D:href><D:href>/cal/b.ics</D:href></C:calendar-multiget>'));
  t.true(mg.isMultiget);
  t.deepEqual(mg.multigetHrefs, ['/cal/a.ics', '/cal/b.ics']);
  const sync = parseRequest(ctx('REPORT', ['X-NC-Paginate', 'true', 'X-NC-Paginate-Total', '120'], '<D:sync-collection xmlns:D="DAV:"><D:sync-token>http://x/1</D:sync-token><D:limit><D:nresults>10</D:nresults></D:limit></D:sync-collection>'));
  t.true(sync.isSyncCollection);
  t.is(sync.syncToken, 'http://x/1');
  t.is(sync.syncLimit, 10);
  t.true(sync.ncPaginate);
  t.is(sync.ncPaginateTotal, 120);
  t.true(parseRequest(ctx('PROPFIND', ['Depth', '1, noroot'])).depthNoRoot);
  t.true(parseRequest(ctx('PROPFIND', ['Prefer', 'depth-noroot, return=minimal'])).preferNoRoot);
});

test('a request body that is not XML only yields less context', (t) => {
  const r = parseRequest(ctx('PROPFIND', ['Depth', '0'], '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'));
  t.truthy(r.bodyError);
  t.is(r.depth, '0');
  const hostile = parseRequest(ctx('PROPFIND', [], '<!DOCTYPE x [<!ENTITY a "&a;&a;">]><x>&a;</x>'));
  t.truthy(hostile.bodyError);
});

test('multiget hrefs read through character references, CDATA, comments, non-ASCII text and a default namespace', (t) => {
  const body =
    '<?xml version="1.0" encoding="utf-8"?>\n<!-- a client comment -->\n<calendar-multiget xmlns="urn:ietf:params:xml:ns:caldav" xmlns:D="DAV:">' +
    '<D:prop><D:getetag/></D:prop><D:href>/cal/a&amp;b.ics</D:href><D:href><![CDATA[/cal/c<d>.ics]]></D:href>' +
    '<D:href>/cal/caf\u00e9 &#x2603;.ics</D:href></calendar-multiget>';
  const mg = parseRequest(ctx('REPORT', ['Depth', '1'], body));
  t.is(mg.bodyError, undefined);
  t.true(mg.isMultiget);
  t.deepEqual(mg.multigetHrefs, ['/cal/a&b.ics', '/cal/c<d>.ics', '/cal/caf\u00e9 \u2603.ics']);
  t.deepEqual(mg.requestedProps, ['{DAV:}getetag']);
  // An unbound prefix is an error, and what came before it is kept.
  const unbound = parseRequest(ctx('PROPFIND', [], '<D:propfind xmlns:D="DAV:"><D:prop><x:color/></D:prop></D:propfind>'));
  t.truthy(unbound.bodyError);
  t.is(unbound.bodyRoot, '{DAV:}propfind');
});

test('absolute-form targets give scheme, authority and path', (t) => {
  const r = parseRequest(ctx('PROPFIND', [], undefined, 'https://Dav.Example.org/dav/x?y=1'));
  t.is(r.scheme, 'https');
  t.is(r.authority, 'dav.example.org');
  t.is(r.path, '/dav/x');
  t.is(pathOfTarget('/a/b?c#d'), '/a/b');
});

test('a REPORT is named by its body\'s root element, whatever the prefix and prolog', (t) => {
  const name = (body: string) => reportName(Buffer.from(body));
  t.is(name('<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter/></C:calendar-query>'), 'calendar-query');
  t.is(name('<?xml version="1.0" encoding="utf-8"?>\n<!-- sync -->\n<d:sync-collection xmlns:d="DAV:"/>'), 'sync-collection');
  t.is(name('\ufeff<addressbook-multiget xmlns="urn:ietf:params:xml:ns:carddav"/>'), 'addressbook-multiget');
  t.is(name('<!DOCTYPE x [<!ENTITY e "<evil>">]><D:expand-property xmlns:D="DAV:"/>'), 'expand-property', 'the DOCTYPE is skipped, never expanded');
  t.is(name('<?xml version="1.0"?><D:principal-property-search xmlns:D="DAV:">'), 'principal-property-search', 'a cut body still names its report');
  t.is(reportName(Buffer.alloc(0)), null);
  t.is(reportName(undefined), null);
  t.is(name('not xml at all'), null);
  t.is(name('<?xml version="1.0"'), null);
  t.is(name('<1bad/>'), null);
});

test('a body read again (same method and bytes) gives the same context, and each context has its own lists', (t) => {
  const multiget = '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href>/cal/memo-a.ics</D:href></C:calendar-multiget>';
  const first = parseRequest(ctx('REPORT', ['Depth', '1'], multiget));
  first.multigetHrefs.push('/cal/added-by-a-caller.ics');
  first.requestedProps.length = 0;
  const again = parseRequest(ctx('REPORT', ['Depth', '1'], multiget));
  t.deepEqual(again.multigetHrefs, ['/cal/memo-a.ics']);
  t.deepEqual(again.requestedProps, ['{DAV:}getetag']);
  t.true(again.isMultiget);
  t.is(again.bodyRoot, '{urn:ietf:params:xml:ns:caldav}calendar-multiget');
  // The same bytes under another method are read for that method: an empty-prop PROPFIND body.
  const body = '<D:propfind xmlns:D="DAV:"/>';
  t.is(parseRequest(ctx('PROPFIND', [], body)).propfind, 'allprop');
  t.is(parseRequest(ctx('REPORT', [], body)).propfind, 'none');
  // A broken body keeps its error when read again.
  const broken = '<D:propfind xmlns:D="DAV:"><D:prop>';
  const e1 = parseRequest(ctx('PROPFIND', [], broken)).bodyError;
  t.truthy(e1);
  t.is(parseRequest(ctx('PROPFIND', [], broken)).bodyError, e1);
});
