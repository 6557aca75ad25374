// A flow's request and response as HTTP/1.1 wire bytes, for the report bundle's `NNN-request.http`
// and `NNN-response.http` (readable by `davtap check`, `nc`, an editor). The store keeps bodies
// de-chunked; a chunked body is framed again here as one chunk, so the file parses the way the
// original did: a body that ended early stays without its last chunk, and the re-analysis reports
// the same truncation.
import { headerValues } from '../http/headers.js';
import type { Flow, RawHeaders } from '../types.js';
import { httpVersion } from './common.js';
import type { Redactor } from '../redact/index.js';

function head(startLine: string, raw: RawHeaders): Buffer {
  let s = `${startLine}\r\n`;
  for (let i = 0; i + 1 < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  // Header bytes are kept as latin1 strings by Node: write them back the same way.
  return Buffer.from(`${s}\r\n`, 'latin1');
}

const isChunked = (raw: RawHeaders): boolean => headerValues(raw, 'transfer-encoding').some((v) => /chunked/i.test(v));

function chunked(body: Buffer, finished: boolean, trailers: RawHeaders): Buffer {
  const parts: Buffer[] = [];
  if (body.length > 0) parts.push(Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n'));
  // Last chunk, trailers, blank line: head() writes exactly that for a start line of '0'.
  if (finished) parts.push(head('0', trailers));
  return Buffer.concat(parts);
}

/** Request line, headers (redacted), blank line, the captured body. */
export function rawRequest(flow: Flow, redactor: Redactor): Buffer {
  const req = flow.request;
  const headers = redactor.headers(req.rawHeaders);
  const body = Buffer.from(req.body.bytes);
  const framedBody = isChunked(req.rawHeaders) ? chunked(body, req.body.captureComplete, []) : body;
  return Buffer.concat([head(`${req.method} ${redactor.url(req.target)} ${httpVersion(req.httpVersion)}`, headers), framedBody]);
}

/** Interim 1xx heads, then the final head (redacted) and body as on the wire; null without a response. */
export function rawResponse(flow: Flow, redactor: Redactor): Buffer | null {
  const res = flow.response;
  if (res === null) return null;
  const parts: Buffer[] = [];
  for (const info of res.informational) parts.push(head(`${httpVersion(res.httpVersion)} ${info.status}`, redactor.headers(info.rawHeaders)));
  parts.push(head(`${httpVersion(res.httpVersion)} ${res.status} ${res.reason}`, redactor.headers(res.rawHeaders)));
  const body = Buffer.from(res.body.bytes);
  const finished = flow.outcome.kind === 'complete' && res.body.captureComplete;
  parts.push(res.framing === 'chunked' ? chunked(body, finished, redactor.headers(res.rawTrailers)) : body);
  return Buffer.concat(parts);
}
