// Reverse mode: the client addresses davtap (http://127.0.0.1:8080/x), the server lives at the
// upstream URL (https://dav.example.org/prefix/x). These are the only header values davtap changes,
// each because WebDAV breaks without it; bodies are never rewritten.
import type { RawHeaders } from '../types.js';
import { mapHeader, setHeader } from '../http/headers.js';

export interface AddressMap {
  /** Upstream origin, e.g. https://dav.example.org (no trailing slash). */
  upstreamOrigin: string;
  /** Upstream path prefix without a trailing slash ('' for none), e.g. /remote.php/dav. */
  upstreamPrefix: string;
  /** Authority for the upstream Host header (default port omitted). */
  upstreamHost: string;
}

export function addressMapOf(upstream: URL): AddressMap {
  const prefix = upstream.pathname.replace(/\/+$/, '');
  return { upstreamOrigin: upstream.origin, upstreamPrefix: prefix, upstreamHost: upstream.host };
}

/**
 * The path part of a request-target, verbatim: origin-form as is, absolute-form without its
 * scheme and authority. No URL parsing: the bytes the client sent are the bytes the server judges.
 */
export function rawPathOf(target: string): string {
  if (target.startsWith('/') || target === '*') return target;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest.startsWith('/') ? rest : '/' + rest;
}

/** The upstream request-target for one the client sent to davtap (origin-form or absolute-form). */
export function upstreamPathFor(map: AddressMap, target: string): string {
  const path = rawPathOf(target);
  return path === '*' ? path : map.upstreamPrefix + path;
}

/** Maps a URL the client wrote (absolute, on davtap's address, or an absolute path) to upstream. */
function toUpstream(map: AddressMap, clientOrigin: string, value: string): string {
  const v = value.trim();
  if (v.startsWith('/')) return map.upstreamPrefix + v;
  if (v.toLowerCase().startsWith(clientOrigin.toLowerCase() + '/') || v.toLowerCase() === clientOrigin.toLowerCase()) {
    return map.upstreamOrigin + map.upstreamPrefix + (v.slice(clientOrigin.length) || '/');
  }
  return value;
}

/** Maps a URL the server wrote back to the address the client uses for davtap. */
function toClient(map: AddressMap, clientOrigin: string, value: string): string {
  const v = value.trim();
  const base = map.upstreamOrigin + map.upstreamPrefix;
  if (v.toLowerCase().startsWith(base.toLowerCase()) && (v.length === base.length || '/?#'.includes(v[base.length]!))) {
    return clientOrigin + (v.slice(base.length) || '/');
  }
  if (map.upstreamPrefix && v.startsWith(map.upstreamPrefix) && (v.length === map.upstreamPrefix.length || '/?#'.includes(v[map.upstreamPrefix.length]!))) {
    return v.slice(map.upstreamPrefix.length) || '/';
  }
  return value;
}

/**
 * Maps the Resource_Tag URLs of an `If` header (RFC 4918 §10.4), the `<…>` outside parentheses;
 * state tokens inside parentheses (`(<opaquelocktoken:…>)`) are left alone.
 */
function mapIfHeader(value: string, map: (url: string) => string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === '<' && depth === 0) {
      const close = value.indexOf('>', i);
      if (close > i) {
        out += '<' + map(value.slice(i + 1, close)) + '>';
        i = close;
        continue;
      }
    }
    out += c;
  }
  return out;
}

export function mapRequestHeaders(map: AddressMap, raw: RawHeaders, clientOrigin: string): RawHeaders {
  let out = setHeader(raw, 'Host', map.upstreamHost);
  out = mapHeader(out, 'destination', (v) => toUpstream(map, clientOrigin, v));
  out = mapHeader(out, 'if', (v) => mapIfHeader(v, (u) => toUpstream(map, clientOrigin, u)));
  return out;
}

export function mapResponseHeaders(map: AddressMap, raw: RawHeaders, clientOrigin: string): RawHeaders {
  let out = mapHeader(raw, 'location', (v) => toClient(map, clientOrigin, v));
  out = mapHeader(out, 'content-location', (v) => toClient(map, clientOrigin, v));
  return out;
}
