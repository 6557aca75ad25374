// The syntax tree of a filter expression, and the views of a flow that filter codes look at. Every
// node keeps the position (0-based character offset) where it started, so that later checks can
// point at the text the user typed.
import { headerValues } from '../http/headers.js';
import type { Category, Flow, Severity } from '../types.js';

export type FilterNode =
  /**
   * One filter code of the table (codes.ts): `~c 207`, `~bs getetag`, `~marked`. `arg` is the
   * argument as the code's argument kind normalized it (null for codes without one).
   */
  | { kind: 'code'; code: string; arg: string | null; pos: number }
  | { kind: 'not'; operand: FilterNode; pos: number }
  | { kind: 'and'; left: FilterNode; right: FilterNode; pos: number }
  | { kind: 'or'; left: FilterNode; right: FilterNode; pos: number };

/** What a filter sees: a flow, and whether it was marked in the UI (only a stored flow can be). */
export type FilterableFlow = Flow & { marked?: boolean };

export const categories: readonly Category[] = ['truncation', 'stripped', 'malformed', 'semantic', 'partial-failure', 'security'];

/** Severities from the least to the most severe: `~sev warning` means warning or error. */
export const severities: readonly Severity[] = ['info', 'warning', 'error'];

/**
 * Compiles a filter's regular expression. Both the in-memory matcher and the SQL functions go
 * through here, so the two always agree on what a pattern means: JavaScript syntax,
 * case-insensitive like mitmproxy's filters; over a body, `.` also matches a line break (mitmproxy's
 * DOTALL for `~b`).
 */
export function compilePattern(pattern: string, over: 'text' | 'body' = 'text'): RegExp {
  return new RegExp(pattern, over === 'body' ? 'is' : 'i');
}

// Filters are evaluated over many flows: each pattern is compiled once.
const patternCache = new Map<string, RegExp>();
export function cachedPattern(pattern: string, over: 'text' | 'body' = 'text'): RegExp {
  const key = `${over}\u0000${pattern}`;
  let re = patternCache.get(key);
  if (!re) {
    if (patternCache.size > 256) patternCache.clear();
    re = compilePattern(pattern, over);
    patternCache.set(key, re);
  }
  return re;
}

/** Header lines as `~h` sees them: one "Name: value" string per raw header pair. */
export function headerLines(rawHeaders: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  return lines;
}

/** The values of every Content-Type header (`~t`, `~a`); mitmproxy looks at each one. */
export function contentTypes(rawHeaders: readonly string[]): string[] {
  return headerValues(rawHeaders, 'content-type');
}

/**
 * The names `~d` looks at, as mitmproxy's: the request URL's host name and the one in the Host
 * header (they differ in reverse mode, where the URL is the upstream's), without ports.
 */
export function domainsOf(url: string, rawHeaders: readonly string[]): string[] {
  const names: string[] = [];
  try {
    names.push(new URL(url).hostname);
  } catch {
    // A target that is no URL (a refused request) has no host name.
  }
  for (const value of headerValues(rawHeaders, 'host')) {
    const host = value.trim();
    names.push(host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, ''));
  }
  return names;
}

/**
 * A body as `~b` searches it: its bytes read as UTF-8 (a byte that is not UTF-8 becomes U+FFFD and
 * matches nothing but `.`). Empty bodies match nothing, as in mitmproxy.
 */
export function bodyMatches(re: RegExp, bytes: Uint8Array | null | undefined): boolean {
  if (!bytes || bytes.length === 0) return false;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bodyTextMatches(re, buf.toString('utf8'));
}

/** A body already read as text (the store hands bodies over as UTF-8 TEXT). */
export function bodyTextMatches(re: RegExp, text: string): boolean {
  return text.length > 0 && re.test(text);
}
