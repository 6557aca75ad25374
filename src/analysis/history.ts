// MS403 across time: a collection listing that lost members since a recent listing of the same
// collection, with no DELETE or MOVE seen in between to explain it (RULES.md MS403, "or versus a
// recent observation of the same collection"; infinidysk#581/#633, owncloud/ocis#3073,
// dCache#7850: a 207 "success" that leaves members out makes sync clients delete them).
//
// Pure: exchanges in, observations and findings out. Keeping the last listings and the removals
// seen (bounded, in arrival order) is the caller's job (src/pipeline/listing-history.ts on the pipeline
// worker). Times are the exchanges' own timestamps, never a clock.
//
// What counts as a shrink: ANY member of the previous listing that is missing now, unless a
// DELETE, MOVE (source) or COPY/MOVE onto an existing destination through davtap may have removed
// it (that href or an ancestor) since that listing started, or still may (its request is in flight:
// the server may act before it answers). Members added are fine. The collection's own version
// marker (getctag, sync-token, its getetag) decides when both listings carry it: a changed marker
// means the collection changed (another client's doing, say), and nothing is reported; the same
// marker means nothing changed, and the missing members are the server's omission. Without a
// marker, a client that bypasses davtap can delete files too: a warning whose blame is unknown.
import type { Analysis, Finding, OutcomeKind, RawHeaders, Resource } from '../types.js';
import { joinedHeader } from '../http/headers.js';
import { normalizeHref } from './href.js';

/** What the history needs to know about one finished exchange. */
export interface ObservedExchange {
  method: string;
  /** Absolute upstream URL (scheme://host[:port]/path?query). */
  url: string;
  /** The request-target as the client sent it (origin-form or absolute-form). */
  target: string;
  requestHeaders: RawHeaders;
  /** Null when no response head arrived. */
  status: number | null;
  responseHeaders: RawHeaders;
  outcome: OutcomeKind;
  injected: boolean;
  analysis?: Analysis;
}

/** A complete Depth 1 / infinity listing of one collection. */
export interface ListingObservation {
  kind: 'listing';
  /** Identity + upstream + request-URI + Depth: listings are compared only under the same key. */
  key: string;
  upstream: string;
  /** Comparable form of the collection's path (see memberKey). */
  collection: string;
  depth: '1' | 'infinity';
  /** Members (normalized hrefs, the collection itself excluded) in document order. */
  members: string[];
  /** The collection's own version marker, `{ns}name=value` (Analysis.collectionMarker). */
  marker?: string;
}

/** A request that may have removed `paths` (and everything under them) on `upstream`. */
export interface RemovalObservation {
  kind: 'removal';
  upstream: string;
  method: string;
  /** Comparable forms (memberKey) of the removed paths. */
  paths: string[];
}

/** Why a flow is neither: said for tests and for the curious. */
export interface NoObservation {
  kind: 'none';
  reason: string;
}

export type Observation = ListingObservation | RemovalObservation | NoObservation;

/** A listing as the caller keeps it. */
export interface PreviousListing {
  start: number;
  end: number;
  /** The members kept, as normalized hrefs (at most the caller's cap, in document order). */
  members: readonly string[];
  /** How many members the listing had, kept or not. */
  total: number;
  flowId?: string;
  marker?: string;
}

export interface Removal {
  upstream: string;
  /** Comparable form of a removed path. */
  path: string;
  method: string;
  /** When the removing exchange ended (or started, when it never ended); Infinity while it is in flight. */
  at: number;
}

export interface CompareOptions {
  /**
   * False when removals may be missing since the previous listing (the caller's log overflowed):
   * a missing member could then be one of them, and nothing is reported.
   */
  removalsComplete?: boolean;
  /** Formats a timestamp for the message (default: HH:MM:SS UTC). */
  formatTime?: (ms: number) => string;
  /** Missing hrefs named in the message (default 3) and in the evidence (default 20). */
  messageExamples?: number;
  evidenceExamples?: number;
}

// ---------------------------------------------------------------------------------------------

/** Removal methods: what they may take away from the server's namespace. */
const REMOVING = new Set(['DELETE', 'MOVE', 'COPY']);

