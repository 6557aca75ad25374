// The SQL functions the filter codes' SQL calls (codes.ts), as plain functions: the store registers
// them on every connection. They look at a flow through the same helpers as the in-memory matcher,
// so a pattern means the same thing in both.
import { bodyMatches, bodyTextMatches, cachedPattern, contentTypes, domainsOf, headerLines } from './ast.js';

type SqlValue = string | number | bigint | Buffer | null;

const rawHeaders = (json: unknown): string[] => (typeof json === 'string' ? (JSON.parse(json) as string[]) : []);

export const sqlFunctions: readonly { name: string; fn: (...args: SqlValue[]) => number }[] = [
  // `x REGEXP p` calls regexp(p, x).
  { name: 'regexp', fn: (pattern, value) => (typeof pattern === 'string' && typeof value === 'string' && cachedPattern(pattern).test(value) ? 1 : 0) },
  // A pattern against each "Name: value" line of raw headers (JSON arrays; NULL for none).
  {
    name: 'header_match',
    fn: (pattern, request, response) => {
      if (typeof pattern !== 'string') return 0;
      const re = cachedPattern(pattern);
      return [request, response].some((json) => headerLines(rawHeaders(json)).some((line) => re.test(line))) ? 1 : 0;
    },
  },
  {
    name: 'content_type_match',
    fn: (pattern, headers) => (typeof pattern === 'string' && contentTypes(rawHeaders(headers)).some((v) => cachedPattern(pattern).test(v)) ? 1 : 0),
  },
  {
    name: 'domain_match',
    fn: (pattern, url, headers) =>
      typeof pattern === 'string' && domainsOf(String(url ?? ''), rawHeaders(headers)).some((name) => cachedPattern(pattern).test(name)) ? 1 : 0,
  },
  // A stored body, cast to TEXT by the SQL (UTF-8, read as `bodyMatches` reads bytes); NULL when none was stored.
  {
    name: 'body_match',
    fn: (pattern, body) => {
      if (typeof pattern !== 'string') return 0;
      if (typeof body === 'string') return bodyTextMatches(cachedPattern(pattern, 'body'), body) ? 1 : 0;
      return Buffer.isBuffer(body) && bodyMatches(cachedPattern(pattern, 'body'), body) ? 1 : 0;
    },
  },
];

/** `join_parts(part, bytes)`: a body stored in parts, joined in part order; NULL without parts. */
export const joinParts = {
  name: 'join_parts',
  start: (): [number, Buffer][] => [],
  step: (parts: [number, Buffer][], part: SqlValue, bytes: SqlValue): [number, Buffer][] => {
    if (Buffer.isBuffer(bytes)) parts.push([Number(part), bytes]);
    return parts;
  },
  result: (parts: [number, Buffer][]): Buffer | null =>
    parts.length === 0 ? null : Buffer.concat(parts.sort((a, b) => a[0] - b[0]).map(([, bytes]) => bytes)),
};
