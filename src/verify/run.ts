// `davtap verify`'s engine: crawl the origin's collections (bounded), send every probe to the
// origin and through the gateway, compare each pair. Output is data (a VerifyReport); rendering
// lives in report.ts.
import { compareVantagePoints, describeMap, originToVia, prefixMapFromBases, readMultistatus, type PrefixMap } from '../analysis/compare.js';
import { hasHeader, joinedHeader } from '../http/headers.js';
import { GATEWAY } from '../analysis/rules/gateway.js';
import { normalizeHref } from '../analysis/href.js';
import { n } from '../analysis/rules/util.js';
import { DavtapError } from '../errors.js';
import type { Finding, Framing, Severity, TransportEnd } from '../types.js';
import { toSide, type Side } from './exchange.js';
import { send, type HttpTarget, type SendOptions } from './http.js';
import {
  addressbookMultiget,
  addressbookQuery,
  calendarMultiget,
  calendarQuery,
  CALDAV,
  CARDDAV,
  davClasses,
  propfindProbes,
  type DavClasses,
  type Probe,
} from './requests.js';

export interface VerifyOptions {
  /** Origin base URL (`http://127.0.0.1:8080/`). */
  origin: string;
  /** Gateway base URL (`http://127.0.0.1:9090/dav/`). */
  via: string;
  /** Paths relative to the bases where the crawl starts (default `/`). */
  paths?: string[];
  /** Collection levels listed below each path (1: only the path itself). Default 2. */
  depth?: number;
  /** At most this many collections are visited in all. Default 100. */
  maxCollections?: number;
  /** Explicit prefix mapping; default: the difference between the two bases' paths. */
  map?: PrefixMap;
  /** `user:pass`, sent to both sides. */
  auth?: string;
  /** Accept any TLS certificate on both sides. */
  insecure?: boolean;
  /** Sent as Accept-Encoding with every probe (as clients such as rclone do), when given. */
  acceptEncoding?: string;
  /** Silence that ends a response (default 10 s). */
  idleTimeoutMs?: number;
  /** Longest time one response may take (default 6 × the idle timeout). */
  totalTimeoutMs?: number;
  maxBytes?: number;
  /** Hrefs of members sent in one multiget, at most. Default 50. */
  maxMultiget?: number;
  /** Collections listed at the same time (default 1). */
  concurrency?: number;
  /** Called before each pair is sent (progress on a terminal). */
  onStart?: (probe: string, viaPath: string) => void;
  /** Called after each compared pair. */
  onExchange?: (e: ExchangeReport) => void;
}

export interface SideSummary {
  url: string;
  status: number;
  framing: Framing;
  payloadBytes: number;
  decodedBytes: number;
  contentType?: string;
  contentEncoding?: string;
  responses: number;
  /** The analyzer's one-line summary of this copy. */
  summary: string;
  /** How the connection ended. */
  transport: TransportEnd;
  /** No usable response: why. */
  failure?: string;
}

export interface ExchangeReport {
  probe: string;
  /** Path of the collection on the origin. */
  originPath: string;
  /** The same collection's path through the gateway. */
  viaPath: string;
  origin: SideSummary;
  via: SideSummary;
  /** What the gateway changed. */
  differences: Finding[];
  /** Warnings and errors in the origin's own answer (not the gateway's doing). */
  originFindings: Finding[];
  identicalBytes: boolean;
  verdict: string;
}

export interface PathReport {
  originPath: string;
  viaPath: string;
  exchanges: ExchangeReport[];
  /** Most severe difference, null when none. */
  worst: Severity | null;
}

export interface VerifyReport {
  origin: string;
  via: string;
  map: PrefixMap;
  mapSource: 'option' | 'bases';
  mapText: string;
  dav: DavClasses;
  depth: number;
  maxCollections: number;
  /** Collections found but not visited because of maxCollections. */
  notVisited: number;
  paths: PathReport[];
  exchanges: number;
}

