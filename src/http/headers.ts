// Raw header lists ([name, value, name, value, …]) as Node gives them in rawHeaders. Working on
// the raw list keeps the original case and order, which the transparency contract requires.
import type { RawHeaders } from '../types.js';

export function getHeader(raw: RawHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === wanted) return raw[i + 1];
  }
  return undefined;
}

export function getHeaderAll(raw: RawHeaders, name: string): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === wanted) out.push(raw[i + 1]!);
  }
  return out;
}

export function hasHeader(raw: RawHeaders, name: string): boolean {
  return getHeader(raw, name) !== undefined;
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

/** Removes hop-by-hop fields: the fixed set and every field the Connection header names. */
export function withoutHopByHop(raw: RawHeaders, extra: readonly string[] = []): RawHeaders {
  const drop = new Set([...alwaysHopByHop, ...extra]);
  for (const value of getHeaderAll(raw, 'connection')) {
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      // A Connection header naming a framing field would let a peer strip framing: never honour it.
      if (t && t !== 'transfer-encoding' && t !== 'content-length') drop.add(t);
    }
  }
  const out: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Pairs for ServerResponse.addTrailers, from a raw trailer list. */
export function trailerPairs(raw: RawHeaders): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}
