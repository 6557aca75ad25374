// Real CalDAV/CardDAV answers (Radicale, recorded by test/fixtures/record-payloads.sh) against the
// payload rules: as recorded they raise no payload finding and no error or warning at all; each
// mutation a server bug or a relay could make raises the rule written for it. Radicale writes its
// objects unfolded (a 12,028-character PHOTO line), so folding is exercised by re-folding its
// payloads at 75 octets as RFC 5545 §3.1 describes, with and without the leading space.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { analyze } from '../../src/analysis/analyzer.js';
import { parseRawRequest, parseRawResponse } from '../../src/readers/raw.js';
import type { Analysis, RequestContext, ResponseHead } from '../../src/types.js';

const dir = new URL('../fixtures/payloads/', import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.http'))
  .map((f) => f.slice(0, -'.http'.length))
  .sort();

interface Capture {
  req: RequestContext;
  head: Omit<ResponseHead, 'bodyForm'>;
  body: Buffer;
}

function load(name: string): Capture {
  const { body, ...head } = parseRawResponse(readFileSync(new URL(`${name}.http`, dir)), name);
  return { req: parseRawRequest(readFileSync(new URL(`${name}.req`, dir)), name), head, body: Buffer.from(body) };
}

/** The capture's body (identity-coded captures only) replaced by `text`, analyzed as delivered. */
function run(c: Capture, text?: string): Analysis {
  const body = text === undefined ? c.body : Buffer.from(text, 'utf8');
  const rawHeaders = c.head.rawHeaders!.map((v, i, all) => (i % 2 === 1 && /^content-length$/i.test(all[i - 1]!) ? String(body.length) : v));
  return analyze(c.req, { ...c.head, rawHeaders, bodyForm: 'payload' }, body);
}

const payloadRules = (a: Analysis) => a.findings.filter((f) => /^MS65\d$/.test(f.rule) || f.rule === 'MS605' || f.rule === 'MS901');

test('the recorded captures cover calendar-data and address-data, gzip, sync-collection and partial retrieval', (t) => {
  t.true(names.length >= 8, names.join(' '));
  for (const n of ['radicale-calendar-query-all', 'radicale-calendar-multiget-gzip', 'radicale-sync-collection-data', 'radicale-addressbook-query', 'radicale-calendar-query-partial']) t.true(names.includes(n), n);
});

for (const name of names) {
  test(`${name}: as recorded, no payload finding and no error or warning`, (t) => {
    const a = run(load(name));
    t.deepEqual(payloadRules(a), []);
    t.deepEqual(
      a.findings.filter((f) => f.severity !== 'info').map((f) => `${f.rule}: ${f.message}`),
      [],
    );
    t.true(a.resources.length >= 1);
  });
}

const calendar = load('radicale-calendar-query-all');
const cards = load('radicale-addressbook-query');
const calText = calendar.body.toString('utf8');
const cardText = cards.body.toString('utf8');

/** The text of the calendar-data/address-data of `href`, and where it sits in `text`. */
function payloadOf(text: string, href: string): { start: number; end: number; data: string } {
  const at = text.indexOf(`<href>${href}</href>`);
  const open = text.indexOf('-data>', at) + '-data>'.length;
  const end = text.indexOf('</', open);
  return { start: open, end, data: text.slice(open, end) };
}

function replacePayload(text: string, href: string, edit: (data: string) => string): string {
  const p = payloadOf(text, href);
  return text.slice(0, p.start) + edit(p.data) + text.slice(p.end);
}

/** RFC 5545 §3.1 folding: lines longer than 75 octets split with CRLF + `lead` (counted in characters: the captures' long lines are ASCII). */
function refold(data: string, lead: string): string {
  return data
    .split('\r\n')
    .map((line) => (line.length <= 75 ? line : line.match(/.{1,74}/g)!.join(`\r\n${lead}`)))
    .join('\r\n');
}

const mutations: { name: string; capture: 'calendar' | 'cards'; edit: (text: string) => string; rule: string; message: RegExp }[] = [
  {
    name: 'the weekly event cut in the middle of its ATTENDEE line',
    capture: 'calendar',
    edit: (s) => replacePayload(s, '/test/cal/weekly.ics', (d) => d.slice(0, d.indexOf('ATTENDEE') + 30)),
    rule: 'MS651',
    message: /calendar-data of \/test\/cal\/weekly\.ics ends without END:VCALENDAR \(open: VCALENDAR > VEVENT\), cut in the middle of a line/,
  },
  {
    name: "Ada's vCard cut inside its base64 PHOTO",
    capture: 'cards',
    edit: (s) => replacePayload(s, '/test/book/ada-3.vcf', (d) => d.slice(0, d.indexOf('PHOTO') + 5000)),
    rule: 'MS651',
    message: /address-data of \/test\/book\/ada-3\.vcf ends without END:VCARD, cut in the middle of a line, inside a base64 value/,
  },
  {
    name: "Ada's vCard re-folded at 75 octets by a relay that drops the leading space",
    capture: 'cards',
    edit: (s) => replacePayload(s, '/test/book/ada-3.vcf', (d) => refold(d, '')),
    rule: 'MS653',
    message: /a folded line that lost its leading space/,
  },
  {
    name: 'END:VEVENT of the moved occurrence written as END:VTODO',
    capture: 'calendar',
    edit: (s) => replacePayload(s, '/test/cal/weekly.ics', (d) => d.replace(/END:VEVENT(?![\s\S]*END:VEVENT)/, 'END:VTODO')),
    rule: 'MS652',
    message: /has END:VTODO without a matching BEGIN/,
  },
  {
    name: 'DTSTAMP dropped from the VTODO',
    capture: 'calendar',
    edit: (s) => replacePayload(s, '/test/cal/todo.ics', (d) => d.replace(/DTSTAMP:[^\r\n]*\r\n/, '')),
    rule: 'MS654',
    message: /has a VTODO \(BEGIN at line 4\) without DTSTAMP/,
  },
  {
    name: "FN dropped from Zoë's vCard 4.0",
    capture: 'cards',
    edit: (s) => replacePayload(s, '/test/book/zoe-4.vcf', (d) => d.replace(/FN:[^\r\n]*\r\n/, '')),
    rule: 'MS654',
    message: /has a VCARD \(BEGIN at line 1\) without FN/,
  },
  {
    name: 'the all-day event moved to 29 February 2023',
    capture: 'calendar',
    edit: (s) => replacePayload(s, '/test/cal/allday.ics', (d) => d.replace('DTSTART;VALUE=DATE:20240229', 'DTSTART;VALUE=DATE:20230229')),
    rule: 'MS655',
    message: /has DTSTART "20230229", not a valid DATE: day 29 of month 2/,
  },
  {
    name: 'the journal given the UID of the to-do',
    capture: 'calendar',
    edit: (s) => replacePayload(s, '/test/cal/journal.ics', (d) => d.replace('UID:journal-3@davtap.test', 'UID:todo-42@davtap.test')),
    rule: 'MS656',
    message: /has UID "todo-42@davtap\.test", which \/test\/cal\/(todo|journal)\.ics in the same collection has too/,
  },
];

for (const m of mutations) {
  test(`mutated capture: ${m.name} raises ${m.rule} and no other payload rule`, (t) => {
    const c = m.capture === 'calendar' ? calendar : cards;
    const a = run(c, m.edit(m.capture === 'calendar' ? calText : cardText));
    const hits = payloadRules(a);
    t.deepEqual([...new Set(hits.map((f) => f.rule))], [m.rule], hits.map((f) => f.message).join('\n'));
    t.regex(hits[0]!.message, m.message);
    t.is(hits[0]!.blame, 'server');
  });
}

test('near misses on the captures: re-folded with a space or a tab, CRLF turned into LF, and a trailing newline dropped, stay clean', (t) => {
  const edits = [
    (s: string) => replacePayload(s, '/test/book/ada-3.vcf', (d) => refold(d, ' ')),
    (s: string) => replacePayload(s, '/test/book/zoe-4.vcf', (d) => refold(d, '\t')),
    (s: string) => s.replaceAll('\r\n', '\n'),
    (s: string) => replacePayload(s, '/test/book/zoe-4.vcf', (d) => d.trimEnd()),
  ];
  for (const edit of edits) t.deepEqual(payloadRules(run(cards, edit(cardText))), []);
  t.deepEqual(payloadRules(run(calendar, calText.replaceAll('\r\n', '\n'))), []);
  t.deepEqual(payloadRules(run(calendar, replacePayload(calText, '/test/cal/weekly.ics', (d) => refold(d, ' ')))), []);
});
