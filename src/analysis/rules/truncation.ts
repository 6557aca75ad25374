// Truncation: the body stopped short, at the transport (MS001–MS004) or inside the XML (MS006),
// or a listing came back emptier than the request asked for (MS209, MS403).
import type { Blame, Resource } from '../../types.js';
import { ledgerRule, type Draft, type Facts, type LedgerContext, type LedgerPass, type RuleDef } from '../facts.js';
import { normalizeHref } from '../href.js';
import { completeCount, n, plural, printable, whereBodyEnded } from './util.js';

const closedBy = (f: Facts): string => {
  const t = f.transport;
  if (t.closeKind === 'rst' || t.code === 'ECONNRESET') return 'reset (RST)';
  if (t.closeKind === 'tls-no-close-notify') return 'TLS close without close_notify';
  if (t.closeKind === 'timeout' || t.outcome === 'timeout') return 'timeout';
  return 'closed (FIN)';
};

/**
 * The client went away and the proxy stopped reading: the body is short because of the client,
 * and nothing about the server's body can be concluded (DESIGN.md: never report that as truncation).
 */
export function clientGaveUp(f: Facts): boolean {
  return f.transport.outcome === 'client-aborted';
}

export function ms001Applies(f: Facts): boolean {
  if (clientGaveUp(f)) return false;
  const fr = f.framing;
  return fr.framing === 'content-length' && fr.declaredLength !== null && fr.payloadBytes < fr.declaredLength;
}

export function ms002Applies(f: Facts): boolean {
  if (clientGaveUp(f)) return false;
  const fr = f.framing;
  if (fr.framing !== 'chunked') return false;
  // The relay's wire core reads the same bytes the same way: a message that stops after the last
  // chunk, before the trailer section's final CRLF, is as incomplete offline as it is live.
  if (fr.bodyForm === 'wire') return fr.chunkError !== undefined || !fr.sawLastChunk || !fr.chunkedEnded;
  return f.transport.outcome !== 'complete' || /^HPE_/.test(f.transport.code ?? '');
}

export function ms003Applies(f: Facts): boolean {
  if (clientGaveUp(f)) return false;
  const t = f.transport;
  if (/HTTP2|RST_STREAM|GOAWAY|ERR_STREAM/i.test(t.code ?? '')) return !ms001Applies(f);
  if (f.framing.framing !== 'close-delimited') return false;
  return t.closeKind === 'rst' || t.closeKind === 'tls-no-close-notify' || t.outcome === 'upstream-aborted' || t.outcome === 'timeout' || t.outcome === 'error';
}

export function ms004Applies(f: Facts): boolean {
  if (clientGaveUp(f) && /unexpected end/i.test(f.decoding.error ?? '')) return false;
  return f.decoding.error !== undefined && f.decoding.unsupported === undefined;
}

/**
 * The body does end with the root's end tag, yet the parser never saw it: an unterminated
 * construct (a raw '&' read as an entity reference, an open comment, CDATA or attribute value)
 * swallowed the rest of the document. That is MS101, not a truncation.
 */
export function swallowedEnd(f: Facts): boolean {
  const root = f.xml.root;
  if (!root || f.xml.rootClosed || f.xml.limitHit) return false;
  const name = root.prefix ? `${root.prefix}:${root.local}` : root.local;
  return f.text.tail.trimEnd().endsWith(`</${name}>`);
}

/** A relay's buffer size: a cut at a multiple of it points at a gateway (RULES.md §6). */
const RELAY_BUFFER = 16 * 1024;

/**
 * Blame for a body cut after `received` bytes: a gateway when the cut falls on a relay's buffer
 * size (16, 32, 64 KiB…), otherwise the rule's default (one vantage point, no signature).
 */
export function cutBlame(received: number): Pick<Draft, 'blame'> {
  const blame: Blame | undefined = received >= RELAY_BUFFER && received % RELAY_BUFFER === 0 ? 'gateway' : undefined;
  return blame !== undefined ? { blame } : {};
}

/** The transport-level root cause of a truncated body, if any (first of MS001–MS004). */
export function transportCause(f: Facts): string | undefined {
  if (ms001Applies(f)) return 'MS001';
  if (ms002Applies(f)) return 'MS002';
  if (ms003Applies(f)) return 'MS003';
  if (ms004Applies(f)) return 'MS004';
  return undefined;
}