/** Findings that mean the ledger is not the server's whole answer. */
function incompleteBecause(analysis: Analysis): string | undefined {
  for (const f of analysis.findings) {
    if (f.rule === 'MS703') return `analysis limited (${f.rule})`;
    if (f.category === 'truncation' && f.severity === 'error') return `truncated (${f.rule})`;
    if (f.rule === 'MS101' || f.rule === 'MS901') return `not a well-formed answer (${f.rule})`;
    // The single-response MS403 (Depth infinity answered shallow): already reported, and a
    // listing that is known to be short is no reference either.
    if (f.rule === 'MS403') return 'already reported as MS403';
  }
  if (analysis.resources.some((r) => !r.complete)) return 'a response element never closed';
  return undefined;
}

/**
 * The comparable form of a path: percent-escapes decoded (servers differ in what they escape),
 * dot segments resolved, no trailing slash (a collection is listed as /a/ or /a).
 */
export function memberKey(path: string): string {
  return keyOfNormalized(normalizeHref(path));
}

/**
 * The cheap form of a normalized href: only the trailing slash dropped. Two listings of one
 * server write a member the same way, so listings are matched in this form first; the decoded
 * form (memberKey) is computed only for what does not match, and for removals.
 */
export function plainKey(normalized: string): string {
  return normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/** memberKey of an href already normalized (the ledger's `hrefNormalized`): the cheaper half. */
export function keyOfNormalized(normalized: string): string {
  let p = normalized;
  if (p.includes('%')) {
    try {
      p = decodeURIComponent(p);
    } catch {
      /* an escape that is not UTF-8: the normalized form (escapes upper-cased) is compared */
    }
  }
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

/** `member` is `removed` or lies under it. */
export function isUnder(member: string, removed: string): boolean {
  return member === removed || member.startsWith(removed + '/') || removed === '';
}

function pathAndQuery(url: string): { origin: string; path: string; query: string } | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?/i.exec(url);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  let authority = m[2]!.toLowerCase().replace(/^[^@]*@/, '');
  if ((scheme === 'http' && authority.endsWith(':80')) || (scheme === 'https' && authority.endsWith(':443'))) authority = authority.replace(/:\d+$/, '');
  return { origin: `${scheme}://${authority}`, path: m[3] || '/', query: m[4] ?? '' };
}

/** Who is asking: listings under different credentials may differ by ACL and are not compared. */
export function identityOf(requestHeaders: RawHeaders): string {
  const auth = joinedHeader(requestHeaders, 'Authorization')?.trim();
  if (!auth) return '';
  const space = auth.indexOf(' ');
  const scheme = (space < 0 ? auth : auth.slice(0, space)).toLowerCase();
  const rest = space < 0 ? '' : auth.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return `basic:${colon < 0 ? decoded : decoded.slice(0, colon)}`;
  }
  const user = /(?:^|,)\s*username\s*=\s*"?([^",]*)"?/i.exec(rest);
  if (scheme === 'digest' && user) return `digest:${user[1]}`;
  // Bearer tokens and the like: a hash, so that the token itself is not kept.
  return `${scheme}:${fnv1a(rest)}`;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}

/**
 * The upstream's path prefix in reverse mode (--upstream https://h/remote.php/dav): the client
 * writes paths without it (Destination, the request-target), the upstream URL and the server's
 * hrefs carry it.
 */
