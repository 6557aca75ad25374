// Upstreams with a private CA and upstreams that require a client certificate (mTLS): the options
// as the CLI reads them (--upstream-ca, --upstream-cert, --upstream-key), the relay with them, and
// the start-up check's handshake.
import test from 'ava';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { loadUpstreamTls } from '../../src/cli/upstream-tls.js';
import { DavtapError } from '../../src/errors.js';
import { checkUpstream, describeUpstreamCheck } from '../../src/proxy/upstream-check.js';
import { curl } from '../helpers/curl.js';
import { mintPrivatePki, type PrivatePki } from '../helpers/private-ca.js';
import { startTestProxy } from '../helpers/proxy.js';
import { listenForTest } from '../helpers/listen.js';

const xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>\n';

let pki: PrivatePki;
let dir: string;

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-upstream-tls-'));
  pki = mintPrivatePki(dir);
});

test.after.always(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Origin {
  url: string;
  /** The common name of the client certificate of each request, '' without one. */
  clients: string[];
}

/** An HTTPS origin with the private CA's server certificate; `mtls` requires a client certificate from that CA. */
async function startOrigin(t: { teardown(fn: () => Promise<void> | void): void }, mtls = false): Promise<Origin> {
  const clients: string[] = [];
  const server = https.createServer(
    { key: pki.serverKeyPem, cert: pki.serverCertPem, ...(mtls ? { requestCert: true, rejectUnauthorized: true, ca: pki.caPem } : {}) },
    (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      clients.push(peer && peer.subject ? String(peer.subject.CN) : '');
      res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) });
      res.end(xml);
    },
  );
  return { url: `https://127.0.0.1:${await listenForTest(t, server)}/`, clients };
}

const load = (args: { ca?: string; cert?: string; key?: string; insecure?: boolean }) => loadUpstreamTls({ insecure: false, ...args }, dir);

test('--upstream-ca: the private CA verifies the upstream and the exchange is relayed', async (t) => {
  const origin = await startOrigin(t);
  const upstreamTls = load({ ca: pki.caFile })!;
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTls });
  const r = await curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 0', proxy.url + 'dav/']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 207 /);
  t.true(r.stdout.toString().endsWith(xml));
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.response?.status, 207);
});

test('the bundle adds to the public CAs: they stay in the list the relay verifies against', (t) => {
  const { ca } = load({ ca: pki.caFile })!;
  t.true(ca!.includes(pki.caPem.trim()));
  t.true(ca!.split('-----BEGIN CERTIFICATE-----').length - 1 > 100, 'Node\'s public CAs are kept');
});

test('without --upstream-ca the private CA is unknown: 502 naming both ways out', async (t) => {
  const origin = await startOrigin(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const r = await curl(['-i', '-X', 'PROPFIND', proxy.url + 'dav/']);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 502 /);
  t.regex(r.stdout.toString(), /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  t.regex(r.stdout.toString(), /--upstream-ca FILE \(PEM\), or relay without verification with --insecure-upstream/);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'error');
});

test('a bundle of another CA does not verify the upstream either', async (t) => {
  const origin = await startOrigin(t);
  const otherCa = path.join(dir, 'other-ca-only.pem');
  fs.writeFileSync(otherCa, fs.readFileSync(pki.otherClientCertFile));
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTls: load({ ca: otherCa })! });
  const r = await curl(['-i', proxy.url + 'dav/']);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 502 [\s\S]*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
});

test('mTLS: relayed with --upstream-cert and --upstream-key, the origin sees davtap\'s client certificate', async (t) => {
  const origin = await startOrigin(t, true);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTls: load({ ca: pki.caFile, cert: pki.clientCertFile, key: pki.clientKeyFile })! });
  const r = await curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 0', proxy.url + 'dav/', proxy.url + 'dav/']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString().split('HTTP/1.1 207 ').length - 1, 2);
  t.deepEqual(origin.clients, ['davtap test client', 'davtap test client']);
});

test('mTLS: the key may be in the certificate file', async (t) => {
  const origin = await startOrigin(t, true);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTls: load({ ca: pki.caFile, cert: pki.clientBothFile })! });
  const r = await curl(['-i', proxy.url + 'dav/']);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 207 /);
});

test('mTLS: without a client certificate the origin refuses the handshake and the client gets 502', async (t) => {
  const origin = await startOrigin(t, true);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), upstreamTls: load({ ca: pki.caFile })! });
  const r = await curl(['-i', '-X', 'PROPFIND', proxy.url + 'dav/']);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 502 /);
  t.regex(r.stdout.toString(), /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|certificate required/i);
  // The answer names the way out, in one line (OpenSSL's own message ends in a line break).
  t.regex(r.stdout.toString(), /\r\n\r\ndavtap: [^\n]*\(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\): the upstream wants a client certificate it accepts: give one with --upstream-cert FILE \(and --upstream-key FILE\)\n$/);
  t.deepEqual(origin.clients, []);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'error');
});

test('forward mode: --upstream-ca verifies a private-CA server reached through CONNECT', async (t) => {
  const origin = await startOrigin(t, true);
  const caDir = fs.mkdtempSync(path.join(dir, 'davtap-ca-'));
  const proxy = await startTestProxy(t, { caDir, upstreamTls: load({ ca: pki.caFile, cert: pki.clientBothFile })! });
  const r = await curl(['-i', '-x', proxy.url, '--cacert', path.join(caDir, 'davtap-ca.pem'), '-X', 'PROPFIND', '-H', 'Depth: 0', origin.url + 'dav/']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.toString(), /\r\n\r\nHTTP\/1\.1 207 /);
  t.deepEqual(origin.clients, ['davtap test client']);
});

