// Two vantage points of one exchange: the response as the origin sent it and as it came out of a
// gateway (verify sends the same request to both; the sandwich mode records both legs of one). What
// differs is reported with the gateway-difference rules (MS801 onwards, rules/gateway.ts), one root
// cause per change, its knock-on differences marked `consequenceOf` it as the analyzer does for a
// cut body. Pure: bytes and heads in, findings and a one-line verdict out.
import { SaxesParser, type SaxesAttributeNS, type SaxesTagNS } from 'saxes';
import type { Analysis, Category, Finding, Framing, RawHeaders, Severity, TransportEnd } from '../types.js';
import { joinedHeader, listTokens, parseMediaType } from '../http/headers.js';
import { normalizeAuthority, normalizeHref, parseHref, isInwardHost } from './href.js';
import { rules } from './rules/index.js';
import { GATEWAY } from './rules/gateway.js';
import { n, plural } from './rules/util.js';
import { statusCode } from './scan.js';
import { diffResource } from './multistatus-diff.js';

const DAV = 'DAV:';
const clark = (uri: string, local: string): string => `{${uri}}${local}`;
const HREF = clark(DAV, 'href');

// ---------------------------------------------------------------------------------------------
// A multistatus read into a comparable model (property values included, which the analyzer's
// ledger does not keep). Never expands entities: saxes knows only the predefined ones.

export interface PropEntry {
  status: number | null;
  /** Canonical value: child elements in Clark notation, attributes sorted, text trimmed. */
  value: string;
}

export interface MsResponse {
  href: string;
  status: number | null;
  /** Property (Clark notation) → its propstat status and value. */
  props: Map<string, PropEntry>;
  complete: boolean;
}

export interface MultistatusDoc {
  /** Root element in Clark notation. */
  root?: string;
  /** Namespace declarations as `prefix=uri` (`=uri` for a default namespace), each once, in order. */
  declarations: string[];
  responses: MsResponse[];
  rootClosed: boolean;
  /** First XML error: the model holds what came before it. */
  error?: string;
}

export interface ReadOptions {
  /** Maps an href found inside a property value to its comparable form (prefix mapping). */
  hrefKey?: (href: string) => string;
  maxResponses?: number;
  maxValueChars?: number;
}

interface OpenResponse {
  href?: string;
  statusText?: string;
  props: Map<string, PropEntry>;
  propstatStatus?: string;
  propstatProps: { name: string; value: string }[];
}

