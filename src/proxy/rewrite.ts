// Reverse mode: the client addresses davtap (http://127.0.0.1:8080/x), the server lives at the
// upstream URL (https://dav.example.org/prefix/x). These are the only header values davtap changes,
// each because WebDAV breaks without it; bodies are never rewritten.
import type { RawHeaders } from '../types.js';
import { nameIs } from '../http/headers.js';

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

/**
 * How clients address davtap. Without a public URL it is the origin the client connected to
 * (`http://<Host header>`); with one (--public-url, for a TLS terminator, a port forward or a
 * container port in front of davtap) it is the public URL's origin and path prefix, and davtap's own
 * address still reaches its root for clients that use it directly.
 */
export interface ClientAddress {
  /** Origin clients use for davtap, e.g. http://127.0.0.1:8080 or https://example.org (no trailing slash). */
  origin: string;
  /** Path prefix under which `origin` shows davtap's root, without a trailing slash ('' for none). */
  prefix: string;
  /** Further origins that reach davtap's root, without a prefix (its own address when a public URL is set). */
  also: string[];
}

/**
 * The client's address for one request: `requestOrigin` is `http(s)://<Host header>` (or davtap's
 * listen address when there is none), `listenAuthority` davtap's own `host:port`. With a public
 * URL, Destination and If URLs on the public origin and prefix map, and so do those on davtap's own
 * address and on the request's Host, with either scheme; Location and Content-Location map back to
 * the public URL.
 */
export function clientAddressOf(requestOrigin: string, publicUrl?: URL, listenAuthority?: string): ClientAddress {
  if (!publicUrl) return { origin: requestOrigin, prefix: '', also: [] };
  const origin = publicUrl.origin;
  const hostOf = (o: string) => o.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const authorities = [hostOf(requestOrigin), ...(listenAuthority ? [listenAuthority] : [])];
  const also: string[] = [];
  for (const a of authorities) {
    for (const o of [`http://${a}`, `https://${a}`]) {
      if (o.toLowerCase() !== origin.toLowerCase() && !also.some((x) => x.toLowerCase() === o.toLowerCase())) also.push(o);
    }
  }
  return { origin, prefix: publicUrl.pathname.replace(/\/+$/, ''), also };
}

const asClientAddress = (client: string | ClientAddress): ClientAddress => (typeof client === 'string' ? { origin: client, prefix: '', also: [] } : client);

/** `path` is `prefix` or below it ('' is above every path). */
function under(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || '/?#'.includes(path[prefix.length]!));
}

/**
 * The rest of `value` after `origin` (case-insensitive: scheme and host are), '' for the origin
 * alone, null when `value` is not on it. An origin without a port also matches the same origin with
 * its scheme's default port written out (`https://example.org:443/x`).
 */
function afterOrigin(value: string, origin: string): string | null {
  const forms = [origin];
  const m = /^(https?):\/\/(\[[^\]]*\]|[^:/]*)$/i.exec(origin);
  if (m) forms.push(`${origin}:${m[1]!.toLowerCase() === 'https' ? 443 : 80}`);
  for (const f of forms) {
    if (value.slice(0, f.length).toLowerCase() !== f.toLowerCase()) continue;
    if (value.length === f.length) return '';
    if ('/?#'.includes(value[f.length]!)) return value.slice(f.length);
  }
  return null;
}

/** Maps a URL the client wrote (absolute, on davtap's address, or an absolute path) to upstream. */
function toUpstream(map: AddressMap, client: ClientAddress, value: string): string {
  const v = value.trim();
  const upstream = (path: string) => map.upstreamPrefix + (path.startsWith('/') ? path : '/' + path);
  if (v.startsWith('/')) {
    // A path the client wrote through the public URL carries its prefix; any other is davtap's own.
    if (client.prefix && !v.startsWith('//') && under(v, client.prefix)) return upstream(v.slice(client.prefix.length));
    return map.upstreamPrefix + v;
  }
  const rest = afterOrigin(v, client.origin);
  if (rest !== null) {
    if (!client.prefix) return map.upstreamOrigin + upstream(rest);
    const path = rest.startsWith('/') ? rest : '/' + rest;
    // On the public origin but outside the prefix: not davtap's, the server judges it as sent.
    return under(path, client.prefix) ? map.upstreamOrigin + upstream(path.slice(client.prefix.length)) : value;
  }
  for (const o of client.also) {
    const r = afterOrigin(v, o);
    if (r !== null) return map.upstreamOrigin + upstream(r);
  }
  return value;
}

/** Maps a URL the server wrote back to the address the client uses for davtap. */
function toClient(map: AddressMap, client: ClientAddress, value: string): string {
  const v = value.trim();
  const base = map.upstreamOrigin + map.upstreamPrefix;
  if (v.toLowerCase().startsWith(base.toLowerCase()) && (v.length === base.length || '/?#'.includes(v[base.length]!))) {
    return client.origin + client.prefix + (v.slice(base.length) || '/');
  }
  if (v.startsWith('/') && !v.startsWith('//') && (map.upstreamPrefix || client.prefix) && under(v, map.upstreamPrefix)) {
    return client.prefix + v.slice(map.upstreamPrefix.length) || '/';
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

/**
 * `client`: a ClientAddress, or the origin alone (`http://127.0.0.1:8080`) when there is no public
 * URL. Host is set to the upstream's (in place of the first Host, or appended), Destination and
 * If mapped; the fields keep their order and case. One pass over the fields, run for every request.
 */
export function mapRequestHeaders(map: AddressMap, raw: RawHeaders, client: string | ClientAddress): RawHeaders {
  const c = asClientAddress(client);
  const out: RawHeaders = [];
  let host = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (nameIs(name, 'host')) {
      if (!host) out.push(name, map.upstreamHost);
      host = true;
    } else if (nameIs(name, 'destination')) out.push(name, toUpstream(map, c, value));
    else if (nameIs(name, 'if')) out.push(name, mapIfHeader(value, (u) => toUpstream(map, c, u)));
    else out.push(name, value);
  }
  if (!host) out.push('Host', map.upstreamHost);
  return out;
}

/**
 * Location and Content-Location mapped back to the client's address. Run for every response: it
 * returns `raw` itself when it has neither field (the caller owns `raw`), a copy otherwise.
 */
export function mapResponseHeaders(map: AddressMap, raw: RawHeaders, client: string | ClientAddress): RawHeaders {
  let out: RawHeaders | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!nameIs(name, 'location') && !nameIs(name, 'content-location')) continue;
    out ??= raw.slice();
    out[i + 1] = toClient(map, asClientAddress(client), raw[i + 1]!);
  }
  return out ?? raw;
}
