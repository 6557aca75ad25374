// Reverse mode's raw-socket relay, for what it decides itself: pipelining, HTTP/1.0 clients,
// persistence on both sides, requests it refuses, an upstream that overruns its framing, and a
// kept-alive upstream connection closed under a request. The transparency contract itself is in
// ../transparency.test.ts.
import test from 'ava';
import net from 'node:net';
import type { ExecutionContext } from 'ava';
import { startOrigin, response, type Origin } from '../../helpers/origin.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { startProxy } from '../../../src/proxy/index.js';
import type { Flow } from '../../../src/types.js';
import type { ResponseInjection } from '../../../src/proxy/hooks.js';
import { rawClient } from '../../helpers/raw-client.js';
import { curl } from '../../helpers/curl.js';

async function originFor(t: ExecutionContext, handler: Parameters<typeof startOrigin>[0]): Promise<Origin> {
  const origin = await startOrigin(handler);
  t.teardown(() => origin.close());
  return origin;
}

/** An origin that drops the second request of every connection without a word (a keep-alive race). */
function dropsSecondRequest(t: ExecutionContext): Promise<Origin> {
  const perConnection = new Map<net.Socket, number>();
  return originFor(t, (_req, s) => {
    const n = (perConnection.get(s) ?? 0) + 1;
    perConnection.set(s, n);
    if (n === 2) s.destroy();
    else s.write(response(200, { 'Content-Length': 2 }, 'ok'));
  });
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

test('pipelined requests, one with a body, are answered in order over one upstream connection', async (t) => {
  const origin = await originFor(t, (req, s) => {
    const body = `${req.method} ${req.target} ${req.body.length}`;
    s.write(response(200, { 'Content-Length': Buffer.byteLength(body) }, body));
  });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write(
    'PROPFIND /a HTTP/1.1\r\nHost: h\r\nDepth: 0\r\n\r\n' +
      'PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'VERSION-CONTROL /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy',
  );
  const text = await c.until((s) => count(s, /HTTP\/1\.1 200 /g) === 3 && s.endsWith('VERSION-CONTROL /c 2'));
  // The origin counts the chunked body as it came: 13 bytes of framing and data.
  t.regex(text, /PROPFIND \/a 0[\s\S]*PUT \/b 13[\s\S]*VERSION-CONTROL \/c 2$/);
  t.is(origin.connections, 1);
  const flows = await proxy.waitForFlows(3);
  t.deepEqual(flows.map((f) => `${f.request.method} ${f.request.body.bytes.toString()}`), ['PROPFIND ', 'PUT abc', 'VERSION-CONTROL xy']);
  t.true(flows.every((f) => f.outcome.kind === 'complete'));
});

test('an HTTP/1.0 client gets a chunked response de-chunked and delimited by close; the flow keeps what upstream sent', async (t) => {
  const origin = await originFor(t, (_req, s) => {
    s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<a/>\n\r\n3\r\nxyz\r\n0\r\n\r\n');
  });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('PROPFIND / HTTP/1.0\r\nDepth: 0\r\n\r\n');
  await c.closed;
  const text = c.text();
  t.regex(text, /^HTTP\/1\.1 207 Multi-Status\r\n/);
  t.notRegex(text, /Transfer-Encoding/i);
  t.regex(text, /\r\nConnection: close\r\n/);
  t.true(text.endsWith('\r\n\r\n<a/>\nxyz'), JSON.stringify(text));
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.response!.framing, 'chunked');
  t.is(flow!.response!.body.bytes.toString(), '<a/>\nxyz');
  t.is(flow!.outcome.kind, 'complete');
});

