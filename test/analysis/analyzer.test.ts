// The streaming contract of createAnalyzer/analyze: the proxy's payload form with the transport
// outcome given to end(), limits as findings, never an exception, same result however split.
import test from 'ava';
import { gzipSync } from 'node:zlib';
import { analyze, createAnalyzer } from '../../src/analysis/analyzer.js';
import type { RequestContext, ResponseHead } from '../../src/types.js';
import { noiseBytes } from '../helpers/random.js';

const req: RequestContext = {
  method: 'PROPFIND',
  target: '/dav/',
  rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '1', 'Accept-Encoding', 'gzip'],
  body: Buffer.from('<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'),
};
const responses = (n: number) =>
  Array.from({ length: n }, (_v, i) => `<D:response><D:href>/dav/f${i}.txt</D:href><D:propstat><D:prop><D:getetag>"${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`).join('');
const xml = (n: number) => `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:getetag>"d"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>${responses(n)}</D:multistatus>\n`;
const head = (headers: string[], bodyForm: ResponseHead['bodyForm'] = 'payload'): ResponseHead => ({ status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml; charset=utf-8', ...headers], bodyForm });

test('payload form: a body short of Content-Length after an upstream reset is MS001 with the XML cut as its consequence', (t) => {
  const body = Buffer.from(xml(50));
  const cut = body.subarray(0, 2000);
  const a = createAnalyzer(req, head(['Content-Length', String(body.length)]));
  a.write(cut);
  const result = a.end({ outcome: 'upstream-aborted', code: 'ECONNRESET', closeKind: 'rst' });
  const ms001 = result.findings.find((f) => f.rule === 'MS001')!;
  t.regex(ms001.message, new RegExp(`body ended after 2,000 of ${body.length.toLocaleString('en-US')} declared bytes`));
  t.regex(ms001.message, /reset \(RST\)/);
  t.regex(ms001.message, /last complete response: \/dav\/f\d+\.txt/);
  t.is(ms001.evidence['received'], 2000);
  const ms006 = result.findings.find((f) => f.rule === 'MS006')!;
  t.is(ms006.consequenceOf, 'MS001');
  t.false(result.resources.at(-1)!.complete);
  t.true(result.resources.slice(0, -1).every((r) => r.complete));
});

test('payload form: a chunked body the proxy saw fail (HPE_INVALID_CHUNK_SIZE) is MS002', (t) => {
  const a = createAnalyzer(req, head(['Transfer-Encoding', 'chunked']));
  a.write(Buffer.from(xml(5)).subarray(0, 700));
  const r = a.end({ outcome: 'upstream-aborted', code: 'HPE_INVALID_CHUNK_SIZE' });
  t.deepEqual(r.findings.filter((f) => f.consequenceOf === undefined && f.severity === 'error').map((f) => f.rule), ['MS002']);
  t.is(r.findings.find((f) => f.rule === 'MS006')?.consequenceOf, 'MS002');
});

test('payload form: a close-delimited body ended by TLS without close_notify is MS003', (t) => {
  const a = createAnalyzer(req, head([]));
  a.write(Buffer.from(xml(5)).subarray(0, 900));
  const r = a.end({ outcome: 'upstream-aborted', closeKind: 'tls-no-close-notify' });
  t.true(r.findings.some((f) => f.rule === 'MS003' && /close_notify/.test(f.message)));
});

test('a complete body ended by a reset after its last byte is not a truncation', (t) => {
  const body = Buffer.from(xml(5));
  const r = analyze(req, head(['Content-Length', String(body.length)]), body, { outcome: 'upstream-aborted', closeKind: 'rst' });
  t.deepEqual(r.findings.filter((f) => f.severity === 'error'), []);
});

test('a gzip body cut mid-stream is MS004, and the responses before the cut are in the ledger', (t) => {
  const gz = gzipSync(Buffer.from(xml(400)));
  const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
  const r = analyze(req, head(['Content-Encoding', 'gzip']), cut);
  const ms004 = r.findings.find((f) => f.rule === 'MS004')!;
  t.truthy(ms004);
  t.regex(ms004.message, /truncated/);
  t.true(r.resources.filter((x) => x.complete).length > 10);
  t.is(r.findings.find((f) => f.rule === 'MS006')?.consequenceOf, 'MS004');
});

test('the analysis is the same whatever the write sizes, including 1-byte writes', (t) => {
  const gz = gzipSync(Buffer.from(xml(30).replace('"3"', '"drei ü €"')));
  const h = head(['Content-Encoding', 'gzip', 'Content-Length', String(gz.length)]);
  const whole = analyze(req, h, gz);
  for (const step of [1, 7, 4096]) {
    const a = createAnalyzer(req, h);
    for (let i = 0; i < gz.length; i += step) a.write(gz.subarray(i, i + step));
    t.deepEqual(a.end({ outcome: 'complete' }), whole, `step ${step}`);
  }
});

test('byte spans are offsets in the decoded body, exact with multi-byte characters', (t) => {
  const body = Buffer.from(xml(3).replace('<D:href>/dav/f1.txt</D:href>', '<D:href>/dav/f1.txt</D:href><!-- äöü € 😀 -->'));
  const r = analyze(req, head([]), body);
  for (const res of r.resources) {
    t.is(body.subarray(res.span.start, res.span.start + 12).toString(), '<D:response>');
    t.is(body.subarray(res.span.end! - 13, res.span.end!).toString(), '</D:response>');
  }
});

test('end() twice returns the same analysis and writes after end() are ignored', (t) => {
  const a = createAnalyzer(req, head([]));
  a.write(Buffer.from(xml(2)));
  const first = a.end({ outcome: 'complete' });
  a.write(Buffer.from('<junk'));
  t.is(a.end({ outcome: 'upstream-aborted', closeKind: 'rst' }), first);
});

test('limits stop the pass with MS703 and keep what was read', (t) => {
  const body = Buffer.from(xml(100));
  const bySize = analyze(req, head([]), body, { outcome: 'complete' }, { maxBodyBytes: 4096 });
  const ms703 = bySize.findings.find((f) => f.rule === 'MS703')!;
  t.is(ms703.evidence['limit'], 'maxBodyBytes');
  t.false(bySize.findings.some((f) => f.rule === 'MS006'));
  t.true(bySize.resources.length > 5 && bySize.resources.length < 101);
  const byCount = analyze(req, head([]), body, { outcome: 'complete' }, { maxResponses: 10 });
  t.is(byCount.resources.length, 10);
  t.is(byCount.findings.find((f) => f.rule === 'MS703')!.evidence['limit'], 'maxResponses');
  const byToken = analyze(req, head([]), Buffer.from(xml(1).replace('"d"', `"${'x'.repeat(5000)}"`)), { outcome: 'complete' }, { maxTokenLength: 1000 });
  t.is(byToken.findings.find((f) => f.rule === 'MS703')!.evidence['limit'], 'maxTokenLength');
  t.false(analyze(req, head([]), body).findings.some((f) => f.rule === 'MS703'));
});

test('analyze never throws: odd heads, empty and binary bodies, hostile request bodies', (t) => {
  const odd: [RequestContext, ResponseHead, Uint8Array][] = [
    [{ method: '', target: '', rawHeaders: [] }, { status: 207, reason: '', httpVersion: '', rawHeaders: [], bodyForm: 'wire' }, new Uint8Array(0)],
    [req, head(['Content-Length', 'abc', 'Transfer-Encoding', 'gzip, chunked']), Buffer.from([0, 1, 2, 255, 254, 0x1f, 0x8b])],
    [req, head(['Content-Encoding', 'zstd']), Buffer.from('whatever')],
    [req, head(['Content-Encoding', 'br']), Buffer.from('not brotli at all')],
    [{ ...req, body: Buffer.from('<!DOCTYPE x [<!ENTITY a "&a;">]><x>&a;</x>') }, head([]), Buffer.from(xml(1))],
    [req, { ...head([]), status: 204 }, Buffer.from('ignored')],
    [req, head([], 'wire'), Buffer.from('\uFEFF\uFEFF<?xml version="1.0"?><a/>', 'utf16le')],
  ];
  for (const [r, h, b] of odd) {
    const a = t.notThrows(() => analyze(r, h, b));
    void a;
  }
  const result = analyze(req, head(['Content-Encoding', 'zstd']), Buffer.from('whatever'));
  t.true(result.findings.some((f) => f.rule === 'MS405' && f.severity === 'info' && /cannot be decoded/.test(f.message)));
});

test('the summary groups failures by status and counts findings by severity', (t) => {
  const body = `<D:multistatus xmlns:D="DAV:">${['200 OK', '423 Locked', '423 Locked', '403 Forbidden'].map((s, i) => `<D:response><D:href>/dav/${i}</D:href><D:status>HTTP/1.1 ${s}</D:status></D:response>`).join('')}</D:multistatus>`;
  const r = analyze({ method: 'DELETE', target: '/dav/', rawHeaders: [] }, head([]), Buffer.from(body));
  t.is(r.summary.resources, 4);
  t.is(r.summary.failedResources, 3);
  t.deepEqual(r.summary.byStatus, { '200': 1, '403': 1, '423': 2 });
  t.regex(r.summary.text, /^3 of 4 resources failed \(403 ×1, 423 ×2\)/);
  t.is(r.summary.findings.warning, r.findings.filter((f) => f.severity === 'warning').length);
});

test('a body cut short because the client went away is not reported as truncation', (t) => {
  const body = Buffer.from(xml(50));
  const a = createAnalyzer(req, head(['Content-Length', String(body.length)]));
  a.write(body.subarray(0, 1500));
  const r = a.end({ outcome: 'client-aborted', code: 'ECONNRESET' });
  t.deepEqual(r.findings.filter((f) => f.category === 'truncation'), []);
  t.true(r.resources.length > 3);
});

test('a 207 whose body is no XML at all: the parse ends at maxParseErrors (MS703), the first error is reported, no truncation is claimed', (t) => {
  // About one parse error per byte: well past the default limit of 250,000.
  const body = noiseBytes(1024 * 1024);
  const whole = analyze(req, head(['Content-Length', String(body.length)]), body, { outcome: 'complete' });
  const ms101 = whole.findings.find((f) => f.rule === 'MS101')!;
  t.truthy(ms101, whole.findings.map((f) => f.rule).join(' '));
  t.is(ms101.evidence['parseErrors'], 250_000);
  t.regex(ms101.message, /\(249,999 further parse errors after it, where davtap stopped parsing\)/);
  const ms703 = whole.findings.find((f) => f.rule === 'MS703')!;
  t.is(ms703.evidence['limit'], 'maxParseErrors');
  t.regex(ms703.message, /^analysis stopped: maxParseErrors 250,000 reached/);
  // The parse was abandoned by davtap, not ended by the server: no truncation finding.
  t.false(whole.findings.some((f) => f.category === 'truncation'), whole.findings.map((f) => f.rule).join(' '));
  // However it is split, the same findings, up to how much invalid UTF-8 the text stage had
  // decoded when the parse stopped (it decodes a write before the parser reads it).
  const a = createAnalyzer(req, head(['Content-Length', String(body.length)]));
  for (let at = 0; at < body.length; at += 10_000) a.write(body.subarray(at, at + 10_000));
  const split = a.end({ outcome: 'complete' }).findings;
  const comparable = (fs: typeof split) => fs.filter((f) => f.rule !== 'MS103');
  t.deepEqual(comparable(split), comparable(whole.findings));
  t.deepEqual(split.map((f) => f.rule), whole.findings.map((f) => f.rule));
  // A lower limit from the caller is obeyed.
  const strict = analyze(req, head(['Content-Length', String(body.length)]), body, { outcome: 'complete' }, { maxParseErrors: 10 });
  t.is(strict.findings.find((f) => f.rule === 'MS101')!.evidence['parseErrors'], 10);
});

test('a body with a few errors is parsed to its end: the limit is far from real malformations', (t) => {
  const broken = Buffer.from(xml(200).replace(/<D:getetag>/g, '<D:getetag a=1>'));
  const r = analyze(req, head(['Content-Length', String(broken.length)]), broken, { outcome: 'complete' });
  const ms101 = r.findings.find((f) => f.rule === 'MS101')!;
  t.notRegex(ms101.message, /stopped parsing/);
  t.true((ms101.evidence['parseErrors'] as number) > 200);
});

test('a cut binary download (not a 207) is reported for its transport only: its parse errors are no finding', (t) => {
  const body = noiseBytes(1024 * 1024);
  const get: RequestContext = { method: 'GET', target: '/dav/big.bin', rawHeaders: ['Host', '127.0.0.1:8080'] };
  const r = analyze(get, { status: 200, reason: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/octet-stream', 'Content-Length', String(2 * body.length)], bodyForm: 'payload' }, body, {
    outcome: 'upstream-aborted',
    code: 'ECONNRESET',
    closeKind: 'rst',
  });
  t.deepEqual(r.findings.map((f) => f.rule), ['MS001']);
});
