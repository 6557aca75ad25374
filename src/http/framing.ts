// How a message body is delimited (RFC 9112 §6.3), read from its raw headers.
import type { Framing, RawHeaders } from '../types.js';
import { headerValues } from './headers.js';

function isChunked(raw: RawHeaders): boolean {
  const codings = headerValues(raw, 'transfer-encoding')
    .join(',')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  return codings.length > 0 && codings[codings.length - 1] === 'chunked';
}

/** Declared Content-Length, or null when absent or not one valid number. */
export function declaredLength(raw: RawHeaders): number | null {
  const found = headerValues(raw, 'content-length');
  // The common case, one plain number, without splitting lists.
  if (found.length === 1 && /^\d+$/.test(found[0]!)) return Number(found[0]);
  const values = found
    .join(',')
    .split(',')
    .map((v) => v.trim());
  if (values.length === 0 || values[0] === '') return null;
  const first = values[0]!;
  if (!/^\d+$/.test(first) || values.some((v) => v !== first)) return null;
  return Number(first);
}

export function requestFraming(raw: RawHeaders): Framing {
  if (isChunked(raw)) return 'chunked';
  if (declaredLength(raw) !== null) return 'content-length';
  return 'none';
}

export function responseFraming(raw: RawHeaders, status: number, requestMethod: string): Framing {
  if (requestMethod === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return 'none';
  if (isChunked(raw)) return 'chunked';
  if (declaredLength(raw) !== null) return 'content-length';
  return 'close-delimited';
}
