// The pair view (sandwich mode): a front flow (client → gateway) beside its back flow (gateway →
// origin): request lines, statuses, the headers that differ, the gateway differences (MS8xx) the
// sandwich recorded on the front flow, and the two 207s resource by resource with the comparison
// verify and the sandwich use (readMultistatus, diffResource). PURE: flows in, lines out.
import { gunzipSync } from 'node:zlib';
import { originToVia, prefixMap, readMultistatus, shortName, valueChange, type MsResponse, type PrefixMap } from '../src/analysis/compare.js';
import { normalizeHref } from '../src/analysis/href.js';
import { diffResource, type PropertyChange } from '../src/analysis/multistatus-diff.js';
import { firstHeader, headerPairs } from '../src/http/headers.js';
import type { Finding, Flow, RawHeaders } from '../src/types.js';
import { formatCount } from './format.js';
import type { StyledLine } from './view-model.js';

/** What the pair view shows: the flow it was opened on, and the other leg (null: none recorded; undefined: not in the database any more). */
export interface PairInput {
  opened: Flow;
  other: Flow | null | undefined;
}

const heading = (text: string): StyledLine => ({ text, style: 'heading' });
const blank: StyledLine = { text: '' };
const dim = (text: string): StyledLine => ({ text, style: 'dim' });

const SIDE = 44;
const cellOf = (s: string, width = SIDE): string => (s.length > width ? `${s.slice(0, width - 1)}~` : s.padEnd(width));
const row = (name: string, front: string, back: string, style?: StyledLine['style']): StyledLine => ({ text: `  ${name.padEnd(12)} ${cellOf(front)}  ${back}`, style });

/** The front and back flow of a pair, whichever leg was opened. */
export function legsOf(input: PairInput): { front: Flow | null; back: Flow | null } {
  const other = input.other ?? null;
  return input.opened.leg === 'back' ? { front: other, back: input.opened } : { front: input.opened, back: other };
}

/** The pair view's lines. */
export function renderPair(input: PairInput): StyledLine[] {
  const { opened } = input;
  const { front, back } = legsOf(input);
  const lines: StyledLine[] = [heading(`Pair: front ${front?.id ?? '—'}  ↔  back ${back?.id ?? '—'}`)];
  if (input.other === undefined) {
    const id = opened.leg === 'front' ? opened.pairedWith : undefined;
    lines.push({ text: `The other leg${id ? ` (flow ${id})` : ''} is no longer in the database.`, style: 'warning' });
  } else if (!front) {
    lines.push({ text: 'unmatched: no front flow claims this back flow.', style: 'warning' });
    lines.push(dim("It is the gateway's own request to the origin (a health check, a retry, a prefetch), or its client's"));
    lines.push(dim('flow has not ended yet (a front flow waits up to --window for its back flow).'));
  } else if (!back) {
    lines.push({ text: 'unmatched: the gateway answered this request itself; no request reached the origin.', style: 'warning' });
    lines.push(dim('(a cache hit, an authentication challenge, an error page of its own, a redirect: nothing to compare it with)'));
  }
  lines.push(blank, { text: `  ${''.padEnd(12)} ${cellOf('front: client → davtap → gateway')}  back: gateway → davtap → origin`, style: 'dim' });
  lines.push(row('request', front ? requestLine(front) : '—', back ? requestLine(back) : '—'));
  lines.push(row('status', statusText(front), statusText(back), front && back && front.response?.status !== back.response?.status ? 'error' : undefined));
  lines.push(row('body', bodyText(front), bodyText(back)));
  lines.push(row('type', headerText(front, 'Content-Type'), headerText(back, 'Content-Type'), front && back && headerText(front, 'Content-Type') !== headerText(back, 'Content-Type') ? 'warning' : undefined));
  if (front?.response && back?.response && (firstHeader(front.response.rawHeaders, 'Content-Encoding') ?? firstHeader(back.response.rawHeaders, 'Content-Encoding')) !== undefined) {
    lines.push(row('encoding', headerText(front, 'Content-Encoding'), headerText(back, 'Content-Encoding')));
  }
  if (!front || !back) return lines;

  lines.push(blank, heading('Gateway differences (MS8xx, on the front flow)'));
  const gateway = (front.analysis?.findings ?? []).filter((f) => f.rule.startsWith('MS8'));
  if (gateway.length === 0) lines.push({ text: '  none: the gateway passed this answer on as the origin sent it', style: 'ok' });
  for (const f of gateway) lines.push(findingLine(f));

  lines.push(blank, heading('Response headers that differ (front vs back)'));
  lines.push(...headerDiff(front.response?.rawHeaders ?? [], back.response?.rawHeaders ?? []));
  lines.push(blank, heading('Request headers that differ (what the client sent vs what the gateway sent)'));
  lines.push(...headerDiff(front.request.rawHeaders, back.request.rawHeaders));

  lines.push(blank, ...resourceLines(front, back));
  return lines;
}

