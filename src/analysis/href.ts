// Href helpers: the normalization MS205/MS303 compare with (RFC 3986 §6.2.2 plus absolute→path),
// and the URI-reference syntax check of MS301.

export type HrefForm = 'absolute-uri' | 'absolute-path' | 'relative' | 'empty';

export interface ParsedHref {
  form: HrefForm;
  scheme?: string;
  /** Lower-cased authority with the default port removed. */
  authority?: string;
  path: string;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Decodes %XX only where XX is an unreserved character, and upper-cases the other escapes. */
export function normalizePercent(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

export function parseHref(raw: string): ParsedHref {
  const href = raw.trim();
  if (href.length === 0) return { form: 'empty', path: '' };
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(href);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    let authority = m[2]!.toLowerCase().replace(/^[^@]*@/, '');
    if ((scheme === 'http' && authority.endsWith(':80')) || (scheme === 'https' && authority.endsWith(':443'))) {
      authority = authority.replace(/:\d+$/, '');
    }
    return { form: 'absolute-uri', scheme, authority, path: stripQuery(m[3]!) || '/' };
  }
  if (href.startsWith('/')) return { form: 'absolute-path', path: stripQuery(href) };
  return { form: 'relative', path: stripQuery(href) };
}

function stripQuery(p: string): string {
  const i = p.search(/[?#]/);
  return i >= 0 ? p.slice(0, i) : p;
}

/** The form two hrefs are compared in: the path, percent-normalized, dot-segments resolved. */
export function normalizeHref(raw: string): string {
  // The common case, a plain absolute path, needs no work (this runs once per response).
  if (raw.charCodeAt(0) === 0x2f && !/[%?#\s]|\/\.\.?(\/|$)/.test(raw)) return raw;
  const p = parseHref(raw);
  return removeDotSegments(normalizePercent(p.path));
}

/** Authority-qualified normalization, for duplicate detection across absolute and path forms. */
export function normalizeAuthority(authority: string | undefined, scheme?: string): string | undefined {
  if (authority === undefined) return undefined;
  let a = authority.trim().toLowerCase();
  if ((scheme === 'http' && a.endsWith(':80')) || (scheme === 'https' && a.endsWith(':443'))) a = a.replace(/:\d+$/, '');
  return a;
}

export function removeDotSegments(path: string): string {
  if (!/(^|\/)\.\.?(\/|$)/.test(path)) return path;
  const out: string[] = [];
  const segs = path.split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return out.join('/');
}

export function hasDotSegments(raw: string): boolean {
  return /(^|\/)\.\.?(\/|$)/.test(parseHref(raw).path);
}

const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

export interface HrefSyntaxProblem {
  severity: 'error' | 'warning';
  what: string;
  offset: number;
}

/**
 * First RFC 3986 violation of an href, or undefined. Raw non-ASCII (an IRI) is only a warning:
 * many clients accept it, but it is not a URI. `undecodable`: the body held bytes that were not
 * UTF-8, which the ledger writes as U+FFFD; those say nothing about the href's syntax (MS103
 * reports them), so U+FFFD is passed over.
 */
export function checkHrefSyntax(raw: string, undecodable = false): HrefSyntaxProblem | undefined {
  // The common case, checked once per response: an absolute path of unreserved characters,
  // sub-delimiters, ':', '@' and '/', with no escape to look at, has nothing to report.
  if (PLAIN_PATH.test(raw)) return undefined;
  const href = raw.trim();
  const start = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/[^/?#]*/.exec(href)?.[0].length ?? 0;
  // Authority of an absolute URI: brackets are legal there (IPv6 literal).
  let iri: HrefSyntaxProblem | undefined;
  for (let i = start; i < href.length; i++) {
    const c = href.charCodeAt(i);
    const ch = href[i]!;
    if (c < 0x20 || c === 0x7f) return { severity: 'error', what: `control character U+${c.toString(16).padStart(4, '0').toUpperCase()}`, offset: i };
    if (ch === ' ') return { severity: 'error', what: 'raw space (must be %20)', offset: i };
    if (ch === '[' || ch === ']') return { severity: 'error', what: `raw '${ch}' in the path`, offset: i };
    if (ch === '"' || ch === '<' || ch === '>' || ch === '\\' || ch === '^' || ch === '`' || ch === '{' || ch === '}' || ch === '|') {
      return { severity: 'error', what: `raw '${ch}' (not allowed in a URI)`, offset: i };
    }
    if (ch === '%' && !/^[0-9a-fA-F]{2}$/.test(href.slice(i + 1, i + 3))) {
      return { severity: 'error', what: "'%' not followed by two hex digits", offset: i };
    }
    if (ch === '#') return { severity: 'error', what: "raw '#' (a fragment in a resource href; a file name with '#' must be %23)", offset: i };
    if (ch === '?') return { severity: 'error', what: "raw '?' (a query in a resource href; a file name with '?' must be %3F)", offset: i };
    if (c === 0xfffd && undecodable) continue;
    if (c > 0x7e && iri === undefined) iri = { severity: 'warning', what: `raw non-ASCII character '${ch}' (an IRI, not a URI)`, offset: i };
  }
  return iri;
}

/**
 * Offset of a `%2F` that stands for a path separator, or undefined. An encoded slash is legal
 * inside a segment (a file named `a/b` is `a%2Fb`), so it only counts as a separator when the
 * path itself starts with one (the whole path was encoded: `%2Fdav%2Fx`), or when reading the
 * `%2F`s as `/` is what puts the href inside the Request-URI (`/dav%2Fsub%2Fx` for `/dav/sub/`),
 * the mark of a gateway that encoded the path it forwarded (RFC 4918 §8.3.1; RFC 3986 §2.2).
 */
export function encodedSeparator(raw: string, requestPath: string): number | undefined {
  // Cheap pre-check: most hrefs have no escape at all.
  const first = raw.search(/%2f/i);
  if (first < 0) return undefined;
  const href = raw.trim();
  const start = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/[^/?#]*/.exec(href)?.[0].length ?? 0;
  const path = stripQuery(href.slice(start));
  const at = path.search(/%2f/i);
  if (at < 0) return undefined;
  if (at === 0) return start;
  const base = normalizeHref(requestPath);
  if (base === '/' || base === '') return undefined;
  const asSlashes = removeDotSegments(normalizePercent(path.replace(/%2f/gi, '/')));
  if (isWithin(asSlashes, base) && !isWithin(removeDotSegments(normalizePercent(path)), base)) return start + at;
  return undefined;
}

/** True when `child` (a normalized path) is `base` or lies below it. */
export function isWithin(child: string, base: string): boolean {
  const b = base.endsWith('/') ? base : `${base}/`;
  const c = child.endsWith('/') ? child : `${child}/`;
  return c.startsWith(b) || c === b;
}

export function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const cut = a.slice(0, i);
  return cut.slice(0, cut.lastIndexOf('/') + 1);
}

/** Private, loopback, link-local or single-label hosts: addresses that point inside a network. */
export function isInwardHost(authority: string): boolean {
  const bracketed = /^\[([^\]]*)\](:\d+)?$/.exec(authority);
  const host = bracketed ? bracketed[1]! : authority.replace(/:\d+$/, '');
  if (/^(127\.|10\.|192\.168\.|169\.254\.|0\.)/.test(host)) return true;
  if (/^172\.(1[6-9]|2\d|3[01])\./.test(host)) return true;
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^f[cd]/i.test(host) || /^fe80:/i.test(host)) return true;
  if (/\.(local|localdomain|internal|lan|intranet|corp|home)$/.test(host)) return true;
  if (!host.includes('.') && !host.includes(':')) return true;
  return false;
}