const SEVERITIES: Severity[] = ['error', 'warning', 'info'];
/** Connection failures that mean "wrong address", not "the gateway broke the exchange". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

const joinPath = (base: string, rel: string): string => {
  const b = base.endsWith('/') ? base : `${base}/`;
  return normalizeHref(b + rel.replace(/^\/+/, ''));
};

function summarizeSide(side: Side, url: string): SideSummary {
  const ct = joinedHeader(side.rawHeaders, 'Content-Type');
  const ce = joinedHeader(side.rawHeaders, 'Content-Encoding');
  return {
    url,
    status: side.status,
    framing: side.framing,
    payloadBytes: side.payloadBytes,
    decodedBytes: side.decoded.length,
    ...(ct !== undefined ? { contentType: ct } : {}),
    ...(ce !== undefined ? { contentEncoding: ce } : {}),
    responses: side.analysis.resources.filter((r) => r.complete).length,
    summary: side.analysis.summary.text,
    transport: side.transport,
    ...(side.failure !== undefined ? { failure: side.failure } : {}),
  };
}

function redactUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href;
}

export async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const depth = opts.depth ?? 2;
  const maxCollections = opts.maxCollections ?? 100;
  const maxMultiget = opts.maxMultiget ?? 50;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const sendOpts: SendOptions = { idleTimeoutMs, totalTimeoutMs: opts.totalTimeoutMs ?? idleTimeoutMs * 6, maxBytes: opts.maxBytes ?? 64 * 1024 * 1024 };
  const originBase = new URL(opts.origin);
  const viaBase = new URL(opts.via);
  const common = { ...(opts.auth !== undefined ? { auth: opts.auth } : {}), ...(opts.insecure ? { insecure: true } : {}) };
  const originTarget: HttpTarget = { base: originBase.href, ...common };
  const viaTarget: HttpTarget = { base: viaBase.href, ...common };
  const map = opts.map ?? prefixMapFromBases(viaBase.href, originBase.href);
  const starts = (opts.paths && opts.paths.length > 0 ? opts.paths : ['/']).map((p) => joinPath(originBase.pathname, p));

  // The origin must answer, or there is nothing to compare: a network error, exit 2.
  const options = await send(originTarget, { method: 'OPTIONS', path: starts[0]!, headers: [] }, sendOpts);
  if (!options.response) throw new DavtapError('IO', `verify: origin ${redactUrl(originBase.href)} did not answer OPTIONS ${starts[0]}: ${options.transport.message ?? options.transport.code}`);
  const dav = davClasses(joinedHeader(options.response.rawHeaders, 'DAV'));

  const report: VerifyReport = {
    origin: redactUrl(originBase.href),
    via: redactUrl(viaBase.href),
    map,
    mapSource: opts.map ? 'option' : 'bases',
    mapText: describeMap(map),
    dav,
    depth,
    maxCollections,
    notVisited: 0,
    paths: [],
    exchanges: 0,
  };

  let viaAnswered = false;
  const pair = async (probe: (side: 'origin' | 'via') => Probe, originPath: string): Promise<{ ex: ExchangeReport; origin: Side }> => {
    const viaPath = originToVia(originPath, map);
    const withEncoding = (p: Probe): Probe => (opts.acceptEncoding === undefined ? p : { ...p, headers: [...p.headers, 'Accept-Encoding', opts.acceptEncoding] });
    const op = withEncoding(probe('origin'));
    const vp = withEncoding(probe('via'));
    opts.onStart?.(op.label, viaPath);
    const oRaw = await send(originTarget, { method: op.method, path: originPath, headers: op.headers, body: op.body }, sendOpts);
    const vRaw = await send(viaTarget, { method: vp.method, path: viaPath, headers: vp.headers, body: vp.body }, sendOpts);
    // Before anything was compared, a silent origin is a network error; later it only leaves this pair out.
    if (!oRaw.response && report.exchanges === 0) throw new DavtapError('IO', `verify: origin gave no response to ${op.label} ${originPath}: ${oRaw.transport.message ?? oRaw.transport.code}`);
    if (!vRaw.response && !viaAnswered && UNREACHABLE.has(vRaw.transport.code ?? '')) {
      throw new DavtapError('IO', `verify: gateway ${redactUrl(viaBase.href)} did not answer ${vp.label} ${viaPath}: ${vRaw.transport.message ?? vRaw.transport.code}`);
    }
    viaAnswered = true;
    const origin = toSide(oRaw, originBase.origin);
    const via = toSide(vRaw, viaBase.origin);
    const acceptEncoding = hasHeader(op.headers, 'accept-encoding');
    type Outcome = { differences: Finding[]; identicalBytes: boolean; verdict: string };
    const only = (f: Finding): Outcome => ({ differences: [f], identicalBytes: false, verdict: f.message });
    const capped = [oRaw, vRaw].findIndex((x) => x.transport.code === 'EMSGSIZE');
    const cmp: Outcome = origin.failure
      ? only({ rule: 'MS003', severity: 'warning', category: 'truncation', blame: 'unknown', message: `not compared: the origin gave no response (${origin.failure})`, evidence: { code: oRaw.transport.code, side: 'origin' } })
      : via.failure
      ? // No response through the gateway: that is the whole difference, there is nothing to compare.
        only({ rule: GATEWAY.statusChanged, severity: 'error', category: 'stripped', blame: 'gateway', message: `via gave no response: ${via.failure}`, evidence: { code: vRaw.transport.code, noResponse: true } })
      : capped >= 0
        ? // davtap's own cap stopped the reading: never reported as the gateway cutting the body.
          only({
            rule: 'MS703',
            severity: 'warning',
            category: 'security',
            blame: 'unknown',
            message: `not compared: the ${capped === 0 ? 'origin' : 'gateway'}'s answer is larger than davtap's cap of ${n(sendOpts.maxBytes)} bytes (--max-bytes)`,
            evidence: { limit: sendOpts.maxBytes, side: capped === 0 ? 'origin' : 'via' },
          })
        : compareVantagePoints(origin, via, { map, acceptEncoding });
    const differences = cmp.differences;
    // Some origins vary their own bytes (Apache orders per-response namespace declarations by
    // hash): ask the origin once more before leaving a byte difference at the gateway's door.
    const bytesOnly = differences.find((f) => f.evidence.bytesOnly === true);
    if (bytesOnly) {
      const again = toSide(await send(originTarget, { method: op.method, path: originPath, headers: op.headers, body: op.body }, sendOpts), originBase.origin);
      const same = Buffer.from(again.decoded).equals(Buffer.from(origin.decoded));
      if (!same) {
        bytesOnly.message = `bytes differ (${n(origin.decoded.length)} → ${n(via.decoded.length)}) as two answers of the origin itself do; the multistatus is the same up to the mapping`;
        bytesOnly.evidence = { ...bytesOnly.evidence, originVaries: true };
      }
    }
    const ex: ExchangeReport = {
      probe: op.label,
      originPath,
      viaPath,
      origin: summarizeSide(origin, oRaw.request.url),
      via: summarizeSide(via, vRaw.request.url),
      differences,
      originFindings: origin.analysis.findings.filter((f) => f.severity !== 'info' && f.consequenceOf === undefined),
      identicalBytes: cmp.identicalBytes,
      verdict: cmp.verdict,
    };
    report.exchanges++;
    opts.onExchange?.(ex);
    return { ex, origin };
  };

  const queue: { path: string; level: number }[] = starts.map((path) => ({ path, level: 0 }));
  const seen = new Set(queue.map((q) => q.path));
  const visit = async (path: string, level: number): Promise<void> => {
    const pathReport: PathReport = { originPath: path, viaPath: originToVia(path, map), exchanges: [], worst: null };
    report.paths.push(pathReport);
    let listing: Side | undefined;
    for (const probe of propfindProbes()) {
      const { ex, origin } = await pair(() => probe, path);
      pathReport.exchanges.push(ex);
      if (probe.label === 'PROPFIND allprop') listing = origin;
    }
    const members = listing ? listMembers(listing, path) : { collections: [], items: [], calendar: false, addressbook: false };
    if (dav.calendar && members.calendar) {
      pathReport.exchanges.push((await pair(() => calendarQuery(), path)).ex);
      if (members.items.length > 0) pathReport.exchanges.push((await pair((side) => calendarMultiget(hrefsFor(side, members.items, maxMultiget, map)), path)).ex);
    }
    if (dav.addressbook && members.addressbook) {
      pathReport.exchanges.push((await pair(() => addressbookQuery(), path)).ex);
      if (members.items.length > 0) pathReport.exchanges.push((await pair((side) => addressbookMultiget(hrefsFor(side, members.items, maxMultiget, map)), path)).ex);
    }
    const all = pathReport.exchanges.flatMap((e) => e.differences);
    pathReport.worst = SEVERITIES.find((s) => all.some((f) => f.severity === s)) ?? null;
    if (level + 1 >= depth) return;
    for (const c of members.collections) {
      if (seen.has(c)) continue;
      seen.add(c);
      queue.push({ path: c, level: level + 1 });
    }
  };
  // Bounded: every collection is visited once, at most maxCollections in all. Up to `concurrency`
  // collections are listed at a time; a worker with an empty queue waits for the others' finds.
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  let busy = 0;
  let wake: (() => void)[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      if (queue.length === 0) {
        if (busy === 0) return;
        await new Promise<void>((resolve) => wake.push(resolve));
        continue;
      }
      if (report.paths.length >= maxCollections) return;
      const { path, level } = queue.shift()!;
      busy++;
      try {
        await visit(path, level);
      } finally {
        busy--;
        const waiting = wake;
        wake = [];
        for (const w of waiting) w();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  report.notVisited = queue.length;
  return report;
}

function hrefsFor(side: 'origin' | 'via', items: string[], max: number, map: PrefixMap): string[] {
  const picked = items.slice(0, max);
  return side === 'origin' ? picked : picked.map((h) => originToVia(h, map));
}

interface Members {
  collections: string[];
  items: string[];
  calendar: boolean;
  addressbook: boolean;
}

/** Child collections and items of `path` in the origin's allprop listing, and what `path` itself is. */
function listMembers(listing: Side, path: string): Members {
  const out: Members = { collections: [], items: [], calendar: false, addressbook: false };
  const self = normalizeHref(path).replace(/\/?$/, '/');
  for (const r of listing.analysis.resources) {
    if (!r.complete) continue;
    const p = r.hrefNormalized;
    const asDir = p.endsWith('/') ? p : `${p}/`;
    if (asDir === self || !asDir.startsWith(self)) continue;
    if (r.collection) out.collections.push(asDir);
    else out.items.push(p);
  }
  const doc = readMultistatus(new TextDecoder().decode(listing.decoded));
  for (const r of doc.responses) {
    const p = normalizeHref(r.href);
    if ((p.endsWith('/') ? p : `${p}/`) !== self) continue;
    const type = r.props.get('{DAV:}resourcetype')?.value ?? '';
    out.calendar = type.includes(`{${CALDAV}}calendar`);
    out.addressbook = type.includes(`{${CARDDAV}}addressbook`);
  }
  return out;
}