function requestLine(flow: Flow): string {
  let path = flow.request.url;
  try {
    const u = new URL(flow.request.url);
    path = `${u.host}${u.pathname}${u.search}`;
  } catch {
    // A URL that does not parse is shown as recorded.
  }
  return `${flow.request.method} ${path}`;
}

function statusText(flow: Flow | null): string {
  if (!flow) return '—';
  if (!flow.response) return `no response (${[flow.outcome.kind, flow.outcome.code].filter(Boolean).join(' ')})`;
  const cut = flow.outcome.kind !== 'complete' ? ` (${flow.outcome.kind})` : '';
  return `${flow.response.status} ${flow.response.reason}${cut}`;
}

function bodyText(flow: Flow | null): string {
  const r = flow?.response;
  if (!r) return '—';
  return `${formatCount(r.body.bytesSeen)} bytes, ${r.framing}`;
}

const headerText = (flow: Flow | null, name: string): string => (flow?.response ? (firstHeader(flow.response.rawHeaders, name) ?? '(none)') : '—');

function findingLine(f: Finding): StyledLine {
  const letter = f.severity === 'error' ? 'E' : f.severity === 'warning' ? 'W' : 'I';
  if (f.consequenceOf) return dim(`  [${letter}] ${f.rule}  ${f.message}  (consequence of ${f.consequenceOf})`);
  return { text: `  [${letter}] ${f.rule}  ${f.message}`, style: f.severity };
}

// Headers each leg has of its own: hop by hop (RFC 9110 §7.6.1) or about the connection, the
// leg's own address, or the message's framing. Listed dimmed: a gateway is expected to change them.
const PER_LEG = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'date', 'content-length', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'forwarded', 'via']);

/** Headers whose values differ, by name (case-insensitive): `~ name: front → back`, `+` only in front, `-` only in back. */
export function headerDiff(front: RawHeaders, back: RawHeaders): StyledLine[] {
  const group = (raw: RawHeaders) => {
    const m = new Map<string, { name: string; values: string[] }>();
    for (const [k, v] of headerPairs(raw)) {
      const e = m.get(k.toLowerCase()) ?? { name: k, values: [] };
      e.values.push(v);
      m.set(k.toLowerCase(), e);
    }
    return m;
  };
  const f = group(front);
  const b = group(back);
  const out: StyledLine[] = [];
  const style = (key: string): StyledLine['style'] => (PER_LEG.has(key) ? 'dim' : 'warning');
  for (const [key, fe] of f) {
    const be = b.get(key);
    if (!be) out.push({ text: `  + ${fe.name}: ${fe.values.join(', ')}   (front only)`, style: style(key) });
    else if (be.values.join('\n') !== fe.values.join('\n')) out.push({ text: `  ~ ${fe.name}: ${fe.values.join(', ')}  ←  ${be.values.join(', ')}`, style: style(key) });
  }
  for (const [key, be] of b) if (!f.has(key)) out.push({ text: `  - ${be.name}: ${be.values.join(', ')}   (back only)`, style: style(key) });
  if (out.length === 0) out.push(dim('  none'));
  return out;
}

/** The response body as the comparison reads it: content coding removed (a gzip stream without Content-Encoding too). */
function representation(flow: Flow): { bytes: Buffer; note: string | null } {
  const r = flow.response!;
  if (r.decoded && r.decoded.bytes.length > 0) return { bytes: r.decoded.bytes, note: r.decoded.captureComplete ? null : 'decoded copy not complete in the store' };
  const bytes = r.body.bytes;
  const note = r.body.captureComplete ? null : `the store holds ${formatCount(bytes.length)} of ${formatCount(r.body.bytesSeen)} bytes`;
  if (!firstHeader(r.rawHeaders, 'Content-Encoding') && bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return { bytes: gunzipSync(bytes), note: 'gzip without Content-Encoding, decoded here to compare' };
    } catch {
      return { bytes, note: 'gzip without Content-Encoding that does not decode' };
    }
  }
  return { bytes, note };
}

/** The prefixes the two legs' paths differ by: `/dav/x` in front of `/x` maps `/dav/` to `/`. */
export function legPrefixMap(frontUrl: string, backUrl: string): PrefixMap {
  let f: string;
  let b: string;
  try {
    f = new URL(frontUrl).pathname;
    b = new URL(backUrl).pathname;
  } catch {
    return prefixMap('/', '/');
  }
  let i = 0;
  while (i < f.length && i < b.length && f[f.length - 1 - i] === b[b.length - 1 - i]) i++;
  // Cut at a segment boundary so that `/dav/docs/` and `/docs/` map `/dav/` to `/`.
  const tail = f.slice(f.length - i);
  const cut = tail.indexOf('/');
  const common = cut < 0 ? '' : tail.slice(cut);
  return prefixMap(f.slice(0, f.length - common.length) || '/', b.slice(0, b.length - common.length) || '/');
}