test('start-up check: a verified upstream is ok, with or without a client certificate it asks for', async (t) => {
  const plain = await startOrigin(t);
  const mtls = await startOrigin(t, true);
  const ca = load({ ca: pki.caFile })!;
  t.deepEqual(await checkUpstream(new URL(plain.url), { insecure: false, ...ca }), { kind: 'ok' });
  t.deepEqual(await checkUpstream(new URL(plain.url), { insecure: true }), { kind: 'ok' });
  const withCert = load({ ca: pki.caFile, cert: pki.clientBothFile })!;
  t.deepEqual(await checkUpstream(new URL(mtls.url), { insecure: false, ...withCert }), { kind: 'ok' });
  t.is(describeUpstreamCheck(new URL(plain.url), { kind: 'ok' }), undefined);
});

test('start-up check: an unknown CA is one line naming the code and both ways out', async (t) => {
  const origin = await startOrigin(t);
  const url = new URL(origin.url);
  const result = await checkUpstream(url, { insecure: false });
  t.is(result.kind, 'untrusted');
  const line = describeUpstreamCheck(url, result)!;
  t.false(line.includes('\n'));
  t.regex(line, new RegExp(`^upstream ${url.origin.replace(/\./g, '\\.')}: its TLS certificate did not verify \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE: `));
  t.regex(line, /--upstream-ca FILE/);
  t.regex(line, /--insecure-upstream/);
  t.regex(line, /davtap keeps running/);
});

test('start-up check: a missing client certificate, and one from another CA', async (t) => {
  const origin = await startOrigin(t, true);
  const url = new URL(origin.url);
  const none = await checkUpstream(url, { insecure: false, ...load({ ca: pki.caFile })! });
  t.like(none, { kind: 'client-certificate', presented: false });
  t.regex(describeUpstreamCheck(url, none)!, /asks for a client certificate .*--upstream-cert FILE/);
  const stranger = await checkUpstream(url, { insecure: false, ...load({ ca: pki.caFile, cert: pki.otherClientCertFile, key: pki.otherClientKeyFile })! });
  t.like(stranger, { kind: 'client-certificate', presented: true });
  t.regex(describeUpstreamCheck(url, stranger)!, /refused davtap's client certificate/);
});

test('start-up check: an unreachable upstream, and one that never answers the handshake (bounded)', async (t) => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const gone = new URL(`https://127.0.0.1:${port}/`);
  const unreachable = await checkUpstream(gone, { insecure: false });
  t.like(unreachable, { kind: 'unreachable', code: 'ECONNREFUSED' });
  t.regex(describeUpstreamCheck(gone, unreachable)!, /^upstream https:\/\/127\.0\.0\.1:\d+ is not reachable \(ECONNREFUSED: /);

  const silent = net.createServer(() => {});
  const held: net.Socket[] = [];
  silent.on('connection', (s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const mute = new URL(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`);
  const started = Date.now();
  const timeout = await checkUpstream(mute, { insecure: false }, { timeoutMs: 300 });
  t.deepEqual(timeout, { kind: 'timeout', ms: 300 });
  t.true(Date.now() - started < 2_000);
  t.regex(describeUpstreamCheck(mute, timeout)!, /did not complete a TLS handshake within 0\.3 s/);

  const abort = new AbortController();
  const pending = checkUpstream(mute, { insecure: false }, { signal: abort.signal });
  abort.abort();
  t.deepEqual(await pending, { kind: 'aborted' });
});

test('option errors: contradictions, missing halves, missing files, PEMs of the wrong kind', (t) => {
  const cases: [Parameters<typeof load>[0], DavtapError['code'], RegExp][] = [
    [{ ca: pki.caFile, insecure: true }, 'USAGE', /--upstream-ca and --insecure-upstream contradict each other/],
    [{ key: pki.clientKeyFile }, 'USAGE', /--upstream-key needs --upstream-cert/],
    [{ cert: pki.clientCertFile }, 'USAGE', /--upstream-cert: .*client\.pem holds no private key: give it with --upstream-key FILE/],
    [{ ca: 'nope.pem' }, 'IO', /^--upstream-ca: cannot read .*nope\.pem: no such file \(ENOENT\)$/],
    [{ ca: dir }, 'IO', /^--upstream-ca: cannot read .*: it is a directory \(EISDIR\)$/],
    [{ ca: pki.clientKeyFile }, 'CONFIG', /^--upstream-ca: .*client-key\.pem holds no PEM certificate/],
    [{ cert: pki.clientKeyFile, key: pki.clientKeyFile }, 'CONFIG', /^--upstream-cert: .* holds no PEM certificate/],
    [{ cert: pki.clientCertFile, key: pki.clientCertFile }, 'CONFIG', /^--upstream-key: .* holds no PEM private key/],
    [{ cert: pki.clientCertFile, key: pki.otherClientKeyFile }, 'CONFIG', /does not belong to the certificate/],
  ];
  for (const [args, code, message] of cases) {
    const err = t.throws(() => load(args), { instanceOf: DavtapError }, JSON.stringify(args))!;
    t.is(err.code, code, err.message);
    t.regex(err.message, message);
    t.false(err.message.includes('\n'));
  }
  t.is(load({}), undefined);
  t.is(load({ insecure: true }), undefined);
});
