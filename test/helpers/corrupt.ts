// Raw captures of real exchanges and the ways gateways and servers break them.
//
// A capture is a request and a response as they crossed the wire (`test/fixtures/captures/*.req`
// + `*.http`, or the shared set described by `test/fixtures/shared/INDEX.tsv`). The functions
// below parse them without the analyzer (tests need an independent reading of the bytes), and
// produce corrupted variants: each one a new response, the input never modified. Everything here
// is pure except the two loaders at the end.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { RawHeaders, RequestContext, ResponseHead } from '../../src/types.js';

/** A request or response as on the wire: start line, headers in order and case, body bytes. */
export interface RawMessage {
  startLine: string;
  rawHeaders: RawHeaders;
  /** Body exactly as transmitted (chunked framing and content coding kept). */
  body: Buffer;
}

export interface Capture {
  name: string;
  request: RawMessage;
  response: RawMessage;
}

const CRLF = Buffer.from('\r\n');

// ---------------------------------------------------------------------------------------------
// Reading and writing messages

export function parseMessage(bytes: Buffer): RawMessage {
  const end = bytes.indexOf('\r\n\r\n');
  const headEnd = end < 0 ? bytes.length : end;
  const lines = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const rawHeaders: RawHeaders = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { startLine: lines[0] ?? '', rawHeaders, body: end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4) };
}

