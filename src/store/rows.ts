// Mapping between the domain types and table rows, both ways.
import { rules } from '../analysis/rules/index.js';
import type { Blame, Finding, Flow, Framing, Leg, Mode, OutcomeKind, PropStat, Resource, Severity } from '../types.js';
import { firstHeader } from '../http/headers.js';
import { reportName } from '../analysis/request.js';

/**
 * One line of the flow list: everything the UI lists and filters on, without bodies, headers or
 * the ledger (so that a page of 100 rows stays a few kilobytes, whatever the flows carried).
 */
export interface FlowRow {
  /** Insertion order, from 1; the newest flow has the highest seq (see `latestSeq`). */
  seq: number;
  id: string;
  mode: Mode;
  client: string;
  /** Set when the client's connection to davtap was TLS, with the SNI name it asked for (`Flow.client.tls`). */
  clientTls: { sni?: string } | null;
  /** Epoch milliseconds. */
  start: number;
  end: number | null;
  durationMs: number | null;
  method: string;
  url: string;
  host: string;
  /** Path and query of the URL. */
  path: string;
  /** Null when no response head arrived. */
  status: number | null;
  reason: string | null;
  contentType: string | null;
  framing: Framing | null;
  declaredLength: number | null;
  /** Response body bytes seen on the wire (after de-chunking). */
  responseBytes: number | null;
  /** False when the tap's capture cap, the store's body cap or pruning dropped body bytes. */
  captureComplete: boolean;
  outcome: { kind: OutcomeKind; code: string | null; message: string | null };
  /** Whether a 207 body was analyzed; the fields below are null when not. */
  analyzed: boolean;
  resources: number | null;
  failed: number | null;
  /** "2 of 120 resources failed (404 ×1, 423 ×1)". */
  summary: string | null;
  findings: Record<Severity, number>;
  injected: string | null;
  /** Which REPORT (`calendar-multiget`, `sync-collection`, …): its request body's root element; null for other methods. */
  report: string | null;
  /** Bytes of stored bodies removed by `--max-db-size` pruning (0 when none). */
  bodyPrunedBytes: number;
  /** The id of the flow this one replayed (`Flow.replayOf`), null for a flow a client sent. */
  replayOf: string | null;
  /** Marked by the user (`Store.setMarked`; the filter `~marked`). */
  marked: boolean;
  /** Sandwich mode: the leg (`Flow.leg`) and, on a front flow, its back flow's id; null outside it. */
  leg: Leg | null;
  pairedWith: string | null;
}

/** How much of each body the database holds. */
export interface BodyStorage {
  /** Bytes stored per body; smaller than what was captured when the store's cap cut it. */
  requestStored: number;
  responseStored: number;
  decodedStored: number;
  /** True when `--max-db-size` pruning removed this flow's bodies; `prunedBytes` says how many bytes. */
  pruned: boolean;
  prunedBytes: number;
}

/** A flow as read back: the Flow itself plus where it sits in the store and what the store kept. */
export type StoredFlow = Flow & { seq: number; storage: BodyStorage; marked: boolean };

export const flowColumns = [
  'id', 'mode', 'client_address', 'client_port', 'start', 'first_byte', 'end', 'duration_ms', 'method', 'url', 'target', 'host',
  'path', 'request_http_version', 'request_headers', 'request_bytes_seen', 'request_capture_complete', 'status', 'reason',
  'response_http_version', 'response_headers', 'content_type', 'framing', 'declared_length', 'response_bytes_seen',
  'response_capture_complete', 'decoded_bytes_seen', 'decoded_capture_complete', 'decode_error', 'informational', 'trailers',
  'outcome_kind', 'outcome_code', 'outcome_message', 'analyzed', 'resources_count', 'failed_count', 'by_status', 'summary_text',
  'findings_error', 'findings_warning', 'findings_info', 'injected', 'request_body_stored', 'response_body_stored',
  'decoded_body_stored', 'client_tls', 'client_sni', 'replay_of', 'report', 'leg', 'paired_with',
] as const;

// Host and path of a URL, remembered for the last few hundred URLs: WHATWG parsing is over a
// microsecond, and the flows of a sync or a load test repeat the same URLs.
const hostsAndPaths = new Map<string, { host: string; path: string } | null>();
const hostsAndPathsMax = 512;

function hostAndPath(url: string, target: string): { host: string; path: string } {
  let known = hostsAndPaths.get(url);
  if (known === undefined) {
    try {
      const u = new URL(url);
      known = { host: u.host, path: u.pathname + u.search };
    } catch {
      known = null;
    }
    if (hostsAndPaths.size >= hostsAndPathsMax) hostsAndPaths.clear();
    hostsAndPaths.set(url, known);
  }
  return known ?? { host: '', path: target };
}

const bool = (b: boolean) => (b ? 1 : 0);

