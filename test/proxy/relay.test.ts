// The relay in forward mode, where it serves absolute-form requests: what it does with pipelined
// requests, refused ones among them, answers that come early or cannot be relayed, and clients that
// go away. Each case here was found by the wire fuzzer (fuzz.test.ts); clients are raw sockets.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { startOrigin, response, type Origin, type OriginHandler } from '../helpers/origin.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { rawClient } from '../helpers/raw-client.js';

let caDir = '';
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-relay-ca-'));
});
test.after.always(() => fs.rmSync(caDir, { recursive: true, force: true }));

async function setup(t: ExecutionContext, handler: OriginHandler): Promise<{ origin: Origin; proxy: TestProxy; url: (p: string) => string }> {
  const origin = await startOrigin(handler);
  t.teardown(() => origin.close());
  const proxy = await startTestProxy(t, { caDir });
  return { origin, proxy, url: (p) => `${origin.url}${p}` };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('a malformed request pipelined behind a good one is answered 400 after the good one’s answer, and recorded as itself', async (t) => {
  // The origin answers late: the refusal must wait for it, not take its place.
  const { proxy, url, origin } = await setup(t, async (_req, s) => {
    await tick(50);
    s.write(response(200, { 'Content-Length': 2 }, 'ok'));
  });
  const c = await rawClient(t, proxy.port);
  c.socket.write(`GET ${url('/a')} HTTP/1.1\r\nHost: h\r\n\r\nGET ${url('/b')} HTTP/1.1\r\nBad Header\r\n\r\n`);
  await c.closed;
  t.deepEqual(statuses(c.text()), [200, 400]);
  t.regex(c.text(), /\r\n\r\nokHTTP\/1\.1 400 /);
  const flows = await proxy.waitForFlows(2);
  const byTarget = Object.fromEntries(flows.map((f) => [f.request.target, f]));
  t.deepEqual(Object.keys(byTarget).sort(), [url('/a'), url('/b')]);
  t.is(byTarget[url('/a')]!.outcome.kind, 'complete');
  t.is(byTarget[url('/b')]!.outcome.code, 'HPE_INVALID_HEADER_TOKEN');
  t.is(byTarget[url('/b')]!.request.method, 'GET');
  t.deepEqual(origin.requests.map((r) => r.target), ['/a']);
});

test('bytes after a request that closes the connection are not a request: the answer goes out, nothing else is recorded', async (t) => {
  const { proxy, url } = await setup(t, async (_req, s) => {
    await tick(50);
    s.write(response(200, { 'Content-Length': 2 }, 'ok'));
  });
  const c = await rawClient(t, proxy.port);
  c.socket.write(`GET ${url('/a')} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET ${url('/b')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await c.closed;
  t.deepEqual(statuses(c.text()), [200]);
  await tick(100);
  t.deepEqual(
    proxy.flows.map((f) => [f.request.target, f.outcome.kind]),
    [[url('/a'), 'complete']],
  );
});

test('a request refused in a head that came in several reads is recorded with its method and target', async (t) => {
  const { proxy, url } = await setup(t, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const c = await rawClient(t, proxy.port);
  c.socket.write(`MOVE ${url('/dav/a')} HTTP/1.1\r\nHost: h\r\n`);
  await tick(30);
  c.socket.write('Bad Header\r\n\r\n');
  await c.closed;
  t.deepEqual(statuses(c.text()), [400]);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'MOVE');
  t.is(flow!.request.target, url('/dav/a'));
  t.is(flow!.outcome.code, 'HPE_INVALID_HEADER_TOKEN');
});

test('a client that shuts its side in the middle of a head is not answered, and no flow is made up for it', async (t) => {
  const { proxy, url } = await setup(t, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const c = await rawClient(t, proxy.port);
  c.socket.end(`GET ${url('/a')} HTTP/1.1\r\nHost: h`);
  await c.closed;
  t.is(c.text(), '');
  // A plain request after it is recorded, and alone.
  const next = await rawClient(t, proxy.port);
  next.socket.write(`GET ${url('/b')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await next.until((s) => s.endsWith('ok'));
  const flows = await proxy.waitForFlows(1);
  await tick(50);
  t.deepEqual(
    flows.map((f) => f.request.target),
    [url('/b')],
  );
});

test('a pipelined request still waiting for its turn when the connection closes is recorded as not relayed', async (t) => {
  // The first answer is close-delimited: the connection ends with it, before the second is answered.
  const { proxy, url } = await setup(t, async (req, s) => {
    if (req.target === '/a') s.end('HTTP/1.1 200 OK\r\n\r\nok');
    else {
      await tick(100);
      s.write(response(200, { 'Content-Length': 5 }, 'hello'));
    }
  });
  const c = await rawClient(t, proxy.port);
  c.socket.write(`GET ${url('/a')} HTTP/1.1\r\nHost: h\r\n\r\nGET ${url('/b')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await c.closed;
  const flows = await proxy.waitForFlows(2, 3_000);
  const b = flows.find((f) => f.request.target === url('/b'));
  t.is(b?.outcome.kind, 'error');
  t.is(b?.outcome.code, 'ENOTRELAYED');
  t.is(b?.request.method, 'GET');
  t.is(flows.find((f) => f.request.target === url('/a'))?.outcome.kind, 'complete');
});

test('an upstream status line with a control character in the reason is answered 502 and recorded; davtap goes on', async (t) => {
  const { proxy, url } = await setup(t, (req, s) => {
    if (req.target === '/bad') s.write('HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok');
    else s.write(response(200, { 'Content-Length': 2 }, 'ok'));
  });
  const c = await rawClient(t, proxy.port);
  c.socket.write(`GET ${url('/bad')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  const text = await c.until((s) => /\r\n\r\ndavtap: [^\n]*\n$/.test(s));
  t.regex(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  t.notRegex(text, /X-Up/);
  const next = await rawClient(t, proxy.port);
  next.socket.write(`GET ${url('/good')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await next.until((s) => s.endsWith('ok'));
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(
    flows.map((f) => f.outcome.code ?? f.outcome.kind),
    ['HPE_INVALID_STATUS', 'complete'],
  );
});

test('an upload answered before its end is recorded as the server got it, and the client connection then ends', async (t) => {
  // A server that answers as soon as it has the head, then reads the rest.
  let received = Buffer.alloc(0);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      if (received.length === 0) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      received = Buffer.concat([received, d]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const target = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/up`;
  const proxy = await startTestProxy(t, { caDir });
  const c = await rawClient(t, proxy.port);
  c.socket.write(`PUT ${target} HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nh`);
  await c.until((s) => s.startsWith('HTTP/1.1 204 '));
  // The rest of a request body cannot be told from a next request once its answer went out: the
  // connection ends (as nginx does), and the flow holds what reached the server.
  await c.closed;
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'complete');
  t.true(received.toString('latin1').endsWith(`\r\n\r\n${flow!.request.body.bytes.toString()}`));
  t.is(flow!.request.body.bytes.toString(), 'h');
});

test('forward mode: a client that half-closes after its request gets the answer; one that closed altogether before it is recorded as client-aborted', async (t) => {
  const { proxy, url, origin } = await setup(t, async (req, s) => {
    await tick(300);
    s.write(response(200, { 'Content-Length': req.target.length }, req.target));
  });
  const half = await rawClient(t, proxy.port);
  half.socket.end(`GET ${url('/half')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await half.closed;
  t.regex(half.text(), /^HTTP\/1\.1 200 [\s\S]*\/half$/);
  const gone = await rawClient(t, proxy.port);
  gone.socket.write(`GET ${url('/gone')} HTTP/1.1\r\nHost: h\r\n\r\n`);
  await tick(100);
  gone.socket.destroy();
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(flows.map((f) => `${new URL(f.request.url).pathname} ${f.outcome.kind}`).sort(), ['/gone client-aborted', '/half complete']);
  t.is(origin.requests.length, 2);
});

test('a client that abandons a request body leaves one flow, the real one, client-aborted (no second flow without a method)', async (t) => {
  const { proxy, url } = await setup(t, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const c = await rawClient(t, proxy.port);
  c.socket.write(`PUT ${url('/dav/big')} HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789`);
  await tick(100);
  c.socket.destroy();
  const [flow] = await proxy.waitForFlows(1);
  await tick(200);
  t.is(proxy.flows.length, 1);
  t.is(flow!.request.method, 'PUT');
  t.is(flow!.request.target, url('/dav/big'));
  t.is(flow!.outcome.kind, 'client-aborted');
  t.is(flow!.request.body.bytes.toString(), '0123456789');
});
