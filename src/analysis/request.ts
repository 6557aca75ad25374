// What the analyzer needs to know about the request behind a 207: method, Depth, the PROPFIND
// body kind and requested property names, multiget hrefs, sync-collection token and limit,
// Prefer/Brief and Nextcloud's pagination headers. Parsed once per exchange; a request
// body that does not parse simply yields less context (never an exception).
import type { Mode, RequestContext } from '../types.js';
import { joinedHeader, listTokens } from '../http/headers.js';
import { XmlReader } from './xml-reader.js';

export const DAV = 'DAV:';
export const CALDAV = 'urn:ietf:params:xml:ns:caldav';
export const CARDDAV = 'urn:ietf:params:xml:ns:carddav';

export type PropfindKind = 'prop' | 'allprop' | 'propname' | 'none';

export interface RequestInfo {
  method: string;
  /** Path part of the request target, without query. */
  path: string;
  scheme?: 'http' | 'https';
  /** Lower-cased authority the client used (Host or absolute-form), when known. */
  authority?: string;
  /** '0', '1', 'infinity', '1,noroot', … as sent (lower-cased), or undefined when absent. */
  depth?: string;
  /** Root element of the request body in Clark notation, e.g. {DAV:}propfind. */
  bodyRoot?: string;
  propfind: PropfindKind;
  /** Properties named in the request's DAV:prop (PROPFIND, REPORT), Clark notation. */
  requestedProps: string[];
  /** PROPFIND allprop with DAV:include. */
  includeProps: string[];
  /** Hrefs of a calendar-/addressbook-multiget. */
  multigetHrefs: string[];
  isMultiget: boolean;
  isSyncCollection: boolean;
  syncToken?: string;
  syncLimit?: number;
  preferMinimal: boolean;
  preferNoRoot: boolean;
  /** Windows' MS-WDV `Depth: 1,noroot`. */
  depthNoRoot: boolean;
  ncPaginate: boolean;
  ncPaginateTotal?: number;
  acceptEncoding: string[];
  /** False when no request headers were given at all (a bare body checked offline). */
  headersKnown: boolean;
  /** Destination header of COPY/MOVE. */
  destination?: string;
  /** Tokens of the request's DAV header (e.g. `bind`). */
  davOptions: string[];
  /**
   * The request's calendar-data/address-data names the properties it wants (C:prop or CR:prop
   * inside it, RFC 4791 §9.6.4, RFC 6352 §10.4.2): payloads may lack the others.
   */
  payloadPartial?: boolean;
  /** Why the request body could not be read, when it could not. */
  bodyError?: string;
  /**
   * The request body is meant to be XML: an XML Content-Type, or a DAV method whose body is XML
   * (PROPFIND, PROPPATCH, REPORT…) sent without one. A `bodyError` then is the client's fault.
   */
  xmlBody: boolean;
  /** Properties a PROPPATCH sets or removes, once per instruction (a name repeats when the request repeats it). */
  patchedProps: string[];
}

/** Methods whose request body is an XML document (RFC 4918, 3253, 3744, 4791, 5323). */
const XML_BODY_METHODS = new Set(['PROPFIND', 'PROPPATCH', 'REPORT', 'SEARCH', 'LOCK', 'ACL', 'MKCALENDAR', 'MKADDRESSBOOK']);

const clark = (uri: string, local: string): string => `{${uri}}${local}`;

