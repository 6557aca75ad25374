// Forward mode over HTTPS: CONNECT is intercepted with davtap's CA (a throwaway one in a temp dir),
// upstream TLS is verified unless --insecure-upstream (in reverse mode too), and the CA behaves as
// documented.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import crypto from 'node:crypto';
import { ensureCa, LeafIssuer, inspectCa, caKeyFileName, caFileName } from '../../src/proxy/ca.js';
import { startTestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import { startDavServer } from '../helpers/webdav.js';
import { listenForTest } from '../helpers/listen.js';

const xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>\n';

function tempDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An HTTPS origin whose certificate comes from its own CA, unknown to davtap. */
async function startTlsOrigin(t: { teardown(fn: () => Promise<void> | void): void }) {
  const originCa = ensureCa(tempDir(t, 'origin-ca-'));
  const issuer = new LeafIssuer(originCa);
  const server = https.createServer({ SNICallback: (_n, cb) => cb(null, issuer.contextFor('127.0.0.1')), ...{ key: undefined } }, (req, res) => {
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) });
    res.end(req.method === 'PROPFIND' ? xml : '');
  });
  // Without SNI (an IP address), the default context is used.
  server.setSecureContext({ key: (issuer as unknown as { leafKeyPem: string }).leafKeyPem, cert: issuer.issue('127.0.0.1').cert });
  return { url: `https://127.0.0.1:${await listenForTest(t, server)}`, caPath: path.join(originCa.info.dir, caFileName) };
}

test('HTTPS through CONNECT is intercepted with davtap\'s CA and recorded', async (t) => {
  const origin = await startTlsOrigin(t);
  const caDir = tempDir(t, 'davtap-ca-');
  const proxy = await startTestProxy(t, { caDir, insecureUpstream: true });
  const caPath = path.join(caDir, caFileName);
  const r = await curl(['-i', '-x', proxy.url, '--cacert', caPath, '-X', 'PROPFIND', '-H', 'Depth: 0', origin.url + '/dav/']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 207 /);
  t.true(r.stdout.toString().endsWith(xml));
  // The client trusted only davtap's CA: the certificate it saw was davtap's, not the origin's.
  const direct = await curl(['--cacert', caPath, origin.url + '/dav/']);
  t.is(direct.code, 60, 'the origin itself is not trusted through davtap\'s CA');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.mode, 'forward');
  t.is(flow!.request.url, origin.url + '/dav/');
  t.is(flow!.response!.status, 207);
  t.is(flow!.response!.body.bytes.toString(), xml);
  t.is(flow!.client.address, '127.0.0.1');
  t.true(proxy.leafIssueMs().length >= 1);
});

test('upstream TLS is verified unless --insecure-upstream', async (t) => {
  const origin = await startTlsOrigin(t);
  const caDir = tempDir(t, 'davtap-ca-');
  const proxy = await startTestProxy(t, { caDir });
  const r = await curl(['-i', '-x', proxy.url, '--cacert', path.join(caDir, caFileName), origin.url + '/dav/']);
  t.regex(r.stdout.toString(), /\r\n\r\nHTTP\/1\.1 502 /);
  t.regex(r.stdout.toString(), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.kind, 'error');
});

test('reverse mode to an HTTPS upstream: verified unless --insecure-upstream, then relayed over TLS', async (t) => {
  const origin = await startTlsOrigin(t);
  const strict = await startTestProxy(t, { upstream: new URL(origin.url + '/') });
  const refused = await curl(['-i', '-X', 'PROPFIND', strict.url + 'dav/']);
  t.regex(refused.stdout.toString(), /^HTTP\/1\.1 502 /);
  t.regex(refused.stdout.toString(), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i);
  // The answer names the ways out.
  t.regex(refused.stdout.toString(), /--upstream-ca FILE \(PEM\), or relay without verification with --insecure-upstream/);
  const [failed] = await strict.waitForFlows(1);
  t.is(failed!.outcome.kind, 'error');
  t.regex(failed!.outcome.code ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/);

  const lax = await startTestProxy(t, { upstream: new URL(origin.url + '/'), insecureUpstream: true });
  const r = await curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 0', lax.url + 'dav/', lax.url + 'dav/']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString().split(xml).length - 1, 2, 'both answers relayed whole');
  const flows = await lax.waitForFlows(2);
  t.deepEqual(flows.map((f) => [f.request.url, f.response?.status]), [[origin.url + '/dav/', 207], [origin.url + '/dav/', 207]]);
});