test('an HTTP/1.0 client that asks for keep-alive keeps its connection; one that does not is closed', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const kept = await rawClient(t, proxy.port);
  kept.socket.write('GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  t.regex(await kept.until((s) => s.endsWith('ok')), /\r\nConnection: keep-alive\r\n/);
  kept.socket.write('GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  await kept.until((s) => count(s, /ok/g) === 2);
  const once = await rawClient(t, proxy.port);
  once.socket.write('GET /3 HTTP/1.0\r\n\r\n');
  await once.closed;
  t.regex(once.text(), /\r\nConnection: close\r\n[\s\S]*ok$/);
  t.is((await proxy.waitForFlows(3)).length, 3);
});

test('a close-delimited response closes the client connection after it, with Connection: close', async (t) => {
  const origin = await originFor(t, (_req, s) => {
    s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
  });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  await c.closed;
  t.regex(c.text(), /\r\nConnection: close\r\n\r\nuntil the end$/);
  const [flow] = await proxy.waitForFlows(1);
  t.deepEqual([flow!.outcome.kind, flow!.response!.framing], ['complete', 'close-delimited']);
});

test('requests that could be read two ways, CONNECT, and oversized heads are refused, recorded, and never reach upstream', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(200, { 'Content-Length': 0 })));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const cases: Array<[string, RegExp, string]> = [
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', /^HTTP\/1\.1 400 /, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n', /^HTTP\/1\.1 501 [\s\S]*forward mode/, 'ECONNECT'],
    [`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /, 'HPE_HEADER_OVERFLOW'],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n', /^HTTP\/1\.1 400 /, 'HPE_INVALID_HEADER_TOKEN'],
  ];
  for (const [request, reply, code] of cases) {
    const c = await rawClient(t, proxy.port);
    c.socket.write(request);
    await c.closed;
    t.regex(c.text(), reply, code);
    t.regex(c.text(), /\r\nConnection: close\r\n/);
  }
  const flows = await proxy.waitForFlows(cases.length);
  t.deepEqual(flows.map((f) => f.outcome.code), cases.map((c) => c[2]));
  t.true(flows.every((f) => f.outcome.kind === 'error' && f.response === null));
  t.is(origin.requests.length, 0);
});

test('bytes an upstream sends past its response are never relayed, and its connection is not used again', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(Buffer.concat([response(200, { 'Content-Length': 5 }, 'hello'), Buffer.from('EXTRA')])));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET /1 HTTP/1.1\r\nHost: h\r\n\r\n');
  await c.until((s) => s.endsWith('hello'));
  c.socket.write('GET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
  const text = await c.until((s) => count(s, /hello/g) === 2);
  t.false(text.includes('EXTRA'));
  t.is(origin.connections, 2);
});

test('a bodyless request on a kept-alive connection the server closed unanswered is sent again on a fresh one; a PUT is not', async (t) => {
  const origin = await dropsSecondRequest(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET /1 HTTP/1.1\r\nHost: h\r\n\r\n');
  await c.until((s) => count(s, /ok/g) === 1);
  c.socket.write('PROPFIND /2 HTTP/1.1\r\nHost: h\r\nDepth: 0\r\n\r\n');
  await c.until((s) => count(s, /ok/g) === 2);
  t.deepEqual(origin.requests.map((r) => r.target), ['/1', '/2', '/2']);
  c.socket.write('PUT /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx');
  const text = await c.until((s) => /502 Bad Gateway/.test(s));
  t.regex(text, /closed the connection before answering/);
  const flows = await proxy.waitForFlows(3);
  t.deepEqual(flows.map((f) => f.response?.status ?? f.outcome.code), [200, 200, 'EOF']);
});

test('a bodyless MOVE on a kept-alive connection the server closed unanswered is not sent again: it may have been acted on (RFC 9110 §9.2.2)', async (t) => {
  const origin = await dropsSecondRequest(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET /1 HTTP/1.1\r\nHost: h\r\n\r\n');
  await c.until((s) => count(s, /ok/g) === 1);
  c.socket.write('MOVE /a HTTP/1.1\r\nHost: h\r\nDestination: http://h/b\r\n\r\n');
  await c.until((s) => /502 Bad Gateway/.test(s));
  t.deepEqual(origin.requests.map((r) => `${r.method} ${r.target}`), ['GET /1', 'MOVE /a']);
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(flows.map((f) => f.response?.status ?? f.outcome.code), [200, 'EOF']);
});

test('an upload to a server that stops reading stops the client (memory stays bounded)', async (t) => {
  // A server that reads the request head, then nothing more.
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    accepted.push(s);
    s.once('data', () => s.pause());
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    // A paused socket never reads the FIN that would close it.
    for (const s of accepted) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const proxy = await startTestProxy(t, { upstream: new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`) });
  const c = await rawClient(t, proxy.port);
  const total = 256 * 1024 * 1024;
  c.socket.write(`PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: ${total}\r\n\r\n`);
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let written = 0;
  // Write until the socket refuses more for a while: each refused write waits up to 500 ms for room.
  for (let i = 0; i < total / chunk.length; i++) {
    written += chunk.length;
    if (!c.socket.write(chunk)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 500);
        c.socket.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) break;
    }
  }
  t.true(written < 64 * 1024 * 1024, `the client could write ${written} bytes into a stalled upload`);
  const rss = process.memoryUsage().rss;
  t.true(rss < 1024 * 1024 * 1024, `rss ${rss}`);
});