export function readMultistatus(text: string, opts: ReadOptions = {}): MultistatusDoc {
  const maxResponses = opts.maxResponses ?? 100_000;
  const maxValue = opts.maxValueChars ?? 4096;
  const hrefKey = opts.hrefKey ?? ((h: string) => h);
  const doc: MultistatusDoc = { declarations: [], responses: [], rootClosed: false };
  const declared = new Set<string>();
  const stack: string[] = [];
  let cur: OpenResponse | undefined;
  let leafText = '';
  let value = '';
  let valueHref = false;
  let stopped = false;
  const p = new SaxesParser({ xmlns: true });
  p.on('error', (e) => {
    if (doc.error === undefined) doc.error = e.message;
    stopped = true;
  });
  p.on('opentag', (tag: SaxesTagNS) => {
    if (stopped) return;
    for (const a of Object.values(tag.attributes) as SaxesAttributeNS[]) {
      if (a.name === 'xmlns' || a.prefix === 'xmlns') {
        const d = `${a.name === 'xmlns' ? '' : a.local}=${a.value}`;
        if (!declared.has(d) && declared.size < 1000) {
          declared.add(d);
          doc.declarations.push(d);
        }
      }
    }
    const name = clark(tag.uri, tag.local);
    const depth = stack.length;
    stack.push(name);
    if (depth === 0) doc.root = name;
    else if (depth === 1 && name === clark(DAV, 'response')) cur = { props: new Map(), propstatProps: [] };
    else if (cur && depth === 2 && name === clark(DAV, 'propstat')) {
      cur.propstatStatus = undefined;
      cur.propstatProps = [];
    }
    if (depth === 2 || (depth === 3 && stack[2] === clark(DAV, 'propstat'))) leafText = '';
    if (depth === 4 && stack[3] === clark(DAV, 'prop')) {
      value = attrText(tag);
      valueHref = false;
    } else if (depth > 4 && stack[3] === clark(DAV, 'prop')) {
      if (value.length < maxValue) value += `<${name}${attrText(tag)}>`;
      valueHref = name === HREF;
      if (valueHref) leafText = '';
    }
  });
  const onText = (t: string): void => {
    if (stopped) return;
    const depth = stack.length;
    if (depth >= 5 && stack[3] === clark(DAV, 'prop')) {
      if (valueHref) leafText += t;
      else if (t.trim() !== '' && value.length < maxValue) value += t.trim();
    } else if (depth === 3 || depth === 4) {
      leafText += t;
    }
  };
  p.on('text', onText);
  p.on('cdata', onText);
  p.on('closetag', (tag: SaxesTagNS) => {
    if (stopped) return;
    const name = clark(tag.uri, tag.local);
    const depth = stack.length - 1;
    stack.pop();
    if (depth === 0) {
      doc.rootClosed = true;
      return;
    }
    if (!cur) return;
    if (depth === 1 && name === clark(DAV, 'response')) {
      if (doc.responses.length < maxResponses) doc.responses.push(finishResponse(cur, true));
      cur = undefined;
    } else if (depth === 2 && name === HREF) {
      cur.href ??= leafText.trim();
    } else if (depth === 2 && name === clark(DAV, 'status')) {
      cur.statusText = leafText;
    } else if (depth === 3 && stack[2] === clark(DAV, 'propstat') && name === clark(DAV, 'status')) {
      cur.propstatStatus = leafText;
    } else if (depth === 2 && name === clark(DAV, 'propstat')) {
      const st = cur.propstatStatus === undefined ? null : statusCode(cur.propstatStatus);
      for (const pr of cur.propstatProps) cur.props.set(pr.name, { status: st, value: pr.value });
    } else if (depth === 4 && stack[3] === clark(DAV, 'prop')) {
      cur.propstatProps.push({ name, value: value.slice(0, maxValue) });
    } else if (depth > 4 && stack[3] === clark(DAV, 'prop')) {
      if (name === HREF && value.length < maxValue) value += hrefKey(leafText.trim());
      valueHref = false;
      if (value.length < maxValue) value += '</>';
    }
  });
  try {
    p.write(text);
    if (!stopped) p.close();
  } catch (err) {
    doc.error ??= err instanceof Error ? err.message : String(err);
  }
  if (cur && doc.responses.length < maxResponses) doc.responses.push(finishResponse(cur, false));
  if (doc.error === undefined && !doc.rootClosed) doc.error = 'the document ended before its root element closed';
  return doc;
}

function attrText(tag: SaxesTagNS): string {
  const attrs = (Object.values(tag.attributes) as SaxesAttributeNS[])
    .filter((a) => a.name !== 'xmlns' && a.prefix !== 'xmlns')
    .map((a) => ` ${clark(a.uri, a.local)}="${a.value}"`)
    .sort();
  return attrs.join('');
}

function finishResponse(r: OpenResponse, complete: boolean): MsResponse {
  return { href: r.href ?? '', status: r.statusText === undefined ? null : statusCode(r.statusText), props: r.props, complete };
}

// ---------------------------------------------------------------------------------------------
// Prefix mapping: the gateway's namespace of paths versus the origin's

export interface PrefixMap {
  /** Path prefix on the gateway, with a trailing slash, e.g. `/dav/`. */
  via: string;
  /** The origin's path prefix it stands for, e.g. `/`. */
  origin: string;
}

const withSlash = (p: string): string => (p.endsWith('/') ? p : `${p}/`);

/** Normalizes both prefixes (leading and trailing slash, percent-encoding). */
export function prefixMap(via: string, origin: string): PrefixMap {
  const norm = (p: string): string => withSlash(normalizeHref(p.startsWith('/') ? p : `/${p}`));
  return { via: norm(via), origin: norm(origin) };
}

/** The mapping two base URLs imply: `http://gw/dav/` in front of `http://origin/` maps `/dav/` to `/`. */
export function prefixMapFromBases(viaBase: string, originBase: string): PrefixMap {
  return prefixMap(new URL(viaBase).pathname, new URL(originBase).pathname);
}

/** The path a client of the gateway should see for an origin path (unchanged when outside the prefix). */
export function originToVia(originPath: string, map: PrefixMap): string {
  const p = normalizeHref(originPath);
  if (withSlash(p) === map.origin) return p.endsWith('/') || map.via === '/' ? map.via : map.via.slice(0, -1);
  return p.startsWith(map.origin) ? map.via + p.slice(map.origin.length) : p;
}

/** The origin path a gateway path stands for (unchanged when outside the prefix). */
export function viaToOrigin(viaPath: string, map: PrefixMap): string {
  return originToVia(viaPath, { via: map.origin, origin: map.via });
}

export const isIdentity = (map: PrefixMap): boolean => map.via === map.origin;

