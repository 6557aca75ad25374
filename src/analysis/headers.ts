// Header helpers over Node's raw header list ([name, value, name, value, …]).
import type { RawHeaders } from '../types.js';

/** Every value of a header, in order, with the name compared case-insensitively. */
export function headerValues(raw: RawHeaders, name: string): string[] {
  const want = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === want) out.push(raw[i + 1]!);
  }
  return out;
}

/** The header's values joined as one list (RFC 9110 §5.3), or undefined when absent. */
export function header(raw: RawHeaders, name: string): string | undefined {
  const values = headerValues(raw, name);
  return values.length === 0 ? undefined : values.join(', ');
}

export interface MediaType {
  /** Lower-cased type/subtype, e.g. text/xml. */
  essence: string;
  /** Lower-cased charset parameter without quotes, when present. */
  charset?: string;
}

export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined) return undefined;
  const [essence, ...params] = value.split(';');
  const out: MediaType = { essence: (essence ?? '').trim().toLowerCase() };
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    out.charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return out;
}

/** Comma-separated tokens of a list header, lower-cased and trimmed. */
export function listTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
}
