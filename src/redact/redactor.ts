// Credential masking. What a user hands to a maintainer, or shows on a shared screen, must not carry
// their password or session: header values, URL query, fragment and path parameter values, and the
// same inside free text (a finding that quotes a `Location`) are replaced. Names are kept, so that a
// trace still shows *that* a credential was sent (a missing Authorization is a finding of its own
// when debugging a 401). Everything else stays byte for byte, so that a replayed request matches.
import type { RawHeaders } from '../types.js';
import { defaultSecretNames, normalizeEntry, secretNameTest } from './names.js';

export const REDACTED = '[redacted]';
/** The replacement inside a URL, where brackets are not allowed. */
const REDACTED_IN_URL = encodeURIComponent(REDACTED);

// Headers whose value is a URL: their query string is redacted like the request URL's.
const urlHeaders = new Set(['destination', 'location', 'content-location', 'referer']);

export interface RedactOptions {
  /** False keeps everything (`--no-redact`, `--show-secrets`). Default true. */
  enabled?: boolean;
  /**
   * More table entries (`--redact NAME`): a name, a `*pattern*`, or `!name` to keep one the
   * defaults redact. An entry replaces a default one for the same name.
   */
  names?: readonly string[];
}

export interface Redactor {
  readonly enabled: boolean;
  /** True when a header or parameter of this name has its value replaced. */
  isSecretName(name: string): boolean;
  /** True when this header's value is replaced whole. */
  redactsHeader(name: string): boolean;
  /** A copy of the list with credential values replaced; names and order kept. */
  headers(raw: RawHeaders): RawHeaders;
  /** The value of one header, redacted as `headers()` would. */
  headerValue(name: string, value: string): string;
  /** The URL (absolute or a request-target) with secret parameter values and the userinfo's secret replaced. */
  url(url: string): string;
  /** Free text (a finding message, evidence, an error): secrets in URLs, `name=value` and `Name: value` replaced. */
  text(text: string): string;
}

/** The table in effect: the defaults, with the user's entries replacing those for the same names. */
export function secretNames(extra: readonly string[] = []): string[] {
  const user = extra.map(normalizeEntry).filter((e) => e !== '' && e !== '!');
  const named = new Set(user.map((e) => e.replace(/^!/, '')));
  return [...defaultSecretNames.filter((d) => !named.has(d.replace(/^!/, ''))), ...user];
}

