// Each fault through the real proxy against a raw origin: curl sees exactly the fault (exit code,
// bytes), the flow is marked injected, and the live analyzer names the rule the fault should raise,
// with the finding attributed to the injection.
import test, { type ExecutionContext } from 'ava';
import zlib from 'node:zlib';
import { startOrigin, response } from '../helpers/origin.js';
import { curl } from '../helpers/curl.js';
import { gzipBomb } from '../helpers/gzip-bomb.js';
import { headerOf, multistatus, rules, splitResponse, startInjectingProxy } from './harness.js';

const body = multistatus(6);
const bodyBytes = Buffer.from(body);

type Framing = 'content-length' | 'chunked' | 'close';

/** An origin that answers every request with `payload` as a 207, framed as asked. */
async function origin207(t: ExecutionContext, framing: Framing = 'content-length', payload: Buffer = bodyBytes, extra: Record<string, string> = {}) {
  const origin = await startOrigin((_req, socket) => {
    const headers: Record<string, string | number> = { 'Content-Type': 'application/xml; charset=utf-8', ...extra };
    if (framing === 'content-length') {
      socket.write(response(207, { ...headers, 'Content-Length': payload.length }, payload));
    } else if (framing === 'chunked') {
      const half = Math.floor(payload.length / 2);
      const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
      socket.write(Buffer.concat([response(207, { ...headers, 'Transfer-Encoding': 'chunked' }), chunk(payload.subarray(0, half)), chunk(payload.subarray(half)), Buffer.from('0\r\n\r\n')]));
    } else {
      socket.end(Buffer.concat([response(207, { ...headers, Connection: 'close' }), payload]));
    }
  });
  t.teardown(() => origin.close());
  return origin;
}

const propfind = (url: string, extra: string[] = []) => curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', ...extra, `${url}/dav/`]);

function afterNth(text: string, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = text.indexOf('</D:response>', at) + '</D:response>'.length;
  return at;
}

test('truncate:bytes=N keeps Content-Length: the client gets N bytes and a closed connection (curl 18), MS001', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:bytes=300');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-length'), String(bodyBytes.length));
  t.deepEqual(got, bodyBytes.subarray(0, 300));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.injected, 'truncate:bytes=300');
  t.is(flow!.outcome.kind, 'upstream-aborted');
  t.is(flow!.response!.body.bytesSeen, 300);
  t.deepEqual(rules(flow!).filter((r) => r !== 'MS006'), ['MS001']);
  const ms001 = flow!.analysis!.findings.find((f) => f.rule === 'MS001')!;
  t.is(ms001.injected, 'truncate:bytes=300');
  t.is(ms001.evidence.received, 300);
});

test('truncate:bytes=N:chunked sends chunked and closes without the terminating chunk (curl 18), MS002', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:bytes=200:chunked');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'transfer-encoding'), 'chunked');
  t.is(headerOf(head, 'content-length'), undefined);
  t.deepEqual(got, bodyBytes.subarray(0, 200));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.response!.framing, 'chunked');
  t.true(rules(flow!).includes('MS002'), rules(flow!).join());
  t.false(rules(flow!).includes('MS001'));
  t.true(flow!.analysis!.findings.every((f) => f.injected === 'truncate:bytes=200:chunked'));
});

test('truncate:bytes=N on a chunked upstream keeps it chunked and drops the terminator', async (t) => {
  const origin = await origin207(t, 'chunked');
  const p = await startInjectingProxy(t, origin.url, 'truncate:bytes=500');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, bodyBytes.subarray(0, 500));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS002'));
});

test('truncate:responses=N cuts right after the Nth </response> and keeps Content-Length (curl 18), MS001', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:responses=3');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-length'), String(bodyBytes.length));
  t.deepEqual(got, bodyBytes.subarray(0, afterNth(body, 3)));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS001'));
  t.is(flow!.analysis!.resources.filter((res) => res.complete).length, 3);
});

test('truncate:responses=N:keep-length is a complete message whose XML stops early: curl 0, MS006 (server-side truncation)', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:responses=2:keep-length');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  const expected = bodyBytes.subarray(0, afterNth(body, 2));
  t.deepEqual(got, expected);
  t.is(headerOf(head, 'content-length'), String(expected.length));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.outcome.kind, 'complete');
  t.deepEqual(rules(flow!), ['MS006']);
  t.regex(flow!.analysis!.findings[0]!.message, /server-side truncation/);
  t.is(flow!.analysis!.findings[0]!.injected, 'truncate:responses=2:keep-length');
});

