// The detail tabs of one flow as lines of text: Summary, Findings, Resources, Request, Response,
// Raw. PURE: a full Flow in, StyledLine[] out; the blessed layer only colours and scrolls them.
import type { Finding, Flow, HeldState, Resource, Severity } from '../src/types.js';
import { firstHeader, headerFields } from '../src/http/headers.js';
import { asText, formatClock, formatCount, formatDuration, formatSize, headerPairs, hexDump } from './format.js';
import type { CellStyle, StyledLine } from './view-model.js';
import { looksLikeXml, renderPlainBody, renderXmlBody, type BodyMark } from './xml-view.js';

export const tabs = ['Summary', 'Findings', 'Resources', 'Request', 'Response', 'Raw'] as const;
export type Tab = (typeof tabs)[number];

export type ResourceSort = 'failures' | 'index' | 'href' | 'status';
export const resourceSorts: readonly ResourceSort[] = ['failures', 'index', 'href', 'status'];

export interface DetailOptions {
  utc?: boolean;
  /** Width available for text, so long raw lines wrap where the caret can still be seen. */
  width?: number;
  resourceSort?: ResourceSort;
  /** How the Request, Response and Raw tabs show bodies (`m`); each tab's default when absent or not offered there. */
  bodyMode?: BodyMode;
  /** The time now (epoch ms), for how long a held exchange's client has waited. */
  now?: number;
}

/**
 * Body views (`m` cycles): pretty (indented XML, numbered text), text (the characters as they are),
 * hex (offsets, bytes, ASCII), and for a gzip/br response wire (the compressed bytes as relayed)
 * next to the decoded copy the other views show.
 */
export type BodyMode = 'pretty' | 'text' | 'hex' | 'wire';

/** The body views a tab offers, its default first; none for tabs without bodies. */
export function bodyModes(flow: Flow, tab: Tab): BodyMode[] {
  if (tab === 'Request') return ['pretty', 'text', 'hex'];
  if (tab === 'Response') return flow.response?.decoded ? ['pretty', 'text', 'hex', 'wire'] : ['pretty', 'text', 'hex'];
  if (tab === 'Raw') return ['text', 'hex'];
  return [];
}

/** The view a tab shows for the chosen mode: the mode when the tab offers it, else the tab's default. */
export function effectiveBodyMode(flow: Flow, tab: Tab, mode: BodyMode | undefined): BodyMode | null {
  const modes = bodyModes(flow, tab);
  if (modes.length === 0) return null;
  return mode !== undefined && modes.includes(mode) ? mode : modes[0]!;
}

/** `m`: the next view the tab offers after the one it shows. */
export function nextBodyMode(flow: Flow, tab: Tab, mode: BodyMode | undefined): BodyMode | null {
  const modes = bodyModes(flow, tab);
  const current = effectiveBodyMode(flow, tab, mode);
  if (current === null) return null;
  return modes[(modes.indexOf(current) + 1) % modes.length]!;
}

/** "hex", "pretty, decoded gzip", "wire gzip": the tab line's word for the view shown. */
export function bodyModeLabel(flow: Flow, tab: Tab, mode: BodyMode | undefined): string | null {
  const shown = effectiveBodyMode(flow, tab, mode);
  if (shown === null) return null;
  const encoding = flow.response ? (firstHeader(flow.response.rawHeaders, 'Content-Encoding') ?? 'encoded') : 'encoded';
  if (shown === 'wire') return `wire ${encoding}`;
  if (tab === 'Response' && flow.response?.decoded) return `${shown}, decoded ${encoding}`;
  return shown;
}

