// A request as text for an editor (the UI's `e` and `D`, as mitmproxy's edit): the request line,
// the header fields in their order and case, an empty line, the body. The text is parsed back by
// the wire core's own request-head parser (src/http/), so an edited head is judged exactly as a
// client's would be: what does not parse is a one-line error naming its line, and nothing is sent.
//
// The text form:
// - lines end in LF when written; CRLF is read too (an editor may keep or add either);
// - the body is everything after the first empty line, as UTF-8 text; the file always ends with one
//   line break after the body, which is the file's and not the body's (editors add one anyway), so a
//   body without a final line break stays without one;
// - only text bodies are edited: a body that is not UTF-8, or holds control characters other than
//   tab, CR, LF and form feed, is refused (`r` replays it as recorded), since an editor would not
//   give its bytes back unchanged;
// - a body that was not captured whole (--max-request-body) is refused: half a body is never sent.
//
// After an edit, Content-Length is made to match the body whenever the request is not chunked (and
// the change is named in a note for the status line); a chunked request's body is sent as one chunk.
import { WireError, parseRequestHead, requestBodyPlan } from '../http/message.js';
import { headerValues, setHeader } from '../http/headers.js';
import { REDACTED, type Redactor } from '../redact/index.js';
import type { CapturedBody, RawHeaders } from '../types.js';

/** The mask inside a URL (brackets are not allowed there). */
const REDACTED_IN_URL = encodeURIComponent(REDACTED);

/** A request as it is edited and sent: `target` as it goes on the request line. */
export interface EditableRequest {
  method: string;
  target: string;
  httpVersion: string;
  rawHeaders: RawHeaders;
  body: Buffer;
}

/** The text could not be read back as a request: `line` (1-based) says where, when known. */
export class EditTextError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

/** Control characters an editor would not keep: everything below 0x20 but tab, LF, form feed and CR, and DEL. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** The body as text for the editor, or undefined when it is not text an editor gives back unchanged. */
export function bodyText(body: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return undefined;
  }
  return hasControl(text) ? undefined : text;
}

/** Why this recorded request cannot be edited (one line), or undefined when it can. */
export function whyNotEditable(body: CapturedBody): string | undefined {
  if (!body.captureComplete || body.bytes.length < body.bytesSeen) {
    return `its request body was not fully recorded (${body.bytes.length} of ${body.bytesSeen} bytes, --max-request-body): it cannot be edited or sent exactly`;
  }
  if (bodyText(body.bytes) === undefined) return `its request body is binary (${body.bytes.length} bytes): only text bodies are edited (r sends it again as recorded)`;
  return undefined;
}

/** The request as the editor shows it. Throws when the body is not text (see whyNotEditable). */
export function requestToText(request: EditableRequest): string {
  const body = bodyText(request.body);
  if (body === undefined) throw new EditTextError(`the body is binary (${request.body.length} bytes): only text bodies are edited`);
  const lines = [`${request.method} ${request.target} HTTP/${request.httpVersion}`];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
  return `${lines.join('\n')}\n\n${body}\n`;
}

/** Reads the text back; throws EditTextError (with its line) when the head does not parse. */
export function parseRequestText(text: string): EditableRequest {
  // The head's lines, up to the first empty one; `at` is where the next line starts.
  const head: string[] = [];
  let at = 0;
  let crlf = false;
  let ended = false;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    const raw = nl < 0 ? text.slice(at) : text.slice(at, nl);
    at = nl < 0 ? text.length : nl + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      if (head.length === 0) throw new EditTextError('the request line is empty (the first line is METHOD TARGET HTTP/1.1)', 1);
      crlf = raw.endsWith('\r');
      ended = true;
      break;
    }
    head.push(line);
  }
  if (head.length === 0) throw new EditTextError('the text is empty: there is no request line');
  checkLines(head);

  let parsed;
  try {
    const bytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
    parsed = parseRequestHead(bytes, 0, bytes.length);
  } catch (err) {
    if (err instanceof WireError) throw new EditTextError(err.message, lineOf(head, err));
    throw err;
  }
  let body = ended ? text.slice(at) : '';
  // The file's own final line break (see the top of this file).
  const last = crlf ? '\r\n' : '\n';
  if (body.endsWith(last)) body = body.slice(0, -last.length);
  else if (!crlf && body.endsWith('\r\n')) body = body.slice(0, -2);
  return { method: parsed.method, target: parsed.target, httpVersion: parsed.version, rawHeaders: parsed.rawHeaders, body: Buffer.from(body, 'utf8') };
}