test('truncate:responses=N:keep-length turns a chunked upstream into an exact Content-Length', async (t) => {
  const origin = await origin207(t, 'chunked');
  const p = await startInjectingProxy(t, origin.url, 'truncate:responses=1:keep-length');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'transfer-encoding'), undefined);
  t.is(headerOf(head, 'content-length'), String(afterNth(body, 1)));
  t.deepEqual(got, bodyBytes.subarray(0, afterNth(body, 1)));
});

test('truncate:responses=N:chunked closes a chunked body after the Nth response (curl 18), MS002', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:responses=4:chunked');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'transfer-encoding'), 'chunked');
  t.deepEqual(got, bodyBytes.subarray(0, afterNth(body, 4)));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS002'));
});

test('truncate:responses=N with fewer responses leaves the body whole and says so on the flow', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:responses=50');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, bodyBytes);
  const [flow] = await p.waitForFlows(1);
  t.regex(flow!.injected!, /^truncate:responses=50 \(.*fewer than 50 responses/);
  t.deepEqual(rules(flow!), []);
});

test('strip-ns:PREFIX removes only that declaration; the rest is byte-identical and Content-Length follows, MS104', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:D');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  const expected = Buffer.from(body.replace(' xmlns:D="DAV:"', ''));
  t.deepEqual(got, expected);
  t.is(headerOf(head, 'content-length'), String(expected.length));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS104'), rules(flow!).join());
  t.true(flow!.analysis!.findings.every((f) => f.injected === 'strip-ns:D'));
});

test('strip-ns:URI removes every declaration of that namespace, whatever its prefix', async (t) => {
  const twoPrefixes = Buffer.from(body.replace('<D:multistatus xmlns:D="DAV:">', '<D:multistatus xmlns:D="DAV:" xmlns:x="DAV:" xmlns:o="urn:other">'));
  const origin = await origin207(t, 'chunked', twoPrefixes);
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:DAV:');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(got.toString(), twoPrefixes.toString().replace(' xmlns:D="DAV:" xmlns:x="DAV:"', ''));
  t.is(headerOf(head, 'transfer-encoding'), 'chunked');
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS104'));
});

test('strip-ns on a gzip body decodes, rewrites and re-encodes it with Content-Encoding kept', async (t) => {
  const origin = await origin207(t, 'content-length', zlib.gzipSync(bodyBytes), { 'Content-Encoding': 'gzip' });
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:D');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-encoding'), 'gzip');
  t.is(headerOf(head, 'content-length'), String(got.length));
  t.is(zlib.gunzipSync(got).toString(), body.replace(' xmlns:D="DAV:"', ''));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS104'));
});

test('drop:propstat removes every propstat with its content, MS202', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'drop:propstat');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const got = splitResponse(r.stdout).body.toString();
  t.is(got, body.replace(/<D:propstat>.*?<\/D:propstat>/g, ''));
  const [flow] = await p.waitForFlows(1);
  t.is(rules(flow!).filter((r) => r === 'MS202').length, 7, rules(flow!).join());
});

test('drop:href leaves responses without href, MS201 for each', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'drop:href');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.is(splitResponse(r.stdout).body.toString(), body.replace(/<D:href>[^<]*<\/D:href>/g, ''));
  const [flow] = await p.waitForFlows(1);
  t.is(rules(flow!).filter((r) => r === 'MS201').length, 7);
});

test('rewrite-href to a backend origin makes every href absolute on it, MS304', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'rewrite-href:http://backend:8080');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const got = splitResponse(r.stdout).body.toString();
  t.is(got, body.replace(/<D:href>/g, '<D:href>http://backend:8080'));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS304'), rules(flow!).join());
  t.true(flow!.analysis!.findings.filter((f) => f.rule === 'MS304').every((f) => f.injected === 'rewrite-href:http://backend:8080'));
});

test('rewrite-href to a prefix moves the hrefs out of the requested collection, MS303', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'rewrite-href:/other/prefix/');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.is(splitResponse(r.stdout).body.toString(), body.replace(/<D:href>/g, '<D:href>/other/prefix'));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS303'), rules(flow!).join());
  t.false(rules(flow!).includes('MS304'));
});

