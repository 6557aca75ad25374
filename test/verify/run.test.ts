// verify end to end in-process: a real WebDAV server (webdav-server) as the origin, and as the
// gateway davtap's own reverse proxy (transparent, or a deliberately bad gateway with --inject) or a
// raw socket relay that resets mid-body.
import test from 'ava';
import { createInjector, parseInjectSpecs } from '../../src/inject/index.js';
import type { ProxyOptions } from '../../src/proxy/index.js';
import { verify, type VerifyReport } from '../../src/verify/run.js';
import { renderJson, renderJunit, renderText } from '../../src/verify/report.js';
import { request } from '../helpers/apache.js';
import { startOrigin } from '../helpers/origin.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';

const FILES = 12;
let dav: DavServer;
let base: string;

test.before(async () => {
  dav = await startDavServer();
  base = `${dav.url}/dav/`;
  for (const p of ['docs/', 'docs/sub/', 'docs/sub/deeper/', 'other/']) {
    const res = await request(base + p, 'MKCOL');
    if (res.status !== 201) throw new Error(`MKCOL ${p}: ${res.status}`);
  }
  for (let i = 0; i < FILES; i++) await request(`${base}docs/file-${i}.txt`, 'PUT', { body: `file ${i}\n` });
  await request(`${base}docs/sub/inner.txt`, 'PUT', { body: 'inner\n' });
});

test.after.always(async () => {
  await dav?.close();
});

const errorsOf = (r: VerifyReport, except?: string) => r.paths.flatMap((p) => p.exchanges.flatMap((e) => e.differences.filter((f) => f.severity === 'error' && f.consequenceOf === undefined && f.rule !== except).map((f) => ({ path: p.viaPath, probe: e.probe, f }))));
const FAIL_ON_ERROR = { kind: 'severity', at: 'error' } as const;

async function gateway(t: Parameters<typeof startTestProxy>[0], inject?: string): Promise<string> {
  const options: Partial<ProxyOptions> = { upstream: new URL(dav.url) };
  // ProxyHooks needs an onFlow; these tests never wait for recorded flows.
  if (inject !== undefined) options.hooks = { onFlow: () => {}, injectFor: createInjector({ specs: parseInjectSpecs(inject) }) };
  const proxy = await startTestProxy(t, options);
  return `${proxy.url.replace(/\/$/, '')}/dav/`;
}

/**
 * A transparent gateway: each request relayed to the origin with the client's own Host (the origin
 * builds absolute hrefs from it), the answer relayed back with its status, type and length. `cut`
 * sends only half of the body and then resets the connection.
 */
async function relay(t: Parameters<typeof startTestProxy>[0], cut = false): Promise<string> {
  const server = await startOrigin(async (req, socket) => {
    const headers: Record<string, string> = {};
    for (const h of ['host', 'depth', 'content-type']) if (req.headers[h] !== undefined) headers[h] = req.headers[h]!;
    const res = await request(`${dav.url}${req.target}`, req.method, { headers, body: req.body });
    const head = `HTTP/1.1 ${res.status} Multi-Status\r\nContent-Type: ${res.headers['content-type']}\r\nContent-Length: ${res.body.length}\r\n\r\n`;
    if (!cut) {
      socket.end(Buffer.concat([Buffer.from(head, 'latin1'), res.body]));
      return;
    }
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), res.body.subarray(0, Math.floor(res.body.length / 2))]), () => setTimeout(() => socket.resetAndDestroy(), 20));
  });
  t.teardown(() => server.close());
  return `${server.url}/dav/`;
}

test('through a transparent gateway every collection passes and the crawl follows the depth', async (t) => {
  const via = await relay(t);
  const r = await verify({ origin: base, via, depth: 3 });
  t.deepEqual(errorsOf(r), []);
  t.deepEqual(r.paths.map((p) => p.viaPath).sort(), ['/dav/', '/dav/docs/', '/dav/docs/sub/', '/dav/other/']);
  t.is(r.exchanges, 4 * 3);
  t.is(r.notVisited, 0);
  for (const p of r.paths) {
    for (const e of p.exchanges) {
      t.deepEqual([e.origin.status, e.via.status], [207, 207], `${p.viaPath} ${e.probe}`);
      // webdav-server writes absolute hrefs on the Host it was asked for: the bytes differ, the multistatus does not.
      t.is(e.verdict, 'identical up to the mapping', `${p.viaPath} ${e.probe}`);
    }
  }
  t.regex(renderText(r, FAIL_ON_ERROR), /Result: the gateway passes every Multi-Status through intact/);
});

