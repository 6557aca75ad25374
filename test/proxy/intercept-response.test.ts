// Holding responses in the relay (the intercept filter with a response code, as in mitmproxy): the
// whole response waits in davtap before the client gets any of it, only its own connection waits,
// resuming delivers it byte for byte, killing closes the client's connection without an answer,
// one too large for --max-body passes through with the reason said, and a client that gives up
// while its exchange is held is seen (nothing is sent for it).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { interceptFilterOf, matchAtHead, namesResponse } from '../../src/cli/intercept.js';
import { parseFilter } from '../../src/filter/index.js';
import { ensureCa, caFileName, LeafIssuer } from '../../src/proxy/ca.js';
import { Interceptor } from '../../src/proxy/intercept.js';
import type { Flow } from '../../src/types.js';
import { curl } from '../helpers/curl.js';
import { response, startOrigin } from '../helpers/origin.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer } from '../helpers/webdav.js';

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function interceptorFor(expression: string, options: ConstructorParameters<typeof Interceptor>[0] = {}): Interceptor {
  const interceptor = new Interceptor(options);
  interceptor.setFilter(interceptFilterOf(parseFilter(expression)), expression);
  return interceptor;
}

const hooksOf = (i: Interceptor) => ({ interceptRequest: i.interceptRequest, interceptResponse: i.interceptResponse });

function tempDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('which filters hold responses: those that name a response code, judged on the head first', (t) => {
  t.false(namesResponse(parseFilter('~m PUT')));
  t.false(namesResponse(parseFilter('~u /dav & ~hq Depth')));
  for (const e of ['~s', '~c 207', '~hs etag', '~bs getetag', '~ts xml', '~m PROPFIND & ~s', '!~q']) t.true(namesResponse(parseFilter(e)), e);
  t.is(interceptFilterOf(parseFilter('~m PUT')).response, undefined, 'a request-only filter never keeps a response');
  const head = (status: number): Flow => ({
      id: 'x',
      mode: 'reverse',
      client: { address: '', port: 0 },
      timings: { start: 0, firstByte: 0, end: null },
      request: { method: 'PROPFIND', url: 'http://h/dav/', target: '/dav/', httpVersion: '1.1', rawHeaders: [], body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
      response: { status, reason: '', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], framing: 'content-length', declaredLength: 10, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
      outcome: { kind: 'complete' },
    });
  t.is(matchAtHead(parseFilter('~c 207'), head(207)), true);
  t.is(matchAtHead(parseFilter('~c 207'), head(404)), false);
  t.is(matchAtHead(parseFilter('~c 207 & ~bs getetag'), head(207)), null, 'the body decides');
  t.is(matchAtHead(parseFilter('~c 207 & ~bs getetag'), head(404)), false, 'no need to keep a 404 to judge it');
});

test('reverse: a PROPFIND response is held whole (the client has nothing), other flows pass, resume delivers it unchanged', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = interceptorFor('~m PROPFIND & ~s');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: hooksOf(intercept) });
  let got = false;
  const propfind = curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]).then((r) => {
    got = true;
    return r;
  });
  await until(() => intercept.size === 1, 'the response to be held');
  const [held] = intercept.list();
  t.is(held!.what, 'response');
  t.is(held!.status, 207);
  t.false(held!.clientGone);
  // The request went upstream (the PROPFIND was not held), its answer waits in davtap.
  const snapshot = intercept.flow(held!.id)!;
  t.is(snapshot.response?.status, 207);
  const payload = snapshot.response!.body.bytes;
  t.regex(payload.toString(), /multistatus/);
  // Another client goes on meanwhile (on its own connection), and is recorded first.
  const other = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'OPTIONS', `${proxy.url}dav/`]);
  t.is(other.stdout.toString(), '200');
  await new Promise((r) => setTimeout(r, 200));
  t.false(got, 'the client has received nothing');
  t.is(proxy.flows.length, 1);

  t.true(intercept.resume(held!.id));
  const r = await propfind;
  const text = r.stdout.toString('latin1');
  t.regex(text, /^HTTP\/1\.1 207 /);
  const body = r.stdout.subarray(r.stdout.indexOf('\r\n\r\n') + 4);
  t.deepEqual(body, payload, 'the body as upstream sent it');
  const flows = await proxy.waitForFlows(2);
  const recorded = flows.find((f) => f.id === held!.id)!;
  t.is(recorded.outcome.kind, 'complete');
  t.is(recorded.response?.status, 207);
  t.deepEqual(Buffer.concat(proxy.chunks.get(held!.id)!), payload, 'analyzed and recorded as usual');
});