function resourceLines(front: Flow, back: Flow): StyledLine[] {
  const lines: StyledLine[] = [heading('Resources (front vs back, by href)')];
  const is207 = front.response?.status === 207 || back.response?.status === 207;
  if (!is207 || !front.response || !back.response) {
    lines.push(dim('  neither answer is a 207 Multi-Status: nothing to compare resource by resource'));
    return lines;
  }
  const map = legPrefixMap(front.request.url, back.request.url);
  const fr = representation(front);
  const br = representation(back);
  for (const [leg, r] of [['front', fr], ['back', br]] as const) if (r.note) lines.push(dim(`  ${leg}: ${r.note}`));
  const toVia = (h: string) => originToVia(normalizeHref(h), map);
  const doc = {
    front: readMultistatus(fr.bytes.toString('utf8'), { hrefKey: (h) => normalizeHref(h) }),
    back: readMultistatus(br.bytes.toString('utf8'), { hrefKey: toVia }),
  };
  const index = (responses: MsResponse[], key: (h: string) => string) => {
    const m = new Map<string, MsResponse>();
    for (const r of responses) if (!m.has(key(r.href))) m.set(key(r.href), r);
    return m;
  };
  const f = index(doc.front.responses, (h) => normalizeHref(h));
  const b = index(doc.back.responses, toVia);
  lines.push(dim(`  front: ${formatCount(f.size)} resources${doc.front.error ? ` (${doc.front.error})` : ''};  back: ${formatCount(b.size)} resources${doc.back.error ? ` (${doc.back.error})` : ''}${map.via !== map.origin ? `;  paths ${map.via} = origin ${map.origin}` : ''}`));
  let same = 0;
  const out: StyledLine[] = [];
  for (const [key, bres] of b) {
    const fres = f.get(key);
    if (!fres) {
      out.push({ text: `  - ${bres.href}   missing in front (the gateway dropped it${bres.complete ? '' : '; cut in back too'})`, style: 'error' });
      continue;
    }
    const changes: StyledLine[] = [];
    if (fres.href !== expectedHref(bres.href, map)) changes.push({ text: `      href  front ${fres.href}  ←  back ${bres.href}`, style: 'warning' });
    if (!fres.complete && bres.complete) changes.push({ text: '      cut: the front copy ends inside this resource', style: 'error' });
    const d = diffResource(key, bres, fres);
    if (d?.statusChanged) changes.push({ text: `      status  front ${fres.status ?? '—'}  ←  back ${bres.status ?? '—'}`, style: 'error' });
    for (const c of d?.properties ?? []) changes.push(propertyLine(c));
    if (changes.length === 0) {
      same++;
      continue;
    }
    out.push({ text: `  ~ ${key}`, style: 'warning' }, ...changes);
  }
  for (const [key, fres] of f) if (!b.has(key)) out.push({ text: `  + ${fres.href}   only in front (not in the origin's answer)`, style: 'error' });
  lines.push(...out);
  lines.push(same === b.size && out.length === 0 ? { text: `  all ${formatCount(same)} resources the same on both legs`, style: 'ok' } : dim(`  ${formatCount(same)} of ${formatCount(b.size)} resources the same on both legs`));
  return lines;
}

/**
 * The href a gateway that changes nothing but the path prefix passes on for the origin's `href`:
 * the same text with `map.origin` at the start of its path replaced by `map.via`. Anything else
 * (another scheme or authority, a different encoding) is a rewrite worth naming.
 */
export function expectedHref(href: string, map: PrefixMap): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)?(.*)$/is.exec(href)!;
  const [, authority = '', path = ''] = m;
  return path.startsWith(map.origin) ? `${authority}${map.via}${path.slice(map.origin.length)}` : href;
}

function propertyLine(c: PropertyChange): StyledLine {
  const name = shortName(c.name);
  switch (c.kind) {
    case 'removed':
      return { text: `      ${name} removed in front (back: ${c.before?.status ?? '—'})`, style: 'error' };
    case 'added':
      return { text: `      ${name} only in front (${c.after?.status ?? '—'})`, style: 'warning' };
    case 'status':
      return { text: `      ${name} status front ${c.after?.status ?? '—'}  ←  back ${c.before?.status ?? '—'}`, style: 'error' };
    case 'value':
      return { text: `      ${name} value (back → front) ${valueChange(c.before?.value ?? '', c.after?.value ?? '')}${c.volatile ? ' (volatile)' : ''}`, style: c.volatile ? 'dim' : 'warning' };
  }
}