test("through davtap's reverse proxy (Host rewritten, bodies untouched) absolute hrefs name the origin: a leak", async (t) => {
  const r = await verify({ origin: base, via: await gateway(t), depth: 1, paths: ['/docs/'] });
  const errs = errorsOf(r);
  t.is(errs.length, 3);
  for (const { f } of errs) {
    t.is(f.rule, 'MS804');
    t.is(f.evidence.inward, true);
    t.is(f.message, `via rewrote hrefs to ${dav.url}/ (the origin itself: clients leave the gateway): 14 of 14 hrefs, e.g. ${dav.url}/dav/docs/`);
  }
});

test('--depth 1 lists only the start path, and the collection bound is said', async (t) => {
  const via = await gateway(t);
  const one = await verify({ origin: base, via, depth: 1, paths: ['/docs/'] });
  t.deepEqual(one.paths.map((p) => p.viaPath), ['/dav/docs/']);
  const bounded = await verify({ origin: base, via, depth: 4, maxCollections: 2 });
  t.is(bounded.paths.length, 2);
  t.true(bounded.notVisited >= 1);
  t.regex(renderText(bounded, FAIL_ON_ERROR), new RegExp(`stopped at 2 collections \\(--max-collections\\), ${bounded.notVisited} found but not visited`));
});