/** A body in one view: the pretty view is the Response tab's usual one; text and hex show the bytes as they are. */
export function renderBodyAs(bytes: Buffer, mode: Exclude<BodyMode, 'wire'>, options: { contentType?: string; marks?: BodyMark[]; width?: number; wellFormed?: boolean } = {}): StyledLine[] {
  if (bytes.length === 0) return [{ text: '(no body)', style: 'dim' }];
  if (mode === 'pretty') return bodyLines(bytes, options.contentType, options.marks ?? [], options.width, options.wellFormed);
  if (mode === 'hex') return [{ text: `${formatCount(bytes.length)} bytes, hex:`, style: 'dim' }, ...hexDump(bytes, hexLines).map((t) => ({ text: t }))];
  const text = asText(bytes);
  if (text === null) return [{ text: `binary body, ${formatCount(bytes.length)} bytes (no text view), hex:`, style: 'dim' }, ...hexDump(bytes, hexLines).map((t) => ({ text: t }))];
  return text.split('\n').slice(0, 100_000).map((t) => ({ text: t.replace(/\r$/, '␍') }));
}

// The hex view shows the first MiB (16 bytes a line); the text views are where a whole body is read.
const hexLines = 65_536;

export function renderTab(flow: Flow, tab: Tab, options: DetailOptions = {}): StyledLine[] {
  switch (tab) {
    case 'Summary':
      return summaryTab(flow, options);
    case 'Findings':
      return findingsTab(flow);
    case 'Resources':
      return resourcesTab(flow, options.resourceSort ?? 'failures');
    case 'Request':
      return requestTab(flow, options);
    case 'Response':
      return responseTab(flow, options);
    case 'Raw':
      return rawTab(flow, effectiveBodyMode(flow, 'Raw', options.bodyMode) === 'hex');
  }
}

/** "Summary  Findings (3)  Resources 2/120 …": the tab bar's labels with counts. */
export function tabLabels(flow: Flow, active?: { tab: Tab; bodyMode?: BodyMode }): Record<Tab, string> {
  const findings = flow.analysis?.findings.length ?? 0;
  const summary = flow.analysis?.summary;
  const labels: Record<Tab, string> = {
    Summary: 'Summary',
    Findings: findings > 0 ? `Findings (${findings})` : 'Findings',
    Resources: summary ? `Resources (${summary.failedResources}/${summary.resources})` : 'Resources',
    Request: 'Request',
    Response: 'Response',
    Raw: 'Raw',
  };
  const mode = active ? bodyModeLabel(flow, active.tab, active.bodyMode) : null;
  if (active && mode !== null) labels[active.tab] = `${labels[active.tab]} [${mode}]`;
  return labels;
}

// Headers that say which software sat between client and origin: what a gateway bug report needs.
const fingerprintHeaders = [
  'Server', 'Via', 'X-Cache', 'X-Cache-Status', 'X-Cache-Hits', 'CF-Ray', 'CF-Cache-Status', 'Age',
  'X-Served-By', 'X-Varnish', 'X-Amz-Cf-Id', 'X-Amz-Cf-Pop', 'X-Azure-Ref', 'X-Proxy-Cache', 'X-Powered-By',
  'X-Forwarded-For', 'X-Envoy-Upstream-Service-Time', 'Alt-Svc', 'DAV', 'MS-Author-Via',
];

const heading = (text: string): StyledLine => ({ text, style: 'heading' });
const blank: StyledLine = { text: '' };
const field = (name: string, value: string, style?: StyledLine['style']): StyledLine => ({ text: `  ${name.padEnd(20)} ${value}`, style });

/** The Summary's word on a held exchange: what waits, since when, and whether its client still does. */
function heldLines(held: HeldState, now = held.waitingSince): StyledLine[] {
  const waited = formatDuration(Math.max(0, now - held.waitingSince));
  const what =
    held.what === 'request'
      ? 'the request waits in davtap: nothing of it was sent to the server'
      : 'the response waits in davtap: the client has been sent nothing of it';
  const lines = [field('held', what, 'held'), field('client', `waiting ${waited} (patience ${formatDuration(held.patienceMs)})`, held.pastPatience ? 'warning' : undefined)];
  if (held.clientGone) lines.push(field('', 'the client has gone (its connection closed): a (resume) or X (kill) now sends nothing', 'error'));
  else if (held.pastPatience) lines.push(field('', 'past the patience: the client may give up before it is answered', 'warning'));
  else lines.push(field('', held.what === 'request' ? 'a sends it on, X answers 502 without sending it' : 'a delivers it, X closes the client connection without it', 'held'));
  return lines;
}