function upstreamPrefix(urlPath: string, target: string): string {
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  const targetPath = (abs ? target.slice(abs[0].length) : target).replace(/[?#].*$/, '') || '/';
  const full = memberKey(urlPath);
  const tail = memberKey(targetPath);
  return full.endsWith(tail) ? full.slice(0, full.length - tail.length) : '';
}

function depthOf(requestHeaders: RawHeaders): '0' | '1' | 'infinity' | undefined {
  const raw = joinedHeader(requestHeaders, 'Depth')?.trim().toLowerCase();
  // RFC 4918 §9.1: a PROPFIND without Depth is Depth infinity.
  if (raw === undefined || raw === '') return 'infinity';
  if (raw.startsWith('infinity')) return 'infinity';
  if (raw.startsWith('1')) return '1';
  if (raw.startsWith('0')) return '0';
  return undefined;
}

/** What one finished exchange means for the history: a listing, a removal, or nothing. */
export function observe(ex: ObservedExchange): Observation {
  const method = ex.method.toUpperCase();
  const at = pathAndQuery(ex.url);
  if (!at) return { kind: 'none', reason: 'no absolute upstream URL' };
  if (REMOVING.has(method)) return removalOf(ex, method, at);
  if (method !== 'PROPFIND') return { kind: 'none', reason: 'neither a listing nor a removal' };
  if (ex.status !== 207) return { kind: 'none', reason: `status ${ex.status ?? 'none'}` };
  if (ex.outcome !== 'complete') return { kind: 'none', reason: `transfer ${ex.outcome}` };
  if (ex.injected) return { kind: 'none', reason: 'fault injected by davtap' };
  const depth = depthOf(ex.requestHeaders);
  if (depth !== '1' && depth !== 'infinity') return { kind: 'none', reason: `Depth ${depth ?? 'unparsable'}` };
  const paginate = joinedHeader(ex.requestHeaders, 'X-NC-Paginate')?.trim().toLowerCase();
  if (paginate === 'true' || paginate === '1' || joinedHeader(ex.responseHeaders, 'X-NC-Paginate') !== undefined) {
    return { kind: 'none', reason: 'paginated (X-NC-Paginate)' };
  }
  if (!ex.analysis) return { kind: 'none', reason: 'not analyzed' };
  const incomplete = incompleteBecause(ex.analysis);
  if (incomplete !== undefined) return { kind: 'none', reason: incomplete };
  const collection = memberKey(at.path);
  const plainCollection = plainKey(normalizeHref(at.path));
  const members: string[] = [];
  const add = (r: Resource, href: string): boolean => {
    // Most hrefs are written as the request-URI was: the plain comparison settles them without
    // decoding escapes; the others are compared decoded.
    const plain = plainKey(href);
    const self = plain === plainCollection || (!plain.startsWith(plainCollection + '/') && keyOfNormalized(href) === collection);
    if (self) {
      // The server paged the listing: 507 on the request-URI (RFC 4918 §9.1 lets a server
      // limit a listing; the members past the limit are simply not there).
      return r.status === 507 || r.propstats.some((p) => p.status === 507);
    }
    if (plain.startsWith(plainCollection + '/') || plainCollection === '' || isUnder(keyOfNormalized(href), collection)) members.push(href);
    return false;
  };
  for (const r of ex.analysis.resources) {
    let paged = add(r, r.hrefNormalized);
    if (r.extraHrefs) for (const extra of r.extraHrefs) paged = add(r, normalizeHref(extra)) || paged;
    if (paged) return { kind: 'none', reason: 'paged by the server (507 on the request-URI)' };
  }
  return {
    kind: 'listing',
    key: `${identityOf(ex.requestHeaders)} ${at.origin}${collection}/${at.query} ${depth}`,
    upstream: at.origin,
    collection,
    depth,
    members,
    ...(ex.analysis.collectionMarker !== undefined ? { marker: `${ex.analysis.collectionMarker.property}=${ex.analysis.collectionMarker.value}` } : {}),
  };
}

function removalOf(ex: ObservedExchange, method: string, at: { origin: string; path: string }): Observation {
  // A refusal removed nothing. No answer at all (reset, timeout) may still have removed: the server
  // may have acted before the connection went, so it counts.
  if (ex.status !== null && (ex.status < 200 || ex.status > 299)) return { kind: 'none', reason: `${method} answered ${ex.status}` };
  const paths: string[] = [];
  // COPY takes nothing from its source; MOVE and DELETE do.
  if (method !== 'COPY') paths.push(memberKey(at.path));
  // COPY or MOVE onto an existing resource replaces it (RFC 4918 §9.8.4, §9.9.3): whatever was
  // under the destination may be gone. A new destination only adds, and adding is fine.
  const destination = joinedHeader(ex.requestHeaders, 'Destination')?.trim();
  if ((method === 'COPY' || method === 'MOVE') && destination) {
    const prefix = upstreamPrefix(at.path, ex.target);
    const dest = memberKey(destination);
    paths.push(prefix !== '' && !isUnder(dest, prefix) ? prefix + dest : dest);
  }
  if (paths.length === 0) return { kind: 'none', reason: 'COPY without Destination' };
  return { kind: 'removal', upstream: at.origin, method, paths };
}

/** `key` or one of its ancestors is in `removed` (a walk up the path: no scan of the removals). */
function removedBy(key: string, removed: ReadonlySet<string>): boolean {
  for (let p = key; ; p = p.slice(0, p.lastIndexOf('/'))) {
    if (removed.has(p)) return true;
    if (p === '') return false;
  }
}

function utcClock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

/**
 * MS403 when members of `previous` are missing from `current` and no removal since `previous`
 * started explains them; undefined otherwise. `current` must have started after `previous`
 * ended (else the two may have seen the collection in either order, and a member created between
 * them would look removed).
 */
export function compareListings(
  previous: PreviousListing,
  current: { start: number; listing: ListingObservation },
  removals: readonly Removal[],
  options: CompareOptions = {},
): Finding | undefined {
  if (current.start < previous.end) return undefined;
  if (options.removalsComplete === false) return undefined;
  const before = previous.marker;
  const after = current.listing.marker;
  // The collection says it changed: whatever left it, the listing is not short.
  if (before !== undefined && after !== undefined && before !== after) return undefined;
  // A collection's getetag may stay as it was when a member deeper down changed (Apache's follows
  // the directory's own mtime): for a Depth infinity listing only getctag and sync-token decide.
  const decisive = before !== undefined && (current.listing.depth === '1' || !before.startsWith('{DAV:}getetag='));
  const unchanged = decisive && before === after;
  const now = new Set(current.listing.members.map(plainKey));
  // Decoded forms of the current members, built only if some member does not match plainly.
  let decodedNow: Set<string> | undefined;
  const since = new Set<string>();
  for (const r of removals) if (r.upstream === current.listing.upstream && r.at >= previous.start) since.add(r.path);
  const missing: string[] = [];
  let removed = 0;
  for (const m of previous.members) {
    if (now.has(plainKey(m))) continue;
    decodedNow ??= new Set(current.listing.members.map(keyOfNormalized));
    const key = keyOfNormalized(m);
    if (decodedNow.has(key)) continue;
    if (since.size > 0 && removedBy(key, since)) {
      removed++;
      continue;
    }
    missing.push(m);
  }
  if (missing.length === 0) return undefined;
  const format = options.formatTime ?? utcClock;
  const ago = Math.max(0, Math.round((current.start - previous.start) / 1000));
  const shown = missing.slice(0, options.messageExamples ?? 3);
  const more = missing.length - shown.length;
  const { depth } = current.listing;
  const count = (k: number) => `${k} member${k === 1 ? '' : 's'}`;
  const markerName = unchanged && before !== undefined ? before.slice(before.indexOf('}') + 1, before.indexOf('=')) : '';
  return {
    rule: 'MS403',
    severity: 'warning',
    category: 'truncation',
    // Same marker: the server says nothing changed, so it left them out. Otherwise another
    // client may have removed them, out of davtap's sight.
    blame: unchanged ? 'server' : 'unknown',
    message:
      `member set shrank versus the listing seen at ${format(previous.start)} (${ago} s ago): ${count(previous.total)} then, ${count(current.listing.members.length)} now; ` +
      `${missing.length} missing without a DELETE or MOVE through davtap: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}` +
      (unchanged
        ? ` although the collection's ${markerName} is unchanged (${before!.slice(before!.indexOf('=') + 1)}): the server left ${missing.length === 1 ? 'it' : 'them'} out, and sync clients delete what a listing leaves out`
        : ` (a client that bypasses davtap may have removed ${missing.length === 1 ? 'it' : 'them'}; a server that leaves members out of a Depth ${depth} listing makes sync clients delete them)`),
    evidence: {
      ...(unchanged ? { versionMarker: before } : {}),
      href: shown[0],
      depth,
      previousAt: new Date(previous.start).toISOString(),
      ageSeconds: ago,
      ...(previous.flowId !== undefined ? { previousFlow: previous.flowId } : {}),
      previousMembers: previous.total,
      ...(previous.members.length < previous.total ? { previousMembersKept: previous.members.length } : {}),
      members: current.listing.members.length,
      missingCount: missing.length,
      missing: missing.slice(0, options.evidenceExamples ?? 20),
      removedThroughDavtap: removed,
    },
  };
}