test('a gateway cutting after 3 responses: each listing says 3 of N arrived', async (t) => {
  const via = await gateway(t, 'truncate:responses=3');
  const r = await verify({ origin: base, via, depth: 1, paths: ['/docs/'] });
  // davtap's proxy leaks the origin's address in webdav-server's hrefs (see above): not this test's subject.
  const errs = errorsOf(r, 'MS804');
  // /docs/ itself, 12 files and sub/: 14 responses.
  t.is(errs.length, 3);
  for (const { f } of errs) {
    t.is(f.category, 'truncation');
    t.regex(f.message, /^via: 3 of 14 responses, body cut at [\d,]+ bytes of [\d,]+ \(/);
  }
});

test('a gateway rewriting hrefs to a backend host fails with the host in words, in the JUnit failure too', async (t) => {
  const via = await gateway(t, 'rewrite-href:http://backend.internal:8080');
  const r = await verify({ origin: base, via, depth: 1, paths: ['/docs/'] });
  const first = errorsOf(r)[0]!;
  t.is(first.f.rule, 'MS804');
  t.regex(first.f.message, /^via rewrote hrefs to http:\/\/backend\.internal:8080\/: 14 of 14 hrefs/);
  const xml = renderJunit(r, FAIL_ON_ERROR);
  t.regex(xml, /<testcase classname="davtap.verify" name="\/dav\/docs\/">\n {6}<failure type="MS804" message="PROPFIND allprop: via rewrote hrefs to http:\/\/backend.internal:8080\//);
});

test('a gateway serving an HTML page or gzip without Content-Encoding fails with those words', async (t) => {
  const html = await verify({ origin: base, via: await gateway(t, 'html'), depth: 1, paths: ['/docs/'] });
  const htmlErrors = errorsOf(html);
  // The namespaces and hrefs of the page are not compared: the substitution is the one cause, once per exchange.
  t.deepEqual(htmlErrors.map(({ f }) => f.rule), ['MS808', 'MS808', 'MS808'], JSON.stringify(htmlErrors.map(({ f }) => f.message)));
  t.regex(htmlErrors[0]!.f.message, /^via changed Content-Type from .*xml.* to text\/html/);
  const page = html.paths[0]!.exchanges[0]!.differences;
  t.true(page.some((f) => /^via's body is not the origin's multistatus: its root is \{(http:\/\/www.w3.org\/1999\/xhtml)?\}html/.test(f.message) && f.consequenceOf === 'MS808'));
  t.true(page.some((f) => f.rule === 'MS108' && f.consequenceOf === 'MS808'));
  const gz = await verify({ origin: base, via: await gateway(t, 'gzip-no-header'), depth: 1, paths: ['/docs/'] });
  t.deepEqual([...new Set(errorsOf(gz, 'MS804').map(({ f }) => f.message))], ['via added gzip without Content-Encoding: the body is a gzip stream that clients will read as XML']);
});

test('a relay that drops the connection mid-body: truncation with the responses that arrived', async (t) => {
  const r = await verify({ origin: base, via: await relay(t, true), depth: 1, paths: ['/docs/'] });
  const errs = errorsOf(r);
  t.is(errs.length, 3);
  for (const { f } of errs) {
    t.is(f.rule, 'MS806');
    t.is(f.evidence.transportRule, 'MS001');
    // The relay resets; under load the kernel may report the end as a close (the wording follows what was seen).
    t.regex(f.message, /^via: \d+ of 14 responses, body cut at [\d,]+ bytes of [\d,]+ \(body shorter than Content-Length when the connection (was reset|closed); last complete response: /);
  }
});

test('an origin that does not answer is a network error naming it', async (t) => {
  const closed = await startOrigin(() => {});
  const url = `${closed.url}/`;
  await closed.close();
  const err = await t.throwsAsync(verify({ origin: url, via: base, idleTimeoutMs: 2000 }));
  t.regex(err!.message, /^verify: origin http:\/\/127\.0\.0\.1:\d+\/ did not answer OPTIONS \/: .*ECONNREFUSED/);
});

test('a gateway that stops sending is cut by the idle timeout, not waited for', async (t) => {
  const silent = await startOrigin(() => {});
  t.teardown(() => silent.close());
  const r = await verify({ origin: base, via: `${silent.url}/dav/`, depth: 1, paths: ['/docs/'], idleTimeoutMs: 3000 });
  const errs = errorsOf(r);
  t.is(errs.length, 3);
  t.regex(errs[0]!.f.message, /^via gave no response: no byte for 3000 ms/);
});

test('a byte difference is blamed on the gateway only when the origin repeats its own bytes', async (t) => {
  // An origin whose every answer carries a request counter in a comment: same multistatus, new bytes.
  const xml = (i: number) =>
    `<?xml version="1.0" encoding="utf-8"?>\n<!-- answer ${i} --><D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href>` +
    '<D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n';
  const varying = await startOrigin((req, socket, index) => {
    const body = req.method === 'PROPFIND' ? xml(index) : '';
    socket.end(`HTTP/1.1 ${req.method === 'PROPFIND' ? '207 Multi-Status' : '200 OK'}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  t.teardown(() => varying.close());
  const r = await verify({ origin: `${varying.url}/`, via: `${varying.url}/`, depth: 1 });
  const notes = r.paths[0]!.exchanges.map((e) => e.differences.map((f) => [f.severity, f.message]));
  const size = Buffer.byteLength(xml(1)); // every counter in this test has one digit
  t.deepEqual(notes, [0, 1, 2].map(() => [['info', `bytes differ (${size} → ${size}) as two answers of the origin itself do; the multistatus is the same up to the mapping`]]));
  t.is(varying.requests.filter((q) => q.method === 'PROPFIND').length, 3 * 3, 'origin, gateway, origin again for each probe');
});

test("a response larger than davtap's read cap is reported as not compared, never as a cut", async (t) => {
  const r = await verify({ origin: base, via: await relay(t), depth: 1, paths: ['/docs/'], maxBytes: 2048 });
  const diffs = r.paths[0]!.exchanges.flatMap((e) => e.differences);
  t.is(diffs.length, 3);
  for (const f of diffs) {
    t.deepEqual([f.rule, f.severity], ['MS703', 'warning']);
    t.is(f.message, "not compared: the origin's answer is larger than davtap's cap of 2,048 bytes (--max-bytes)");
  }
  t.false(diffs.some((f) => f.category === 'truncation'));
});

test('an origin that stops answering mid-run leaves those pairs out with a warning, and the report is kept', async (t) => {
  // Answers OPTIONS and the first PROPFIND like the real origin (through the relay), then goes silent.
  let served = 0;
  const flaky = await startOrigin(async (req, socket) => {
    if (req.method === 'PROPFIND' && served++ >= 1) return;
    const headers: Record<string, string> = {};
    for (const h of ['depth', 'content-type']) if (req.headers[h] !== undefined) headers[h] = req.headers[h]!;
    const res = await request(`${dav.url}${req.target}`, req.method, { headers, body: req.body });
    socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${res.status} X\r\nContent-Type: application/xml\r\nContent-Length: ${res.body.length}\r\n\r\n`, 'latin1'), res.body]));
  });
  t.teardown(() => flaky.close());
  const r = await verify({ origin: `${flaky.url}/dav/`, via: base, depth: 1, paths: ['/docs/'], idleTimeoutMs: 3000 });
  const [first, ...rest] = r.paths[0]!.exchanges;
  t.is(first!.origin.status, 207);
  t.deepEqual(rest.map((e) => e.differences.map((f) => [f.severity, f.message])), [
    [['warning', 'not compared: the origin gave no response (no byte for 3000 ms)']],
    [['warning', 'not compared: the origin gave no response (no byte for 3000 ms)']],
  ]);
});

/**
 * A gateway that ignores `Connection: close`: it relays each answer to the origin with its framing
 * (Content-Length, or close-delimited with `closeDelimited`) and never closes the connection.
 */