/**
 * The flows row for `flow`, its values in the order of `flowColumns` (positional values, bound one
 * argument each: the cheapest way into better-sqlite3); `stored` gives how many bytes of each body
 * the store keeps.
 */
export function flowValues(flow: Flow, stored: { request: number; response: number; decoded: number }): (string | number | null)[] {
  const { request, response, analysis } = flow;
  const { host, path } = hostAndPath(request.url, request.target);
  const end = flow.timings.end;
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  if (analysis) {
    for (const f of analysis.findings) {
      if (f.severity === 'error') errors++;
      else if (f.severity === 'warning') warnings++;
      else if (f.severity === 'info') infos++;
    }
  }
  const decoded = response?.decoded;
  return [
    flow.id, // id
    flow.mode, // mode
    flow.client.address, // client_address
    flow.client.port, // client_port
    flow.timings.start, // start
    flow.timings.firstByte ?? null, // first_byte
    end, // end
    end === null ? null : end - flow.timings.start, // duration_ms
    request.method, // method
    request.url, // url
    request.target, // target
    host, // host
    path, // path
    request.httpVersion, // request_http_version
    JSON.stringify(request.rawHeaders), // request_headers
    request.body.bytesSeen, // request_bytes_seen
    bool(request.body.captureComplete), // request_capture_complete
    response?.status ?? null, // status
    response?.reason ?? null, // reason
    response?.httpVersion ?? null, // response_http_version
    response ? JSON.stringify(response.rawHeaders) : null, // response_headers
    response ? (firstHeader(response.rawHeaders, 'content-type') ?? null) : null, // content_type
    response?.framing ?? null, // framing
    response?.declaredLength ?? null, // declared_length
    response?.body.bytesSeen ?? null, // response_bytes_seen
    response ? bool(response.body.captureComplete) : null, // response_capture_complete
    decoded?.bytesSeen ?? null, // decoded_bytes_seen
    decoded ? bool(decoded.captureComplete) : null, // decoded_capture_complete
    response?.decodeError ?? null, // decode_error
    response && response.informational.length > 0 ? JSON.stringify(response.informational) : null, // informational
    response && response.rawTrailers.length > 0 ? JSON.stringify(response.rawTrailers) : null, // trailers
    flow.outcome.kind, // outcome_kind
    flow.outcome.code ?? null, // outcome_code
    flow.outcome.message ?? null, // outcome_message
    bool(analysis !== undefined), // analyzed
    analysis ? analysis.summary.resources : null, // resources_count
    analysis ? analysis.summary.failedResources : null, // failed_count
    analysis ? JSON.stringify(analysis.summary.byStatus) : null, // by_status
    analysis ? analysis.summary.text : null, // summary_text
    errors, // findings_error
    warnings, // findings_warning
    infos, // findings_info
    flow.injected ?? null, // injected
    stored.request, // request_body_stored
    stored.response, // response_body_stored
    stored.decoded, // decoded_body_stored
    bool(flow.client.tls !== undefined), // client_tls
    flow.client.tls?.sni ?? null, // client_sni
    flow.replayOf ?? null, // replay_of
    request.method.toUpperCase() === 'REPORT' ? reportName(request.body.bytes) : null, // report
    flow.leg ?? null, // leg
    flow.pairedWith ?? null, // paired_with
  ];
}

/** Column order of `findingValues`, for the INSERT statement. */
export const findingColumns = ['flow_seq', 'idx', 'rule', 'severity', 'category', 'message', 'evidence', 'consequence_of', 'injected', 'blame'] as const;

// Positional values (not named ones): binding by position is measurably faster for the ~50 ledger
// rows each 207 brings.
export function findingValues(seq: number, idx: number, f: Finding): (string | number | null)[] {
  return [seq, idx, f.rule, f.severity, f.category, f.message, JSON.stringify(f.evidence ?? {}), f.consequenceOf ?? null, f.injected ?? null, f.blame];
}

/** Column order of `resourceValues`. */
export const resourceColumns = [
  'flow_seq', 'idx', 'href', 'href_normalized', 'status', 'status_line', 'propstats', 'extra', 'span_start', 'span_end', 'complete',
] as const;

export function resourceValues(seq: number, r: Resource): (string | number | null)[] {
  let extra: Record<string, unknown> | null = null;
  if (r.extraHrefs !== undefined || r.error !== undefined || r.description !== undefined || r.location !== undefined) {
    extra = {};
    if (r.extraHrefs !== undefined) extra.extraHrefs = r.extraHrefs;
    if (r.error !== undefined) extra.error = r.error;
    if (r.description !== undefined) extra.description = r.description;
    if (r.location !== undefined) extra.location = r.location;
  }
  return [
    seq,
    r.index,
    r.href,
    r.hrefNormalized,
    r.status,
    r.statusLine ?? null,
    JSON.stringify(r.propstats),
    extra === null ? null : JSON.stringify(extra),
    r.span.start,
    r.span.end,
    bool(r.complete),
  ];
}

