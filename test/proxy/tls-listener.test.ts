// Reverse mode's listener speaks TLS and plain HTTP on the same port: a ClientHello on the first
// bytes (in one read or split) is served a leaf from davtap's CA for the name asked, or the
// certificate given; plain requests are read as before; a client that rejects the certificate is
// recorded with the alert; every flow says whether the client spoke TLS.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import type { ExecutionContext } from 'ava';
import { caFileName, ensureCa, LeafIssuer } from '../../src/proxy/ca.js';
import { startOrigin, response, type Origin } from '../helpers/origin.js';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import { readRaw } from '../helpers/raw-client.js';
import type { FlowStart } from '../../src/types.js';

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function echoOrigin(t: ExecutionContext): Promise<Origin> {
  const origin = await startOrigin((req, s) => {
    const body = `${req.method} ${req.target} ${req.headers.destination ?? '-'}`;
    s.write(response(200, { 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  return origin;
}

async function tlsProxy(t: ExecutionContext, origin: Origin, options: TestProxyOptions = {}): Promise<{ proxy: TestProxy; caPath: string }> {
  const caDir = tempDir(t, 'davtap-tls-ca-');
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), caDir, ...options });
  return { proxy, caPath: path.join(caDir, caFileName) };
}

test('https and http on the same port: both relayed, and the flows say which client spoke TLS', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, caPath } = await tlsProxy(t, origin);
  const secure = await curl(['-sS', '--cacert', caPath, `https://localhost:${proxy.port}/dav/a`]);
  t.is(secure.code, 0, secure.stderr);
  t.is(secure.stdout.toString(), 'GET /dav/a -');
  const plain = await curl(['-sS', `http://127.0.0.1:${proxy.port}/dav/b`]);
  t.is(plain.stdout.toString(), 'GET /dav/b -');
  const byIp = await curl(['-sS', '--cacert', caPath, `https://127.0.0.1:${proxy.port}/dav/c`]);
  t.is(byIp.code, 0, `the leaf names 127.0.0.1 too: ${byIp.stderr}`);
  const flows = await proxy.waitForFlows(3);
  const byTarget = Object.fromEntries(flows.map((f) => [f.request.target, f]));
  t.deepEqual(byTarget['/dav/a']!.client.tls, { sni: 'localhost' });
  t.is(byTarget['/dav/b']!.client.tls, undefined);
  // curl sends no SNI for an IP address.
  t.deepEqual(byTarget['/dav/c']!.client.tls, {});
  t.true(flows.every((f) => f.outcome.kind === 'complete'));
});

test('the leaf carries the listen host, localhost, 127.0.0.1 and ::1, and is issued once per name', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, caPath } = await tlsProxy(t, origin);
  const names = async (servername: string | undefined) => {
    const socket = tls.connect({ host: '127.0.0.1', port: proxy.port, ca: fs.readFileSync(caPath), ...(servername ? { servername } : {}), checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const cert = socket.getPeerX509Certificate()!;
    socket.destroy();
    return cert.subjectAltName ?? '';
  };
  const forName = await names('dav.example');
  t.regex(forName, /DNS:dav\.example/);
  for (const also of [/DNS:localhost/, /IP Address:127\.0\.0\.1/, /IP Address:0:0:0:0:0:0:0:1/]) t.regex(forName, also);
  await names('dav.example');
  await names(undefined);
  t.is(proxy.leafIssueMs().length, 2, 'one leaf for dav.example, one for the listen host');
});

test('a ClientHello split across reads is still TLS; a plain request split after its first byte is still HTTP', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, caPath } = await tlsProxy(t, origin);
  // A relay in between that hands davtap the client's first byte alone, then the rest.
  const splitter = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
    let first = true;
    inbound.on('data', (d: Buffer) => {
      if (!first) return void outbound.write(d);
      first = false;
      outbound.write(d.subarray(0, 1));
      setTimeout(() => outbound.write(d.subarray(1)), 30);
    });
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => splitter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => splitter.close(() => resolve())));
  const port = (splitter.address() as net.AddressInfo).port;
  const secure = await curl(['-sS', '--cacert', caPath, `https://localhost:${port}/s`]);
  t.is(secure.stdout.toString(), 'GET /s -', secure.stderr);
  const plain = await curl(['-sS', `http://127.0.0.1:${port}/p`]);
  t.is(plain.stdout.toString(), 'GET /p -');
});

test('over TLS, a Destination on davtap\'s https address maps to the upstream (COPY, MOVE)', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, caPath } = await tlsProxy(t, origin);
  for (const method of ['COPY', 'MOVE']) {
    const r = await curl(['-sS', '--cacert', caPath, '-X', method, '-H', `Destination: https://localhost:${proxy.port}/dav/b`, `https://localhost:${proxy.port}/dav/a`]);
    t.is(r.stdout.toString(), `${method} /dav/a ${origin.url}/dav/b`, r.stderr);
  }
});

test('a client that rejects davtap\'s certificate is recorded with the alert and how to trust the CA', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy } = await tlsProxy(t, origin);
  // No --cacert: curl does not trust davtap's CA and aborts the handshake with an alert.
  const r = await curl(['-sS', `https://localhost:${proxy.port}/dav/`]);
  t.not(r.code, 0);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'TLS');
  t.is(flow!.outcome.kind, 'error');
  t.regex(flow!.outcome.code ?? '', /ALERT/);
  t.regex(flow!.outcome.message ?? '', /rejected davtap's certificate for localhost \(TLS alert: [a-z ]+\).*davtap ca/);
  t.deepEqual(flow!.client.tls, { sni: 'localhost' });
  t.is(origin.requests.length, 0);
});

