// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) of recorded flows: what browser
// devtools, HAR viewers and `davtap check FILE.har` read. davtap's own data (findings, the
// resource ledger, wire encoding, how the transfer ended) rides in `_davtap` fields, which the
// spec reserves for custom data by the leading underscore. `log.pages` (empty) and `entry.cache`
// are always present: Firefox's importer iterates the one and Chrome's rejects an entry without
// the other.
import type { Finding, Flow, RawHeaders, Resource } from '../types.js';
import { firstHeader, headerValues } from '../http/headers.js';
import { bodyText, clientUrl, contentCoding, davtapVersion, httpVersion, PrivateFile, tlsSides } from './common.js';
import { REDACTED, redactFlow, type Redactor } from '../redact/index.js';

export interface HarHeader {
  name: string;
  value: string;
}
export interface HarCookie {
  name: string;
  value: string;
}
export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: string;
}
export interface HarTimings {
  blocked: number;
  dns: number;
  connect: number;
  send: number;
  wait: number;
  receive: number;
  ssl: number;
}
export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarCookie[];
    headers: HarHeader[];
    queryString: HarHeader[];
    postData?: { mimeType: string; text: string; _encoding?: 'base64' };
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarCookie[];
    headers: HarHeader[];
    content: HarContent;
    redirectURL: string;
    headersSize: number;
    bodySize: number;
    _error?: string;
  };
  cache: Record<string, never>;
  timings: HarTimings;
  serverIPAddress?: string;
  comment?: string;
  _davtap: HarDavtap;
}
export interface HarDavtap {
  id: string;
  mode: Flow['mode'];
  client: string;
  /**
   * Which side was TLS: the client's connection to davtap (with the SNI name it asked for, null
   * when none or plain), and davtap's to the server (null when the request named no server).
   * `request.url` is the URL as the client addressed it, with the upstream's scheme.
   */
  clientTls: boolean;
  clientSni: string | null;
  upstreamTls: boolean | null;
  /** The upstream URL when the client addressed davtap itself (reverse mode). */
  upstreamUrl?: string;
  outcome: Flow['outcome'];
  /** The response's content coding when `content` holds the decoded copy. */
  contentEncoding?: string;
  decodeError?: string;
  framing?: string;
  declaredLength?: number | null;
  /** False when the tap's or the store's cap dropped body bytes: the body here is a prefix. */
  requestComplete: boolean;
  responseComplete?: boolean;
  informational?: { status: number; headers: HarHeader[] }[];
  trailers?: HarHeader[];
  injected?: string;
  /** The id of the recorded flow this one re-sent (`davtap replay`). */
  replayOf?: string;
  /** Sandwich mode: the leg, and on a front flow its back flow's id (absent: the gateway answered itself). */
  leg?: 'front' | 'back';
  pairedWith?: string;
  summary?: string;
  findings: Finding[];
  resources: Resource[];
}
export interface HarLog {
  log: {
    version: '1.2';
    creator: { name: string; version: string; comment?: string };
    pages: never[];
    entries: HarEntry[];
    comment?: string;
  };
}