/** An origin href as the gateway should write it: its path mapped, an absolute URL's scheme and authority kept. */
export function mapHrefPath(href: string, map: PrefixMap): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(\/[^?#]*)?$/i.exec(href);
  if (m) return m[1]! + originToVia(m[2] ?? '/', map);
  return href.startsWith('/') ? originToVia(href, map) : href;
}

/** The origin's body with the text of every href element mapped (mapHrefPath): what an honest prefix-changing gateway sends. */
export function mapHrefsInText(text: string, map: PrefixMap): string {
  if (isIdentity(map)) return text;
  return text.replace(/(<(?:[A-Za-z_][\w.-]*:)?href(?:\s[^>]*)?>)([^<]*)(?=<\/)/g, (_all, open: string, href: string) => {
    const trimmed = href.trim();
    return trimmed === '' ? open + href : open + href.replace(trimmed, mapHrefPath(trimmed, map));
  });
}

export function describeMap(map: PrefixMap): string {
  return isIdentity(map) ? 'no prefix mapping' : `${map.via} = origin ${map.origin}`;
}

// ---------------------------------------------------------------------------------------------
// Comparing the two vantage points

export interface VantagePoint {
  status: number;
  rawHeaders: RawHeaders;
  framing: Framing;
  /** Payload bytes after de-chunking, before content decoding. */
  payloadBytes: number;
  /** The representation: content coding removed (a gzip stream without Content-Encoding included). */
  decoded: Uint8Array;
  /** Gzip bytes arrived without a Content-Encoding header. */
  sniffedGzip: boolean;
  transport: TransportEnd;
  analysis: Analysis;
  /** Where the request went: `http://127.0.0.1:8080`. */
  base: string;
}

export interface CompareContext {
  map: PrefixMap;
  /** The request carried Accept-Encoding (a gateway may then compress). */
  acceptEncoding: boolean;
  /**
   * Absolute hrefs on another authority count only when the gateway wrote them: the origin's copy
   * has other text for that resource. Set where both copies answer one request (the sandwich mode:
   * an origin that builds hrefs from Host writes the same ones whoever asks); verify sends its own
   * requests to each side, and there an origin's address in the gateway's copy is a leak whoever wrote it.
   */
  foreignHrefsOnlyWhenChanged?: boolean;
}

export interface Comparison {
  /**
   * What the gateway changed: gateway-difference findings (MS8xx), and the analyzer's findings on
   * the gateway's copy that the origin's copy does not have ("via: …"), knock-ons marked consequenceOf.
   */
  differences: Finding[];
  /** The decoded bodies are byte for byte the same. */
  identicalBytes: boolean;
  /** One line for people: "identical", or the most severe difference in words. */
  verdict: string;
  originResponses: number;
  viaResponses: number;
}

const SEVERITY_ORDER: Severity[] = ['error', 'warning', 'info'];
/** Root causes first within a severity: what replaced or broke the body, then what it broke. */
const CAUSE_ORDER: string[] = [GATEWAY.statusChanged, GATEWAY.htmlSubstituted, GATEWAY.bodyCut, GATEWAY.namespacesLost, GATEWAY.hrefsRewritten, GATEWAY.responsesLost, GATEWAY.propertiesChanged];
const rank = (f: Finding): number =>
  f.consequenceOf !== undefined ? 100 : f.evidence.statusChange === true ? -1 : CAUSE_ORDER.includes(f.rule) ? CAUSE_ORDER.indexOf(f.rule) : 50;

/** What a cut body, a lost namespace declaration or rewritten hrefs also break (analyzer rules and differences). */
const CUT_KNOCK_ONS = ['MS001', 'MS002', 'MS003', 'MS004', 'MS006', 'MS101', 'MS103', 'MS209', 'MS403', 'MS402', 'MS601', GATEWAY.responsesLost, GATEWAY.propertiesChanged, GATEWAY.namespacesLost, GATEWAY.htmlSubstituted];
const NAMESPACE_KNOCK_ONS = ['MS101', 'MS104', 'MS105', 'MS107', 'MS006', 'MS201', 'MS202', 'MS203', 'MS209', 'MS402', 'MS601', GATEWAY.responsesLost, GATEWAY.propertiesChanged, GATEWAY.htmlSubstituted];
const HREF_KNOCK_ONS = ['MS205', 'MS302', 'MS303', 'MS304', 'MS402', 'MS601', GATEWAY.responsesLost];
/**
 * The analyzer's single-point names for what a gateway difference shows with both points: on the
 * gateway's copy they say the same thing once more (gzip without Content-Encoding is MS807 here and
 * MS405 there), so they are its consequences whatever their severity.
 */
const SAME_SYMPTOM: Record<string, string[]> = {
  [GATEWAY.encodingChanged]: ['MS004', 'MS106', 'MS405'],
  [GATEWAY.contentTypeChanged]: ['MS109'],
  [GATEWAY.htmlSubstituted]: ['MS108', 'MS109'],
  [GATEWAY.responsesLost]: ['MS403', 'MS402', 'MS601', 'MS209'],
  [GATEWAY.propertiesChanged]: ['MS401', 'MS605'],
  [GATEWAY.namespacesLost]: ['MS104', 'MS107', 'MS404'],
  [GATEWAY.hrefsRewritten]: ['MS302', 'MS303', 'MS304'],
};

/**
 * One root cause is one finding (RULES.md §6): every difference a root cause explains is marked its
 * consequence. In order: another status line explains all but a cut; an HTML page (by its
 * Content-Type) everything but a cut; a cut, a lost namespace declaration, rewritten hrefs what
 * they break.
 */
function markConsequences(out: Finding[]): void {
  const rootOf = (pred: (f: Finding) => boolean): Finding | undefined => out.find((f) => f.severity === 'error' && f.consequenceOf === undefined && pred(f));
  const status = rootOf((f) => f.evidence.statusChange === true);
  const html = rootOf((f) => f.rule === GATEWAY.htmlSubstituted && f.evidence.html === true);
  const cut = rootOf((f) => f.rule === GATEWAY.bodyCut);
  const namespaces = rootOf((f) => f.rule === GATEWAY.namespacesLost);
  const hrefs = rootOf((f) => f.rule === GATEWAY.hrefsRewritten);
  const causes: [Finding | undefined, (f: Finding) => boolean][] = [
    [status, (f) => f !== cut],
    [html, (f) => f !== cut],
    [cut, (f) => CUT_KNOCK_ONS.includes(f.rule)],
    [namespaces, (f) => NAMESPACE_KNOCK_ONS.includes(f.rule)],
    [hrefs, (f) => HREF_KNOCK_ONS.includes(f.rule)],
  ];
  for (const f of out) {
    if (f.consequenceOf !== undefined) continue;
    // A root cause is explained only by the causes before it in the list, never by a later one.
    const own = causes.findIndex(([root]) => root === f);
    const candidates = own >= 0 ? causes.slice(0, own) : causes;
    const cause = candidates.find(([root, explains]) => root !== undefined && explains(f))?.[0];
    if (cause) f.consequenceOf = cause.rule;
  }
  for (const f of out) {
    if (f.consequenceOf !== undefined || f.rule.startsWith('MS8')) continue;
    const same = out.find((g) => g.consequenceOf === undefined && SAME_SYMPTOM[g.rule]?.includes(f.rule));
    if (same) f.consequenceOf = same.rule;
  }
}
const TRANSPORT_RULES = new Set(['MS001', 'MS002', 'MS003', 'MS004']);
const EXAMPLES = 3;

function diff(rule: string, severity: Severity, category: Category, message: string, evidence: Finding['evidence'] = {}): Finding {
  // Two vantage points disagree: the relay between them changed the answer (RULES.md §6).
  return { rule, severity, category, blame: 'gateway', message, evidence };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function isPrefixOf(short: Uint8Array, long: Uint8Array): boolean {
  return short.length < long.length && bytesEqual(short, long.subarray(0, short.length));
}

const examples = (items: string[]): string => items.slice(0, EXAMPLES).join(', ') + (items.length > EXAMPLES ? ` and ${n(items.length - EXAMPLES)} more` : '');
/** Short names of properties for messages: `D:getetag` for `{DAV:}getetag`. */
const SHORT_PREFIXES: Record<string, string> = { 'DAV:': 'D:', 'urn:ietf:params:xml:ns:caldav': 'C:', 'urn:ietf:params:xml:ns:carddav': 'A:' };
export const shortName = (q: string): string => q.replace(/^\{([^}]*)\}/, (whole, uri: string) => SHORT_PREFIXES[uri] ?? whole);

/** The two values around their first difference: `"…SUMMARY:Team…" → "…SUMMARY:[gw] Team…"`. */
export function valueChange(before: string, after: string, context = 24): string {
  let i = 0;
  while (i < before.length && i < after.length && before[i] === after[i]) i++;
  const start = Math.max(0, i - context);
  const cut = (v: string): string => {
    const piece = v.slice(start, i + context);
    return JSON.stringify(`${start > 0 ? '…' : ''}${piece}${i + context < v.length ? '…' : ''}`);
  };
  return `${cut(before)} → ${cut(after)}`;
}

/** scheme://authority of a base URL, normalized. */
function authorityOf(base: string): { scheme: string; authority: string } {
  const u = new URL(base);
  const scheme = u.protocol.replace(/:$/, '');
  return { scheme, authority: normalizeAuthority(u.host, scheme) ?? u.host };
}

export function compareVantagePoints(origin: VantagePoint, via: VantagePoint, ctx: CompareContext): Comparison {
  const out: Finding[] = [];
  const map = ctx.map;
  const text = (v: Pick<VantagePoint, 'decoded'>): string => new TextDecoder('utf-8').decode(v.decoded);
  const hrefKey = (mapToVia: boolean) => (h: string) => (mapToVia ? originToVia(normalizeHref(h), map) : normalizeHref(h));
  const originText = text(origin);
  const viaText = text(via);
  const o = readMultistatus(originText, { hrefKey: hrefKey(true) });
  const v = readMultistatus(viaText, { hrefKey: hrefKey(false) });
  const identicalBytes = bytesEqual(origin.decoded, via.decoded);
  const originResponses = o.responses.filter((r) => r.complete).length;
  const viaResponses = v.responses.filter((r) => r.complete).length;

  // Status line.
  if (origin.status !== via.status) {
    out.push(diff(GATEWAY.statusChanged, 'error', 'stripped', `via answered ${via.status} where the origin answered ${origin.status}`, { origin: origin.status, via: via.status, statusChange: true }));
  }

  // Headers that change how the body is read.
  compareHeaders(origin, via, ctx, out);

  // Truncation: the gateway delivered less than the origin sent.
  const viaCause = via.analysis.findings.find((f) => TRANSPORT_RULES.has(f.rule) && f.consequenceOf === undefined);
  const originCause = origin.analysis.findings.find((f) => TRANSPORT_RULES.has(f.rule) && f.consequenceOf === undefined);
  const cut = isPrefixOf(via.decoded, origin.decoded);
  let truncated = false;
  if ((viaCause && !originCause && via.decoded.length < origin.decoded.length) || (cut && origin.status === via.status)) {
    truncated = true;
    const transportRule = viaCause?.rule ?? 'MS006';
    const how = ` (${viaCause ? `${rules[viaCause.rule]?.title ?? viaCause.rule} ${endedBy(via.transport)}` : 'the framing said the body was complete'}; ${lastComplete(via.analysis)})`;
    out.push(
      diff(
        GATEWAY.bodyCut,
        'error',
        'truncation',
        `via: ${n(viaResponses)} of ${n(originResponses)} responses, body cut at ${n(via.decoded.length)} bytes of ${n(origin.decoded.length)}${how}`,
        { viaBytes: via.decoded.length, originBytes: origin.decoded.length, viaResponses, originResponses, transportRule, lastComplete: lastCompleteHref(via.analysis) },
      ),
    );
  } else if (via.transport.outcome !== 'complete' && via.transport.code !== 'EMSGSIZE' && origin.transport.outcome === 'complete' && via.status === origin.status) {
    // The same bytes, but the gateway's answer never ended (a close-delimited body on a connection
    // it kept open, a stall after the last byte): a client waits for it as long as it dares.
    out.push(
      diff(GATEWAY.bodyCut, 'error', 'truncation', `via's answer did not end: ${via.transport.message ?? via.transport.code ?? via.transport.outcome} after ${n(via.decoded.length)} bytes (${via.framing})`, {
        viaBytes: via.decoded.length,
        originBytes: origin.decoded.length,
        outcome: via.transport.outcome,
        neverEnded: true,
      }),
    );
  }

  const bothMultistatus = o.root === clark(DAV, 'multistatus') && v.root !== undefined;
  if (o.root !== undefined && v.root !== undefined && o.root !== v.root) {
    out.push(diff(GATEWAY.htmlSubstituted, 'error', 'stripped', `via's body is not the origin's multistatus: its root is ${v.root}, the origin's ${o.root}`, { originRoot: o.root, viaRoot: v.root, notXml: true }));
  } else if (o.root !== undefined && v.root === undefined && via.decoded.length > 0 && !truncated) {
    out.push(diff(GATEWAY.htmlSubstituted, 'error', 'stripped', `via's body is not XML (${n(via.decoded.length)} bytes${v.error ? `: ${v.error}` : ''})`, { viaError: v.error, notXml: true }));
  }

  // A substituted body (an HTML page, another document) is one cause: its namespaces are not compared.
  const local = (clarkName: string | undefined): string | undefined => clarkName?.replace(/^\{[^}]*\}/, '');
  const substituted = v.root !== undefined && o.root !== undefined && local(v.root) !== local(o.root);
  // Past a cut nothing is lost twice: the origin's declarations count as far as the gateway's copy goes.
  if (!substituted) compareNamespaces(truncated ? text({ decoded: origin.decoded.subarray(0, via.decoded.length) }) : originText, viaText, out);
  if (bothMultistatus && o.root === v.root) compareResponses(o, v, origin, via, ctx, truncated, out);

  // A prefix-changing gateway that maps the hrefs and changes nothing else sends exactly the mapped text.
  const identicalUpToMapping = !identicalBytes && !isIdentity(map) && mapHrefsInText(originText, map) === viaText;
  if (!identicalBytes && !identicalUpToMapping && !out.some((f) => f.severity !== 'info') && origin.decoded.length > 0) {
    out.push(diff(GATEWAY.bytesChanged, 'info', 'stripped', `bytes differ (${n(origin.decoded.length)} → ${n(via.decoded.length)}) but the multistatus is the same up to the mapping`, { bytesOnly: true }));
  }

  // Whatever the analyzer finds on the gateway's copy and not on the origin's is the gateway's doing,
  // unless one of the differences above already explains it (then it is marked as its consequence).
  const emitted = new Set(out.map((f) => f.rule));
  const originRules = new Set(origin.analysis.findings.map((f) => f.rule));
  for (const f of via.analysis.findings) {
    if (f.consequenceOf !== undefined || originRules.has(f.rule) || emitted.has(f.rule)) continue;
    emitted.add(f.rule);
    out.push({ ...f, blame: 'gateway', message: `via: ${f.message}` });
  }
  markConsequences(out);

  out.sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || rank(a) - rank(b));
  const worst = out.find((f) => f.severity !== 'info' && f.consequenceOf === undefined);
  const verdict = worst ? worst.message : identicalBytes ? 'identical' : 'identical up to the mapping';
  return { differences: out, identicalBytes, verdict, originResponses, viaResponses };
}