test('an answer sent before the request body is over is relayed, and the client connection then ends', async (t) => {
  // A server that refuses an upload from its head, without reading the body, and closes.
  const server = net.createServer((s) => {
    s.once('data', () => s.end('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n'));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const proxy = await startTestProxy(t, { upstream: new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`) });
  const c = await rawClient(t, proxy.port);
  const size = 32 * 1024 * 1024;
  c.socket.write(`PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
  c.socket.write(Buffer.alloc(size, 0x61));
  await c.closed;
  t.regex(c.text(), /^HTTP\/1\.1 413 Payload Too Large\r\n[\s\S]*\r\n\r\ntoo big\n$/);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.response!.status, 413);
  t.is(flow!.outcome.kind, 'complete');
  t.true(flow!.request.body.bytesSeen < size, 'the rest of the upload was not waited for');
});

// Each of these arrived in one read with its head and stopped the whole process once (a 400 was
// written, then a null dereference): every shape is answered, recorded, and davtap goes on.
const badChunkedBodies: Array<[string, string]> = [
  ['an invalid size', 'zz\r\n'],
  ['a negative size', '-5\r\nhello\r\n0\r\n\r\n'],
  ['0x before the size', '0x5\r\nhello\r\n0\r\n\r\n'],
  ['17 hex digits', '10000000000000000\r\nx\r\n'],
  ['a leading space', ' 5\r\nhello\r\n0\r\n\r\n'],
  ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
  ['a bare CR in the size line', '5\rhello\r\n0\r\n\r\n'],
  ['data without its CRLF', '5\r\nhelloXX0\r\n\r\n'],
  ['a missing final CRLF', '5\r\nhello\r\n0\r\n\rX'],
  ['a trailer without a colon', '5\r\nhello\r\n0\r\nX\r\n\r\n'],
  ['a size with trailing junk', '5 z\r\nhello\r\n0\r\n\r\n'],
];

test('a chunked request whose chunk framing is invalid in the first read is refused with 400 and recorded, and davtap goes on', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  for (const [what, body] of badChunkedBodies) {
    const c = await rawClient(t, proxy.port);
    c.socket.write(`PUT /dav/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    await c.closed;
    t.regex(c.text(), /^HTTP\/1\.1 400 /, what);
  }
  // The process is alive and relaying.
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.until((s) => s.endsWith('ok'));
  const flows = await proxy.waitForFlows(badChunkedBodies.length + 1);
  const refused = flows.slice(0, badChunkedBodies.length);
  t.true(refused.every((f) => f.request.method === 'PUT' && f.outcome.kind === 'error' && /^HPE_/.test(f.outcome.code ?? '')), JSON.stringify(refused.map((f) => f.outcome)));
  t.is(flows.at(-1)!.response?.status, 200);
  // Each refusal is one flow, and none is davtap failing on itself.
  t.is(flows.length, badChunkedBodies.length + 1);
  t.false(flows.some((f) => f.outcome.code === 'EDAVTAP'));
});

test('a fault in davtap’s own handling of one exchange ends that exchange only: answered 502, recorded as EDAVTAP, the others go on', async (t) => {
  const origin = await originFor(t, (req, s) => void s.write(response(200, { 'Content-Length': 2, 'X-Path': req.target }, 'ok')));
  let faults = 1;
  const flows: Flow[] = [];
  const proxy = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    maxBody: 1024 * 1024,
    maxRequestBody: 1024 * 1024,
    upstream: new URL(origin.url),
    upstreamTimeoutMs: 10_000,
    insecureUpstream: false,
    log: () => {},
    hooks: {
      onFlow: (flow) => void flows.push(flow),
      // Read by the exchange as the response head arrives, outside any hook guard: a stand-in for
      // a bug in the relay itself.
      get takesResponseBodies(): boolean {
        if (faults-- > 0) throw new TypeError('simulated relay fault');
        return false;
      },
    },
  });
  t.teardown(() => proxy.close());
  const broken = await rawClient(t, proxy.port);
  broken.socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
  await broken.closed;
  t.regex(broken.text(), /^HTTP\/1\.1 502 [\s\S]*davtap failed internally while relaying \(TypeError: simulated relay fault\)/);
  const next = await rawClient(t, proxy.port);
  next.socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  await next.until((s) => s.endsWith('ok'));
  for (let i = 0; i < 100 && flows.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(flows.map((f) => f.outcome.code ?? f.outcome.kind), ['EDAVTAP', 'complete']);
  t.is(flows[0]!.request.target, '/first');
});

test('a client that half-closes after its requests (shutdown(SHUT_WR), nc -N) gets every answer, then davtap ends the connection', async (t) => {
  const origin = await originFor(t, (req, s) => void s.write(response(200, { 'Content-Length': req.target.length }, req.target)));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.end('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.closed;
  t.true(c.text().endsWith('/two'), c.text());
  t.is(count(c.text(), /HTTP\/1\.1 200 /g), 2);
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(flows.map((f) => `${f.request.target} ${f.outcome.kind}`), ['/one complete', '/two complete']);
  t.is(origin.requests.length, 2);
});

test('a client that closed altogether before its answer (it gave up waiting) is recorded as client-aborted, not as answered', async (t) => {
  const origin = await originFor(t, (_req, s) => void setTimeout(() => s.write(response(200, { 'Content-Length': 2 }, 'ok')), 400));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  c.socket.destroy();
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'client-aborted');
  t.is(origin.requests.length, 1);
});

test('a client that half-closes in the middle of a request body is recorded as client-aborted', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(200, { 'Content-Length': 0 })));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.end('PUT /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  await c.closed;
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'client-aborted');
  t.false(/^HTTP\/1\.1 200/.test(c.text()));
});

test('a request head trickled slower than the head deadline is answered 408 and recorded, though every byte arrives before the idle timeout', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(200, { 'Content-Length': 0 })));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), headTimeoutMs: 400 });
  const c = await rawClient(t, proxy.port);
  const head = 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
  let i = 0;
  const drip = setInterval(() => {
    if (i < head.length && !c.socket.destroyed) c.socket.write(head[i++]!);
  }, 20);
  t.teardown(() => clearInterval(drip));
  await c.closed;
  clearInterval(drip);
  t.regex(c.text(), /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*request head incomplete after 0\.4 s/);
  const [flow] = await proxy.waitForFlows(1);
  t.deepEqual([flow!.outcome.kind, flow!.outcome.code, flow!.request.method], ['timeout', 'ERR_HTTP_REQUEST_TIMEOUT', 'GET']);
  t.is(origin.requests.length, 0);
});

test('an upload that stalls is named as the client’s slowness (408), a silent upstream as the upstream’s (504)', async (t) => {
  const origin = await originFor(t, (req, s) => {
    if (req.target !== '/silent') s.write(response(200, { 'Content-Length': 0 }));
  });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTimeoutMs: 300 });
  const slow = await rawClient(t, proxy.port);
  slow.socket.write('PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  await slow.closed;
  t.regex(slow.text(), /^HTTP\/1\.1 408 [\s\S]*the client sent no request body bytes for 0\.3 s \(3 of 10 bytes received\)/);
  const silent = await rawClient(t, proxy.port);
  silent.socket.write('GET /silent HTTP/1.1\r\nHost: x\r\n\r\n');
  await silent.until((s) => /^HTTP\/1\.1 504 /.test(s));
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(flows.map((f) => `${f.outcome.kind} ${f.outcome.code}`), ['timeout ERR_HTTP_REQUEST_TIMEOUT', 'timeout ETIMEDOUT']);
});

test('empty lines before a request line, any CR and LF (a stray line end after a body), are skipped as Node does; a head in bare LF is refused', async (t) => {
  const origin = await originFor(t, (req, s) => {
    const body = `${req.method} ${req.target}`;
    s.write(response(200, { 'Content-Length': Buffer.byteLength(body) }, body));
  });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy\n\r\n\r\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n');
  await c.until((s) => s.endsWith('GET /b'));
  c.socket.write('\r\nGET /c HTTP/1.1\nHost: h\n\n');
  const text = await c.until((s) => /HTTP\/1\.1 400 [\s\S]*$/.test(s.slice(s.indexOf('GET /b'))));
  t.regex(text, /PUT \/a[\s\S]*GET \/b[\s\S]*HTTP\/1\.1 400 /);
  const flows = await proxy.waitForFlows(3);
  t.deepEqual(
    flows.map((f) => `${f.request.method} ${f.request.target} ${f.outcome.code ?? f.outcome.kind}`),
    ['PUT /a complete', 'GET /b complete', 'GET /c HPE_CR_EXPECTED'],
  );
});

test('an injection waiting for room on a client that stopped reading ends when that client goes away', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(207, { 'Content-Length': 2 }, 'ok')));
  let ended = false;
  const injection: ResponseInjection = {
    name: 'flood',
    async *run() {
      try {
        yield { kind: 'head', head: { status: 200, reason: 'OK', rawHeaders: ['Content-Length', String(64 * 1024 * 1024)] } };
        const chunk = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < 64; i++) yield { kind: 'body', chunk };
      } finally {
        ended = true;
      }
    },
  };
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks: { injectFor: () => injection } });
  const c = await rawClient(t, proxy.port);
  c.socket.pause();
  c.socket.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 300));
  c.socket.destroy();
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'client-aborted');
  for (let i = 0; i < 200 && !ended; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(ended, 'the injection stopped');
});

test('onRequestStart hears only of the methods its hooks name (any case), and of every request when they name none', async (t) => {
  const origin = await originFor(t, (_req, s) => void s.write(response(204, {}, '')));
  const send = async (hooks: { requestStartMethods?: ReadonlySet<string> }) => {
    const heard: string[] = [];
    const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks: { ...hooks, onRequestStart: (r) => void heard.push(`${r.method} ${r.url}`) } });
    const c = await rawClient(t, proxy.port);
    c.socket.write('PROPFIND /a HTTP/1.1\r\nHost: h\r\n\r\nDELETE /b HTTP/1.1\r\nHost: h\r\n\r\nmove /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n');
    await proxy.waitForFlows(4);
    return heard;
  };
  const upstream = origin.url.replace(/\/$/, '');
  t.deepEqual(await send({ requestStartMethods: new Set(['DELETE', 'MOVE', 'COPY']) }), [`DELETE ${upstream}/b`, `move ${upstream}/c`]);
  t.deepEqual(await send({}), ['PROPFIND', 'DELETE', 'move', 'GET'].map((m, i) => `${m} ${upstream}/${'abcd'[i]}`));
});

test('a body the hooks hold (bodyPace) waits without reading upstream, longer than the upstream timeout, and arrives whole', async (t) => {
  const body = Buffer.alloc(4 * 1024 * 1024, 'held body\n');
  const origin = await startOrigin(async (_req, socket) => {
    socket.write(response(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }));
    socket.write(body);
  });
  t.teardown(() => origin.close());
  let holds = 0;
  let heldOnce = false;
  const proxy = await startTestProxy(t, {
    upstream: new URL(origin.url),
    upstreamTimeoutMs: 200,
    hooks: {
      // Held once, for three upstream timeouts: davtap is the one not reading.
      bodyPace: {
        held: () => !heldOnce,
        whenFree: (resume) => {
          heldOnce = true;
          holds++;
          setTimeout(resume, 600);
        },
      },
    },
  });
  const started = Date.now();
  const got = (await curl([`${proxy.url}big.bin`])).stdout;
  t.is(holds, 1);
  t.true(Date.now() - started >= 550, 'the body waited for the hold');
  t.true(got.equals(body));
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'complete');
});

test('an answer that comes before the request body has all arrived says Connection: close, and the connection ends after it', async (t) => {
  // The origin answers on the request head alone and closes, as lighttpd does with a 423.
  const origin = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end(response(423, { 'Content-Length': 6, Connection: 'close' }, 'locked')));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.teardown(() => origin.close());
  const { port } = origin.address() as net.AddressInfo;
  const proxy = await startTestProxy(t, { upstream: new URL(`http://127.0.0.1:${port}/`) });
  const c = await rawClient(t, proxy.port);
  c.socket.write('PUT /locked HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n');
  const answer = await c.until((s) => s.endsWith('locked'));
  t.regex(answer, /^HTTP\/1\.1 423 /);
  t.regex(answer, /\r\nConnection: close\r\n/, 'the client is told the connection ends');
  c.socket.write('body');
  await c.closed;
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.response!.status, 423);
  t.is(flow!.request.method, 'PUT');
});
