// The payload checks (MS651–MS656) beyond the rule fixtures: the same findings however the body is
// split into writes, positions that point at the line they name, large payloads with bounded state,
// jCal/jCard, and no crash on any mangling of a payload.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { analyze, createAnalyzer } from '../../src/analysis/analyzer.js';
import { parseRawRequest, parseRawResponse } from '../../src/readers/raw.js';
import type { Analysis, Finding, RequestContext, ResponseHead } from '../../src/types.js';

const CALDAV = 'urn:ietf:params:xml:ns:caldav';
const CARDDAV = 'urn:ietf:params:xml:ns:carddav';
const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml; charset=utf-8'], bodyForm: 'payload' };
const query = (prop = '<C:calendar-data/>'): RequestContext => ({
  method: 'REPORT',
  target: '/cal/',
  rawHeaders: ['Host', '127.0.0.1', 'Depth', '1'],
  body: Buffer.from(`<C:calendar-query xmlns:D="DAV:" xmlns:C="${CALDAV}"><D:prop><D:getetag/>${prop}</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>`),
});

function event(uid: string, extra = ''): string {
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davtap//test//EN\r\nBEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20240101T090000Z\r\nDTSTART:20240102T100000Z\r\nSUMMARY:Événement ☃ with a long summary that a server folds\r\n  here\r\n${extra}END:VEVENT\r\nEND:VCALENDAR\r\n`;
}

