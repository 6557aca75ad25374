// Credential redaction for every export format. What a user hands to a maintainer must not carry
// their password or session: header values and URL query values are replaced, names are kept so
// that the trace still shows *that* a credential was sent (a missing Authorization is a finding of
// its own when debugging a 401).
import type { RawHeaders } from '../types.js';

export const REDACTED = '[redacted]';

/** Headers whose value is a credential, whatever the server. */
export const defaultRedactedHeaders: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];

/** Query parameters that usually carry a secret (pre-signed URLs, share links, API keys). */
export const defaultRedactedParams: readonly string[] = ['token', 'access_token', 'auth', 'key', 'sig', 'signature', 'password'];

// Headers whose value is a URL: their query string is redacted like the request URL's.
const urlHeaders = new Set(['destination', 'location', 'content-location', 'referer']);

export interface RedactOptions {
  /** False keeps everything (`--no-redact`). Default true. */
  enabled?: boolean;
  /** More header or query parameter names to redact (`--redact NAME`), case-insensitive. */
  names?: readonly string[];
}

export interface Redactor {
  readonly enabled: boolean;
  /** True when this header's value is replaced. */
  redactsHeader(name: string): boolean;
  /** A copy of the list with credential values replaced; names and order kept. */
  headers(raw: RawHeaders): RawHeaders;
  /** The URL (absolute or a request-target) with secret query values and the userinfo's secret replaced. */
  url(url: string): string;
  /** The value of one header, redacted as `headers()` would. */
  headerValue(name: string, value: string): string;
}

export function createRedactor(options: RedactOptions = {}): Redactor {
  const enabled = options.enabled !== false;
  const extra = (options.names ?? []).map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  const headerNames = new Set([...defaultRedactedHeaders, ...extra]);
  const paramNames = new Set([...defaultRedactedParams, ...extra]);

  // `X-Amz-Signature`, `refresh_token`, `api_key`: a known secret name at the end of a longer one.
  const secretParam = (name: string): boolean => {
    const n = safeDecode(name).toLowerCase();
    if (paramNames.has(n)) return true;
    for (const p of paramNames) if (n.endsWith(`-${p}`) || n.endsWith(`_${p}`) || n.endsWith(`.${p}`)) return true;
    return false;
  };

  const url = (text: string): string => {
    if (!enabled) return text;
    let out = text;
    // userinfo: http://user:secret@host/ keeps the user, loses the password; a lone userinfo
    // (http://TOKEN@host/, how access tokens are often passed) is redacted whole.
    out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@?#]*)@/i, (_m, scheme: string, info: string) => {
      const colon = info.indexOf(':');
      return `${scheme}${colon < 0 ? REDACTED : `${info.slice(0, colon)}:${REDACTED}`}@`;
    });
    const q = out.indexOf('?');
    if (q < 0) return out;
    const hash = out.indexOf('#', q);
    const query = out.slice(q + 1, hash < 0 ? undefined : hash);
    const tail = hash < 0 ? '' : out.slice(hash);
    // Rewritten by hand, not with URLSearchParams: the rest of the query must stay byte for byte
    // as the client sent it (encoding, order, empty values), or replaying it would differ.
    const parts = query.split('&').map((part) => {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      return eq >= 0 && secretParam(name) ? `${name}=${encodeURIComponent(REDACTED)}` : part;
    });
    return `${out.slice(0, q)}?${parts.join('&')}${tail}`;
  };

  const redactsHeader = (name: string): boolean => enabled && headerNames.has(name.toLowerCase());

  const headerValue = (name: string, value: string): string => {
    if (!enabled) return value;
    if (headerNames.has(name.toLowerCase())) return REDACTED;
    if (urlHeaders.has(name.toLowerCase())) return url(value);
    return value;
  };

  return {
    enabled,
    redactsHeader,
    headerValue,
    url,
    headers(raw) {
      if (!enabled) return raw.slice();
      const out: RawHeaders = [];
      for (let i = 0; i + 1 < raw.length; i += 2) out.push(raw[i]!, headerValue(raw[i]!, raw[i + 1]!));
      return out;
    },
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