function summaryTab(flow: Flow, options: DetailOptions): StyledLine[] {
  const { request, response, outcome, timings } = flow;
  const lines: StyledLine[] = [heading(`${request.method} ${request.url}`)];
  lines.push(field('status', response ? `${response.status} ${response.reason}` : 'no response', response ? statusStyle(response.status) : 'error'));
  if (flow.held) lines.push(...heldLines(flow.held, options.now));
  else {
    const outcomeText = [outcome.kind, outcome.code, outcome.message].filter(Boolean).join(' — ');
    lines.push(field('outcome', outcomeText, outcome.kind === 'complete' ? 'ok' : 'error'));
  }
  if (flow.injected) lines.push(field('fault injected', flow.injected, 'injected'));
  if (flow.replayOf) lines.push(field('replay of', `flow ${flow.replayOf} (sent again by davtap)`));
  if (flow.leg === 'back') lines.push(field('sandwich', "back leg: the gateway's request to the origin"));
  if (flow.leg === 'front') lines.push(field('sandwich', flow.pairedWith ? `front leg, paired with back flow ${flow.pairedWith}; gateway differences are MS8xx findings` : 'front leg, answered by the gateway itself (no back flow)', flow.pairedWith ? undefined : 'warning'));
  if (flow.analysis) lines.push(field('207', flow.analysis.summary.text, flow.analysis.summary.failedResources > 0 ? 'error' : 'ok'));
  const counts = flow.analysis?.summary.findings;
  if (counts) lines.push(field('findings', `${counts.error} error, ${counts.warning} warning, ${counts.info} info`, counts.error > 0 ? 'error' : counts.warning > 0 ? 'warning' : undefined));
  lines.push(blank, heading('Timings'));
  lines.push(field('started', `${new Date(timings.start).toISOString().slice(0, 10)} ${formatClock(timings.start, options.utc)}`));
  if (timings.firstByte !== null) lines.push(field('first byte after', formatDuration(timings.firstByte - timings.start)));
  if (timings.end !== null) lines.push(field('total', formatDuration(timings.end - timings.start)));
  lines.push(blank, heading('Framing'));
  lines.push(field('mode', flow.mode));
  lines.push(field('client', clientSide(flow.client)));
  const upstream = upstreamSide(request.url);
  if (upstream !== null) lines.push(field('upstream', upstream));
  lines.push(field('request body', bodyLine(request.body.bytesSeen, request.body.captureComplete)));
  if (response) {
    lines.push(field('response framing', response.framing));
    if (response.declaredLength !== null) lines.push(field('declared length', `${formatCount(response.declaredLength)} bytes`));
    const short = response.declaredLength !== null && response.body.bytesSeen < response.declaredLength;
    lines.push(field('response body', bodyLine(response.body.bytesSeen, response.body.captureComplete), short ? 'error' : undefined));
    const encoding = firstHeader(response.rawHeaders, 'Content-Encoding');
    if (encoding) lines.push(field('content-encoding', encoding));
    if (response.decoded) lines.push(field('decoded', bodyLine(response.decoded.bytesSeen, response.decoded.captureComplete)));
    if (response.decodeError) lines.push(field('decode error', response.decodeError, 'error'));
    const storage = (flow as Flow & { storage?: StorageInfo }).storage;
    if (storage?.pruned) lines.push(field('stored bodies', `pruned by --max-db-size (${formatCount(storage.prunedBytes)} bytes removed)`, 'warning'));
    else if (storage && storage.responseStored < response.body.bytesSeen) lines.push(field('stored bodies', `first ${formatCount(storage.responseStored)} bytes of the response kept by the store`, 'dim'));
    const type = firstHeader(response.rawHeaders, 'Content-Type');
    if (type) lines.push(field('content-type', type));
    for (const info of response.informational) lines.push(field('informational', String(info.status), 'dim'));
    const fingerprint = fingerprintHeaders.flatMap((name) => headerFields(response.rawHeaders, name));
    lines.push(blank, heading('Gateway fingerprint'));
    if (fingerprint.length === 0) lines.push({ text: '  (no Server, Via, cache or CDN headers)', style: 'dim' });
    for (const [k, v] of fingerprint) lines.push(field(k, v));
  }
  return lines;
}