function multistatus(items: [string, string, string?][]): Buffer {
  const rs = items
    .map(([href, data, tag = 'C:calendar-data']) => `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag><${tag}>${data}</${tag}></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`)
    .join('');
  return Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:C="${CALDAV}" xmlns:CR="${CARDDAV}">\n${rs}</D:multistatus>\n`);
}

const payloadFindings = (a: Analysis): Finding[] => a.findings.filter((f) => f.rule.startsWith('MS65') || f.rule === 'MS605' || f.rule === 'MS901');
const brief = (fs: Finding[]) => fs.map((f) => ({ rule: f.rule, message: f.message, evidence: f.evidence }));

function inSlices(req: RequestContext, body: Buffer, sizes: number[]): Analysis {
  const a = createAnalyzer(req, head);
  for (let at = 0, k = 0; at < body.length; k++) {
    const step = sizes[k % sizes.length]!;
    a.write(body.subarray(at, at + step));
    at += step;
  }
  return a.end({ outcome: 'complete' });
}

const mangled = multistatus([
  ['/cal/cut.ics', event('cut').slice(0, 140)],
  ['/cal/fold.ics', event('fold').replace('\r\n  here', '\r\nhere')],
  ['/cal/end.ics', event('end').replace('END:VEVENT', 'END:VTODO')],
  ['/cal/date.ics', event('date', 'DTEND:20230229T100000Z\r\n')],
  ['/cal/dup.ics', event('date')],
  ['/cal/ok.ics', event('ok')],
]);

test('the same findings whatever the split of the body into writes (one byte, odd sizes, one write)', (t) => {
  const whole = brief(payloadFindings(analyze(query(), head, mangled)));
  t.deepEqual(
    whole.map((f) => f.rule),
    ['MS651', 'MS652', 'MS653', 'MS655', 'MS656'],
  );
  for (const sizes of [[1], [7, 3, 61], [4096], [2, 1000, 5]]) t.deepEqual(brief(payloadFindings(inSlices(query(), mangled, sizes))), whole, `slices ${sizes.join(',')}`);
});

test('each finding names the href, the payload line, and the body line and offset of that line', (t) => {
  const a = analyze(query(), head, mangled);
  const lines = mangled.toString('utf8').split('\n');
  for (const f of payloadFindings(a).filter((x) => x.rule !== 'MS656')) {
    const e = f.evidence;
    t.regex(f.message, new RegExp(`of ${String(e['href']).replaceAll('.', '\\.')} `));
    t.regex(f.message, new RegExp(`payload line ${String(e['payloadLine'])}, body line ${String(e['line'])}`));
    const excerpt = String(e['excerpt']);
    // The byte offset is that of the line's first byte; the body line holds the same text.
    t.true(mangled.subarray(e['offset'] as number).toString('utf8').startsWith(excerpt), `${f.rule} offset`);
    t.true(lines[(e['line'] as number) - 1]!.slice((e['column'] as number) - 1).startsWith(excerpt), `${f.rule} line:column`);
  }
  const fold = a.findings.find((f) => f.rule === 'MS653')!;
  t.is(fold.evidence['excerpt'], 'here');
  t.is(fold.evidence['payloadLine'], 9);
});

test('non-ASCII text before a problem keeps the byte offset exact', (t) => {
  const body = multistatus([['/cal/a.ics', event('a', 'DESCRIPTION:Zoë 🎉 日本\r\nDTEND:2024013T100000Z\r\n')]]);
  const f = analyze(query(), head, body).findings.find((x) => x.rule === 'MS655')!;
  t.truthy(f);
  t.true(body.subarray(f.evidence['offset'] as number).toString('utf8').startsWith('DTEND:2024013T'));
});

test('a clean calendar-query of varied objects raises nothing, and a partial retrieval may leave out required properties', (t) => {
  const tz = 'BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n';
  const todo = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20240101T000000Z\r\nDUE;VALUE=DATE:20241231\r\nEND:VTODO\r\nEND:VCALENDAR\r\n';
  const body = multistatus([
    ['/cal/a.ics', event('a').replace('BEGIN:VEVENT', `${tz}BEGIN:VEVENT`)],
    ['/cal/t.ics', todo],
    ['/cal/j.ics', '\n  ' + todo.replace(/VTODO/g, 'VJOURNAL').replace('UID:t', 'UID:j').replace(/DUE.*\r\n/, '')],
  ]);
  t.deepEqual(payloadFindings(analyze(query(), head, body)), []);
  const partial = multistatus([['/cal/a.ics', 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n']]);
  t.deepEqual(payloadFindings(analyze(query('<C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="UID"/></C:comp></C:comp></C:calendar-data>'), head, partial)), []);
  t.deepEqual(payloadFindings(analyze(query(), head, partial)).map((f) => f.rule), ['MS654']);
});

test('a 4 MB base64 PHOTO is read with bounded state: clean it raises nothing, cut inside it is MS651 in a base64 value', (t) => {
  const b64 = Buffer.alloc(3 * 1024 * 1024, 7).toString('base64');
  const folded = b64.replace(/(.{74})/g, '$1\r\n ');
  const card = `BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nUID:c1\r\nPHOTO;ENCODING=b;TYPE=JPEG:${folded}\r\nEND:VCARD\r\n`;
  const req: RequestContext = { method: 'REPORT', target: '/card/', rawHeaders: ['Depth', '1'], body: Buffer.from(`<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="${CARDDAV}"><D:prop><CR:address-data/></D:prop></CR:addressbook-query>`) };
  t.deepEqual(payloadFindings(analyze(req, head, multistatus([['/card/c1.vcf', card, 'CR:address-data']]))), []);
  const cut = analyze(req, head, multistatus([['/card/c1.vcf', card.slice(0, 2_000_003), 'CR:address-data']]));
  const f = payloadFindings(cut);
  t.deepEqual(f.map((x) => x.rule), ['MS651']);
  t.is(f[0]!.evidence['inBase64'], true);
  t.is(f[0]!.evidence['midLine'], true);
  t.regex(f[0]!.message, /ends without END:VCARD, cut in the middle of a line, inside a folded line, inside a base64 value/);
});

test('jCal and jCard are recognised: not MS605, and an unclosed array is MS651', (t) => {
  const jcal = '["vcalendar",[["version",{},"text","2.0"],["prodid",{},"text","x"]],[["vevent",[["uid",{},"text","a"],["summary",{},"text","a ] in \\" text"]],[]]]]';
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([['/cal/a.ics', jcal]]))), []);
  const cut = payloadFindings(analyze(query(), head, multistatus([['/cal/a.ics', jcal.slice(0, 60)]])));
  t.deepEqual(cut.map((f) => f.rule), ['MS651']);
  t.regex(cut[0]!.message, /calendar-data \(jCal\) of \/cal\/a\.ics is JSON that ends/);
  const jcard = '["vcard",[["version",{},"text","4.0"],["fn",{},"text","Ada"]]]';
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([['/card/a.vcf', jcard, 'CR:address-data']]))), []);
});

test('a payload in a response the body ended inside is left to the transport and XML rules', (t) => {
  const body = multistatus([['/cal/a.ics', event('a')]]);
  const cut = body.subarray(0, body.indexOf('SUMMARY'));
  const a = analyze(query(), head, cut);
  t.deepEqual(payloadFindings(a), []);
  t.true(a.findings.some((f) => f.rule === 'MS006'));
});

test('no mangling of a real payload makes the checker throw (MS901) or raise a finding without a position', (t) => {
  const fixture = readFileSync(new URL('../fixtures/rules/MS652.near.http', import.meta.url));
  const { body } = parseRawResponse(fixture, 'MS652.near');
  const req = parseRawRequest(readFileSync(new URL('../fixtures/rules/MS652.near.req', import.meta.url)), 'MS652.near');
  const text = Buffer.from(body).toString('latin1');
  const start = text.indexOf('BEGIN:VCALENDAR');
  const end = text.indexOf('</C:calendar-data>');
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ['\r\n', ' ', '\t', ':', ';', '"', 'BEGIN:', 'END:', 'X', '\r', '\n\n', ',', 'T', 'Z', '9'];
  let raised = 0;
  for (let k = 0; k < 400; k++) {
    let payload = text.slice(start, end);
    for (let m = 0; m < 1 + rand(4); m++) {
      const at = rand(payload.length);
      const op = rand(3);
      if (op === 0) payload = payload.slice(0, at) + payload.slice(at + 1 + rand(20));
      else if (op === 1) payload = payload.slice(0, at) + pieces[rand(pieces.length)] + payload.slice(at);
      else payload = payload.slice(0, at);
    }
    const mutated = Buffer.from(text.slice(0, start) + payload + text.slice(end), 'latin1');
    const a = analyze(req, head, mutated);
    t.false(a.findings.some((f) => f.rule === 'MS901'), payload);
    for (const f of a.findings.filter((x) => x.rule.startsWith('MS65'))) {
      raised++;
      t.is(typeof f.evidence['offset'], 'number');
      t.is(typeof f.evidence['href'], 'string');
    }
  }
  t.true(raised > 100, `only ${raised} findings from 400 manglings`);
});

test('iTIP messages (METHOD, as a scheduling inbox holds them) may share a UID; vCard 2.1 soft line breaks are continuations', (t) => {
  const itip = (href: string) => [href, event('invite').replace('PRODID:-//davtap//test//EN', 'PRODID:x\r\nMETHOD:REQUEST')] as [string, string];
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([itip('/cal/inbox/1.ics'), itip('/cal/inbox/2.ics')]))), []);
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([['/cal/1.ics', event('u')], ['/cal/2.ics', event('u')]]))).map((f) => f.rule), ['MS656']);
  const card = 'BEGIN:VCARD\r\nVERSION:2.1\r\nN:Doe;J\r\nFN:J Doe\r\nNOTE;ENCODING=QUOTED-PRINTABLE:first line=0D=0A=\r\nsecond line\r\nEND:VCARD\r\n';
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([['/card/a.vcf', card, 'CR:address-data']]))), []);
  t.deepEqual(payloadFindings(analyze(query(), head, multistatus([['/card/a.vcf', card.replace('=\r\nsecond', '\r\nsecond'), 'CR:address-data']]))).map((f) => f.rule), ['MS653']);
});

test('blame: a payload written cut is the server, one cut at a relay buffer size (16 KiB multiple) a gateway', (t) => {
  const long = event('big', `DESCRIPTION:${'x'.repeat(40_000)}`.replace(/(.{74})/g, '$1\r\n ') + '\r\n');
  const server = payloadFindings(analyze(query(), head, multistatus([['/cal/a.ics', long.slice(0, 20_000)]])));
  t.deepEqual(server.map((f) => [f.rule, f.blame]), [['MS651', 'server']]);
  // 32 KiB of payload bytes (cut in the ASCII description).
  const cut = Buffer.from(long).subarray(0, 32_768).toString('utf8');
  t.is(Buffer.byteLength(cut), 32_768);
  const relay = payloadFindings(analyze(query(), head, multistatus([['/cal/a.ics', cut]])));
  t.deepEqual(relay.map((f) => [f.rule, f.blame]), [['MS651', 'gateway']]);
  for (const f of payloadFindings(analyze(query(), head, mangled))) t.is(f.blame, 'server', f.rule);
});

test('a problem on the payload\'s first line names the column where the payload starts, a later line column 1', (t) => {
  const body = multistatus([['/cal/a.ics', 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20240101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n']]);
  const lines = body.toString('utf8').split('\n');
  const f = analyze(query(), head, body).findings.find((x) => x.rule === 'MS654')!;
  t.is(f.evidence['payloadLine'], 1);
  t.true(lines[(f.evidence['line'] as number) - 1]!.slice((f.evidence['column'] as number) - 1).startsWith('BEGIN:VCALENDAR'));
  t.true((f.evidence['column'] as number) > 1);
  const cut = multistatus([['/cal/b.ics', 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20240101T000000Z\r\nEND:VEVENT\r\n']]);
  const g = analyze(query(), head, cut).findings.find((x) => x.rule === 'MS651')!;
  t.is(g.evidence['payloadLine'], 7);
  t.is(g.evidence['column'], 1);
  t.is(cut.toString('utf8').split('\n')[(g.evidence['line'] as number) - 1], 'END:VEVENT\r');
});