test('plain HTTP inside a CONNECT tunnel is relayed too', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const caDir = tempDir(t, 'davtap-ca-');
  const proxy = await startTestProxy(t, { caDir });
  const r = await curl(['-p', '-x', proxy.url, '-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', '-w', '%{http_code}', server.url + '/dav/']);
  t.is(r.stdout.toString(), '207');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.url, server.url + '/dav/');
});

test('the CA is created with a 0600 key in a 0700 directory and reused while valid', (t) => {
  const dir = path.join(tempDir(t, 'davtap-ca-'), 'nested', 'ca');
  const first = ensureCa(dir);
  t.true(first.info.created);
  t.is(fs.statSync(path.join(dir, caKeyFileName)).mode & 0o777, 0o600);
  t.is(fs.statSync(dir).mode & 0o777, 0o700);
  const again = ensureCa(dir);
  t.false(again.info.created);
  t.is(again.info.fingerprint256, first.info.fingerprint256);
  t.is(inspectCa(dir)!.fingerprint256, first.info.fingerprint256);
  const x = new crypto.X509Certificate(first.certPem);
  t.true(x.ca);
  t.is(x.fingerprint256, first.info.fingerprint256);
  // A key someone made world-readable is tightened again.
  fs.chmodSync(path.join(dir, caKeyFileName), 0o644);
  ensureCa(dir);
  t.is(fs.statSync(path.join(dir, caKeyFileName)).mode & 0o777, 0o600);
});

test('an expired or broken CA is regenerated, and says why', (t) => {
  const dir = tempDir(t, 'davtap-ca-');
  const year = 365 * 86_400_000;
  const old = ensureCa(dir, { validityDays: 30, now: () => Date.now() - year });
  const renewed = ensureCa(dir);
  t.true(renewed.info.created);
  t.regex(renewed.info.replacedBecause!, /expired/);
  t.not(renewed.info.fingerprint256, old.info.fingerprint256);
  fs.writeFileSync(path.join(dir, caKeyFileName), 'not a key', { mode: 0o600 });
  const fixed = ensureCa(dir);
  t.regex(fixed.info.replacedBecause!, /key/);
  t.not(fixed.info.fingerprint256, renewed.info.fingerprint256);
});

test('leaf certificates are signed by the CA, name the host, and are reissued when expired', (t) => {
  const ca = ensureCa(tempDir(t, 'davtap-ca-'));
  let now = Date.now();
  const issuer = new LeafIssuer(ca, { now: () => now, leafValidityDays: 10 });
  const caCert = new crypto.X509Certificate(ca.certPem);
  for (const host of ['dav.example.org', '127.0.0.1', '::1']) {
    const leaf = new crypto.X509Certificate(issuer.issue(host).cert);
    t.true(leaf.verify(caCert.publicKey), host);
    t.true(leaf.checkIssued(caCert), host);
    t.regex(leaf.subjectAltName ?? '', host.includes('.') && !/^\d/.test(host) ? /DNS:dav\.example\.org/ : /IP Address:/);
  }
  const first = issuer.contextFor('dav.example.org');
  t.is(issuer.contextFor('dav.example.org'), first, 'cached while valid');
  now += 11 * 86_400_000;
  t.not(issuer.contextFor('dav.example.org'), first, 'reissued after expiry');
});
