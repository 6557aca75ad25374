// Real CalDAV/CardDAV answers (Radicale and Xandikos, recorded by test/fixtures/record-payloads.sh)
// against the payload rules: as recorded they raise no payload finding and no error or warning
// but the reviewed true findings below; each mutation a server bug or a relay could make raises the
// rule written for it, on both servers' captures. Radicale writes its objects unfolded (a
// 12,028-character PHOTO line) and Xandikos keeps the bytes it was sent, so folding is exercised
// by re-folding the payloads at 75 octets as RFC 5545 §3.1 describes, with and without the
// leading space.
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

test('the recorded captures cover calendar-data and address-data, gzip, sync-collection and partial retrieval, from two servers', (t) => {
  t.true(names.length >= 15, names.join(' '));
  for (const n of ['radicale-calendar-query-all', 'radicale-calendar-multiget-gzip', 'radicale-sync-collection-data', 'radicale-addressbook-query', 'radicale-calendar-query-partial']) t.true(names.includes(n), n);
  for (const n of ['xandikos-calendar-query-all', 'xandikos-calendar-query-todo', 'xandikos-calendar-multiget', 'xandikos-sync-collection-data', 'xandikos-addressbook-multiget', 'xandikos-calendar-query-partial']) t.true(names.includes(n), n);
});

/** True findings of the recorded answers, each with its reason: anything else is a false alarm. */
const TRUE_FINDINGS: Record<string, { rule: string; message: RegExp; why: string }[]> = {
  'xandikos-sync-collection-data': [{ rule: 'MS602', message: /^sync-token "[0-9a-f]{40}" is not an absolute URI/, why: 'Xandikos 0.2.8 sends a bare git commit id as its sync-token; RFC 6578 §6.2 requires a URI' }],
};

for (const name of names) {
  test(`${name}: as recorded, no payload finding and no error or warning but its reviewed true findings`, (t) => {
    const a = run(load(name));
    t.deepEqual(payloadRules(a), []);
    const known = TRUE_FINDINGS[name] ?? [];
    t.deepEqual(
      a.findings.filter((f) => f.severity !== 'info' && !known.some((k) => k.rule === f.rule && k.message.test(f.message))).map((f) => `${f.rule}: ${f.message}`),
      [],
    );
    for (const k of known) t.true(a.findings.some((f) => f.rule === k.rule && k.message.test(f.message)), `${k.rule} (${k.why}) no longer fires`);
    t.true(a.resources.length >= 1);
  });
}

/** Each server's calendar-query of every object and its address book answer with both vCards, and where its objects live. */
const SERVERS = [
  { server: 'radicale', calendar: 'radicale-calendar-query-all', cards: 'radicale-addressbook-query', cal: '/test/cal/', book: '/test/book/' },
  { server: 'xandikos', calendar: 'xandikos-calendar-query-all', cards: 'xandikos-addressbook-multiget', cal: '/user/test/cal/', book: '/user/test/book/' },
];

/** The text of the calendar-data/address-data of `href`, and where it sits in `text`. */
function payloadOf(text: string, href: string): { start: number; end: number; data: string } {
  // <href> or a prefixed <ns0:href>: the href's text between tags.
  const at = text.indexOf(`>${href}</`);
  if (at < 0) throw new Error(`no response for ${href}`);
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
  const eol = data.includes('\r\n') ? '\r\n' : '\n';
  return data
    .split(eol)
    .map((line) => (line.length <= 75 ? line : line.match(/.{1,74}/g)!.join(`${eol}${lead}`)))
    .join(eol);
}

