// The text form of a request for an editor (src/replay/edit-text.ts): it reads back exactly what it
// wrote, takes CRLF as well as LF, keeps header order and case, makes Content-Length match an edited
// body (unless chunked), and names the line of what does not parse.
import test from 'ava';
import { bodyText, editedRequest, EditTextError, maskSecrets, parseRequestText, requestToText, restoreSecrets, whyNotEditable, type EditableRequest } from '../../src/replay/edit-text.js';
import { createRedactor } from '../../src/redact/index.js';
import { serializeRequest } from '../../src/http/message.js';

const propfindBody = Buffer.from('<?xml version="1.0"?>\n<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>');
const length = String(propfindBody.length);
const propfind: EditableRequest = {
  method: 'PROPFIND',
  target: '/dav/a%20b/',
  httpVersion: '1.1',
  rawHeaders: ['host', '127.0.0.1:8080', 'Depth', '1', 'X-Custom-CASE', 'v', 'content-type', 'application/xml; charset="utf-8"', 'Content-Length', length],
  body: propfindBody,
};

test('the text form reads back exactly what it wrote: request line, headers in order and case, body', (t) => {
  const text = requestToText(propfind);
  t.is(text.split('\n')[0], 'PROPFIND /dav/a%20b/ HTTP/1.1');
  t.is(text.split('\n')[1], 'host: 127.0.0.1:8080');
  t.deepEqual(parseRequestText(text), propfind);
  // A body with its own final line break, CRLF inside (iCalendar), non-ASCII text, and no body at all.
  for (const body of ['line\n', 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', 'Grüße, 東京 ✓', '', '\n\n']) {
    const r = { ...propfind, body: Buffer.from(body) };
    t.deepEqual(parseRequestText(requestToText(r)).body, r.body, JSON.stringify(body));
  }
});

test('CRLF line ends are read as well as LF, and a missing final line break keeps the body', (t) => {
  const lf = requestToText(propfind);
  t.deepEqual(parseRequestText(lf.replace(/\n/g, '\r\n')).rawHeaders, propfind.rawHeaders);
  t.deepEqual(parseRequestText(lf.replace(/\n/g, '\r\n')).body.toString(), propfind.body.toString().replace(/\n/g, '\r\n'));
  t.deepEqual(parseRequestText(lf.slice(0, -1)).body, propfind.body);
  // A head without the empty line: no body.
  t.deepEqual(parseRequestText('DELETE /x HTTP/1.1\nHost: h\n').body, Buffer.alloc(0));
});

test('an edited body gets its Content-Length recomputed (said in a note); a chunked one is left chunked', (t) => {
  const text = requestToText(propfind).replace('getetag', 'displayname');
  const { request, notes } = editedRequest(text);
  t.is(request.body.length, propfind.body.length + 4);
  t.deepEqual(request.rawHeaders.slice(-2), ['Content-Length', String(propfind.body.length + 4)]);
  t.deepEqual(notes, [`Content-Length ${length} → ${propfindBody.length + 4}`]);
  // The header keeps its place and its case.
  const lower = editedRequest(requestToText({ ...propfind, rawHeaders: ['content-length', length, 'Depth', '1'] }).replace('getetag', 'x'));
  t.deepEqual(lower.request.rawHeaders, ['content-length', String(propfind.body.length - 6), 'Depth', '1']);
  // Unchanged body: nothing to say.
  t.deepEqual(editedRequest(requestToText(propfind).replace('Depth: 1', 'Depth: 0')).notes, []);
  // No Content-Length and a body: one is added.
  const put = editedRequest('PUT /f HTTP/1.1\nHost: h\n\nhello\n');
  t.deepEqual(put.request.rawHeaders, ['Host', 'h', 'Content-Length', '5']);
  t.deepEqual(put.notes, ['Content-Length: 5 added']);
  // Chunked: no Content-Length; serialised as one chunk.
  const chunked = editedRequest('PUT /f HTTP/1.1\nTransfer-Encoding: chunked\n\nhello world\n');
  t.deepEqual(chunked.notes, []);
  t.deepEqual(chunked.request.rawHeaders, ['Transfer-Encoding', 'chunked']);
  const r = chunked.request;
  t.is(serializeRequest({ method: r.method, target: r.target, version: r.httpVersion, rawHeaders: r.rawHeaders }, r.body).toString('latin1'), 'PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n');
});

test('a head that does not parse is a one-line error naming its line', (t) => {
  const error = (text: string) => {
    const e = t.throws(() => editedRequest(text), { instanceOf: EditTextError });
    t.false(e!.message.includes('\n'));
    return e!.message;
  };
  t.regex(error('PROPFIND /dav/\nDepth: 1\n\n'), /^line 1: the request line 'PROPFIND \/dav\/' is not METHOD TARGET HTTP\/1\.1/);
  t.regex(error('PROPFIND /dav/ HTTP/2\nDepth: 1\n\n'), /^line 1: unsupported protocol 'HTTP\/2'/);
  t.regex(error('PROP FIND /dav/ HTTP/1.1\n\n'), /^line 1: /);
  t.regex(error('PROPFIND /dav/ HTTP/1.1\nHost: h\nDepth 1\n\n'), /^line 3: 'Depth 1' has no colon \(a header is Name: value\)$/);
  t.regex(error('PROPFIND /dav/ HTTP/1.1\nDepth : 1\n\n'), /^line 2: /);
  t.regex(error('PROPFIND /dav/ HTTP/1.1\nHost: h\nBad<Name>: 1\n\n'), /^line 3: invalid header name/);
  t.regex(error('\nPROPFIND /dav/ HTTP/1.1\n'), /^line 1: the request line is empty/);
  t.regex(error(''), /empty/);
  t.regex(error('PUT /f HTTP/1.1\nContent-Length: 3\nTransfer-Encoding: chunked\n\nabc\n'), /framing is ambiguous: both Transfer-Encoding and Content-Length/);
});

test('only whole text bodies are editable: a cut or binary body is refused with its reason', (t) => {
  t.is(whyNotEditable({ bytes: Buffer.from('<x/>'), bytesSeen: 4, captureComplete: true }), undefined);
  t.regex(whyNotEditable({ bytes: Buffer.from('<x'), bytesSeen: 4000, captureComplete: false })!, /not fully recorded \(2 of 4000 bytes, --max-request-body\)/);
  t.regex(whyNotEditable({ bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1]), bytesSeen: 6, captureComplete: true })!, /binary \(6 bytes\)/);
  t.is(bodyText(Buffer.from([0xc3, 0x28])), undefined, 'invalid UTF-8');
  t.is(bodyText(Buffer.from('a\tb\r\nc\f')), 'a\tb\r\nc\f');
  t.throws(() => requestToText({ ...propfind, body: Buffer.from([0, 1, 2]) }), { instanceOf: EditTextError });
});