function endedBy(t: TransportEnd): string {
  if (t.outcome === 'timeout' || t.closeKind === 'timeout') return 'when the client gave up waiting';
  if (t.closeKind === 'rst') return 'when the connection was reset';
  return 'when the connection closed';
}

function lastCompleteHref(a: Analysis): string | undefined {
  const done = a.resources.filter((r) => r.complete);
  return done[done.length - 1]?.href;
}

function lastComplete(a: Analysis): string {
  const href = lastCompleteHref(a);
  return href !== undefined ? `last complete response: ${href}` : 'no complete response';
}

function compareHeaders(origin: VantagePoint, via: VantagePoint, ctx: CompareContext, out: Finding[]): void {
  const oct = joinedHeader(origin.rawHeaders, 'Content-Type');
  const vct = joinedHeader(via.rawHeaders, 'Content-Type');
  const om = parseMediaType(oct);
  const vm = parseMediaType(vct);
  if ((om?.essence ?? '') !== (vm?.essence ?? '')) {
    const html = vm?.essence === 'text/html';
    out.push(
      diff(html ? GATEWAY.htmlSubstituted : GATEWAY.contentTypeChanged, html ? 'error' : 'warning', 'stripped', `via changed Content-Type from ${oct ?? '(none)'} to ${vct ?? '(none)'}`, {
        origin: oct,
        via: vct,
        ...(html ? { html: true } : {}),
      }),
    );
  } else if ((om?.charset ?? '') !== (vm?.charset ?? '')) {
    out.push(diff(GATEWAY.encodingChanged, 'warning', 'stripped', `via changed the charset from ${om?.charset ?? '(none)'} to ${vm?.charset ?? '(none)'} (Content-Type ${vct})`, { origin: oct, via: vct }));
  }
  const oce = listTokens(joinedHeader(origin.rawHeaders, 'Content-Encoding')).filter((t) => t !== 'identity');
  const vce = listTokens(joinedHeader(via.rawHeaders, 'Content-Encoding')).filter((t) => t !== 'identity');
  if (oce.join(',') !== vce.join(',')) {
    if (vce.length > oce.length && !ctx.acceptEncoding) {
      out.push(diff(GATEWAY.encodingChanged, 'error', 'stripped', `via added Content-Encoding: ${vce.join(', ')} although the request carried no Accept-Encoding`, { origin: oce, via: vce }));
    } else {
      out.push(diff(GATEWAY.encodingChanged, 'info', 'stripped', `via changed Content-Encoding from ${oce.join(', ') || 'identity'} to ${vce.join(', ') || 'identity'}`, { origin: oce, via: vce }));
    }
  }
  if (via.sniffedGzip && !origin.sniffedGzip) {
    out.push(diff(GATEWAY.encodingChanged, 'error', 'stripped', 'via added gzip without Content-Encoding: the body is a gzip stream that clients will read as XML', { viaPayloadBytes: via.payloadBytes }));
  }
  if (origin.framing !== via.framing) {
    out.push(diff(GATEWAY.bytesChanged, 'info', 'stripped', `via re-framed the body: ${origin.framing} → ${via.framing}`, { origin: origin.framing, via: via.framing }));
  }
}