// ---------------------------------------------------------------------------------------------
// Reading back

/** A flows row as SQLite returns it (column names as in the schema). */
export type FlowRecord = Record<string, string | number | null>;

/** The columns `toFlowRow` needs: the flow list never reads headers or bodies. */
export const listColumns =
  'seq, id, mode, client_address, client_port, start, "end", duration_ms, method, url, host, path, status, reason, content_type, framing, ' +
  'declared_length, response_bytes_seen, request_capture_complete, response_capture_complete, request_bytes_seen, request_body_stored, ' +
  'response_body_stored, outcome_kind, outcome_code, outcome_message, analyzed, resources_count, failed_count, summary_text, ' +
  'findings_error, findings_warning, findings_info, injected, body_pruned, body_pruned_bytes, client_tls, client_sni, replay_of, marked, report, leg, paired_with';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Whether all body bytes that went over the wire are in the database. */
/**
 * The client's TLS as recorded: null for a plain connection, and for a flow recorded before davtap
 * stored it (no TLS known). A reader of such an older file gets no column at all (undefined).
 */
export function clientTlsOf(r: FlowRecord): { sni?: string } | null {
  if (r.client_tls === undefined || r.client_tls === null || Number(r.client_tls) === 0) return null;
  return r.client_sni === undefined || r.client_sni === null ? {} : { sni: String(r.client_sni) };
}

function bodiesComplete(r: FlowRecord): boolean {
  if (r.body_pruned === 1) return false;
  if (r.request_capture_complete === 0 || Number(r.request_body_stored) < Number(r.request_bytes_seen)) return false;
  if (r.response_capture_complete === 0) return false;
  if (r.response_bytes_seen !== null && Number(r.response_body_stored) < Number(r.response_bytes_seen)) return false;
  return true;
}

export function toFlowRow(r: FlowRecord): FlowRow {
  return {
    seq: Number(r.seq),
    id: String(r.id),
    mode: r.mode as Mode,
    client: `${r.client_address}:${r.client_port}`,
    clientTls: clientTlsOf(r),
    start: Number(r.start),
    end: num(r.end),
    durationMs: num(r.duration_ms),
    method: String(r.method),
    url: String(r.url),
    host: String(r.host),
    path: String(r.path),
    status: num(r.status),
    reason: str(r.reason),
    contentType: str(r.content_type),
    framing: str(r.framing) as Framing | null,
    declaredLength: num(r.declared_length),
    responseBytes: num(r.response_bytes_seen),
    captureComplete: bodiesComplete(r),
    outcome: { kind: r.outcome_kind as OutcomeKind, code: str(r.outcome_code), message: str(r.outcome_message) },
    analyzed: r.analyzed === 1,
    resources: num(r.resources_count),
    failed: num(r.failed_count),
    summary: str(r.summary_text),
    findings: { error: Number(r.findings_error), warning: Number(r.findings_warning), info: Number(r.findings_info) },
    injected: str(r.injected),
    report: str(r.report),
    bodyPrunedBytes: Number(r.body_pruned_bytes ?? 0),
    replayOf: str(r.replay_of),
    marked: Number(r.marked ?? 0) !== 0,
    leg: r.leg === 'front' || r.leg === 'back' ? r.leg : null,
    pairedWith: str(r.paired_with),
  };
}

const BLAMES: readonly unknown[] = ['server', 'client', 'gateway', 'unknown'] satisfies Blame[];
const isBlame = (v: unknown): v is Blame => BLAMES.includes(v);

export function toFinding(r: FlowRecord): Finding {
  const f: Finding = {
    rule: String(r.rule),
    severity: r.severity as Severity,
    category: r.category as Finding['category'],
    // NULL or absent in findings recorded before blame was: their rule's default.
    blame: isBlame(r.blame) ? r.blame : (rules[String(r.rule)]?.blame ?? 'unknown'),
    message: String(r.message),
    evidence: JSON.parse(String(r.evidence)) as Finding['evidence'],
  };
  if (r.consequence_of !== null) f.consequenceOf = String(r.consequence_of);
  if (r.injected !== null) f.injected = String(r.injected);
  return f;
}

export function toResource(r: FlowRecord): Resource {
  const res: Resource = {
    index: Number(r.idx),
    href: String(r.href),
    hrefNormalized: String(r.href_normalized),
    status: num(r.status),
    propstats: JSON.parse(String(r.propstats)) as PropStat[],
    span: { start: Number(r.span_start), end: num(r.span_end) },
    complete: r.complete === 1,
  };
  if (r.status_line !== null) res.statusLine = String(r.status_line);
  if (r.extra !== null) Object.assign(res, JSON.parse(String(r.extra)) as Partial<Resource>);
  return res;
}