/** The mistakes an editor makes most, named with their line before the wire parser's stricter checks. */
function checkLines(head: string[]): void {
  const words = head[0]!.split(' ');
  if (words.length !== 3 || words.some((w) => w === '')) {
    throw new EditTextError(`the request line '${shorten(head[0]!)}' is not METHOD TARGET HTTP/1.1 (three words, single spaces)`, 1);
  }
  for (let i = 1; i < head.length; i++) {
    const line = head[i]!;
    if (!line.includes(':')) throw new EditTextError(`'${shorten(line)}' has no colon (a header is Name: value)`, i + 1);
    if (/^\S*\s+:/.test(line) || /^\s/.test(line)) throw new EditTextError(`'${shorten(line)}': no space before the colon or at the start of a header line`, i + 1);
  }
}

/** The line a wire error is about: the request line's errors are line 1, a header's is the one it quotes. */
function lineOf(head: string[], err: WireError): number | undefined {
  if (err.code === 'HPE_INVALID_METHOD' || err.code === 'HPE_INVALID_URL' || err.code === 'HPE_INVALID_VERSION' || err.code === 'HPE_INVALID_CONSTANT') return 1;
  const quoted = /'([^']*)'|value of (\S+)$/.exec(err.message);
  const needle = quoted?.[1] ?? (quoted?.[2] ? `${quoted[2]}:` : undefined);
  if (needle === undefined) return undefined;
  const i = head.findIndex((l, n) => n > 0 && l.startsWith(needle.replace(/…$/, '')));
  return i > 0 ? i + 1 : undefined;
}

function shorten(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

export interface EditOutcome {
  request: EditableRequest;
  /** What davtap changed besides the user's edit (Content-Length), for the status line. */
  notes: string[];
}

/**
 * The request to send from the edited text: parsed, its framing checked, Content-Length made to
 * match the body unless the request is chunked. Throws EditTextError with a one-line reason.
 */
export function editedRequest(text: string): EditOutcome {
  const request = parseRequestText(text);
  let plan;
  try {
    plan = requestBodyPlan(request.rawHeaders);
  } catch (err) {
    throw new EditTextError(`the framing is ambiguous: ${(err as Error).message}`);
  }
  const notes: string[] = [];
  if (plan.framing === 'content-length' && plan.length !== request.body.length) {
    // setHeader keeps the field's place and case (and drops a repeated one).
    request.rawHeaders = setHeader(request.rawHeaders, 'Content-Length', String(request.body.length));
    notes.push(`Content-Length ${plan.length} → ${request.body.length}`);
  } else if (plan.framing === 'none' && request.body.length > 0) {
    request.rawHeaders = [...request.rawHeaders, 'Content-Length', String(request.body.length)];
    notes.push(`Content-Length: ${request.body.length} added`);
  }
  return { request, notes };
}

/**
 * The request as the editor shows it when the UI masks credentials (without --show-secrets): the
 * secret header values and URL parameters as `[redacted]`, as on screen. restoreSecrets() puts the
 * recorded values back into what the editor saved, so a masked credential is sent as recorded and
 * never passes through the editor's file.
 */
export function maskSecrets(request: EditableRequest, redactor: Redactor): EditableRequest {
  if (!redactor.enabled) return request;
  return { ...request, target: redactor.url(request.target), rawHeaders: redactor.headers(request.rawHeaders) };
}

/**
 * What the editor saved with the masked values (those left exactly as shown) replaced by the
 * recorded ones, matched by field name and occurrence. A value that still holds the mask but was
 * changed around it cannot be restored: a one-line EditTextError, nothing is sent.
 */
export function restoreSecrets(edited: EditableRequest, original: EditableRequest, redactor: Redactor): EditableRequest {
  if (!redactor.enabled) return edited;
  const masked = maskSecrets(original, redactor);
  let target = edited.target;
  if (target === masked.target) target = original.target;
  else if (target.includes(REDACTED_IN_URL) && masked.target.includes(REDACTED_IN_URL)) {
    throw new EditTextError('the request-target still holds a masked value (%5Bredacted%5D) but was changed around it: type the value, or leave the masked part as it was', 1);
  }
  const seen = new Map<string, number>();
  const rawHeaders: RawHeaders = [];
  for (let i = 0; i + 1 < edited.rawHeaders.length; i += 2) {
    const name = edited.rawHeaders[i]!;
    const value = edited.rawHeaders[i + 1]!;
    const key = name.toUpperCase();
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    let restored = value;
    if (value.includes(REDACTED) || value.includes(REDACTED_IN_URL)) {
      const wasMasked = headerValues(masked.rawHeaders, name)[n];
      const recorded = headerValues(original.rawHeaders, name)[n];
      if (wasMasked !== undefined && recorded !== undefined && wasMasked === value) restored = recorded;
      else if (wasMasked !== recorded) throw new EditTextError(`${name} still holds a masked value (${REDACTED}) but was changed: type the credential, or leave the line as it was`);
    }
    rawHeaders.push(name, restored);
  }
  return { ...edited, target, rawHeaders };
}
