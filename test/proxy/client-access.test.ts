// Who may use davtap: clients outside the allowed addresses are answered 403 and recorded, in both
// relays, for plain requests and CONNECT alike, and nothing of theirs reaches an upstream.
// Every client here is on loopback, which the CLI's rule always admits: these tests give the proxy
// a rule that refuses them (ProxyOptions.clientAllowed). The rule itself is tested in
// address-range.test.ts, and with real non-loopback addresses in test/cli/allow-remote.test.ts.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startOrigin, response, type Origin } from '../helpers/origin.js';
import { startTestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import { CLIENT_REFUSED_CODE } from '../../src/proxy/client-access.js';

let caDir = '';
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-client-access-ca-'));
});
test.after.always(() => fs.rmSync(caDir, { recursive: true, force: true }));

const refuseAll = () => false;

async function origin(t: ExecutionContext): Promise<Origin> {
  const o = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  t.teardown(() => o.close());
  return o;
}

/** Sends `bytes` on a new connection to `port` and resolves with everything read until it closes. */
function exchange(port: number, bytes: Buffer | string): Promise<{ reply: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve({ reply: Buffer.concat(chunks), ...(error ? { error } : {}) }));
    socket.write(bytes);
  });
}

const ANSWER_403 = /^HTTP\/1\.1 403 Forbidden\r\n[^]*\r\nConnection: close\r\n\r\ndavtap: forbidden: 127\.0\.0\.1 is not among the clients allowed to use this proxy \(--allow-remote\)\n$/;

test('forward: a plain request from a refused client is answered 403, recorded, and never relayed', async (t) => {
  const o = await origin(t);
  const proxy = await startTestProxy(t, { caDir, clientAllowed: refuseAll });
  const r = await curl(['-i', '-x', proxy.url, '-X', 'PROPFIND', `${o.url}/dav/secret`]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.toString('latin1'), /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.regex(r.stdout.toString('latin1'), /davtap: forbidden: 127\.0\.0\.1 is not among the clients allowed/);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.mode, 'forward');
  t.is(flow!.request.method, 'PROPFIND');
  t.is(flow!.request.target, `${o.url}/dav/secret`);
  t.is(flow!.client.address, '127.0.0.1');
  t.is(flow!.response, null);
  t.deepEqual({ kind: flow!.outcome.kind, code: flow!.outcome.code }, { kind: 'error', code: CLIENT_REFUSED_CODE });
  t.is(o.connections, 0);
});

test('forward: CONNECT from a refused client is answered 403 and recorded; no tunnel is opened', async (t) => {
  const o = await origin(t);
  const proxy = await startTestProxy(t, { caDir, clientAllowed: refuseAll });
  // The client goes on as if the tunnel were open: nothing of it may reach the origin.
  const { reply } = await exchange(proxy.port, `CONNECT 127.0.0.1:${o.port} HTTP/1.1\r\nHost: 127.0.0.1:${o.port}\r\n\r\nGET /inside HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.regex(reply.toString('latin1'), ANSWER_403);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'CONNECT');
  t.is(flow!.request.target, `127.0.0.1:${o.port}`);
  t.is(flow!.outcome.code, CLIENT_REFUSED_CODE);
  await new Promise((r) => setTimeout(r, 100));
  t.is(proxy.flows.length, 1);
  t.is(o.connections, 0);
});

test('forward: HTTPS through CONNECT with curl gets the 403 as the proxy\'s answer', async (t) => {
  const proxy = await startTestProxy(t, { caDir, clientAllowed: refuseAll });
  const r = await curl(['-x', proxy.url, '-k', 'https://127.0.0.1:9/']);
  t.not(r.code, 0);
  t.regex(r.stderr, /403/);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'CONNECT');
  t.is(flow!.outcome.code, CLIENT_REFUSED_CODE);
});

for (const [label, extra] of [
  ['', {}],
  [' with --inject', { hooks: { injectFor: () => undefined } }],
] as const) {
  test(`reverse${label}: a refused client is answered 403 and recorded; the upstream sees nothing`, async (t) => {
    const o = await origin(t);
    const proxy = await startTestProxy(t, { upstream: new URL(o.url), clientAllowed: refuseAll, ...extra });
    const r = await curl(['-i', `${proxy.url}dav/`]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout.toString('latin1'), ANSWER_403);
    const [flow] = await proxy.waitForFlows(1);
    t.is(flow!.mode, 'reverse');
    t.is(flow!.request.method, 'GET');
    t.is(flow!.request.target, '/dav/');
    t.is(flow!.outcome.code, CLIENT_REFUSED_CODE);
    t.is(o.connections, 0);
  });
}

test('the rule is given the client\'s address, and an admitted client is relayed as usual', async (t) => {
  const o = await origin(t);
  const seen: string[] = [];
  const proxy = await startTestProxy(t, {
    caDir,
    clientAllowed: (address) => {
      seen.push(address);
      return true;
    },
  });
  const r = await curl(['-x', proxy.url, `${o.url}/dav/`]);
  t.is(r.stdout.toString(), 'ok');
  t.deepEqual(seen, ['127.0.0.1']);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'complete');
});

test('forward mode admits loopback clients by default, IPv6 loopback included', async (t) => {
  const o = await origin(t);
  const canV6 = await new Promise<boolean>((resolve) => {
    const s = net.createServer().once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
  const proxy = await startTestProxy(t, { caDir, ...(canV6 ? { listenHost: '::1' } : {}) });
  const r = await curl(['-x', proxy.url, `${o.url}/dav/`]);
  t.is(r.stdout.toString(), 'ok', r.stderr);
  t.is(o.requests.length, 1);
});

test('a refused client sending a request body still reads the whole 403', async (t) => {
  const proxy = await startTestProxy(t, { caDir, clientAllowed: refuseAll });
  const body = Buffer.alloc(512 * 1024, 0x61);
  const { reply } = await exchange(proxy.port, Buffer.concat([Buffer.from(`PUT http://127.0.0.1:9/big HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
  t.regex(reply.toString('latin1'), ANSWER_403);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'PUT');
  t.is(flow!.request.body.bytesSeen, 0);
});

test('a refused client that starts TLS is closed without an answer, and recorded', async (t) => {
  const proxy = await startTestProxy(t, { upstream: new URL('http://127.0.0.1:9/'), clientAllowed: refuseAll });
  // The first bytes of a TLS ClientHello: a handshake record.
  const { reply } = await exchange(proxy.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]));
  t.is(reply.length, 0);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.code, CLIENT_REFUSED_CODE);
  t.is(flow!.request.method, '?');
});

test('a refused client that sends nothing is recorded when the proxy closes, and does not hold the close', async (t) => {
  const proxy = await startTestProxy(t, { caDir, clientAllowed: refuseAll });
  const socket = net.connect(proxy.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  await new Promise((r) => setTimeout(r, 50));
  t.is(proxy.flows.length, 0);
  const started = Date.now();
  await proxy.close();
  t.true(Date.now() - started < 1_000);
  t.is(proxy.flows.length, 1);
  t.is(proxy.flows[0]!.outcome.code, CLIENT_REFUSED_CODE);
  socket.destroy();
});
