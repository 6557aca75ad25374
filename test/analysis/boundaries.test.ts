// Chunk boundaries anywhere: a 207 whose bytes are split into two writes at every offset (inside a
// name, a character reference, a multi-byte UTF-8 character, a surrogate pair's bytes, "]]>", a
// CR LF, a namespace declaration) must give the analysis of the whole body, well-formed or not,
// read by the tokenizer or handed over to saxes at any point.
import test from 'ava';
import { analyze, createAnalyzer } from '../../src/analysis/analyzer.js';
import type { Analysis, RequestContext, ResponseHead } from '../../src/types.js';

const req: RequestContext = { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '1'] };
const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml; charset=utf-8'], bodyForm: 'payload' };

const response = (href: string, extra = '') =>
  `<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">\r\n<D:href>${href}</D:href>\r\n<D:propstat><D:prop>` +
  `<lp1:getetag>"e&amp;1"</lp1:getetag><lp1:resourcetype/>${extra}</D:prop>\r\n<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\r\n`;

/** Everything the tokenizer reads itself, with non-ASCII text before most offsets. */
const WELL_FORMED =
  '<?xml version="1.0" encoding="utf-8"?>\r\n<!-- listing of /dav/ -->\r\n<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">\r\n' +
  response('/dav/') +
  response('/dav/caf%C3%A9.txt', '<D:displayname>café ☕ 😀 &#x1F600; &#233;</D:displayname>') +
  response('/dav/a&amp;b.ics', '<C:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nX: ]] ]>\r\nEND:VCALENDAR\r\n]]></C:calendar-data>') +
  response('/dav/z.txt') +
  '</D:multistatus>\r\n';

/** The same, broken twice: an end tag that does not match, then an unbound prefix. */
const BROKEN = WELL_FORMED.replace('<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\r\n<D:response', '<D:status>HTTP/1.1 200 OK</D:stat></D:propstat></D:response>\r\n<D:response').replace(
  '<lp1:resourcetype/></D:prop>\r\n<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\r\n</D:multistatus>',
  '<X:resourcetype/></D:prop>\r\n<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\r\n</D:multistatus>',
);

/** A DOCTYPE: saxes reads it from the first byte. */
const WITH_DOCTYPE = WELL_FORMED.replace('<!-- listing of /dav/ -->', '<!DOCTYPE D:multistatus [<!ENTITY x "y">]>');

function inTwo(body: Buffer, at: number): Analysis {
  const a = createAnalyzer(req, head);
  a.write(body.subarray(0, at));
  a.write(body.subarray(at));
  return a.end({ outcome: 'complete', closeKind: 'fin' });
}

function everySplitAgrees(t: { is(a: unknown, b: unknown, m?: string): void; pass(): void }, body: Buffer, whole: Analysis): void {
  const expected = JSON.stringify(whole);
  for (let at = 1; at < body.length; at++) {
    const got = JSON.stringify(inTwo(body, at));
    if (got !== expected) {
      t.is(got, expected, `split at byte ${at} (${JSON.stringify(body.subarray(Math.max(0, at - 12), at).toString('latin1'))} | ${JSON.stringify(body.subarray(at, at + 12).toString('latin1'))})`);
      return;
    }
  }
  t.pass();
}

test('well-formed: the whole body is read as expected, and every two-write split gives the same analysis', (t) => {
  const body = Buffer.from(WELL_FORMED);
  const whole = analyze(req, head, body);
  t.deepEqual(
    whole.resources.map((r) => r.href),
    ['/dav/', '/dav/caf%C3%A9.txt', '/dav/a&b.ics', '/dav/z.txt'],
  );
  t.deepEqual(whole.findings.filter((f) => f.severity === 'error'), []);
  // Byte offsets, not character offsets: the spans land on the tags after the multi-byte text.
  for (const r of whole.resources) {
    t.is(body.subarray(r.span.start, r.span.start + 12).toString(), '<D:response ');
    t.is(body.subarray(r.span.end! - 13, r.span.end!).toString(), '</D:response>');
  }
  everySplitAgrees(t, body, whole);
});

test('broken: the errors are found whole and at every split, with the same evidence', (t) => {
  const body = Buffer.from(BROKEN);
  const whole = analyze(req, head, body);
  const ms101 = whole.findings.find((f) => f.rule === 'MS101');
  t.truthy(ms101, JSON.stringify(whole.findings));
  t.regex(ms101!.message, /unexpected close tag/);
  t.true(whole.findings.some((f) => f.rule === 'MS104'), 'the unbound prefix after the first error');
  everySplitAgrees(t, body, whole);
});

test('a DOCTYPE: the body is read by saxes from the start, at every split', (t) => {
  const body = Buffer.from(WITH_DOCTYPE);
  const whole = analyze(req, head, body);
  t.true(whole.findings.some((f) => f.rule === 'MS701'));
  t.is(whole.resources.length, 4);
  everySplitAgrees(t, body, whole);
});

test('one byte per write gives the analysis of the whole body', (t) => {
  for (const text of [WELL_FORMED, BROKEN, WITH_DOCTYPE]) {
    const body = Buffer.from(text);
    const a = createAnalyzer(req, head);
    for (let i = 0; i < body.length; i++) a.write(body.subarray(i, i + 1));
    t.deepEqual(a.end({ outcome: 'complete', closeKind: 'fin' }), analyze(req, head, body));
  }
});