test('html replaces the body with an HTML page: status kept, text/html, exact Content-Length, MS108', async (t) => {
  const origin = await origin207(t, 'content-length', zlib.gzipSync(bodyBytes), { 'Content-Encoding': 'gzip' });
  const p = await startInjectingProxy(t, origin.url, 'html');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.regex(head, /^HTTP\/1\.1 207 /);
  t.is(headerOf(head, 'content-type'), 'text/html; charset=utf-8');
  t.is(headerOf(head, 'content-encoding'), undefined);
  t.is(headerOf(head, 'content-length'), String(got.length));
  t.regex(got.toString(), /^<!DOCTYPE html>[\s\S]*<title>207 Multi-Status<\/title>/);
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS108'), rules(flow!).join());
  t.is(flow!.response!.status, 207);
});

test('gzip-no-header sends a gzip body without Content-Encoding, MS405', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'gzip-no-header');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-encoding'), undefined);
  t.is(headerOf(head, 'content-length'), String(got.length));
  t.deepEqual([...got.subarray(0, 2)], [0x1f, 0x8b]);
  t.deepEqual(zlib.gunzipSync(got), bodyBytes);
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS405'), rules(flow!).join());
});

test('gzip-no-header on an already gzipped body only drops the header: the bytes are upstream\'s', async (t) => {
  const gz = zlib.gzipSync(bodyBytes);
  const origin = await origin207(t, 'content-length', gz, { 'Content-Encoding': 'gzip' });
  const p = await startInjectingProxy(t, origin.url, 'gzip-no-header');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-encoding'), undefined);
  t.deepEqual(got, gz);
});

test('delay:MS holds the response: a client with a shorter timeout gets nothing (curl 28), a patient one the exact body', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'delay:2500');
  const impatient = await propfind(p.url, ['--max-time', '1.2']);
  t.is(impatient.code, 28, impatient.stderr);
  t.is(impatient.stdout.length, 0);
  const patient = await propfind(p.url);
  t.is(patient.code, 0, patient.stderr);
  t.deepEqual(splitResponse(patient.stdout).body, bodyBytes);
  const flows = await p.waitForFlows(2);
  t.deepEqual(flows.map((f) => f.injected), ['delay:2500', 'delay:2500']);
  t.deepEqual(flows.map((f) => f.outcome.kind).sort(), ['client-aborted', 'complete']);
});

test('stall:after=BYTES without ms holds the body until the client gives up (curl 28 with exactly BYTES), which is no server truncation', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'stall:after=120');
  const r = await propfind(p.url, ['--max-time', '3']);
  t.is(r.code, 28, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, bodyBytes.subarray(0, 120));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.outcome.kind, 'client-aborted');
  t.is(flow!.injected, 'stall:after=120');
  t.is(flow!.response!.body.bytesSeen, 120);
  // The client gave up, the server did not cut anything: no truncation is reported (the outcome says who left).
  t.false(rules(flow!).includes('MS001'), rules(flow!).join());
  t.regex(flow!.outcome.message ?? '', /client/);
});

test('stall:after=BYTES:ms=MS pauses, then the body completes byte-identical', async (t) => {
  const origin = await origin207(t, 'chunked');
  const p = await startInjectingProxy(t, origin.url, 'stall:after=64:ms=300');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, bodyBytes);
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.outcome.kind, 'complete');
  t.deepEqual(rules(flow!), []);
});

test('reset resets the connection before any byte of the response (curl 56)', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'reset');
  const r = await propfind(p.url);
  t.is(r.code, 56, r.stderr);
  t.is(r.stdout.length, 0);
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.response, null);
  t.is(flow!.outcome.code, 'ECONNRESET');
  t.is(flow!.injected, 'reset');
});

test('reset:after=BYTES resets mid-body; on a close-delimited body the analyzer sees the reset, MS003', async (t) => {
  const origin = await origin207(t, 'close');
  const p = await startInjectingProxy(t, origin.url, 'reset:after=150');
  const r = await propfind(p.url);
  t.is(r.code, 56, r.stderr);
  const got = splitResponse(r.stdout).body;
  t.true(got.length <= 150);
  t.deepEqual(got, bodyBytes.subarray(0, got.length));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.outcome.code, 'ECONNRESET');
  t.is(flow!.response!.body.bytesSeen, 150);
  t.true(rules(flow!).includes('MS003'), rules(flow!).join());
  t.true(flow!.analysis!.findings.every((f) => f.injected === 'reset:after=150'));
});