test('keep-alive: a held response holds only its own connection; the next request on it follows once released', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  await curl(['-X', 'PUT', '--data-binary', 'first', `${dav.url}/dav/held.txt`]);
  await curl(['-X', 'PUT', '--data-binary', 'second', `${dav.url}/dav/next.txt`]);
  const intercept = interceptorFor('~s & ~u held');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: hooksOf(intercept) });
  // One curl, one connection, two requests in turn.
  const both = curl(['-w', '|%{num_connects}', `${proxy.url}dav/held.txt`, `${proxy.url}dav/next.txt`]);
  await until(() => intercept.size === 1, 'the first response to be held');
  t.is((await curl([`${proxy.url}dav/next.txt`])).stdout.toString(), 'second', 'another connection is not held');
  t.is(intercept.resumeAll(), 1);
  // -w after each URL: one new connection for the first, none for the second.
  t.is((await both).stdout.toString(), 'first|1second|0');
  await proxy.waitForFlows(3);
  t.true(proxy.flows.every((f) => f.outcome.kind === 'complete'));
});

test('kill: the client gets no answer (its connection is closed, as mitmproxy does); the flow keeps the response, as killed', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = interceptorFor('~c 207');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: hooksOf(intercept) });
  const propfind = curl(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy.url}dav/`]);
  await until(() => intercept.size === 1, 'the 207 to be held');
  t.true(intercept.kill(intercept.list()[0]!.id));
  const r = await propfind;
  t.is(r.code, 52, `curl: empty reply (${r.stderr.trim()})`);
  t.is(r.stdout.length, 0);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.code, 'EKILLED');
  t.regex(flow!.outcome.message ?? '', /client was sent nothing/);
  t.is(flow!.response?.status, 207, 'the response is recorded (and analyzed) as it came');
});

test('--max-body: a response too large to hold whole passes through, and the reason is said (declared and chunked)', async (t) => {
  const big = 'x'.repeat(5000);
  const origin = await startOrigin((req, socket) => {
    if (req.target === '/declared') socket.write(response(200, { 'Content-Length': big.length }, big));
    else socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(2500).toString(16)}\r\n${big.slice(0, 2500)}\r\n${(2500).toString(16)}\r\n${big.slice(2500)}\r\n0\r\n\r\n`);
  });
  t.teardown(() => origin.close());
  const intercept = interceptorFor('~s');
  const refused: string[] = [];
  intercept.onRefused = (line) => refused.push(line);
  const proxy = await startTestProxy(t, { upstream: new URL(`${origin.url}/`), maxBody: 1000, hooks: hooksOf(intercept) });
  let held = 0;
  intercept.onChange = () => (held = Math.max(held, intercept.size));
  t.is((await curl([`${proxy.url}declared`])).stdout.toString(), big);
  t.is((await curl([`${proxy.url}chunked`])).stdout.toString(), big);
  t.is(held, 0, 'never held');
  t.is(refused.length, 2);
  t.regex(refused[0]!, /GET .*\/declared \(200\) was not held: its body of 5,000 bytes is larger than --max-body \(1,000 bytes\)/);
  t.regex(refused[1]!, /\/chunked \(200\) was not held: its body passed --max-body \(1,000 bytes\) before it ended/);
  const flows = await proxy.waitForFlows(2);
  t.true(flows.every((f) => f.outcome.kind === 'complete'));
});