test('credentials are masked in the text and put back when left as shown; a masked value changed around the mask is refused', (t) => {
  const redactor = createRedactor();
  const original: EditableRequest = { ...propfind, target: '/dav/?token=s3cret&x=1', rawHeaders: ['Authorization', 'Basic dTpw', 'Depth', '1', 'Cookie', 'a=b'] };
  const text = requestToText(maskSecrets(original, redactor));
  t.false(/dTpw|s3cret|a=b/.test(text));
  t.regex(text, /^Authorization: \[redacted\]$/m);
  const edited = editedRequest(text.replace('Depth: 1', 'Depth: 0')).request;
  const sent = restoreSecrets(edited, original, redactor);
  t.is(sent.target, original.target);
  t.deepEqual(sent.rawHeaders.slice(0, 6), ['Authorization', 'Basic dTpw', 'Depth', '0', 'Cookie', 'a=b']);
  // A credential typed in place of the mask is sent as typed.
  t.deepEqual(restoreSecrets(editedRequest(text.replace('Authorization: [redacted]', 'Authorization: Bearer new')).request, original, redactor).rawHeaders.slice(0, 2), ['Authorization', 'Bearer new']);
  t.throws(() => restoreSecrets(editedRequest(text.replace('Authorization: [redacted]', 'Authorization: Basic [redacted]x')).request, original, redactor), { message: /Authorization still holds a masked value/ });
  t.throws(() => restoreSecrets(editedRequest(text.replace('&x=1', '&x=2')).request, original, redactor), { message: /^line 1: the request-target still holds a masked value/ });
  // --show-secrets: nothing masked, nothing restored.
  const off = createRedactor({ enabled: false });
  t.is(requestToText(maskSecrets(original, off)), requestToText(original));
});
