// The syntax tree of a filter expression. Every leaf keeps the position (0-based character offset)
// where it started, so that later checks can point at the text the user typed.
import type { Category } from '../types.js';

export type FilterNode =
  /** `~m PROPFIND`: the request method, compared upper-cased. */
  | { kind: 'method'; method: string; pos: number }
  /** `~s 207` or `~s 4xx`: the final response status within [min, max]. */
  | { kind: 'status'; min: number; max: number; text: string; pos: number }
  /** `~u REGEX` (and bare words): a case-insensitive regular expression over the absolute URL. */
  | { kind: 'url'; pattern: string; pos: number }
  /** `~h REGEX`: a case-insensitive regular expression over any request or response header line ("Name: value"). */
  | { kind: 'header'; pattern: string; pos: number }
  /** `~f CATEGORY`: the flow has at least one finding of this category. */
  | { kind: 'category'; category: Category; pos: number }
  /** `~r RULE`: the flow has at least one finding of this rule id (upper-cased, e.g. MS001). */
  | { kind: 'rule'; rule: string; pos: number }
  /** `~e`: the exchange did not end cleanly (outcome other than `complete`). */
  | { kind: 'error'; pos: number }
  /** `~i`: a fault injection was applied to the flow. */
  | { kind: 'injected'; pos: number }
  | { kind: 'not'; operand: FilterNode; pos: number }
  | { kind: 'and'; left: FilterNode; right: FilterNode; pos: number }
  | { kind: 'or'; left: FilterNode; right: FilterNode; pos: number };

export const categories: readonly Category[] = ['truncation', 'stripped', 'malformed', 'semantic', 'partial-failure', 'security'];

/**
 * Compiles a filter's regular expression. Both the in-memory matcher and the SQL `REGEXP` function
 * go through here, so the two always agree on what a pattern means (JavaScript syntax,
 * case-insensitive like mitmproxy's filters).
 */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(pattern, 'i');
}

/** Header lines as `~h` sees them: one "Name: value" string per raw header pair. */
export function headerLines(rawHeaders: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  return lines;
}