export function pathOfTarget(target: string): string {
  let t = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || '/';
  const q = t.search(/[?#]/);
  return q >= 0 ? t.slice(0, q) : t;
}

export function parseRequest(req: RequestContext): RequestInfo {
  const raw = req.rawHeaders ?? [];
  const depth = joinedHeader(raw, 'Depth')?.trim().toLowerCase().replace(/\s+/g, '');
  const prefer = listTokens(joinedHeader(raw, 'Prefer'));
  const brief = joinedHeader(raw, 'Brief')?.trim().toLowerCase();
  const paginate = joinedHeader(raw, 'X-NC-Paginate')?.trim().toLowerCase();
  const total = Number(joinedHeader(raw, 'X-NC-Paginate-Total'));
  let authority = req.authority ?? joinedHeader(raw, 'Host');
  const destination = joinedHeader(raw, 'Destination')?.trim();
  let scheme = req.scheme;
  const abs = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(req.target ?? '');
  if (abs) {
    authority ??= abs[2];
    const s = abs[1]!.toLowerCase();
    if (scheme === undefined && (s === 'http' || s === 'https')) scheme = s;
  }
  const info: RequestInfo = {
    method: (req.method ?? '').toUpperCase(),
    path: pathOfTarget(req.target ?? '/') || '/',
    ...(scheme !== undefined ? { scheme } : {}),
    ...(authority !== undefined ? { authority: authority.trim().toLowerCase() } : {}),
    ...(depth !== undefined ? { depth } : {}),
    propfind: 'none',
    requestedProps: [],
    includeProps: [],
    multigetHrefs: [],
    isMultiget: false,
    isSyncCollection: false,
    preferMinimal: prefer.includes('return=minimal') || brief === 't',
    preferNoRoot: prefer.includes('depth-noroot'),
    depthNoRoot: depth !== undefined && depth.includes('noroot'),
    ncPaginate: paginate === 'true' || paginate === '1',
    ...(Number.isFinite(total) && joinedHeader(raw, 'X-NC-Paginate-Total') !== undefined ? { ncPaginateTotal: total } : {}),
    acceptEncoding: listTokens(joinedHeader(raw, 'Accept-Encoding')).map((t) => t.split(';')[0]!.trim()),
    headersKnown: raw.length > 0,
    davOptions: listTokens(joinedHeader(raw, 'DAV')),
    ...(destination !== undefined ? { destination } : {}),
    xmlBody: xmlBodyExpected((req.method ?? '').toUpperCase(), joinedHeader(raw, 'Content-Type')),
    patchedProps: [],
  };
  if (info.method === 'PROPFIND') info.propfind = 'allprop'; // an empty PROPFIND body means allprop (RFC 4918 §9.1)
  const body = req.body;
  if (body && body.length > 0 && body.length <= 4 * 1024 * 1024) {
    if (body.length <= MEMO_MAX_BODY) readBodyMemo(body, info);
    else readBody(body, info);
  }
  return info;
}

/** What readBody() sets on a RequestInfo: a function of the method and the body bytes alone. */
type BodyFacts = Pick<RequestInfo, 'bodyRoot' | 'propfind' | 'requestedProps' | 'includeProps' | 'multigetHrefs' | 'isMultiget' | 'isSyncCollection' | 'syncToken' | 'syncLimit' | 'payloadPartial' | 'bodyError' | 'patchedProps'>;

/**
 * A client sends the same few small bodies again and again (a sync client's PROPFIND, a poller's
 * REPORT): their reading is kept, keyed by method and bytes, so that a flood of them does not read
 * each one afresh. Bounded in entries and in body size; arrays are copied out, never shared.
 */
const MEMO_MAX_BODY = 4096;
const MEMO_ENTRIES = 64;
const bodyMemo = new Map<string, BodyFacts>();

function readBodyMemo(body: Uint8Array, info: RequestInfo): void {
  const key = `${info.method} ${Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1')}`;
  let facts = bodyMemo.get(key);
  if (facts === undefined) {
    readBody(body, info);
    facts = {
      propfind: info.propfind,
      requestedProps: info.requestedProps.slice(),
      includeProps: info.includeProps.slice(),
      multigetHrefs: info.multigetHrefs.slice(),
      isMultiget: info.isMultiget,
      isSyncCollection: info.isSyncCollection,
      patchedProps: info.patchedProps.slice(),
    };
    for (const k of ['bodyRoot', 'syncToken', 'syncLimit', 'payloadPartial', 'bodyError'] as const) if (info[k] !== undefined) (facts as Record<string, unknown>)[k] = info[k];
    if (bodyMemo.size >= MEMO_ENTRIES) bodyMemo.delete(bodyMemo.keys().next().value!);
    bodyMemo.set(key, facts);
    return;
  }
  Object.assign(info, facts);
  info.requestedProps = facts.requestedProps.slice();
  info.includeProps = facts.includeProps.slice();
  info.multigetHrefs = facts.multigetHrefs.slice();
  info.patchedProps = facts.patchedProps.slice();
}

function xmlBodyExpected(method: string, contentType: string | undefined): boolean {
  const essence = contentType?.split(';')[0]!.trim().toLowerCase();
  if (essence === undefined || essence === '') return XML_BODY_METHODS.has(method);
  return essence === 'application/xml' || essence === 'text/xml' || essence.endsWith('+xml');
}

/** The state of one request body being read; the reader's handlers write into it. */
interface BodyReading {
  info: RequestInfo;
  stack: string[];
  text: string;
  failed?: string;
}

/** Not streaming: each decode() starts afresh, so one decoder serves every request. */
const bodyDecoder = new TextDecoder();

function onRequestOpen(r: BodyReading, name: string): void {
  const { info, stack } = r;
  const parent = stack[stack.length - 1];
  const grand = stack[stack.length - 2];
  if (stack.length === 0) {
    info.bodyRoot = name;
    if (name === clark(CALDAV, 'calendar-multiget') || name === clark(CARDDAV, 'addressbook-multiget')) info.isMultiget = true;
    if (name === clark(DAV, 'sync-collection')) info.isSyncCollection = true;
  } else if (parent === clark(DAV, 'prop') && stack.length === 2) {
    info.requestedProps.push(name);
  } else if (parent === clark(DAV, 'prop') && stack.length === 3 && info.bodyRoot === clark(DAV, 'propertyupdate') && (grand === clark(DAV, 'set') || grand === clark(DAV, 'remove'))) {
    info.patchedProps.push(name);
  } else if (parent === clark(DAV, 'include') && grand === info.bodyRoot) {
    info.includeProps.push(name);
  }
  if (stack.length === 1 && info.bodyRoot === clark(DAV, 'propfind')) {
    if (name === clark(DAV, 'prop')) info.propfind = 'prop';
    else if (name === clark(DAV, 'propname')) info.propfind = 'propname';
    else if (name === clark(DAV, 'allprop')) info.propfind = 'allprop';
  }
  if ((name === clark(CALDAV, 'prop') || name === clark(CARDDAV, 'prop')) && stack.some((s) => s === clark(CALDAV, 'calendar-data') || s === clark(CARDDAV, 'address-data'))) info.payloadPartial = true;
  stack.push(name);
  r.text = '';
}

function onRequestClose(r: BodyReading): void {
  const { info, stack, text } = r;
  const name = stack.pop();
  if (stack.length === 1) {
    if (name === clark(DAV, 'href') && info.isMultiget) info.multigetHrefs.push(text.trim());
    if (name === clark(DAV, 'sync-token') && info.isSyncCollection) info.syncToken = text.trim();
  }
  if (name === clark(DAV, 'nresults') && stack[stack.length - 1] === clark(DAV, 'limit')) {
    const n = Number(text.trim());
    if (Number.isInteger(n)) info.syncLimit = n;
  }
  r.text = '';
}

function readBody(body: Uint8Array, info: RequestInfo): void {
  const reading: BodyReading = { info, stack: [], text: '' };
  // The 207 scan's reader: its tokenizer while the body is well-formed, saxes from the first doubt.
  const reader = new XmlReader({
    onOpen: (_name, _prefix, local, uri) => onRequestOpen(reading, clark(uri, local)),
    onClose: () => onRequestClose(reading),
    onText: (text, start, end) => {
      if (reading.text.length < 8192) reading.text += text.slice(start, end);
    },
    onDoctype: () => {},
    onPI: () => {},
    onError: (message) => {
      reading.failed ??= message;
    },
  });
  try {
    const text = bodyDecoder.decode(body);
    reader.write(text, 0, text.length === body.length);
    reader.close();
  } catch (e) {
    reading.failed ??= e instanceof Error ? e.message : String(e);
  } finally {
    reader.release();
  }
  // Only PROPFIND with a prop list narrows requestedProps; other bodies keep what they named.
  if (info.bodyRoot === clark(DAV, 'propfind') && info.propfind !== 'prop') info.requestedProps = [];
  if (reading.failed !== undefined) info.bodyError = reading.failed;
}

/**
 * The scheme of the URL the client used. In reverse mode that is davtap's own listener, which
 * speaks https when the client's connection was TLS, whatever the upstream speaks; in forward mode
 * the client named the server's URL itself. Undefined when the URL cannot be read.
 */
export function clientScheme(mode: Mode, upstreamUrl: string, clientTls: boolean): 'http' | 'https' | undefined {
  if (mode === 'reverse') return clientTls ? 'https' : 'http';
  if (/^https:/i.test(upstreamUrl)) return 'https';
  return /^http:/i.test(upstreamUrl) ? 'http' : undefined;
}

/** How far into a request body the root element is looked for: prologs are short. */
const reportNameWindow = 4096;

/**
 * The local name of a request body's root element (`calendar-query`, `sync-collection`,
 * `expand-property`, …): what names a REPORT in the flow list. Reads the prolog (XML declaration,
 * comments, processing instructions, a DOCTYPE, never expanded) and the first start tag only;
 * null when the body is empty, not XML, or its root is not a plain XML name.
 */
export function reportName(body: Uint8Array | null | undefined): string | null {
  if (!body || body.length === 0) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(body.subarray(0, reportNameWindow));
  let at = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    while (at < text.length && /\s/.test(text[at]!)) at++;
    if (text[at] !== '<') return null;
    let end: number;
    if (text.startsWith('<?', at)) end = text.indexOf('?>', at + 2) + 2;
    else if (text.startsWith('<!--', at)) end = text.indexOf('-->', at + 4) + 3;
    else if (text.startsWith('<!', at)) end = doctypeEnd(text, at);
    else break;
    if (end <= at + 1) return null;
    at = end;
  }
  const name = /^<([^\s/>]+)/.exec(text.slice(at, at + 256))?.[1];
  if (name === undefined) return null;
  const local = name.slice(name.indexOf(':') + 1);
  return /^[A-Za-z_][\w.-]*$/.test(local) ? local : null;
}

/** Just past a `<!DOCTYPE …>` starting at `at`, its internal subset skipped whole; 0 when it does not end. */
function doctypeEnd(text: string, at: number): number {
  let depth = 0;
  for (let i = at + 2; i < text.length; i++) {
    const ch = text[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === '>' && depth <= 0) return i + 1;
  }
  return 0;
}