test('a client that gives up while held is seen; deciding then sends nothing (request: not sent; response: not delivered)', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = interceptorFor('~m PUT | (~m PROPFIND & ~s)', { patienceMs: 300 });
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: hooksOf(intercept) });

  const put = await curl(['--max-time', '1', '-X', 'PUT', '--data-binary', 'late', `${proxy.url}dav/late.txt`]);
  t.is(put.code, 28, 'curl gave up');
  await until(() => intercept.list()[0]?.clientGone === true, 'the held PUT to be marked as past its client');
  t.true(intercept.list()[0]!.pastPatience);
  const propfind = await curl(['--max-time', '1', '-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy.url}dav/`]);
  t.is(propfind.code, 28);
  await until(() => intercept.list().filter((h) => h.clientGone).length === 2, 'the held response to be marked too');
  t.is(intercept.list()[1]!.what, 'response');

  t.is(intercept.resumeAll(), 2);
  const flows = await proxy.waitForFlows(2);
  for (const f of flows) t.is(f.outcome.code, 'ECLIENTGONE', f.request.method);
  t.regex(flows.find((f) => f.request.method === 'PUT')!.outcome.message!, /not sent/);
  t.is(flows.find((f) => f.request.method === 'PROPFIND')!.response?.status, 207);
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', `${dav.url}/dav/late.txt`])).stdout.toString(), '404', 'the PUT never reached the server');
});

test('patience: a held exchange is past it once its client has waited longer', async (t) => {
  let now = 1000;
  const intercept = new Interceptor({ patienceMs: 30_000, now: () => now });
  intercept.setFilter(() => true, '~all');
  const view = { clientGone: () => false, snapshot: () => ({}) as never };
  const hold = intercept.interceptRequest({ id: 'a', method: 'GET', url: 'http://h/', target: '/', rawHeaders: [], since: now, upstream: { target: '/', rawHeaders: [] }, readBody: async () => Buffer.alloc(0), ...view });
  t.truthy(hold);
  t.false(intercept.list()[0]!.pastPatience);
  now += 30_001;
  t.true(intercept.list()[0]!.pastPatience);
  t.is(intercept.patienceMs, 30_000);
});

test('forward mode, plain and through a TLS-intercepted CONNECT: the response is held and delivered on resume', async (t) => {
  const xml = '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>';
  const answer = () => response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) }, xml);
  const plain = await startOrigin((_req, socket) => void socket.write(answer()));
  t.teardown(() => plain.close());
  const originCa = ensureCa(tempDir(t, 'origin-ca-'));
  const secure = await startOrigin((_req, socket) => void socket.write(answer()), { tls: new LeafIssuer(originCa).contextFor('127.0.0.1') });
  t.teardown(() => secure.close());
  const caDir = tempDir(t, 'davtap-ca-');
  const intercept = interceptorFor('~c 207');
  const proxy = await startTestProxy(t, { caDir, insecureUpstream: true, hooks: hooksOf(intercept) });

  for (const [url, extra] of [
    [`${plain.url}/dav/`, []],
    [`${secure.url}/dav/`, ['--cacert', path.join(caDir, caFileName)]],
  ] as const) {
    const r = curl(['-x', proxy.url, ...extra, '-X', 'PROPFIND', '-H', 'Depth: 0', url]);
    await until(() => intercept.size === 1, `the 207 from ${url} to be held`);
    t.is(intercept.list()[0]!.status, 207);
    t.is(intercept.resumeAll(), 1);
    const out = await r;
    t.is(out.stdout.toString(), xml, `${url}: ${out.stderr}`);
  }
  const flows = await proxy.waitForFlows(2);
  t.deepEqual(
    flows.map((f) => [f.mode, f.response?.status, f.outcome.kind]),
    [
      ['forward', 207, 'complete'],
      ['forward', 207, 'complete'],
    ],
  );
});