export function serializeMessage(m: RawMessage): Buffer {
  const lines = [m.startLine];
  for (let i = 0; i + 1 < m.rawHeaders.length; i += 2) lines.push(`${m.rawHeaders[i]}: ${m.rawHeaders[i + 1]}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), m.body]);
}

export function getHeader(m: RawMessage, name: string): string | undefined {
  const want = name.toLowerCase();
  for (let i = 0; i + 1 < m.rawHeaders.length; i += 2) if (m.rawHeaders[i]!.toLowerCase() === want) return m.rawHeaders[i + 1];
  return undefined;
}

/** A copy with every `name` header removed, then `value` set in place of the first (or appended). */
export function setHeader(m: RawMessage, name: string, value: string | null): RawMessage {
  const want = name.toLowerCase();
  const out: RawHeaders = [];
  let placed = false;
  for (let i = 0; i + 1 < m.rawHeaders.length; i += 2) {
    if (m.rawHeaders[i]!.toLowerCase() !== want) {
      out.push(m.rawHeaders[i]!, m.rawHeaders[i + 1]!);
    } else if (!placed && value !== null) {
      out.push(m.rawHeaders[i]!, value);
      placed = true;
    }
  }
  if (!placed && value !== null) out.push(name, value);
  return { ...m, rawHeaders: out };
}

export function statusOf(m: RawMessage): { httpVersion: string; status: number; reason: string } {
  const match = /^HTTP\/(\d\.\d) (\d{3}) ?(.*)$/.exec(m.startLine);
  if (!match) throw new Error(`not a status line: ${JSON.stringify(m.startLine)}`);
  return { httpVersion: match[1]!, status: Number(match[2]), reason: match[3]! };
}

/**
 * The response head the analyzer is given: for a raw capture the body is still framed ('wire');
 * the proxy gives it de-chunked ('payload', see payloadOf) and reports framing through the end.
 */
export function responseHead(m: RawMessage, bodyForm: 'wire' | 'payload' = 'wire'): ResponseHead {
  return { ...statusOf(m), rawHeaders: m.rawHeaders, bodyForm };
}

export function requestContext(m: RawMessage): RequestContext {
  const [method = '', target = ''] = m.startLine.split(' ');
  const host = getHeader(m, 'Host');
  return {
    method,
    target,
    scheme: 'http',
    ...(host === undefined ? {} : { authority: host }),
    rawHeaders: m.rawHeaders,
    ...(m.body.length > 0 ? { body: m.body } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Framing and content coding, decoded independently of the analyzer

export function isChunked(m: RawMessage): boolean {
  return /(^|,)\s*chunked\s*$/i.test(getHeader(m, 'Transfer-Encoding') ?? '');
}

export function isGzip(m: RawMessage): boolean {
  return /^\s*(x-)?gzip\s*$/i.test(getHeader(m, 'Content-Encoding') ?? '');
}

/** Removes chunked framing from a complete, well-formed chunked body. */
export function dechunk(wire: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = wire.indexOf(CRLF, at);
    if (eol < 0) throw new Error(`chunked body ends without its last chunk at ${at}`);
    const size = parseInt(wire.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size at ${at}`);
    if (size === 0) return Buffer.concat(parts);
    parts.push(wire.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Frames a payload as chunked, `size` bytes per chunk, with the last chunk and no trailers. */
export function chunk(payload: Buffer, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const piece = payload.subarray(at, at + size);
    parts.push(Buffer.from(piece.length.toString(16) + '\r\n', 'latin1'), piece, CRLF);
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

/** The message body as transmitted, without its transfer framing (still content-coded). */
export function payloadOf(m: RawMessage): Buffer {
  if (isChunked(m)) return dechunk(m.body);
  const cl = getHeader(m, 'Content-Length');
  return cl === undefined ? m.body : m.body.subarray(0, Number(cl));
}

/** The representation: framing removed and gzip decoded. */
export function decodedBody(m: RawMessage): Buffer {
  const payload = payloadOf(m);
  return isGzip(m) ? gunzipSync(payload) : payload;
}

/** A copy carrying `payload` with identity coding and a Content-Length that matches it. */
export function withPayload(m: RawMessage, payload: Buffer): RawMessage {
  let out = setHeader(m, 'Transfer-Encoding', null);
  out = setHeader(out, 'Content-Encoding', null);
  out = setHeader(out, 'Content-Length', String(payload.length));
  return { ...out, body: payload };
}

/** Same, with the decoded body rewritten by `edit` (a latin1 string keeps every byte as is). */
function editBody(m: RawMessage, edit: (text: string) => string): RawMessage {
  const before = decodedBody(m).toString('latin1');
  const after = edit(before);
  if (after === before) throw new Error('corruption did not change the body (wrong fixture for it?)');
  return withPayload(m, Buffer.from(after, 'latin1'));
}

// ---------------------------------------------------------------------------------------------
// XML landmarks, found with plain string search

/** Offset just past the root element's end tag in a decoded body, or -1. */
export function rootEnd(body: Buffer): number {
  const text = body.toString('latin1');
  const root = /<(?![?!])([^\s/>]+)/.exec(text);
  if (!root) return -1;
  const close = text.lastIndexOf(`</${root[1]}`);
  return close < 0 ? -1 : text.indexOf('>', close) + 1;
}

/** `count` offsets spread evenly over [from, to), both ends included, ascending and distinct. */
export function spreadOffsets(from: number, to: number, count: number): number[] {
  const out = new Set<number>();
  if (to <= from) return [];
  for (let i = 0; i < count; i++) out.add(from + Math.floor(((to - 1 - from) * i) / Math.max(1, count - 1)));
  return [...out].sort((a, b) => a - b);
}

/** Opening tags of elements with this local name, any prefix: `<D:href>`, `<href>`, `<lp1:href x="1">`. */
function openTag(local: string): string {
  return `<(?:[A-Za-z_][\\w.-]*:)?${local}(?=[\\s/>])[^>]*`;
}

/** Removes the `which`-th element (from 0) with this local name, content and all. */
function dropElement(text: string, local: string, which: number): string {
  const re = new RegExp(`${openTag(local)}(?:/>|>[\\s\\S]*?</(?:[A-Za-z_][\\w.-]*:)?${local}\\s*>)`, 'g');
  let n = 0;
  return text.replace(re, (whole) => (n++ === which ? '' : whole));
}

// ---------------------------------------------------------------------------------------------
// Truncation

/**
 * The response cut after `offset` body bytes. With `matchLength` the Content-Length is lowered to
 * the cut (the server itself wrote a short body and said so: server-side truncation); without, it
 * still announces the full length (the connection closed early).
 */
export function cutContentLength(m: RawMessage, offset: number, matchLength: boolean): RawMessage {
  const payload = decodedBody(m);
  const full = withPayload(m, payload);
  const cut = { ...full, body: payload.subarray(0, offset) };
  return matchLength ? setHeader(cut, 'Content-Length', String(offset)) : cut;
}

/** The body with no length at all (close-delimited, as HTTP/1.0 servers send it), cut after `offset`. */
export function cutCloseDelimited(m: RawMessage, offset: number): RawMessage {
  let out = setHeader(m, 'Content-Length', null);
  out = setHeader(out, 'Transfer-Encoding', null);
  out = setHeader(out, 'Content-Encoding', null);
  return { ...out, body: decodedBody(m).subarray(0, offset) };
}

/** The chunked wire form of the body: the real one when the capture was chunked, else made up. */
export function chunkedWire(m: RawMessage, size = 512): RawMessage {
  if (isChunked(m) && !isGzip(m)) return m;
  let out = setHeader(m, 'Content-Length', null);
  out = setHeader(out, 'Content-Encoding', null);
  out = setHeader(out, 'Transfer-Encoding', 'chunked');
  return { ...out, body: chunk(decodedBody(m), size) };
}

/** Offset of the last-chunk line (`0\r\n`) in a chunked wire body. */
export function lastChunkOffset(wire: Buffer): number {
  let at = 0;
  for (;;) {
    const eol = wire.indexOf(CRLF, at);
    const size = parseInt(wire.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (size === 0) return at;
    at = eol + 2 + size + 2;
  }
}

/** A chunked response (see chunkedWire) cut after `offset` wire bytes, before its last chunk. */
export function cutChunked(m: RawMessage, offset: number, size = 512): RawMessage {
  const wire = chunkedWire(m, size);
  if (offset >= lastChunkOffset(wire.body)) throw new Error(`offset ${offset} is not before the last chunk`);
  return { ...wire, body: wire.body.subarray(0, offset) };
}

/** A chunked response whose second chunk-size line is not hexadecimal. */
export function badChunkSize(m: RawMessage): RawMessage {
  const wire = chunkedWire(m);
  const first = wire.body.indexOf(CRLF);
  const firstSize = parseInt(wire.body.subarray(0, first).toString('latin1'), 16);
  const second = first + 2 + firstSize + 2;
  const eol = wire.body.indexOf(CRLF, second);
  return { ...wire, body: Buffer.concat([wire.body.subarray(0, second), Buffer.from('zz'), wire.body.subarray(eol)]) };
}

/** A chunked response whose first chunk carries 4 bytes more than its size line says. */
export function chunkLongerThanSize(m: RawMessage): RawMessage {
  const wire = chunkedWire(m);
  const eol = wire.body.indexOf(CRLF);
  const size = parseInt(wire.body.subarray(0, eol).toString('latin1'), 16);
  return { ...wire, body: Buffer.concat([Buffer.from((size - 4).toString(16), 'latin1'), wire.body.subarray(eol)]) };
}

/** The gzip stream of the body, as the capture had it or compressed now. */
export function gzipOf(m: RawMessage): Buffer {
  return isGzip(m) ? payloadOf(m) : gzipSync(decodedBody(m));
}

/** A gzip-coded response whose compressed stream stops after `offset` bytes, framed complete. */
export function cutGzip(m: RawMessage, offset: number): RawMessage {
  const gz = gzipOf(m);
  if (offset >= gz.length) throw new Error(`offset ${offset} is not inside the ${gz.length}-byte gzip stream`);
  const out = withPayload(m, gz.subarray(0, offset));
  return setHeader(out, 'Content-Encoding', 'gzip');
}

// ---------------------------------------------------------------------------------------------
// Stripped or rewritten by a gateway

/** Every declaration of the root element's prefix removed (`xmlns:D="DAV:"`), uses left in place. */
export function removeNamespaceDeclaration(m: RawMessage): RawMessage {
  return editBody(m, (text) => {
    const root = /<(?![?!])([A-Za-z_][\w.-]*):[^\s/>]+/.exec(text);
    if (!root || root.index !== text.search(/<(?![?!])/)) throw new Error('root element has no prefix');
    return text.replace(new RegExp(`\\s+xmlns:${root[1]}\\s*=\\s*("[^"]*"|'[^']*')`, 'g'), '');
  });
}

/** The default namespace declaration (`xmlns="DAV:"`, Radicale's style) removed everywhere. */
export function removeDefaultNamespace(m: RawMessage): RawMessage {
  return editBody(m, (text) => text.replace(/\s+xmlns\s*=\s*("DAV:"|'DAV:')/g, ''));
}

/** The first `<response>` repeated right after itself (the same href listed twice). */
export function duplicateFirstResponse(m: RawMessage): RawMessage {
  return editBody(m, (text) => {
    const re = new RegExp(`${openTag('response')}>[\\s\\S]*?</(?:[A-Za-z_][\\w.-]*:)?response\\s*>`);
    return text.replace(re, (whole) => whole + '\n' + whole);
  });
}

/** The `which`-th element named `local` (any prefix) removed with its content: href, status, propstat… */
export function removeElement(m: RawMessage, local: string, which = 0): RawMessage {
  return editBody(m, (text) => dropElement(text, local, which));
}

/** Every element named `local` removed, wherever it is (a requested property a gateway dropped). */
export function removeEverywhere(m: RawMessage, local: string): RawMessage {
  return editBody(m, (text) => {
    let out = text;
    for (let i = 0; i < 10_000; i++) {
      const next = dropElement(out, local, 0);
      if (next === out) return out;
      out = next;
    }
    return out;
  });
}

export const HTML_ERROR_PAGE =
  '<!DOCTYPE html>\n<html lang="en">\n<head><title>Attention Required! | Cloudflare</title></head>\n' +
  '<body><h1>Sorry, you have been blocked</h1><p>You are unable to access this site.</p></body>\n</html>\n';

/** The body replaced by an HTML error page, still under the original status (207). */
export function htmlUnderMultiStatus(m: RawMessage): RawMessage {
  return setHeader(withPayload(m, Buffer.from(HTML_ERROR_PAGE)), 'Content-Type', 'text/html; charset=UTF-8');
}

/** The first `count` absolute-path hrefs (all by default) turned into absolute URIs on another origin. */
export function rewriteHrefs(m: RawMessage, origin = 'http://10.20.30.40:8080', count = Infinity): RawMessage {
  let n = 0;
  return editBody(m, (text) =>
    text.replace(new RegExp(`(${openTag('href')}>)(\\s*)/`, 'g'), (whole, open: string, space: string) =>
      n++ < count ? `${open}${space}${origin}/` : whole,
    ),
  );
}

/** The text of every element named `local` replaced by `text` (calendar-data emptied, a status changed…). */
export function replaceText(m: RawMessage, local: string, replace: (old: string) => string): RawMessage {
  return editBody(m, (body) =>
    body.replace(
      new RegExp(`(${openTag(local)}>)([^<]*)(</(?:[A-Za-z_][\\w.-]*:)?${local}\\s*>)`, 'g'),
      (_w, open: string, old: string, close: string) => open + replace(old) + close,
    ),
  );
}

/** Every tag named `from` (open and close, any prefix) renamed to `to`. */
export function renameElement(m: RawMessage, from: string, to: string): RawMessage {
  return editBody(m, (text) => text.replace(new RegExp(`(</?(?:[A-Za-z_][\\w.-]*:)?)${from}(?=[\\s/>])`, 'g'), `$1${to}`));
}

/** A second, different Content-Length beside Transfer-Encoding: chunked (request smuggling shape). */
export function lengthBesideChunked(m: RawMessage): RawMessage {
  const wire = chunkedWire(m);
  return { ...wire, rawHeaders: [...wire.rawHeaders, 'Content-Length', String(decodedBody(m).length)] };
}

/** A path prefix removed from every href, as a gateway that strips it on the way in leaves them. */
export function stripHrefPrefix(m: RawMessage, prefix: string): RawMessage {
  return editBody(m, (text) => text.replace(new RegExp(`(${openTag('href')}>\\s*)${prefix}/`, 'g'), '$1/'));
}

/** A gzip stream sent as the body with no Content-Encoding header (a decompressing layer missing). */
export function gzipWithoutEncoding(m: RawMessage): RawMessage {
  return withPayload(m, gzipSync(decodedBody(m)));
}

// ---------------------------------------------------------------------------------------------
// Malformed XML

/** `bytes` inserted at the start of the first href's text (inside the first response). */
function insertInFirstHref(m: RawMessage, bytes: string): RawMessage {
  return editBody(m, (text) => text.replace(new RegExp(`${openTag('href')}>`), (open) => open + bytes));
}

/** An illegal XML character in an href: U+FFFE (UTF-8 EF BF BE) or a C0 control (U+0001). */
export function illegalCharacter(m: RawMessage, which: 'U+FFFE' | 'C0'): RawMessage {
  return insertInFirstHref(m, which === 'U+FFFE' ? '\xef\xbf\xbe' : '\x01');
}

/** A raw `&` at the end of the first href's text (`/dav/&b`): a file name the server did not escape. */
export function rawAmpersand(m: RawMessage): RawMessage {
  return editBody(m, (text) => text.replace(/<\/((?:[A-Za-z_][\w.-]*:)?href)\s*>/, (close) => `&b${close}`));
}

/** An HTML entity (`&nbsp;`) that XML never declared, in an href. */
export function htmlEntity(m: RawMessage, entity = '&nbsp;'): RawMessage {
  return insertInFirstHref(m, entity);
}

/** Bytes before the XML declaration, as a PHP notice printed ahead of the body would be. */
export function junkBeforeDeclaration(m: RawMessage, junk = 'PHP Notice:  Undefined index: depth in /srv/dav.php on line 42\n'): RawMessage {
  return editBody(m, (text) => junk + text);
}

/** A DOCTYPE inserted after the XML declaration (or at the start), and `reference` in an href. */
function withDoctype(m: RawMessage, subset: string, reference: string): RawMessage {
  const withDecl = editBody(m, (text) => {
    const decl = /^\s*<\?xml[^>]*\?>/.exec(text);
    const at = decl ? decl[0].length : 0;
    const root = /<(?![?!])([^\s/>]+)/.exec(text.slice(at));
    return `${text.slice(0, at)}\n<!DOCTYPE ${root?.[1] ?? 'multistatus'} [\n${subset}\n]>${text.slice(at)}`;
  });
  return insertInFirstHref(withDecl, reference);
}

/** The classic nested-entity expansion bomb: &lol9; would expand to 10^9 "lol". */
export function billionLaughs(m: RawMessage): RawMessage {
  const decls = ['<!ENTITY lol "lol">'];
  for (let i = 1; i <= 9; i++) {
    const prev = i === 1 ? 'lol' : `lol${i - 1}`;
    decls.push(`<!ENTITY lol${i} "${Array.from({ length: 10 }, () => `&${prev};`).join('')}">`);
  }
  return withDoctype(m, decls.join('\n'), '&lol9;');
}

/** An external entity (XXE) pointing at a local file, referenced in an href. */
export function externalEntity(m: RawMessage): RawMessage {
  return withDoctype(m, '<!ENTITY x SYSTEM "file:///etc/passwd">', '&x;');
}

/** `depth` nested elements (well-formed) inside the first `prop`: a nesting-depth bomb. */
export function deepNesting(m: RawMessage, depth: number): RawMessage {
  return editBody(m, (text) =>
    text.replace(new RegExp(`${openTag('prop')}>`), (open) => `${open}${'<x:n xmlns:x="urn:x">'.repeat(depth)}${'</x:n>'.repeat(depth)}`),
  );
}

// ---------------------------------------------------------------------------------------------
// Loading fixtures (the only I/O in this module)

/** `<name>.http` + `<name>.req` pairs of a directory, sorted by name. */
export function loadCapturePairs(dir: string): Capture[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.http'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.http'.length);
      return {
        name,
        response: parseMessage(readFileSync(join(dir, f))),
        request: parseMessage(readFileSync(join(dir, `${name}.req`))),
      };
    });
}

/**
 * The shared captures: responses `<server>-<case>.http`, requests described by INDEX.tsv
 * (`PROPFIND :18085/test/ body.xml -u user:pw -H Depth: 0`) with bodies in `requests/`.
 * The request is rebuilt from that description; the last row of a case wins (the file was
 * overwritten by later runs).
 */
export function loadSharedCaptures(dir: string): Capture[] {
  const rows = new Map<string, string>();
  const lines = readFileSync(join(dir, 'INDEX.tsv'), 'utf8').split('\n').slice(1).filter(Boolean);
  for (const line of lines) {
    const [server, name, request] = line.split('\t');
    rows.set(`${server}-${name}`, request!);
  }
  const out: Capture[] = [];
  for (const [name, description] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const file = join(dir, `${name}.http`);
    if (!existsSync(file)) continue;
    out.push({ name, response: parseMessage(readFileSync(file)), request: requestFromIndex(description, join(dir, 'requests')) });
  }
  return out;
}

function requestFromIndex(description: string, bodies: string): RawMessage {
  const [words, ...options] = description.split(/ (?=-[uH] )/);
  const [method, where, bodyFile] = (words ?? '').split(' ');
  const slash = where!.indexOf('/');
  const authority = `127.0.0.1${where!.slice(0, slash)}`;
  const rawHeaders: RawHeaders = ['Host', authority, 'User-Agent', 'curl/7.88.1', 'Accept', '*/*'];
  for (const option of options) {
    const value = option.slice(3).trim();
    if (option.startsWith('-u ')) rawHeaders.push('Authorization', `Basic ${Buffer.from(value).toString('base64')}`);
    else if (value.length > 0) rawHeaders.push(value.slice(0, value.indexOf(':')), value.slice(value.indexOf(':') + 1).trim());
  }
  const body = bodyFile && bodyFile !== '-' ? readFileSync(join(bodies, bodyFile)) : Buffer.alloc(0);
  if (body.length > 0) rawHeaders.push('Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(body.length));
  return { startLine: `${method} ${where!.slice(slash)} HTTP/1.1`, rawHeaders, body };
}