async function keepsOpen(t: Parameters<typeof startTestProxy>[0], closeDelimited = false): Promise<string> {
  const server = await startOrigin(async (req, socket) => {
    const headers: Record<string, string> = {};
    for (const h of ['host', 'depth', 'content-type']) if (req.headers[h] !== undefined) headers[h] = req.headers[h]!;
    const res = await request(`${dav.url}${req.target}`, req.method, { headers, body: req.body });
    const length = closeDelimited ? '' : `Content-Length: ${res.body.length}\r\n`;
    socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 ${res.status} Multi-Status\r\nContent-Type: ${res.headers['content-type']}\r\n${length}\r\n`, 'latin1'), res.body]));
  });
  t.teardown(() => server.close());
  return `${server.url}/dav/`;
}

test('a gateway that keeps the connection open is read by framing: no timeout, the run passes at once', async (t) => {
  const started = Date.now();
  const r = await verify({ origin: base, via: await keepsOpen(t), depth: 1, paths: ['/docs/'], idleTimeoutMs: 20_000 });
  // Reading until close would wait the idle timeout once per exchange (3 × 20 s).
  t.true(Date.now() - started < 15_000, `${Date.now() - started} ms`);
  t.deepEqual(errorsOf(r), []);
  for (const e of r.paths[0]!.exchanges) t.is(e.via.transport.outcome, 'complete');
  t.regex(renderText(r, FAIL_ON_ERROR), /^PASS {2}\/dav\/docs\//m);
});

test('an answer that never ends (close-delimited on a connection kept open) is a failure in words and in JSON, never a pass', async (t) => {
  const r = await verify({ origin: base, via: await keepsOpen(t, true), depth: 1, paths: ['/docs/'], idleTimeoutMs: 2000 });
  const errs = errorsOf(r);
  t.is(errs.length, 3);
  for (const { f } of errs) {
    t.is(f.rule, 'MS806');
    t.regex(f.message, /^via's answer did not end: no byte for 2000 ms after [\d,]+ bytes \(close-delimited\)$/);
  }
  for (const e of r.paths[0]!.exchanges) t.is(e.via.transport.outcome, 'timeout');
  const text = renderText(r, FAIL_ON_ERROR);
  t.regex(text, /^FAIL {2}\/dav\/docs\//m);
  t.notRegex(text, /^PASS/m);
  const json = JSON.parse(renderJson(r, FAIL_ON_ERROR)) as { passed: boolean; paths: { passed: boolean }[] };
  t.false(json.passed);
  t.deepEqual(json.paths.map((p) => p.passed), [false]);
});

test('one strip-ns fault is one error per exchange: the parse errors and lost responses are its consequences', async (t) => {
  const r = await verify({ origin: base, via: await gateway(t, 'strip-ns:D'), depth: 1, paths: ['/docs/'] });
  const errs = errorsOf(r, 'MS804');
  t.deepEqual(errs.map(({ f }) => f.rule), ['MS805', 'MS805', 'MS805']);
  for (const e of r.paths[0]!.exchanges) {
    const knockOns = e.differences.filter((f) => f.consequenceOf === 'MS805').map((f) => f.rule);
    t.true(knockOns.includes('MS104'), JSON.stringify(e.differences.map((f) => [f.rule, f.consequenceOf])));
    t.false(e.differences.some((f) => f.rule === 'MS802' && f.consequenceOf === undefined));
  }
  t.regex(renderText(r, FAIL_ON_ERROR), /Result: 1 of 1 paths differ: 3 errors,/);
});

test('a cut does not also report the namespace declarations past it', async (t) => {
  const r = await verify({ origin: base, via: await gateway(t, 'truncate:bytes=300'), depth: 1, paths: ['/docs/'] });
  for (const e of r.paths[0]!.exchanges) {
    t.deepEqual(e.differences.filter((f) => f.severity === 'error' && f.consequenceOf === undefined && f.rule !== 'MS804' && f.rule !== 'MS304').map((f) => f.rule), ['MS806'], e.probe);
  }
});

test('--concurrency visits the same collections with the same results', async (t) => {
  const via = await relay(t);
  const one = await verify({ origin: base, via, depth: 3 });
  const four = await verify({ origin: base, via, depth: 3, concurrency: 4 });
  t.deepEqual(four.paths.map((p) => p.viaPath).sort(), one.paths.map((p) => p.viaPath).sort());
  t.is(four.exchanges, one.exchanges);
  t.deepEqual(errorsOf(four), []);
  const bounded = await verify({ origin: base, via, depth: 4, maxCollections: 2, concurrency: 4 });
  t.is(bounded.paths.length, 2);
  t.true(bounded.notVisited >= 1);
});