const userinfoAtStart = /^([a-z][a-z0-9+.-]*:\/\/)([^/@?#]*)@/i;
const userinfoInWord = /([a-z][a-z0-9+.-]*:\/\/)([^/@?#]*)@/gi;
// `Name: value` in text: the header line of a secret header, redacted to the end of its line.
const headerLine = /(^|[\s"'([{,;])([A-Za-z][A-Za-z0-9_-]*)(:[ \t]+)([^\r\n]*)/g;
// `name="value"`: a quoted value, which may hold spaces.
const quotedParameter = /(^|[\s([{,;?&])([^\s=&;?#"'<>()[\]{}]+)=(?:"[^"\r\n]*"|'[^'\r\n]*')/g;
// A word of text: what could be a URL, a request-target or a `name=value` list. Quotes and
// brackets end it, so that `(http://h/a?token=…)` keeps its closing parenthesis.
const word = /[^\s"'`<>()[\]{}]+/g;
// A word that starts as a parameter list (`token=abc&x=1`), not a path.
const startsAsParameter = /^[^=?#;&/:@]+=/;

export function createRedactor(options: RedactOptions = {}): Redactor {
  const enabled = options.enabled !== false;
  const isSecretName = secretNameTest(secretNames(options.names ?? []));

  const userinfo = (scheme: string, info: string): string => {
    // http://user:secret@host/ keeps the user, loses the password; a lone userinfo
    // (http://TOKEN@host/, how access tokens are often passed) is redacted whole.
    const colon = info.indexOf(':');
    return `${scheme}${colon < 0 ? REDACTED : `${info.slice(0, colon)}:${REDACTED}`}@`;
  };

  /**
   * One `&`-separated query (or fragment) part. A `;` may separate parameters too (older forms),
   * so the first secret name before or after one masks the rest of the part: a value that holds
   * a `;` is never cut short.
   */
  const queryPart = (part: string): string => {
    const names = /(^|;)([^;=]*)=/g;
    for (let m = names.exec(part); m !== null; m = names.exec(part)) {
      const valueAt = m.index + m[0].length;
      // An empty value hides nothing (and `token=` before a quoted value in text stays as it is).
      if (isSecretName(m[2]!)) return valueAt === part.length ? part : `${part.slice(0, valueAt)}${REDACTED_IN_URL}`;
    }
    return part;
  };
  const query = (q: string): string => q.split('&').map(queryPart).join('&');
  // `;name=value` path parameters (`/dav/file;jsessionid=…`), the value ending with its segment.
  const pathParams = (path: string): string =>
    path.replace(/;([^/;?#=]+)=([^/;?#]*)/g, (m: string, name: string, value: string) => (value !== '' && isSecretName(name) ? `;${name}=${REDACTED_IN_URL}` : m));

  const url = (text: string): string => {
    if (!enabled) return text;
    const out = text.replace(userinfoAtStart, (_m, scheme: string, info: string) => userinfo(scheme, info));
    // Rewritten by hand, not with URL or URLSearchParams: the rest must stay byte for byte as the
    // client sent it (encoding, order, empty values), or replaying it would differ.
    const hash = out.indexOf('#');
    const beforeHash = hash < 0 ? out : out.slice(0, hash);
    const q = beforeHash.indexOf('?');
    const path = q < 0 ? beforeHash : beforeHash.slice(0, q);
    return (
      pathParams(path) +
      (q < 0 ? '' : `?${query(beforeHash.slice(q + 1))}`) +
      // OAuth's implicit flow hands tokens over in the fragment (`#access_token=…`).
      (hash < 0 ? '' : `#${query(out.slice(hash + 1))}`)
    );
  };

  /** One word of free text: a URL, a target, a parameter list, or (mostly) none of these. */
  const textWord = (w: string): string => {
    if (!/[?#;=@]/.test(w)) return w;
    const out = w.replace(userinfoInWord, (_m, scheme: string, info: string) => userinfo(scheme, info));
    return startsAsParameter.test(out) ? query(out) : url(out);
  };

  const text = (s: string): string => {
    if (!enabled || s === '') return s;
    return s
      .replace(headerLine, (m: string, lead: string, name: string, colon: string) => (isSecretName(name) ? `${lead}${name}${colon}${REDACTED}` : m))
      .replace(quotedParameter, (m: string, lead: string, name: string) => {
        if (!isSecretName(name)) return m;
        const quote = m.at(-1)!;
        return `${lead}${name}=${quote}${REDACTED}${quote}`;
      })
      .replace(word, textWord);
  };

  const redactsHeader = (name: string): boolean => enabled && isSecretName(name);

  const headerValue = (name: string, value: string): string => {
    if (!enabled) return value;
    if (isSecretName(name)) return REDACTED;
    // A URL header is a URL through and through; any other value may still carry one
    // (`Link: <…?token=…>`, `Refresh: 0; url=…`).
    return urlHeaders.has(name.toLowerCase()) ? url(value) : text(value);
  };

  return {
    enabled,
    isSecretName: (name) => enabled && isSecretName(name),
    redactsHeader,
    headerValue,
    url,
    text,
    headers(raw) {
      if (!enabled) return raw.slice();
      const out: RawHeaders = [];
      for (let i = 0; i + 1 < raw.length; i += 2) out.push(raw[i]!, headerValue(raw[i]!, raw[i + 1]!));
      return out;
    },
  };
}