test('forward mode: a client that rejects the interception certificate leaves a CONNECT flow with the alert', async (t) => {
  const caDir = tempDir(t, 'davtap-fwd-ca-');
  const proxy = await startTestProxy(t, { caDir });
  const r = await curl(['-sS', '-x', proxy.url, 'https://dav.example:443/dav/']);
  t.not(r.code, 0);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'CONNECT');
  t.is(flow!.request.target, 'dav.example:443');
  t.regex(flow!.outcome.message ?? '', /rejected davtap's certificate for dav\.example/);
});

test('--cert: the certificates given are served, by SNI, instead of leaves from the CA', async (t) => {
  const origin = await echoOrigin(t);
  // Two certificates from a CA of the test's own, each for one name.
  const own = ensureCa(tempDir(t, 'own-ca-'));
  const issuer = new LeafIssuer(own);
  const keyPem = (issuer as unknown as { leafKeyPem: string }).leafKeyPem;
  const pemFor = (name: string) => issuer.issue(name).cert + keyPem;
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), certs: [{ pem: pemFor('localhost') }, { host: 'other.test', pem: pemFor('other.test') }] });
  const ownCa = path.join(own.info.dir, caFileName);
  const r = await curl(['-sS', '--cacert', ownCa, `https://localhost:${proxy.port}/x`]);
  t.is(r.stdout.toString(), 'GET /x -', r.stderr);
  const other = await curl(['-sS', '--cacert', ownCa, '--resolve', `other.test:${proxy.port}:127.0.0.1`, `https://other.test:${proxy.port}/y`]);
  t.is(other.stdout.toString(), 'GET /y -', other.stderr);
  t.is(proxy.leafIssueMs().length, 0, 'no leaf issued from davtap\'s CA');

});

test('without a CA directory or certificates, the reverse listener is plain HTTP only: a TLS client is closed at once, and recorded', async (t) => {
  const origin = await echoOrigin(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const socket = tls.connect({ host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false });
  const read = readRaw(socket);
  await read.closed;
  t.is(read.text(), '');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'TLS');
  t.is(flow!.outcome.code, 'ETLSNOTSERVED');
  t.regex(flow!.outcome.message ?? '', /--ca-dir\) or --cert/);
  t.is(origin.requests.length, 0);
});

test('forward mode answers http://davtap.ca/ itself, over plain HTTP and through an intercepted CONNECT; the name never leaves davtap', async (t) => {
  const caDir = tempDir(t, 'davtap-page-ca-');
  const proxy = await startTestProxy(t, { caDir });
  const caPem = fs.readFileSync(path.join(caDir, caFileName), 'utf8');
  const page = await curl(['-sS', '-x', proxy.url, 'http://davtap.ca/']);
  t.regex(page.stdout.toString(), /<html[\s\S]*davtap-ca\.pem/i);
  const pem = await curl(['-sS', '-x', proxy.url, 'http://davtap.ca/davtap-ca.pem']);
  t.is(pem.stdout.toString(), caPem);
  // https://davtap.ca through CONNECT, trusting davtap's CA: the tunnel is answered by davtap too.
  const secure = await curl(['-sS', '-x', proxy.url, '--cacert', path.join(caDir, caFileName), 'https://davtap.ca/davtap-ca.pem']);
  t.is(secure.stdout.toString(), caPem, secure.stderr);
  const flows = await proxy.waitForFlows(3);
  t.deepEqual(
    flows.map((f) => [f.request.method, f.response?.status, f.outcome.kind]),
    [['GET', 200, 'complete'], ['GET', 200, 'complete'], ['GET', 200, 'complete']],
  );
  t.deepEqual(flows[2]!.client.tls, { sni: 'davtap.ca' });
});

test('a connection that has sent no byte yet is ended by a FIN at once, and by the proxy\'s close', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy } = await tlsProxy(t, origin);
  // FIN without a byte: davtap closes its side too (no socket left half-open until a timeout).
  const quiet = net.connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise<void>((resolve) => quiet.once('connect', () => resolve()));
  const ended = new Promise<void>((resolve) => quiet.once('close', () => resolve()));
  quiet.on('error', () => {});
  quiet.end();
  await ended;
  // A silent one is ended by close(), which does not wait for the first-byte timeout.
  const silent = net.connect({ host: '127.0.0.1', port: proxy.port });
  silent.on('error', () => {});
  await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
  const started = Date.now();
  await proxy.close();
  await closed;
  t.true(Date.now() - started < 2_500, `close took ${Date.now() - started} ms`);
});

test('the start of each flow says whether its client spoke TLS (the analyzer\'s scheme comes from it)', async (t) => {
  const origin = await echoOrigin(t);
  const starts: FlowStart[] = [];
  const { proxy, caPath } = await tlsProxy(t, origin, { hooks: { onResponseStart: (s) => void starts.push(s) } });
  await curl(['-sS', '--cacert', caPath, `https://localhost:${proxy.port}/s`]);
  await curl(['-sS', `http://127.0.0.1:${proxy.port}/p`]);
  await proxy.waitForFlows(2);
  t.deepEqual(
    starts.map((s) => [s.request.target, s.clientTls === true]),
    [['/s', true], ['/p', false]],
  );
});