// An SNI name is whatever the client sent: control characters would move the terminal's cursor.
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/g;

/** "127.0.0.1:5123 over TLS (SNI dav.example)", or "…, plain HTTP": how the client reached davtap. */
export function clientSide(client: Flow['client']): string {
  const address = `${client.address}:${client.port}`;
  if (!client.tls) return `${address}, plain HTTP`;
  const sni = client.tls.sni;
  return `${address} over TLS (${sni !== undefined && sni !== '' ? `SNI ${sni.replace(controlChars, '?')}` : 'no SNI'})`;
}

/** "https://dav.example.org over TLS", "http://127.0.0.1:8081, plain HTTP"; null when the URL names no server (a refused request). */
export function upstreamSide(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol === 'https:') return `${u.origin} over TLS`;
  if (u.protocol === 'http:') return `${u.origin}, plain HTTP`;
  return null;
}

/** What the store says it kept of a flow's bodies (present on flows read back from the store). */
interface StorageInfo {
  responseStored: number;
  pruned: boolean;
  prunedBytes: number;
}

function bodyLine(seen: number, complete: boolean): string {
  return `${formatCount(seen)} bytes (${formatSize(seen)})${complete ? '' : ', capture capped (not a server fault)'}`;
}

function statusStyle(status: number): CellStyle {
  return status >= 500 ? 'server-error' : status >= 400 ? 'client-error' : status >= 300 ? 'redirect' : 'ok';
}

const severityRank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
const severityLetter: Record<Severity, string> = { error: 'E', warning: 'W', info: 'I' };

function findingsTab(flow: Flow): StyledLine[] {
  const findings = flow.analysis?.findings ?? [];
  if (!flow.analysis) return [{ text: 'This flow was not analyzed (only 207 Multi-Status bodies are).', style: 'dim' }];
  if (findings.length === 0) return [{ text: 'No findings: the 207 body passed every check.', style: 'ok' }];
  const sorted = [...findings].sort((a, b) => severityRank[a.severity] - severityRank[b.severity]);
  const lines: StyledLine[] = [];
  for (const f of sorted) {
    lines.push({ text: `[${severityLetter[f.severity]}] ${f.rule}  ${f.category}  blame ${f.blame}  ${f.message}`, style: f.severity });
    lines.push(...evidenceLines(f));
    lines.push(blank);
  }
  return lines;
}

function evidenceLines(f: Finding): StyledLine[] {
  const out: StyledLine[] = [];
  const e = f.evidence;
  const where = [
    e.line !== undefined ? `line ${e.line}${e.column !== undefined ? `:${e.column}` : ''}` : '',
    e.offset !== undefined ? `byte ${formatCount(e.offset)}` : '',
    e.path ? `in ${e.path}` : '',
  ].filter(Boolean);
  if (where.length > 0) out.push({ text: `      at ${where.join(', ')}`, style: 'dim' });
  if (e.href) out.push({ text: `      href ${e.href}`, style: 'dim' });
  if (e.excerpt) out.push({ text: `      excerpt ${JSON.stringify(e.excerpt)}`, style: 'dim' });
  for (const [k, v] of Object.entries(e)) {
    if (['offset', 'line', 'column', 'path', 'href', 'excerpt'].includes(k) || v === undefined) continue;
    out.push({ text: `      ${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`, style: 'dim' });
  }
  if (f.consequenceOf) out.push({ text: `      consequence of ${f.consequenceOf}`, style: 'dim' });
  if (f.injected) out.push({ text: `      injected by ${f.injected}`, style: 'injected' });
  return out;
}