test('faults compose in order: drop, then a keep-length cut after the second response', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'drop:displayname,truncate:responses=2:keep-length');
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const dropped = body.replace(/<D:displayname>[^<]*<\/D:displayname>/g, '');
  t.is(splitResponse(r.stdout).body.toString(), dropped.slice(0, afterNth(dropped, 2)));
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.injected, 'drop:displayname,truncate:responses=2:keep-length');
});

test('an upstream that breaks during a buffered rewrite breaks the client\'s transfer too: nothing clean is faked', async (t) => {
  const origin = await startOrigin((_req, socket) => {
    socket.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': bodyBytes.length }, bodyBytes.subarray(0, 400)));
    setTimeout(() => socket.destroy(), 50);
  });
  t.teardown(() => origin.close());
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:D');
  const r = await propfind(p.url);
  t.not(r.code, 0);
  t.is(r.stdout.length, 0, 'no head was sent for a body that never completed');
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.outcome.kind, 'upstream-aborted');
  t.is(flow!.injected, 'strip-ns:D');
});

test('a body larger than the rewrite cap passes unchanged, and the flow says the rewrite was not applied', async (t) => {
  const origin = await origin207(t, 'chunked');
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:D', { maxRewriteBytes: 256 });
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.deepEqual(got, bodyBytes);
  t.is(headerOf(head, 'transfer-encoding'), 'chunked');
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.injected, 'strip-ns:D (strip-ns:D not applied: body over 256 bytes)');
  t.deepEqual(rules(flow!), []);
});

test('a rewrite over the cap with a declared Content-Length is skipped without buffering', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'drop:href', { maxRewriteBytes: 256 });
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, bodyBytes);
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.injected, 'drop:href (drop:href not applied: body over 256 bytes)');
});

test('a gzip body that decodes past the rewrite cap passes unchanged: decoding stops at the cap', async (t) => {
  const wire = gzipBomb(4); // about 4 KB that inflate to 4 MiB
  const origin = await origin207(t, 'content-length', wire, { 'Content-Encoding': 'gzip' });
  const p = await startInjectingProxy(t, origin.url, 'strip-ns:D', { maxRewriteBytes: 64 * 1024 });
  const r = await propfind(p.url);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(splitResponse(r.stdout).body, wire);
  const [flow] = await p.waitForFlows(1);
  t.is(flow!.injected, 'strip-ns:D (strip-ns:D not applied: decoded body over 65536 bytes)');
});

test('stall:after=0 sends the head at once and holds the whole body; truncate:bytes=0 sends a head and closes', async (t) => {
  const origin = await origin207(t);
  const stalled = await startInjectingProxy(t, origin.url, 'stall:after=0');
  const r = await propfind(stalled.url, ['--max-time', '3']);
  t.is(r.code, 28, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.regex(head, /^HTTP\/1\.1 207 /);
  t.is(got.length, 0);
  const cut = await startInjectingProxy(t, origin.url, 'truncate:bytes=0');
  const c = await propfind(cut.url);
  t.is(c.code, 18, c.stderr);
  t.regex(splitResponse(c.stdout).head, /^HTTP\/1\.1 207 /);
  t.is(splitResponse(c.stdout).body.length, 0);
  const [flow] = await cut.waitForFlows(1);
  t.true(rules(flow!).includes('MS001'));
});

test('a rewrite after a byte cut keeps the cut a cut: Content-Length stays the declared one and the connection closes', async (t) => {
  const origin = await origin207(t);
  const p = await startInjectingProxy(t, origin.url, 'truncate:bytes=400,strip-ns:D');
  const r = await propfind(p.url);
  t.is(r.code, 18, r.stderr);
  const { head, body: got } = splitResponse(r.stdout);
  t.is(headerOf(head, 'content-length'), String(bodyBytes.length));
  t.is(got.toString(), body.slice(0, 400).replace(' xmlns:D="DAV:"', ''));
  const [flow] = await p.waitForFlows(1);
  t.true(rules(flow!).includes('MS001'));
});