/** Namespace declarations found by plain search, so that a body that no longer parses still shows them. */
export function namespaceDeclarations(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = /\sxmlns(?::([A-Za-z_][\w.-]*))?\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let i = 0, m = re.exec(text); m !== null && i < 100_000; i++, m = re.exec(text)) {
    const key = `${m[1] ?? ''}=${m[2] ?? m[3] ?? ''}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

function compareNamespaces(originText: string, viaText: string, out: Finding[]): void {
  const od = namespaceDeclarations(originText);
  const vd = namespaceDeclarations(viaText);
  const viaUris = new Set([...vd.keys()].map((k) => k.slice(k.indexOf('=') + 1)));
  const originUris = new Set([...od.keys()].map((k) => k.slice(k.indexOf('=') + 1)));
  const shown = (key: string): string => {
    const eq = key.indexOf('=');
    return eq === 0 ? `xmlns="${key.slice(1)}"` : `xmlns:${key.slice(0, eq)}="${key.slice(eq + 1)}"`;
  };
  for (const [key, count] of od) {
    const left = vd.get(key) ?? 0;
    if (left >= count) continue;
    const prefix = key.slice(0, key.indexOf('='));
    const uri = key.slice(key.indexOf('=') + 1);
    const variant = [...vd.keys()].find((k) => k.startsWith(`${prefix}=`) && k.slice(prefix.length + 1).toLowerCase() === uri.toLowerCase() && !originUris.has(k.slice(prefix.length + 1)));
    if (variant !== undefined) {
      out.push(diff(GATEWAY.namespacesLost, 'error', 'stripped', `via changed the namespace URI ${uri} to ${variant.slice(prefix.length + 1)} (namespace names compare exactly)`, { origin: shown(key), via: shown(variant) }));
    } else if (left === 0 || !viaUris.has(uri)) {
      out.push(diff(GATEWAY.namespacesLost, 'error', 'stripped', `via removed the namespace declaration ${shown(key)}${count > 1 ? ` (${count - left} of ${count})` : ''}`, { declaration: shown(key), origin: count, via: left }));
    }
  }
}

interface Keyed {
  key: string;
  res: MsResponse;
}

function compareResponses(o: MultistatusDoc, v: MultistatusDoc, origin: VantagePoint, via: VantagePoint, ctx: CompareContext, truncated: boolean, out: Finding[]): void {
  const map = ctx.map;
  const own = authorityOf(via.base);
  const originAuth = authorityOf(origin.base);
  const expected = new Map<string, MsResponse>();
  for (const r of o.responses) if (r.complete) expected.set(originToVia(normalizeHref(r.href), map), r);

  // The origin's own absolute hrefs, as written and with their path mapped (a gateway that maps the prefix keeps the authority).
  const originHrefs = ctx.foreignHrefsOnlyWhenChanged === true ? new Set(o.responses.filter((x) => x.complete).flatMap((x) => [x.href, mapHrefPath(x.href, map)])) : undefined;
  const matched: (Keyed & { originRes: MsResponse })[] = [];
  const unmapped: string[] = [];
  const foreign = new Map<string, string[]>();
  const extra: string[] = [];
  const formChanged: string[] = [];
  for (const r of v.responses) {
    if (!r.complete) continue;
    const parsed = parseHref(r.href);
    const path = normalizeHref(r.href);
    if (parsed.form === 'absolute-uri') {
      const auth = `${parsed.scheme}://${parsed.authority}`;
      const unchanged = originHrefs?.has(r.href) === true;
      if ((parsed.authority !== own.authority || parsed.scheme !== own.scheme) && !unchanged) {
        const list = foreign.get(auth) ?? [];
        list.push(r.href);
        foreign.set(auth, list);
      } else {
        const originForm = expected.get(path);
        if (originForm && parseHref(originForm.href).form !== 'absolute-uri') formChanged.push(r.href);
      }
    }
    let key = path;
    if (!expected.has(key) && !isIdentity(map) && expected.has(originToVia(path, map))) {
      key = originToVia(path, map);
      unmapped.push(r.href);
    }
    const originRes = expected.get(key);
    if (originRes) matched.push({ key, res: r, originRes });
    else extra.push(r.href);
  }
  const total = v.responses.filter((r) => r.complete).length;

  for (const [auth, hrefs] of foreign) {
    const host = auth.replace(/^[a-z]+:\/\//, '');
    const inward = isInwardHost(host) || auth === `${originAuth.scheme}://${originAuth.authority}`;
    const toOrigin = auth === `${originAuth.scheme}://${originAuth.authority}` ? ' (the origin itself: clients leave the gateway)' : '';
    out.push(
      diff(GATEWAY.hrefsRewritten, 'error', 'stripped', `via rewrote hrefs to ${auth}/${toOrigin}: ${n(hrefs.length)} of ${n(total)} hrefs, e.g. ${hrefs[0]}`, {
        authority: auth,
        clientAuthority: `${own.scheme}://${own.authority}`,
        count: hrefs.length,
        example: hrefs[0],
        inward,
      }),
    );
  }
  if (unmapped.length > 0) {
    const first = normalizeHref(unmapped[0]!);
    out.push(
      diff(
        GATEWAY.hrefsRewritten,
        'error',
        'stripped',
        `via passes the origin's hrefs unchanged: ${n(unmapped.length)} of ${n(total)} are outside ${map.via} (e.g. ${first} should be ${originToVia(first, map)}); the gateway maps ${map.via} to ${map.origin} but the hrefs are not mapped back`,
        { count: unmapped.length, example: unmapped[0], expected: originToVia(first, map), map },
      ),
    );
  }
  if (formChanged.length > 0) {
    out.push(diff(GATEWAY.hrefsRewritten, 'info', 'stripped', `via turned ${plural(formChanged.length, 'href')} into absolute URIs on its own host, e.g. ${formChanged[0]}`));
  }
  if (extra.length > 0) {
    out.push(diff(GATEWAY.responsesLost, 'error', 'truncation', `via added ${plural(extra.length, 'response')} the origin did not send: ${examples(extra)}`, { extra: extra.slice(0, 20) }));
  }
  const seen = new Set(matched.map((m) => m.key));
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  if (missing.length > 0 && !truncated) {
    out.push(
      diff(GATEWAY.responsesLost, 'error', 'truncation', `via lost ${n(missing.length)} of ${n(expected.size)} responses: ${examples(missing)}`, {
        missing: missing.slice(0, 20),
        originResponses: expected.size,
        viaResponses: matched.length,
      }),
    );
  }

  const statusChanged: string[] = [];
  const propsDropped: string[] = [];
  const propsAdded: string[] = [];
  const propStatus: string[] = [];
  const propValue: string[] = [];
  // The per-resource comparison is the one `davtap replay` uses too (multistatus-diff.ts); here
  // every value counts, volatile ones included: both copies come from the same moment.
  for (const { key, res, originRes } of matched) {
    const d = diffResource(key, originRes, res);
    if (!d) continue;
    if (d.statusChanged) statusChanged.push(`${key} ${originRes.status ?? 'propstat'} → ${res.status ?? 'propstat'}`);
    for (const c of d.properties) {
      const what = `${shortName(c.name)} on ${key}`;
      if (c.kind === 'removed') propsDropped.push(what);
      else if (c.kind === 'added') propsAdded.push(what);
      else if (c.kind === 'status') propStatus.push(`${what} ${c.before!.status} → ${c.after!.status}`);
      else propValue.push(`${what} ${valueChange(c.before!.value, c.after!.value)}`);
    }
  }
  if (statusChanged.length > 0) out.push(diff(GATEWAY.statusChanged, 'error', 'stripped', `via changed the status of ${plural(statusChanged.length, 'response')}: ${examples(statusChanged)}`, { changes: statusChanged.slice(0, 20) }));
  if (propsDropped.length > 0) out.push(diff(GATEWAY.propertiesChanged, 'error', 'stripped', `via dropped ${plural(propsDropped.length, 'property', 'properties')}: ${examples(propsDropped)}`, { dropped: propsDropped.slice(0, 20) }));
  if (propsAdded.length > 0) out.push(diff(GATEWAY.propertiesChanged, 'error', 'stripped', `via added ${plural(propsAdded.length, 'property', 'properties')}: ${examples(propsAdded)}`, { added: propsAdded.slice(0, 20) }));
  if (propStatus.length > 0) out.push(diff(GATEWAY.propertiesChanged, 'error', 'stripped', `via changed ${plural(propStatus.length, 'property status', 'property statuses')}: ${examples(propStatus)}`, { changes: propStatus.slice(0, 20) }));
  if (propValue.length > 0) out.push(diff(GATEWAY.propertiesChanged, 'error', 'stripped', `via changed ${plural(propValue.length, 'property value')}: ${examples(propValue)}`, { changes: propValue.slice(0, 20) }));
}