/** 0 = failed (4xx/5xx whole status, failing propstat, body ended inside it), 1 = only missing (404) properties, 2 = fine. */
export function resourceRank(r: Resource): 0 | 1 | 2 {
  if (!r.complete) return 0;
  if (r.status !== null) return r.status >= 400 ? 0 : 2;
  let missing = false;
  for (const p of r.propstats) {
    if (p.status === null) return 0;
    if (p.status === 404) missing = true;
    else if (p.status >= 400) return 0;
  }
  if (r.propstats.length === 0 && r.status === null) return 0;
  return missing ? 1 : 2;
}

/** Resources in display order; `failures` puts failed resources first, then missing properties, then the rest, each in body order. */
export function sortResources(resources: readonly Resource[], sort: ResourceSort): Resource[] {
  const list = [...resources];
  const worstStatus = (r: Resource): number => r.status ?? Math.max(0, ...r.propstats.map((p) => p.status ?? 999));
  switch (sort) {
    case 'failures':
      return list.sort((a, b) => resourceRank(a) - resourceRank(b) || a.index - b.index);
    case 'index':
      return list.sort((a, b) => a.index - b.index);
    case 'href':
      return list.sort((a, b) => (a.href < b.href ? -1 : a.href > b.href ? 1 : a.index - b.index));
    case 'status':
      return list.sort((a, b) => worstStatus(b) - worstStatus(a) || a.index - b.index);
  }
}

/** "200", "200 ×5, 404 ×2", "(none)": what one resource answered. */
export function resourceStatusText(r: Resource): string {
  if (r.status !== null) return String(r.status);
  if (r.propstats.length === 0) return '(none)';
  return r.propstats.map((p) => `${p.status ?? '?'} ×${p.props.length}`).join(', ');
}

/** Properties that did not come back 2xx, shortened from Clark notation ({DAV:}getetag -> getetag). */
export function failedProperties(r: Resource): string[] {
  return r.propstats
    .filter((p) => p.status === null || p.status >= 300)
    .flatMap((p) => p.props.map((name) => `${shortName(name)} ${p.status ?? '?'}`));
}

const shortName = (clark: string): string => clark.replace(/^\{[^}]*\}/, '');

function resourcesTab(flow: Flow, sort: ResourceSort): StyledLine[] {
  const resources = flow.analysis?.resources;
  if (!resources) return [{ text: 'No resource ledger: this flow was not analyzed.', style: 'dim' }];
  if (resources.length === 0) return [{ text: 'The 207 body holds no <response> elements.', style: 'warning' }];
  const lines: StyledLine[] = [
    { text: `${flow.analysis!.summary.text}   sorted by ${sort} (s: next sort)`, style: 'heading' },
    { text: `   #  status            href  [failed properties]`, style: 'dim' },
  ];
  for (const r of sortResources(resources, sort)) {
    const rank = resourceRank(r);
    const style: CellStyle = rank === 0 ? 'error' : rank === 1 ? 'warning' : 'normal';
    const failed = failedProperties(r);
    const flags = [r.complete ? '' : '(body ended inside this response)', r.error?.length ? `error ${r.error.map(shortName).join(',')}` : '', r.description ?? '']
      .filter(Boolean)
      .join(' ');
    const text = `${String(r.index).padStart(4)}  ${resourceStatusText(r).padEnd(16)}  ${r.href}${failed.length ? `  [${failed.join(', ')}]` : ''}${flags ? `  ${flags}` : ''}`;
    lines.push({ text, style });
  }
  return lines;
}

