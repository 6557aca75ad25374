// Payload rules (MS651–MS656): the iCalendar and vCard text a CalDAV/CardDAV 207 carries in
// `C:calendar-data` (RFC 4791 §9.6) and `CR:address-data` (RFC 6352 §10.4). The XML around a
// payload can be well-formed while the payload was cut or mangled by a server bug or by a relay
// that rewrote text. payload.ts reads each payload as it streams; these rules word its verdicts.
// A payload that is empty or does not start with BEGIN:VCALENDAR/BEGIN:VCARD (or a jCal/jCard
// array) is MS605's, and is not judged again here.
import type { DataPropObs, Draft, ResponseObs, RuleDef } from '../facts.js';
import type { PayloadFacts, PayloadProblem, PayloadProblemKind } from '../payload.js';
import { cutBlame } from './truncation.js';
import { n } from './util.js';

const JCAL = /^\[\s*"vcalendar"/i;
const JCARD = /^\[\s*"vcard"/i;

/** Whether the payload is iCalendar/vCard or jCal/jCard at all (MS605 says when it is not). */
export function looksLikePayload(d: Pick<DataPropObs, 'name' | 'head'>): boolean {
  const vcard = d.name.endsWith('}address-data');
  const head = d.head.toUpperCase();
  return vcard ? head.startsWith('BEGIN:VCARD') || JCARD.test(d.head) : head.startsWith('BEGIN:VCALENDAR') || JCAL.test(d.head);
}

const NONE: readonly { d: DataPropObs; p: PayloadFacts }[] = Object.freeze([]);

/**
 * The payloads of a response that were read to their end in a 200 propstat and look like
 * iCalendar/vCard. Most responses carry none: nothing is allocated for them.
 */
function judged(o: ResponseObs): readonly { d: DataPropObs; p: PayloadFacts }[] {
  const data = o.dataProps;
  if (data === undefined) return NONE;
  const out: { d: DataPropObs; p: PayloadFacts }[] = [];
  for (const d of data) {
    if (d.payload === undefined || o.resource.propstats[d.propstatIndex]?.status !== 200 || !looksLikePayload(d)) continue;
    out.push({ d, p: d.payload });
  }
  return out;
}

const WHAT: Record<PayloadFacts['format'], string> = { icalendar: 'calendar-data', jcal: 'calendar-data (jCal)', vcard: 'address-data', jcard: 'address-data (jCard)' };

/** "payload line 12, body line 40": body lines follow payload lines when the line breaks are literal. */
function where(p: PayloadFacts, x: PayloadProblem): string {
  return `payload line ${n(x.line)}, body line ${n(p.bodyLine + x.line - 1)}`;
}

/** One finding per payload and kind: the first problem, with how many more there are. */
function findings(
  o: ResponseObs,
  kind: PayloadProblemKind,
  extra?: (p: PayloadFacts, x: PayloadProblem) => Record<string, unknown>,
  blame?: (p: PayloadFacts) => Pick<Draft, 'blame'>,
): Draft[] | undefined {
  if (o.dataProps === undefined) return undefined;
  let out: Draft[] | undefined;
  for (const { p } of judged(o)) {
    const first = p.problems.find((x) => x.kind === kind);
    if (first === undefined) continue;
    const count = p.counts[kind] ?? 1;
    const more = count > 1 ? ` (and ${n(count - 1)} more in this payload)` : '';
    (out ??= []).push({
      message: `${WHAT[p.format]} of ${o.resource.href} ${first.detail} (${where(p, first)})${more}`,
      evidence: {
        href: o.resource.href,
        payloadLine: first.line,
        line: p.bodyLine + first.line - 1,
        column: first.line === 1 ? p.bodyColumn : 1,
        offset: first.offset,
        excerpt: first.excerpt,
        payloadBytes: p.rawBytes ?? p.bytes,
        ...(count > 1 ? { occurrences: count } : {}),
        ...(extra ? extra(p, first) : {}),
      },
      ...(blame ? blame(p) : {}),
    });
  }
  return out;
}

export const payloadRules: RuleDef[] = [
  {
    id: 'MS651',
    severity: 'error',
    category: 'truncation',
    // The XML around the payload is whole: the server wrote it cut, unless the cut falls on a
    // relay's buffer size (a gateway that rewrote the text, RULES.md §6).
    blame: 'server',
    title: 'calendar-data/address-data cut: a component without its END',
    scope: 'body',
    payloadOnly: true,
    onResponse: (o) =>
      findings(
        o,
        'truncated',
        (p) => (p.cut ? { openComponents: p.cut.open, midLine: p.cut.midLine, midFold: p.cut.midFold, inBase64: p.cut.inBase64 } : {}),
        (p) => {
          const length = p.rawBytes ?? p.bytes;
          const relay = cutBlame(length).blame ?? cutBlame(p.offset + length).blame;
          return relay !== undefined ? { blame: relay } : {};
        },
      ),
  },
  {
    id: 'MS652',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'calendar-data/address-data BEGIN/END mismatch or content outside the object',
    scope: 'body',
    payloadOnly: true,
    onResponse: (o) => findings(o, 'structure'),
  },
  {
    id: 'MS653',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'calendar-data/address-data line is not a content line (broken folding)',
    scope: 'body',
    payloadOnly: true,
    onResponse: (o) => findings(o, 'line'),
  },
  {
    id: 'MS654',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: 'calendar-data/address-data lacks a required property or component',
    scope: 'body',
    payloadOnly: true,
    onResponse: (o) => findings(o, 'required'),
  },
  {
    id: 'MS655',
    severity: 'warning',
    category: 'malformed',
    blame: 'server',
    title: 'calendar-data/address-data date or date-time value invalid',
    scope: 'body',
    payloadOnly: true,
    onResponse: (o) => findings(o, 'value'),
  },
  {
    id: 'MS656',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'the same UID on two resources of one collection',
    scope: 'body',
    payloadOnly: true,
    onResponse(o) {
      if (o.dataProps === undefined) return undefined;
      let out: Draft[] | undefined;
      for (const { d, p } of judged(o)) {
        const dup = d.duplicateUid;
        if (dup === undefined) continue;
        (out ??= []).push({
          message: `${WHAT[p.format]} of ${o.resource.href} has UID ${JSON.stringify(dup.uid.slice(0, 80))}, which ${dup.href} in the same collection has too (UIDs are unique per collection)`,
          evidence: { href: o.resource.href, uid: dup.uid, firstHref: dup.href, offset: p.offset, line: p.bodyLine, column: p.bodyColumn },
        });
      }
      return out;
    },
  },
];
