// Raw header lists ([name, value, name, value, …]) as Node gives them in rawHeaders. Working on
// the raw list keeps the original case and order, which the transparency contract requires.
import type { RawHeaders } from '../types.js';

/**
 * Whether a field name (any case) is `lower` (lower case). Field names are tokens (ASCII): they are
 * compared code by code, A-Z folded, without making a lower-cased copy (every relayed head is
 * looked up several times); most names are ruled out by their length alone.
 */
export function nameIs(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The first value of header `name` (compared case-insensitively), or undefined when absent. */
export function firstHeader(raw: readonly string[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (nameIs(raw[i]!, wanted)) return raw[i + 1];
  }
  return undefined;
}

/** Every value of header `name` (compared case-insensitively), in order. */
export function headerValues(raw: readonly string[], name: string): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (nameIs(raw[i]!, wanted)) out.push(raw[i + 1]!);
  }
  return out;
}

/** The fields called `name` (compared case-insensitively) as [name as sent, value] pairs, in order. */
export function headerFields(raw: readonly string[], name: string): [string, string][] {
  const wanted = name.toLowerCase();
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === wanted.length && n.toLowerCase() === wanted) out.push([n, raw[i + 1]!]);
  }
  return out;
}

/** The values of header `name` joined as one list (RFC 9110 §5.3), or undefined when absent. */
export function joinedHeader(raw: readonly string[], name: string): string | undefined {
  const values = headerValues(raw, name);
  return values.length === 0 ? undefined : values.join(', ');
}

export function hasHeader(raw: readonly string[], name: string): boolean {
  return firstHeader(raw, name) !== undefined;
}

/** A copy without any header whose name is one of `names` (compared case-insensitively). */
export function withoutHeaders(raw: readonly string[], ...names: string[]): RawHeaders {
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const out: RawHeaders = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** Name and value pairs, names' case kept. */
export function headerPairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Returns a copy with `map` applied to the values of every header called `name`. */
export function mapHeader(raw: RawHeaders, name: string, map: (value: string) => string): RawHeaders {
  const wanted = name.toLowerCase();
  const out = raw.slice();
  for (let i = 0; i < out.length; i += 2) {
    if (out[i]!.toLowerCase() === wanted) out[i + 1] = map(out[i + 1]!);
  }
  return out;
}

/** Replaces the value of `name` in place of its first occurrence (keeping its case), or appends it. */
export function setHeader(raw: RawHeaders, name: string, value: string): RawHeaders {
  const wanted = name.toLowerCase();
  const out: RawHeaders = [];
  let done = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== wanted) {
      out.push(raw[i]!, raw[i + 1]!);
    } else if (!done) {
      out.push(raw[i]!, value);
      done = true;
    }
  }
  if (!done) out.push(name, value);
  return out;
}

// RFC 9110 §7.6.1: connection-specific fields belong to one hop. Transfer-Encoding is hop-by-hop
// too, but davtap keeps the framing kind on purpose (chunked stays chunked), so it passes; TE
// ("trailers") passes because davtap relays trailers.
const alwaysHopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/** The lengths of alwaysHopByHop's names: a name of another length is not looked up. */
const HOP_BY_HOP_LENGTHS = new Set([...alwaysHopByHop].map((n) => n.length));

/**
 * Removes hop-by-hop fields: the fixed set and every field the Connection header names. Called for
 * every relayed head: a head without Connection tokens or `extra` names is filtered without
 * building a set, and only names as long as a hop-by-hop name are lower-cased.
 */
export function withoutHopByHop(raw: RawHeaders, extra: readonly string[] = []): RawHeaders {
  let drop: Set<string> | null = extra.length > 0 ? new Set([...alwaysHopByHop, ...extra]) : null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!nameIs(raw[i]!, 'connection')) continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = token.trim().toLowerCase();
      // A Connection header naming a framing field would let a peer strip framing: never honour it.
      if (t && t !== 'transfer-encoding' && t !== 'content-length') (drop ??= new Set(alwaysHopByHop)).add(t);
    }
  }
  const out: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const dropped = drop ? drop.has(name.toLowerCase()) : HOP_BY_HOP_LENGTHS.has(name.length) && alwaysHopByHop.has(name.toLowerCase());
    if (!dropped) out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Pairs for ServerResponse.addTrailers, from a raw trailer list. */
export function trailerPairs(raw: RawHeaders): [string, string][] {
  return headerPairs(raw);
}

export interface MediaType {
  /** Lower-cased type/subtype, e.g. text/xml. */
  essence: string;
  /** Lower-cased charset parameter without quotes, when present. */
  charset?: string;
}

/** A Content-Type value's essence and charset. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined) return undefined;
  // By index rather than split and a regular expression: every analysis parses one of these.
  const semi = value.indexOf(';');
  const out: MediaType = { essence: (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase() };
  for (let at = semi; at >= 0; ) {
    const next = value.indexOf(';', at + 1);
    const p = value.slice(at + 1, next < 0 ? value.length : next);
    at = next;
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.charset = v.toLowerCase();
  }
  return out;
}

/** Comma-separated tokens of a list header, lower-cased and trimmed. */
export function listTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
}