const re = (s: string) => s.replaceAll(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const mutations = (cal: string, book: string): { name: string; capture: 'calendar' | 'cards'; edit: (text: string) => string; rule: string; message: RegExp }[] => [
  {
    name: 'the weekly event cut in the middle of its ATTENDEE line',
    capture: 'calendar',
    edit: (s) => replacePayload(s, `${cal}weekly.ics`, (d) => d.slice(0, d.indexOf('ATTENDEE') + 30)),
    rule: 'MS651',
    message: new RegExp(`calendar-data of ${re(cal)}weekly\\.ics ends without END:VCALENDAR \\(open: VCALENDAR > VEVENT\\), cut in the middle of a line`),
  },
  {
    name: "Ada's vCard cut inside its base64 PHOTO",
    capture: 'cards',
    edit: (s) => replacePayload(s, `${book}ada-3.vcf`, (d) => d.slice(0, d.indexOf('PHOTO') + 5000)),
    rule: 'MS651',
    message: new RegExp(`address-data of ${re(book)}ada-3\\.vcf ends without END:VCARD, cut in the middle of a line, inside a base64 value`),
  },
  {
    name: "Ada's vCard re-folded at 75 octets by a relay that drops the leading space",
    capture: 'cards',
    edit: (s) => replacePayload(s, `${book}ada-3.vcf`, (d) => refold(d, '')),
    rule: 'MS653',
    message: /a folded line that lost its leading space/,
  },
  {
    name: 'END:VEVENT of the moved occurrence written as END:VTODO',
    capture: 'calendar',
    edit: (s) => replacePayload(s, `${cal}weekly.ics`, (d) => d.replace(/END:VEVENT(?![\s\S]*END:VEVENT)/, 'END:VTODO')),
    rule: 'MS652',
    message: /has END:VTODO without a matching BEGIN/,
  },
  {
    name: 'DTSTAMP dropped from the VTODO',
    capture: 'calendar',
    edit: (s) => replacePayload(s, `${cal}todo.ics`, (d) => d.replace(/DTSTAMP:[^\r\n]*\r?\n/, '')),
    rule: 'MS654',
    message: /has a VTODO \(BEGIN at line 4\) without DTSTAMP/,
  },
  {
    name: "FN dropped from Zoë's vCard 4.0",
    capture: 'cards',
    edit: (s) => replacePayload(s, `${book}zoe-4.vcf`, (d) => d.replace(/FN:[^\r\n]*\r?\n/, '')),
    rule: 'MS654',
    message: /has a VCARD \(BEGIN at line 1\) without FN/,
  },
  {
    name: 'the all-day event moved to 29 February 2023',
    capture: 'calendar',
    edit: (s) => replacePayload(s, `${cal}allday.ics`, (d) => d.replace('DTSTART;VALUE=DATE:20240229', 'DTSTART;VALUE=DATE:20230229')),
    rule: 'MS655',
    message: /has DTSTART "20230229", not a valid DATE: day 29 of month 2/,
  },
  {
    name: "Ada's birthday (vCard 3.0) moved to 30 February",
    capture: 'cards',
    edit: (s) => replacePayload(s, `${book}ada-3.vcf`, (d) => d.replace('BDAY:1815-12-10', 'BDAY:1815-02-30')),
    rule: 'MS655',
    message: /has BDAY "1815-02-30", not a valid date-and-or-time: day 30 of month 2/,
  },
  {
    name: "Zoë's anniversary (vCard 4.0) given month 13",
    capture: 'cards',
    edit: (s) => replacePayload(s, `${book}zoe-4.vcf`, (d) => d.replace('ANNIVERSARY:20090808', 'ANNIVERSARY:20091308')),
    rule: 'MS655',
    message: /has ANNIVERSARY "20091308", not a valid date-and-or-time: month 13/,
  },
  {
    name: 'the journal given the UID of the to-do',
    capture: 'calendar',
    edit: (s) => replacePayload(s, `${cal}journal.ics`, (d) => d.replace('UID:journal-3@davtap.test', 'UID:todo-42@davtap.test')),
    rule: 'MS656',
    message: new RegExp(`has UID "todo-42@davtap\\.test", which ${re(cal)}(todo|journal)\\.ics in the same collection has too`),
  },
];

for (const { server, calendar: calName, cards: cardName, cal, book } of SERVERS) {
  const calendar = load(calName);
  const cards = load(cardName);
  const calText = calendar.body.toString('utf8');
  const cardText = cards.body.toString('utf8');

  for (const m of mutations(cal, book)) {
    test(`mutated ${server} capture: ${m.name} raises ${m.rule} and no other payload rule`, (t) => {
      const c = m.capture === 'calendar' ? calendar : cards;
      const text = m.capture === 'calendar' ? calText : cardText;
      const edited = m.edit(text);
      t.not(edited, text, 'the mutation changed nothing');
      const a = run(c, edited);
      const hits = payloadRules(a);
      t.deepEqual([...new Set(hits.map((f) => f.rule))], [m.rule], hits.map((f) => f.message).join('\n'));
      t.regex(hits[0]!.message, m.message);
      t.is(hits[0]!.blame, 'server');
    });
  }

  test(`near misses on the ${server} captures: re-folded with a space or a tab, CRLF turned into LF, a trailing newline dropped, truncated vCard 4.0 dates, stay clean`, (t) => {
    const edits = [
      (s: string) => replacePayload(s, `${book}ada-3.vcf`, (d) => refold(d, ' ')),
      (s: string) => replacePayload(s, `${book}zoe-4.vcf`, (d) => refold(d, '\t')),
      (s: string) => s.replaceAll('\r\n', '\n'),
      (s: string) => replacePayload(s, `${book}zoe-4.vcf`, (d) => d.trimEnd()),
      // vCard 4.0's truncated and reduced dates are valid (RFC 6350 §4.3.1): a birthday without a year, a year alone.
      (s: string) => replacePayload(s, `${book}zoe-4.vcf`, (d) => d.replace('ANNIVERSARY:20090808', 'ANNIVERSARY:--0229')),
      (s: string) => replacePayload(s, `${book}zoe-4.vcf`, (d) => d.replace('ANNIVERSARY:20090808', 'ANNIVERSARY:2009')),
    ];
    for (const edit of edits) t.deepEqual(payloadRules(run(cards, edit(cardText))), []);
    t.deepEqual(payloadRules(run(calendar, calText.replaceAll('\r\n', '\n'))), []);
    t.deepEqual(payloadRules(run(calendar, replacePayload(calText, `${cal}weekly.ics`, (d) => refold(d, ' ')))), []);
  });
}
