// Domain types shared by every layer. Types only: no values, no imports of implementation.

/** How the client reached davtap. */
export type Mode = 'reverse' | 'forward';

/** How a message body was delimited on the wire (RFC 9112 §6). */
export type Framing = 'content-length' | 'chunked' | 'close-delimited' | 'none';

/** How an exchange ended, as seen by the proxy. */
export type OutcomeKind = 'complete' | 'upstream-aborted' | 'client-aborted' | 'timeout' | 'error';

/** Node-style raw header list: [name, value, name, value, …] with the original case kept. */
export type RawHeaders = string[];

export interface Outcome {
  kind: OutcomeKind;
  /** Machine-readable cause: ECONNRESET, ECONNREFUSED, HPE_INVALID_CHUNK_SIZE, ETIMEDOUT, … */
  code?: string;
  /** One human sentence ("upstream closed after 4,096 of 10,240 bytes"). */
  message?: string;
}

/** A body as the tap captured it: the first `cap` bytes are kept, every byte is counted. */
export interface CapturedBody {
  /** Captured bytes (at most the cap). For responses: the payload after de-chunking, before any content decoding. */
  bytes: Buffer;
  /** Bytes seen on the wire for this body (after de-chunking), whether captured or not. */
  bytesSeen: number;
  /** False when the capture cap dropped bytes. Never a statement about the server. */
  captureComplete: boolean;
  /**
   * Set when the store already holds this body, written page by page as it arrived (a large
   * capture is never held whole in memory): how many bytes it wrote. `bytes` is then not stored
   * again; it is empty, or a copy read back for analysis.
   */
  spooled?: number;
}

export interface RequestRecord {
  method: string;
  /** Absolute URL of the upstream resource (scheme://host[:port]/path?query). */
  url: string;
  /** The request-target exactly as the client sent it (origin-form or absolute-form). */
  target: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  body: CapturedBody;
}

export interface InformationalResponse {
  status: number;
  rawHeaders: RawHeaders;
}

export interface ResponseRecord {
  status: number;
  reason: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  framing: Framing;
  /** Content-Length as declared, when it was. */
  declaredLength: number | null;
  body: CapturedBody;
  /** Decoded copy for gzip/deflate/br bodies (null when not encoded or not decodable). */
  decoded: CapturedBody | null;
  /** Why decoding the copy failed (truncated gzip stream, bad header…), when it did. */
  decodeError?: string;
  /** 1xx responses relayed before the final one (102 Processing, 100 Continue, 103). */
  informational: InformationalResponse[];
  rawTrailers: RawHeaders;
  /**
   * Bytes the upstream sent after the response's end in the same read (on a persistent connection
   * they would be read as the next response): their count and first 32 in hex.
   */
  surplus?: { bytes: number; hex: string };
}

export interface FlowTimings {
  /** Epoch milliseconds when the request head arrived. */
  start: number;
  /** When the first byte of the final response head arrived from upstream. */
  firstByte: number | null;
  /** When the exchange ended (either way). */
  end: number | null;
}

/** The client side of a flow: its address, and whether it spoke TLS to davtap. */
export interface FlowClient {
  address: string;
  port: number;
  /**
   * Set when the client's connection to davtap was TLS (davtap's TLS listener in reverse mode, or an
   * intercepted CONNECT tunnel), with the name it asked for (SNI) when it sent one. Whether the
   * upstream side was TLS is the scheme of `request.url`.
   */
  tls?: { sni?: string };
}