function requestTab(flow: Flow, options: DetailOptions): StyledLine[] {
  const { request } = flow;
  const lines: StyledLine[] = [heading(`${request.method} ${request.target} HTTP/${request.httpVersion}`)];
  for (const [k, v] of headerPairs(request.rawHeaders)) lines.push({ text: `${k}: ${v}` });
  lines.push(blank);
  const mode = effectiveBodyMode(flow, 'Request', options.bodyMode) as Exclude<BodyMode, 'wire'>;
  lines.push(...renderBodyAs(request.body.bytes, mode, { contentType: firstHeader(request.rawHeaders, 'Content-Type'), width: options.width }));
  if (!request.body.captureComplete) lines.push({ text: `… capture capped at ${formatCount(request.body.bytes.length)} of ${formatCount(request.body.bytesSeen)} bytes`, style: 'dim' });
  return lines;
}

function responseTab(flow: Flow, options: DetailOptions): StyledLine[] {
  const { response } = flow;
  if (!response && flow.held) return [{ text: 'No response yet: the request is held in davtap (a sends it on, X kills it)', style: 'held' }];
  if (!response) return [{ text: `No response: ${flow.outcome.kind}${flow.outcome.message ? ` — ${flow.outcome.message}` : ''}`, style: 'error' }];
  const lines: StyledLine[] = [heading(`HTTP/${response.httpVersion} ${response.status} ${response.reason}`)];
  for (const [k, v] of headerPairs(response.rawHeaders)) lines.push({ text: `${k}: ${v}` });
  lines.push(blank);
  const mode = effectiveBodyMode(flow, 'Response', options.bodyMode)!;
  const encoding = firstHeader(response.rawHeaders, 'Content-Encoding') ?? 'encoded';
  if (mode === 'wire') {
    lines.push({ text: `(the ${encoding} bytes as relayed; m: the decoded copy)`, style: 'dim' });
    lines.push(...renderBodyAs(response.body.bytes, 'hex'));
    return lines;
  }
  const body = response.decoded ?? response.body;
  if (response.decoded) lines.push({ text: `(decoded copy of a ${encoding} body; m: other views, wire: the bytes as relayed)`, style: 'dim' });
  lines.push(...renderBodyAs(body.bytes, mode, { contentType: firstHeader(response.rawHeaders, 'Content-Type'), marks: bodyMarks(flow), width: options.width, wellFormed: knownWellFormed(flow) }));
  if (!body.captureComplete) lines.push({ text: `… capture capped at ${formatCount(body.bytes.length)} of ${formatCount(body.bytesSeen)} bytes (not a server fault)`, style: 'dim' });
  return lines;
}

/** Positions the analyzer found broken: shown under the raw body. */
export function bodyMarks(flow: Flow): BodyMark[] {
  return (flow.analysis?.findings ?? [])
    .filter((f) => (f.category === 'malformed' || f.category === 'truncation') && (f.evidence.line !== undefined || f.evidence.offset !== undefined))
    .filter((f) => f.consequenceOf === undefined)
    .map((f) => ({ line: f.evidence.line, column: f.evidence.column, offset: f.evidence.line === undefined ? f.evidence.offset : undefined, message: `${f.rule} ${f.message}` }));
}

/** The analyzer parsed the whole body and found it neither malformed nor cut. */
export function knownWellFormed(flow: Flow): boolean {
  const a = flow.analysis;
  if (!a || !flow.response || !(flow.response.decoded ?? flow.response.body).captureComplete) return false;
  return !a.findings.some((f) => f.category === 'malformed' || f.category === 'truncation' || f.rule === 'MS703');
}