const pairs = (raw: RawHeaders): HarHeader[] => {
  const out: HarHeader[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push({ name: raw[i]!, value: raw[i + 1]! });
  return out;
};

/** Cookie pairs of `Cookie` headers; values are redacted when the header is. */
function requestCookies(raw: RawHeaders, redactor: Redactor): HarCookie[] {
  const out: HarCookie[] = [];
  for (const value of headerValues(raw, 'cookie')) {
    for (const part of value.split(';')) {
      const eq = part.indexOf('=');
      if (part.trim() === '') continue;
      const name = (eq < 0 ? part : part.slice(0, eq)).trim();
      out.push({ name, value: redactor.redactsHeader('cookie') ? REDACTED : eq < 0 ? '' : part.slice(eq + 1).trim() });
    }
  }
  return out;
}

function responseCookies(raw: RawHeaders, redactor: Redactor): HarCookie[] {
  const out: HarCookie[] = [];
  for (const value of headerValues(raw, 'set-cookie')) {
    const first = value.split(';')[0] ?? '';
    const eq = first.indexOf('=');
    out.push({ name: (eq < 0 ? first : first.slice(0, eq)).trim(), value: redactor.redactsHeader('set-cookie') ? REDACTED : eq < 0 ? '' : first.slice(eq + 1).trim() });
  }
  return out;
}

function queryString(url: string): HarHeader[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const hash = url.indexOf('#', q);
  const out: HarHeader[] = [];
  for (const part of url.slice(q + 1, hash < 0 ? undefined : hash).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push({ name: decodeLoose(eq < 0 ? part : part.slice(0, eq)), value: eq < 0 ? '' : decodeLoose(part.slice(eq + 1)) });
  }
  return out;
}

function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Bytes of the head as sent: start line, each `Name: value` line, the blank line. */
function headSize(startLine: string, raw: RawHeaders): number {
  let n = Buffer.byteLength(startLine, 'latin1') + 2;
  for (let i = 0; i + 1 < raw.length; i += 2) n += Buffer.byteLength(raw[i]!, 'latin1') + 2 + Buffer.byteLength(raw[i + 1]!, 'latin1') + 2;
  return n + 2;
}

function timingsOf(flow: Flow): { time: number; timings: HarTimings } {
  const { start, firstByte, end } = flow.timings;
  // davtap sees when the request arrived, when the response head did and when it all ended; the
  // connection phases belong to the client's side and are unknown (-1, as the spec asks).
  const wait = firstByte !== null ? Math.max(0, firstByte - start) : end !== null ? Math.max(0, end - start) : 0;
  const receive = firstByte !== null && end !== null ? Math.max(0, end - firstByte) : 0;
  return { time: wait + receive, timings: { blocked: -1, dns: -1, connect: -1, send: 0, wait, receive, ssl: -1 } };
}

/** One HAR entry for a flow, with credentials redacted as `redactor` says. */
export function harEntry(recorded: Flow, redactor: Redactor): HarEntry {
  // Headers and URLs are redacted again below from the recorded names (cookies, the upstream URL);
  // the redacted copy covers the rest: findings, evidence, the ledger, the outcome's message.
  const flow = redactFlow(recorded, redactor);
  const req = flow.request;
  const url = clientUrl(flow);
  const reqHeaders = redactor.headers(req.rawHeaders);
  const { time, timings } = timingsOf(flow);
  const redactedUrl = redactor.url(url);
  const request: HarEntry['request'] = {
    method: req.method,
    url: redactedUrl,
    httpVersion: httpVersion(req.httpVersion),
    cookies: requestCookies(recorded.request.rawHeaders, redactor),
    headers: pairs(reqHeaders),
    queryString: queryString(redactedUrl),
    headersSize: headSize(`${req.method} ${redactor.url(req.target)} ${httpVersion(req.httpVersion)}`, reqHeaders),
    bodySize: req.body.bytesSeen,
  };
  if (req.body.bytes.length > 0 || req.body.bytesSeen > 0) {
    const body = bodyText(req.body.bytes);
    // HAR 1.2 has no encoding field on postData: a binary body is base64, said in a custom field.
    request.postData = { mimeType: firstHeader(req.rawHeaders, 'content-type') ?? '', text: body.text, ...(body.encoding ? { _encoding: body.encoding } : {}) };
  }

  const davtap: HarDavtap = {
    id: flow.id,
    mode: flow.mode,
    client: `${flow.client.address}:${flow.client.port}`,
    ...tlsSides(flow),
    outcome: flow.outcome,
    requestComplete: req.body.captureComplete,
    findings: flow.analysis?.findings ?? [],
    resources: flow.analysis?.resources ?? [],
  };
  if (redactor.url(req.url) !== redactedUrl) davtap.upstreamUrl = redactor.url(req.url);
  if (flow.injected !== undefined) davtap.injected = flow.injected;
  if (flow.replayOf !== undefined) davtap.replayOf = flow.replayOf;
  if (flow.leg !== undefined) davtap.leg = flow.leg;
  if (flow.pairedWith !== undefined) davtap.pairedWith = flow.pairedWith;
  if (flow.analysis) davtap.summary = flow.analysis.summary.text;

  const res = flow.response;
  let response: HarEntry['response'];
  if (res === null) {
    // No response head arrived: status 0 and the cause in `_error`, as browsers export failed requests.
    response = {
      status: 0,
      statusText: '',
      httpVersion: '',
      cookies: [],
      headers: [],
      content: { size: 0, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
      _error: [flow.outcome.code, flow.outcome.message].filter((s) => s !== undefined && s !== '').join(': ') || flow.outcome.kind,
    };
  } else {
    const resHeaders = redactor.headers(res.rawHeaders);
    const coding = contentCoding(flow);
    // The decoded copy is what a reader wants to see; when the tap could not decode (a cut gzip
    // stream), the wire bytes stay, base64, still compressed, and the decode error says why.
    const useDecoded = coding !== undefined && res.decoded !== null;
    const shown = useDecoded ? res.decoded! : res.body;
    const body = bodyText(shown.bytes);
    const content: HarContent = {
      size: shown.bytesSeen,
      mimeType: firstHeader(res.rawHeaders, 'content-type') ?? 'x-unknown',
      ...(shown.bytes.length > 0 || shown.bytesSeen > 0 ? { text: body.text } : {}),
      ...(body.encoding ? { encoding: body.encoding } : {}),
    };
    if (useDecoded) {
      content.compression = Math.max(0, shown.bytesSeen - res.body.bytesSeen);
      davtap.contentEncoding = coding;
    }
    if (res.decodeError !== undefined) davtap.decodeError = res.decodeError;
    davtap.framing = res.framing;
    davtap.declaredLength = res.declaredLength;
    davtap.responseComplete = res.body.captureComplete && (res.decoded === null || res.decoded.captureComplete);
    if (res.informational.length > 0) davtap.informational = res.informational.map((i) => ({ status: i.status, headers: pairs(redactor.headers(i.rawHeaders)) }));
    if (res.rawTrailers.length > 0) davtap.trailers = pairs(redactor.headers(res.rawTrailers));
    response = {
      status: res.status,
      statusText: res.reason,
      httpVersion: httpVersion(res.httpVersion),
      cookies: responseCookies(recorded.response!.rawHeaders, redactor),
      headers: pairs(resHeaders),
      content,
      redirectURL: redactor.headerValue('location', firstHeader(res.rawHeaders, 'location') ?? ''),
      headersSize: headSize(`${httpVersion(res.httpVersion)} ${res.status} ${res.reason}`, resHeaders),
      bodySize: res.body.bytesSeen,
    };
    if (flow.outcome.kind !== 'complete') response._error = [flow.outcome.kind, flow.outcome.code, flow.outcome.message].filter((s) => s !== undefined && s !== '').join(': ');
  }

  const entry: HarEntry = {
    startedDateTime: new Date(flow.timings.start).toISOString(),
    time,
    request,
    response,
    cache: {},
    timings,
    _davtap: davtap,
  };
  if (flow.analysis && flow.analysis.findings.length > 0) entry.comment = `${flow.analysis.summary.text}; ${flow.analysis.findings.length} finding(s)`;
  return entry;
}

function creator(): HarLog['log']['creator'] {
  return { name: 'davtap', version: davtapVersion(), comment: `node ${process.version}` };
}

/** A whole HAR document in memory (tests and small exports). */
export function buildHar(flows: Iterable<Flow>, redactor: Redactor): HarLog {
  const entries: HarEntry[] = [];
  for (const f of flows) entries.push(harEntry(f, redactor));
  return { log: { version: '1.2', creator: creator(), pages: [], entries } };
}

/**
 * Writes the HAR to `file` (0600) entry by entry, so that exporting thousands of flows holds one
 * flow in memory at a time; the file appears whole or not at all. Returns how many entries it wrote.
 */
export function writeHar(file: string, flows: Iterable<Flow>, redactor: Redactor): number {
  const out = new PrivateFile(file, 0o600, true);
  let n = 0;
  try {
    const head = JSON.stringify({ log: { version: '1.2', creator: creator(), pages: [], entries: [] } }, null, 2);
    // Split the empty document at its entries array and stream the entries into it.
    const at = head.indexOf('"entries": []') + '"entries": ['.length;
    out.write(head.slice(0, at));
    for (const flow of flows) {
      // One entry per line: a pretty-printed ledger of 50 resources triples the file (and the time
      // spent writing it); `jq` or any viewer lays it out again.
      out.write(`${n === 0 ? '\n      ' : ',\n      '}${JSON.stringify(harEntry(flow, redactor))}`);
      n++;
    }
    out.write(`${n > 0 ? '\n    ' : ''}${head.slice(at)}\n`);
  } catch (err) {
    out.abort();
    throw err;
  }
  out.close();
  return n;
}