export interface Flow {
  id: string;
  mode: Mode;
  client: FlowClient;
  timings: FlowTimings;
  request: RequestRecord;
  /** Null when no response head arrived (refused upstream, reset before headers…). */
  response: ResponseRecord | null;
  outcome: Outcome;
  /** Set by the composition root when the body was analyzed. */
  analysis?: Analysis;
  /** Names the fault injection applied to this flow, when one was. */
  injected?: string;
  /** Set on a flow davtap sent again (`davtap replay`): the id of the recorded flow it re-sent. */
  replayOf?: string;
  /**
   * Only on an exchange the relay holds now (intercept), as the UI shows it before it ends; never
   * recorded (the flow is recorded once the hold is decided, with its true outcome).
   */
  held?: HeldState;
  /**
   * Sandwich mode: the leg this flow was relayed on: `front` (a client through davtap to the
   * gateway) or `back` (the gateway through davtap to the origin).
   */
  leg?: Leg;
  /** Sandwich mode, on a front flow: the id of its back flow (unset: the gateway answered itself). */
  pairedWith?: string;
  /**
   * Sandwich mode, on its way to the recorder only (never stored as such): the gateway differences
   * found against the back flow, added to the flow's findings, and the analyzer's rules their root
   * causes explain (rule → the cause's rule), marked consequenceOf on this flow's own findings.
   */
  pairFindings?: { findings: Finding[]; consequences: Record<string, string> };
}

export type Leg = 'front' | 'back';

/** What an intercept holds of an exchange, and how long its client has waited. */
export interface HeldState {
  /** The request (nothing sent upstream yet) or the response (nothing sent to the client yet). */
  what: 'request' | 'response';
  /** Epoch ms it was held, and its client sent the request. */
  since: number;
  waitingSince: number;
  /** The client's connection has gone: deciding sends nothing. */
  clientGone: boolean;
  /** The client has waited longer than the patience (--intercept-patience, `patienceMs`). */
  pastPatience: boolean;
  patienceMs: number;
}

/** What the proxy knows when the response head arrives: enough to start a streaming analysis. */
export interface FlowStart {
  id: string;
  mode: Mode;
  /** The client's connection to davtap is TLS (as Flow.client.tls): the scheme of the URL it used in reverse mode. */
  clientTls?: boolean;
  timings: FlowTimings;
  request: RequestRecord;
  response: Pick<ResponseRecord, 'status' | 'reason' | 'httpVersion' | 'rawHeaders' | 'framing' | 'declaredLength'>;
}

// ---------------------------------------------------------------------------------------------
// Analysis

export type Severity = 'error' | 'warning' | 'info';
export type Category = 'truncation' | 'stripped' | 'malformed' | 'semantic' | 'partial-failure' | 'security';
/**
 * Whose fault a finding most likely is (RULES.md §6): `server` the upstream's answer breaks a rule
 * and the transport delivered it intact; `client` the request itself is wrong (the server is not
 * blamed for answering it); `gateway` two vantage points disagree or a transport signature points
 * at a relay; `unknown` one vantage point and no signature.
 */
export type Blame = 'server' | 'client' | 'gateway' | 'unknown';

/** What the analyzer needs to know about the request behind a response. */
export interface RequestContext {
  method: string;
  /** Request-target as the client sent it. */
  target: string;
  /** Scheme and authority the client used (Host header or absolute-form), when known. */
  scheme?: 'http' | 'https';
  authority?: string;
  rawHeaders: RawHeaders;
  /** Request body (PROPFIND prop list, multiget hrefs, sync token…), when captured. */
  body?: Uint8Array;
}

export interface ResponseHead {
  status: number;
  reason: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  /**
   * 'wire': the bytes written to the analyzer still carry the transfer framing (chunk sizes), as
   * in a raw capture; the analyzer validates and removes it. 'payload': framing already removed
   * (the proxy's case; framing failures then arrive through the transport end).
   */
  bodyForm: 'wire' | 'payload';
}

/** How the transport ended, as told to `Analyzer.end()`. */
export interface TransportEnd {
  outcome: OutcomeKind;
  code?: string;
  message?: string;
  /** 'fin' a clean close, 'rst' a reset, 'tls-no-close-notify', 'timeout'. */
  closeKind?: 'fin' | 'rst' | 'tls-no-close-notify' | 'timeout';
  /** Bytes after the end of a payload-form body, as the relay saw them (ResponseRecord.surplus). */
  surplus?: { bytes: number; hex: string };
  /**
   * The payload bytes the relay passed on (payload form): an analysis halted before the body's end
   * (MS703) was fed fewer, and judges the framing (MS001) on these, not on what it read.
   */
  payloadBytes?: number;
}