function bodyLines(bytes: Buffer, contentType: string | undefined, marks: BodyMark[], width?: number, wellFormed = false): StyledLine[] {
  if (bytes.length === 0) return [{ text: '(no body)', style: 'dim' }];
  const text = asText(bytes);
  if (text === null) return [{ text: `binary body, ${formatCount(bytes.length)} bytes:`, style: 'dim' }, ...hexDump(bytes, 2048).map((t) => ({ text: t }))];
  const wrap = Math.max((width ?? 160) - 8, 40);
  const xml = /xml/i.test(contentType ?? '') || looksLikeXml(text);
  return (xml ? renderXmlBody(text, { marks, wrap, knownWellFormed: wellFormed }) : renderPlainBody(text, { wrap })).lines;
}

function rawTab(flow: Flow, hex = false): StyledLine[] {
  const { request, response } = flow;
  const lines: StyledLine[] = [heading('Request as received')];
  lines.push({ text: `${request.method} ${request.target} HTTP/${request.httpVersion}` });
  for (const [k, v] of headerPairs(request.rawHeaders)) lines.push({ text: `${k}: ${v}` });
  lines.push(blank, ...(hex ? renderBodyAs(request.body.bytes, 'hex') : rawBytes(request.body.bytes)));
  lines.push(blank, heading('Response as relayed'));
  if (!response) {
    lines.push(flow.held ? { text: '(no response yet: the request is held in davtap)', style: 'held' } : { text: `(no response: ${flow.outcome.kind})`, style: 'error' });
    return lines;
  }
  for (const info of response.informational) {
    lines.push({ text: `HTTP/${response.httpVersion} ${info.status}`, style: 'dim' });
    for (const [k, v] of headerPairs(info.rawHeaders)) lines.push({ text: `${k}: ${v}`, style: 'dim' });
  }
  lines.push({ text: `HTTP/${response.httpVersion} ${response.status} ${response.reason}` });
  for (const [k, v] of headerPairs(response.rawHeaders)) lines.push({ text: `${k}: ${v}` });
  lines.push(blank, ...(hex ? renderBodyAs(response.body.bytes, 'hex') : rawBytes(response.body.bytes)));
  if (response.rawTrailers.length > 0) {
    lines.push(blank, heading('Trailers'));
    for (const [k, v] of headerPairs(response.rawTrailers)) lines.push({ text: `${k}: ${v}` });
  }
  return lines;
}

// The Raw tab shows the start of a body as it is; the Response tab is where a whole body is read.
const rawTabBytes = 1024 * 1024;

function rawBytes(bytes: Buffer): StyledLine[] {
  if (bytes.length === 0) return [{ text: '(no body bytes)', style: 'dim' }];
  const head = bytes.subarray(0, rawTabBytes);
  const text = asText(head);
  const rest = bytes.length - head.length;
  const more: StyledLine[] = rest > 0 ? [{ text: `… ${formatCount(rest)} more bytes not shown`, style: 'dim' }] : [];
  if (text === null) return [{ text: `${formatCount(bytes.length)} bytes, hex:`, style: 'dim' }, ...hexDump(bytes, 2048).map((t) => ({ text: t }))];
  return [...text.split('\n').slice(0, 20_000).map((t) => ({ text: t.replace(/\r$/, '␍') })), ...more];
}

/**
 * Lines wider than the screen continue on the next line, indented under their text, so that long
 * messages and evidence are read whole rather than cut. Raw bodies arrive already wrapped.
 */
export function wrapLines(lines: readonly StyledLine[], width: number): StyledLine[] {
  const w = Math.max(width, 20);
  const out: StyledLine[] = [];
  for (const line of lines) {
    if (line.text.length <= w) {
      out.push(line);
      continue;
    }
    const indent = Math.min(/^ */.exec(line.text)![0].length + 4, Math.floor(w / 2));
    out.push({ ...line, text: line.text.slice(0, w) });
    for (let at = w; at < line.text.length; at += w - indent) {
      out.push({ ...line, text: ' '.repeat(indent) + line.text.slice(at, at + w - indent) });
    }
  }
  return out;
}
