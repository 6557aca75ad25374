// Raw HTTP messages saved from the wire (`davtap check FILE.http`, `--request REQ`): a response
// exactly as it arrived (interim 1xx heads, chunked framing and content coding kept) or the
// request behind it. Hand-written files may end their lines in bare LF. Pure: bytes in, heads out.
import { DavtapError } from '../errors.js';
import { firstHeader } from '../http/headers.js';
import { readHeadLeniently, readResponse, WireError, type LenientHead, type ResponseRead } from '../http/message.js';
import type { RequestContext, ResponseHead } from '../types.js';

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A WireError from the wire core, said as an input error about `name`. */
function inputError(err: unknown, name: string): never {
  if (!(err instanceof WireError)) throw err;
  // The message names the line as JSON text: 'malformed status line "<line>"'.
  if (err.code === 'HPE_INVALID_STATUS') throw new DavtapError('IO', `${name}: not a raw HTTP response (first line ${err.message.replace(/^malformed status line /, '')})`);
  throw new DavtapError('IO', `${name}: ${err.message}`);
}

/** The final response of a raw capture (interim 1xx heads skipped) and its body as on the wire. */
export function parseRawResponse(bytes: Uint8Array, name: string): ResponseHead & { body: Uint8Array } {
  const buf = asBuffer(bytes);
  let read: ResponseRead | null;
  try {
    read = readResponse(buf);
  } catch (err) {
    inputError(err, name);
  }
  if (!read) throw new DavtapError('IO', `${name}: no blank line after the headers`);
  const { head, bodyStart } = read;
  return { status: head.status, reason: head.reason, httpVersion: head.version, rawHeaders: head.rawHeaders, bodyForm: 'wire', body: buf.subarray(bodyStart) };
}

/** The request of a raw capture, as the context of the responses checked with it. */
export function parseRawRequest(bytes: Uint8Array, name: string): RequestContext {
  const buf = asBuffer(bytes);
  let m: LenientHead | null;
  try {
    m = readHeadLeniently(buf);
  } catch (err) {
    inputError(err, name);
  }
  if (!m) throw new DavtapError('IO', `${name}: no blank line after the headers`);
  const line = /^([A-Za-z][A-Za-z-]*) (\S+)(?: HTTP\/\d(?:\.\d)?)?$/.exec(m.startLine.trim());
  if (!line) throw new DavtapError('IO', `${name}: not a raw HTTP request (first line ${JSON.stringify(m.startLine.slice(0, 60))})`);
  const target = line[2]!;
  const abs = /^(https?):\/\/([^/?#]+)/i.exec(target);
  const host = firstHeader(m.rawHeaders, 'host');
  const req: RequestContext = { method: line[1]!.toUpperCase(), target, rawHeaders: m.rawHeaders, body: buf.subarray(m.bodyStart) };
  if (abs) {
    req.scheme = abs[1]!.toLowerCase() as 'http' | 'https';
    req.authority = abs[2]!;
  } else if (host !== undefined) {
    req.authority = host;
    req.scheme = 'http';
  }
  return req;
}
