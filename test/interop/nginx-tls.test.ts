// davtap in reverse mode in front of a real TLS gateway: Debian's nginx with a certificate from a
// private CA (trusted with --upstream-ca), and nginx requiring a client certificate
// (ssl_verify_client on, presented with --upstream-cert/--upstream-key), both in front of Debian's
// Apache mod_dav on 127.0.0.1. The built ./bin/davtap runs as a child, as users run it.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApache, type ApacheServer } from '../helpers/apache.js';
import { curl } from '../helpers/curl.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { mintPrivatePki, type PrivatePki } from '../helpers/private-ca.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';

let apache: ApacheServer;
let nginx: NginxGateway;
let pki: PrivatePki;
let work: string;
let started = 0;

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-nginx-tls-'));
  pki = mintPrivatePki(work);
  apache = await startApache({ accessLog: false });
  await apache.mkcol('/docs/');
  await apache.put('/docs/a.txt', 'a\n');
  const tls = `ssl_certificate ${pki.serverCertFile};\nssl_certificate_key ${pki.serverKeyFile};`;
  const pass = `location / {\n    proxy_pass http://127.0.0.1:${apache.port};\n    add_header X-Client-Verify $ssl_client_verify always;\n    add_header X-Client-DN $ssl_client_s_dn always;\n}`;
  nginx = await startNginx([
    { name: 'tls', tls: true, config: `${tls}\n${pass}` },
    { name: 'mtls', tls: true, config: `${tls}\nssl_client_certificate ${pki.caFile};\nssl_verify_client on;\n${pass}` },
  ]);
});

test.after.always(async () => {
  await nginx?.stop();
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function davtap(t: ExecutionContext, args: string[]): Promise<DavtapProcess> {
  const p = await startDavtap([...args, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, `davtap-${++started}.db`)]);
  t.teardown(() => p.stop().then(() => undefined));
  return p;
}

/** stderr after the listening line, after the start-up check had ample time to report. */
async function startupLines(p: DavtapProcess, atLeast: number): Promise<string[]> {
  const deadline = Date.now() + (atLeast > 0 ? 10_000 : 1_000);
  const lines = () => p.stderr().trim().split('\n').slice(1);
  while (Date.now() < deadline && (atLeast === 0 || lines().length < atLeast)) await new Promise((r) => setTimeout(r, 25));
  return lines();
}

const propfind = (url: string) => curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', url]);

test('nginx with a private-CA certificate: verified with --upstream-ca, a PROPFIND relayed, no start-up line', async (t) => {
  const p = await davtap(t, ['--upstream', nginx.urls.tls!, '--upstream-ca', pki.caFile]);
  const r = await propfind(`${p.url}/docs/`);
  const text = r.stdout.toString();
  t.regex(text, /^HTTP\/1\.1 207 /);
  t.regex(text, /<D:href>\/docs\/a\.txt<\/D:href>/);
  t.deepEqual(await startupLines(p, 0), []);
});

test('nginx with a private-CA certificate, without --upstream-ca: one start-up line with both ways out, then 502 per request', async (t) => {
  const p = await davtap(t, ['--upstream', nginx.urls.tls!]);
  const [line, ...rest] = await startupLines(p, 1);
  t.deepEqual(rest, []);
  t.regex(line!, /^davtap: upstream https:\/\/127\.0\.0\.1:\d+: its TLS certificate did not verify \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
  t.regex(line!, /--upstream-ca FILE \(PEM\), or relay without verification with --insecure-upstream/);
  const r = await propfind(`${p.url}/docs/`);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 502 [\s\S]*--upstream-ca FILE/);
});

test('nginx with ssl_verify_client on: --upstream-cert and --upstream-key are presented and verified, the PROPFIND relayed', async (t) => {
  const p = await davtap(t, ['--upstream', nginx.urls.mtls!, '--upstream-ca', pki.caFile, '--upstream-cert', pki.clientCertFile, '--upstream-key', pki.clientKeyFile]);
  const r = await propfind(`${p.url}/docs/`);
  const text = r.stdout.toString();
  t.regex(text, /^HTTP\/1\.1 207 /);
  t.regex(text, /\r\nX-Client-Verify: SUCCESS\r\n/i);
  t.regex(text, /\r\nX-Client-DN: CN=davtap test client\r\n/i);
  t.regex(text, /<D:href>\/docs\/a\.txt<\/D:href>/);
  t.deepEqual(await startupLines(p, 0), []);
});

test('nginx with ssl_verify_client on, no client certificate or a stranger\'s: nginx\'s own 400 is relayed as it is', async (t) => {
  // nginx completes the handshake without a client certificate and refuses each request itself.
  const bare = await davtap(t, ['--upstream', nginx.urls.mtls!, '--upstream-ca', pki.caFile]);
  const r = await propfind(`${bare.url}/docs/`);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 400 [\s\S]*No required SSL certificate was sent/);
  const stranger = await davtap(t, ['--upstream', nginx.urls.mtls!, '--upstream-ca', pki.caFile, '--upstream-cert', pki.otherClientCertFile, '--upstream-key', pki.otherClientKeyFile]);
  const s = await propfind(`${stranger.url}/docs/`);
  t.regex(s.stdout.toString(), /^HTTP\/1\.1 400 [\s\S]*The SSL certificate error/);
});