export interface Evidence {
  offset?: number;
  line?: number;
  column?: number;
  /** Element path, e.g. multistatus>response>propstat>prop. */
  path?: string;
  href?: string;
  excerpt?: string;
  [key: string]: unknown;
}

export interface Finding {
  rule: string;
  severity: Severity;
  category: Category;
  /** The rule's default blame unless this finding's own evidence says otherwise. */
  blame: Blame;
  message: string;
  evidence: Evidence;
  /** Rule id of the root cause this finding follows from (e.g. MS006 caused by MS001). */
  consequenceOf?: string;
  /** Fault injection this finding is attributed to, when the flow was injected. */
  injected?: string;
}

export interface PropStat {
  /** Status code parsed from the status line (null when absent or unparsable). */
  status: number | null;
  statusLine: string;
  /** Property names in Clark notation: {namespace}local. */
  props: string[];
  /** Precondition elements of this propstat's `error` child, Clark notation. */
  error?: string[];
  description?: string;
}

export interface Resource {
  /** Position of this `<response>` in the body, from 0. */
  index: number;
  /**
   * First href as written (trimmed; bytes that were not UTF-8 as U+FFFD, unless the href also holds
   * a real '?'). Additional hrefs (status-form responses) in `extraHrefs`.
   */
  href: string;
  hrefNormalized: string;
  extraHrefs?: string[];
  /** Whole-resource status (status-form response), else null. */
  status: number | null;
  statusLine?: string;
  propstats: PropStat[];
  /** Precondition elements of the response's `error` child, Clark notation. */
  error?: string[];
  description?: string;
  location?: string;
  /** Byte span of the `<response>` element in the (decoded) body; end null when it never closed. */
  span: { start: number; end: number | null };
  /** False when the body ended inside this response. */
  complete: boolean;
  /** A 2xx propstat reported `resourcetype` containing `collection`. */
  collection?: boolean;
}

export interface AnalysisSummary {
  resources: number;
  /** Resources whose whole status is 4xx/5xx, or that have a failing propstat other than an expected 404. */
  failedResources: number;
  /** Whole-resource and propstat status codes counted once per resource, e.g. { "200": 118, "404": 2 }. */
  byStatus: Record<string, number>;
  findings: Record<Severity, number>;
  /** One line for people: "2 of 120 resources failed (404 ×1, 423 ×1)". */
  text: string;
}

export interface Analysis {
  findings: Finding[];
  resources: Resource[];
  summary: AnalysisSummary;
  /**
   * The request-URI's own version marker in a 2xx propstat (getctag, else sync-token, else
   * getetag), when the answer carried one: two listings with the same marker saw the same
   * collection. Not stored; the live listing history reads it.
   */
  collectionMarker?: { property: string; value: string };
}

export interface Analyzer {
  write(chunk: Uint8Array): void;
  /**
   * Stops the analysis where it is, for a reason outside the body (the caller cannot keep up):
   * later writes are ignored, and end() reports what was read, with MS703 saying why.
   */
  halt(why: string): void;
  /**
   * True once it reads nothing more of the body (a limit stopped it, it was halted, or it ended):
   * the rest need not be written, end() is told the body's length (TransportEnd.payloadBytes).
   */
  readonly done: boolean;
  end(transport: TransportEnd): Analysis;
}

/** Caps that keep one analysis bounded; hitting one is a finding (MS703), never an exception. */
export interface AnalyzerLimits {
  /** Decoded body bytes parsed before the analysis stops. */
  maxBodyBytes: number;
  /** Element nesting depth. */
  maxDepth: number;
  /** `<response>` elements recorded in the ledger. */
  maxResponses: number;
  /** Characters of one text node, name, attribute value or DOCTYPE. */
  maxTokenLength: number;
  /**
   * Well-formedness errors before the parse ends. The parser recovers and reports on, at a real
   * cost per error: a body that is no XML at all (binary) would cost seconds per MB.
   */
  maxParseErrors: number;
}