export const truncationRules: RuleDef[] = [
  {
    id: 'MS001',
    severity: 'error',
    category: 'truncation',
    blame: 'unknown',
    title: 'body shorter than Content-Length',
    scope: 'transport',
    atEnd(f) {
      if (!ms001Applies(f)) return undefined;
      const fr = f.framing;
      const declared = fr.declaredLength!;
      const shortfall = declared - fr.payloadBytes;
      const where = f.bodyInScope ? `, ${whereBodyEnded(f)}` : '';
      return {
        ...cutBlame(fr.payloadBytes),
        message: `body ended after ${n(fr.payloadBytes)} of ${n(declared)} declared bytes (${n(shortfall)} missing; connection ${closedBy(f)})${where}`,
        evidence: {
          offset: fr.payloadBytes,
          contentLength: declared,
          received: fr.payloadBytes,
          shortfall,
          closedBy: closedBy(f),
          ...(f.transport.code !== undefined ? { code: f.transport.code } : {}),
          ...(f.xml.lastComplete ? { lastCompleteHref: f.xml.lastComplete.href } : {}),
          excerpt: printable(fr.tail),
        },
      };
    },
  },
  {
    id: 'MS002',
    severity: 'error',
    category: 'truncation',
    blame: 'unknown',
    title: 'chunked body incomplete or mis-framed',
    scope: 'transport',
    atEnd(f) {
      if (!ms002Applies(f)) return undefined;
      const fr = f.framing;
      const where = f.bodyInScope ? `; ${whereBodyEnded(f)}` : '';
      if (fr.chunkError) {
        return {
          message: `invalid chunked framing at wire byte ${n(fr.chunkError.offset)}: ${fr.chunkError.what} (after ${plural(fr.chunkCount, 'chunk')}, ${n(fr.payloadBytes)} payload bytes)${where}`,
          evidence: { offset: fr.chunkError.offset, chunks: fr.chunkCount, hex: fr.chunkError.hex, ...(fr.lastSizeLine !== undefined ? { lastSizeLine: fr.lastSizeLine } : {}), received: fr.payloadBytes },
        };
      }
      if (fr.bodyForm === 'payload') {
        return {
          ...cutBlame(fr.payloadBytes),
          message: `chunked body ended before the last chunk (${f.transport.code ?? f.transport.outcome}) after ${n(fr.payloadBytes)} payload bytes${where}`,
          evidence: { offset: fr.payloadBytes, received: fr.payloadBytes, outcome: f.transport.outcome, ...(f.transport.code !== undefined ? { code: f.transport.code } : {}) },
        };
      }
      if (fr.sawLastChunk) {
        return {
          ...cutBlame(fr.payloadBytes),
          message: `chunked message ended after its last chunk, inside the trailer section, before the final CRLF (${plural(fr.chunkCount, 'chunk')}, ${n(fr.payloadBytes)} payload bytes)${where}`,
          evidence: { offset: fr.wireBytes, chunks: fr.chunkCount, received: fr.payloadBytes, excerpt: printable(fr.tail.subarray(-64)) },
        };
      }
      return {
        ...cutBlame(fr.payloadBytes),
        message: `chunked body ended without the terminating zero-size chunk, ${f.chunkState}, after ${plural(fr.chunkCount, 'chunk')} (${n(fr.payloadBytes)} payload bytes)${where}`,
        evidence: { offset: fr.wireBytes, chunks: fr.chunkCount, received: fr.payloadBytes, ...(fr.lastSizeLine !== undefined ? { lastSizeLine: fr.lastSizeLine } : {}), excerpt: printable(fr.tail.subarray(-64)) },
      };
    },
  },
  {
    id: 'MS003',
    severity: 'error',
    category: 'truncation',
    blame: 'unknown',
    title: 'connection reset or aborted before the end of the body',
    scope: 'transport',
    atEnd(f) {
      if (!ms003Applies(f)) return undefined;
      const t = f.transport;
      const event = t.code ?? (t.closeKind !== undefined && t.closeKind !== 'fin' ? closedBy(f) : t.outcome);
      const where = f.bodyInScope ? `; ${whereBodyEnded(f)}` : '';
      return {
        ...cutBlame(f.framing.payloadBytes),
        message: `transport ended abnormally (${event}${t.message !== undefined ? `: ${t.message}` : ''}) after ${n(f.framing.payloadBytes)} body bytes; a ${f.framing.framing} body cannot be complete after that${where}`,
        evidence: { offset: f.framing.payloadBytes, event, outcome: t.outcome, ...(t.closeKind !== undefined ? { closeKind: t.closeKind } : {}), received: f.framing.payloadBytes },
      };
    },
  },
  {
    id: 'MS004',
    severity: 'error',
    category: 'truncation',
    blame: 'unknown',
    title: 'content-encoded stream truncated or corrupt',
    scope: 'transport',
    atEnd(f) {
      if (!ms004Applies(f)) return undefined;
      const d = f.decoding;
      const what = /unexpected end/i.test(d.error!) ? 'stream truncated (no end of stream / trailer)' : /data check|incorrect length/i.test(d.error!) ? 'CRC32/ISIZE mismatch' : d.error!;
      return {
        message: `${d.applied} ${what}: decoder said "${d.error}" after ${n(d.compressedBytes)} compressed bytes (${n(d.decodedBytes)} decoded)${f.bodyInScope ? `; ${whereBodyEnded(f)}` : ''}`,
        evidence: { coding: d.applied, compressedBytes: d.compressedBytes, decodedBytes: d.decodedBytes, decoderError: d.error, ...(d.errorCode !== undefined ? { code: d.errorCode } : {}) },
      };
    },
  },
  {
    id: 'MS006',
    severity: 'error',
    category: 'truncation',
    blame: 'server',
    title: 'XML ended before the root element closed',
    scope: 'body',
    atEnd(f) {
      const x = f.xml;
      if (x.limitHit) return undefined; // parsing stopped on purpose: MS703
      if (clientGaveUp(f)) return undefined; // the capture is short, not the server's body
      if (f.decoding.unsupported !== undefined) return undefined;
      const cause = transportCause(f);
      const label = cause === undefined ? 'server-side truncation: ' : '';
      if (x.root === undefined) {
        if (f.head.status !== 207) return undefined;
        if (!/\S/.test(f.text.head)) {
          return {
            message: `${label}207 with an empty body (${plural(f.decoding.decodedBytes, 'byte')}${f.decoding.decodedBytes > 0 ? ' of whitespace' : ''}): no multistatus at all`,
            evidence: { offset: 0, received: f.decoding.decodedBytes },
          };
        }
        // Ended inside the prolog (declaration, comment, a partial first tag). Other text is MS101's.
        if (x.errors.some((e) => e.kind === 'other' || e.kind === 'char') || f.text.invalidUtf8) return undefined;
        return {
          message: `${label}XML ended after ${plural(f.decoding.decodedBytes, 'byte')}, before the root element started: no response arrived`,
          evidence: { offset: f.decoding.decodedBytes, path: '', completeResponses: 0, excerpt: f.text.head.slice(-80) },
        };
      }
      if (x.rootClosed || (cause === undefined && swallowedEnd(f))) return undefined;
      const open = x.openAtEnd.join('>');
      return {
        message: `${label}XML ended before </${x.root?.local ?? 'multistatus'}> (open: ${open || 'none'}), ${whereBodyEnded(f)}; ${plural(completeCount(f), 'complete response')} parsed`,
        evidence: {
          offset: f.decoding.decodedBytes,
          path: open,
          completeResponses: completeCount(f),
          ...(x.lastComplete ? { lastCompleteHref: x.lastComplete.href, lastCompleteEnd: x.lastComplete.endOffset } : {}),
          ...(x.openResponseHref !== undefined ? { href: x.openResponseHref } : {}),
        },
      };
    },
  },
  {
    id: 'MS209',
    severity: 'warning',
    category: 'truncation',
    blame: 'server',
    title: 'PROPFIND 207 without any response',
    scope: 'body',
    atEnd(f) {
      if (f.req.method !== 'PROPFIND' || f.head.status !== 207 || !f.xml.isMultistatus || !f.xml.rootClosed) return undefined;
      if (f.xml.responseCount > 0) return undefined;
      return {
        message: `PROPFIND (Depth: ${f.req.depth ?? 'missing, i.e. infinity'}) answered 207 with an empty multistatus: not even the request URI is listed`,
        evidence: { depth: f.req.depth ?? null, bodyBytes: f.decoding.decodedBytes },
      };
    },
  },
  ledgerRule({
    id: 'MS403',
    severity: 'warning',
    category: 'truncation',
    blame: 'server',
    title: 'Depth: infinity answered as if Depth: 1',
    scope: 'body',
    ledger: (ctx) => new ListingDepth(ctx),
    atEnd(f, pass) {
      // Single vantage point: the upstream comparison lives in verify (compareLedgers).
      if (f.req.method !== 'PROPFIND' || f.req.ncPaginate || !f.xml.rootClosed) return undefined;
      if (f.req.depth !== undefined && f.req.depth !== 'infinity') return undefined;
      const { maxDepth, childCollections, childCollectionCount } = pass;
      if (maxDepth !== 1 || childCollectionCount === 0) return undefined;
      return {
        message: `Depth: infinity listing stops one level down although ${plural(childCollectionCount, 'child is a collection', 'children are collections')} (e.g. ${childCollections[0]}); a server that refuses infinity must answer 403 propfind-finite-depth`,
        evidence: { depth: f.req.depth ?? 'infinity (missing header)', maxDepthSeen: maxDepth, collections: childCollections, responses: f.ledger.count },
      };
    },
  }),
];

/** MS403: how deep the listing goes below the request URI, and its first child collections. */
class ListingDepth implements LedgerPass {
  maxDepth = 0;
  childCollectionCount = 0;
  readonly childCollections: string[] = [];
  /** The request URI with a trailing slash, worked out at the first resource (most analyses are of small answers). */
  private base: string | undefined;

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    const p = r.hrefNormalized;
    const base = (this.base ??= normalizeHref(this.ctx.req.path).replace(/\/?$/, '/'));
    if (!p.startsWith(base)) return;
    // Segments below the base, a trailing slash not counting (without a copy: once per resource).
    const end = p.charCodeAt(p.length - 1) === 0x2f ? p.length - 1 : p.length;
    if (end <= base.length) return;
    let depth = 1;
    for (let k = base.length; k < end; k++) if (p.charCodeAt(k) === 0x2f) depth++;
    if (depth > this.maxDepth) this.maxDepth = depth;
    if (depth === 1 && r.collection) {
      this.childCollectionCount++;
      if (this.childCollections.length < 10) this.childCollections.push(r.href);
    }
  }
}
