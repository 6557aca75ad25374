// --upstream-ca, --upstream-cert and --upstream-key as users run them (the built binary in a child
// process): option errors are one line and exit 2; in reverse mode with an https upstream, the
// start-up handshake tells in one line what is wrong, and davtap keeps running.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv, type DavtapProcess } from '../helpers/davtap-process.js';
import { curl } from '../helpers/curl.js';
import { mintPrivatePki, type PrivatePki } from '../helpers/private-ca.js';
import { listenForTest } from '../helpers/listen.js';

let pki: PrivatePki;
let dir: string;

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-cli-tls-'));
  pki = mintPrivatePki(dir);
});

test.after.always(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function startOrigin(t: { teardown(fn: () => Promise<void> | void): void }, mtls = false): Promise<string> {
  const server = https.createServer(
    { key: pki.serverKeyPem, cert: pki.serverCertPem, ...(mtls ? { requestCert: true, rejectUnauthorized: true, ca: pki.caPem } : {}) },
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 });
      res.end('ok\n');
    },
  );
  return `https://127.0.0.1:${await listenForTest(t, server)}/`;
}

async function davtap(t: { teardown(fn: () => Promise<void> | void): void }, args: string[]): Promise<DavtapProcess> {
  const proc = await startDavtap([...args, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(fs.mkdtempSync(path.join(dir, 'db-')), 'flows.db')]);
  t.teardown(() => proc.stop().then(() => undefined));
  return proc;
}

/** The lines davtap printed to stderr after the listening line, once `n` are there (bounded wait). */
async function linesAfterReady(proc: DavtapProcess, n: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const lines = () => proc.stderr().trim().split('\n').slice(1);
  while (lines().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return lines();
}

test('an upstream of an unknown CA: one start-up line naming both ways out; davtap keeps running and answers 502', async (t) => {
  const origin = await startOrigin(t);
  const proc = await davtap(t, ['--upstream', origin]);
  const lines = await linesAfterReady(proc, 1);
  t.is(lines.length, 1, proc.stderr());
  t.regex(lines[0]!, /^davtap: upstream https:\/\/127\.0\.0\.1:\d+: its TLS certificate did not verify \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
  t.regex(lines[0]!, /give the upstream's CA with --upstream-ca FILE \(PEM\), or relay without verification with --insecure-upstream/);
  const r = await curl(['-i', `${proc.url}/dav/`]);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 502 [\s\S]*--upstream-ca FILE/);
  t.is((await proc.stop()).code, 0);
});

test('--upstream-ca: no start-up line, the request is relayed', async (t) => {
  const origin = await startOrigin(t);
  const proc = await davtap(t, ['--upstream', origin, '--upstream-ca', pki.caFile]);
  const r = await curl(['-i', `${proc.url}/dav/`]);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\n$/);
  // The check takes one handshake on loopback: give it ample time to speak if it were going to.
  await new Promise((r) => setTimeout(r, 500));
  t.is(proc.stderr().trim().split('\n').length, 1, proc.stderr());
});

test('mTLS upstream: --upstream-cert with the key in the same file is relayed; without it one start-up line names --upstream-cert', async (t) => {
  const origin = await startOrigin(t, true);
  const good = await davtap(t, ['--upstream', origin, '--upstream-ca', pki.caFile, '--upstream-cert', pki.clientBothFile]);
  const r = await curl(['-i', `${good.url}/x`]);
  t.regex(r.stdout.toString(), /^HTTP\/1\.1 200 /);

  const bare = await davtap(t, ['--upstream', origin, '--upstream-ca', pki.caFile]);
  const lines = await linesAfterReady(bare, 1);
  t.is(lines.length, 1, bare.stderr());
  t.regex(lines[0]!, /^davtap: upstream https:\/\/127\.0\.0\.1:\d+ asks for a client certificate \(\S+\): give one with --upstream-cert FILE/);
  const refused = await curl(['-i', `${bare.url}/x`]);
  t.regex(refused.stdout.toString(), /^HTTP\/1\.1 502 /);
});

test('an unreachable https upstream: one start-up line, and davtap keeps running', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const proc = await davtap(t, ['--upstream', `https://127.0.0.1:${port}/`]);
  const lines = await linesAfterReady(proc, 1);
  t.is(lines.length, 1, proc.stderr());
  t.regex(lines[0]!, /^davtap: upstream https:\/\/127\.0\.0\.1:\d+ is not reachable \(ECONNREFUSED: .*davtap keeps running/);
  t.is(proc.child.exitCode, null);
});

for (const [name, args, pattern] of [
  ['a missing CA file', ['--upstream-ca', '/nonexistent/ca.pem'], /^davtap: --upstream-ca: cannot read \/nonexistent\/ca\.pem: no such file \(ENOENT\)$/m],
  ['a CA file without a certificate', ['--upstream-ca', '@client-key.pem'], /^davtap: --upstream-ca: \S+client-key\.pem holds no PEM certificate/],
  ['--upstream-ca with --insecure-upstream', ['--upstream-ca', '@ca.pem', '--insecure-upstream'], /^davtap: --upstream-ca and --insecure-upstream contradict each other/],
  ['a key without a certificate', ['--upstream-key', '@client-key.pem'], /^davtap: --upstream-key needs --upstream-cert/],
  ['a certificate without a key', ['--upstream-cert', '@client.pem'], /^davtap: --upstream-cert: \S+ holds no private key: give it with --upstream-key FILE$/m],
] as const) {
  test(`an upstream TLS option error is one line and exit 2: ${name}`, (t) => {
    const db = path.join(dir, `never-${name.replace(/\W+/g, '-')}.db`);
    const resolved = args.map((a) => (a.startsWith('@') ? path.join(dir, a.slice(1)) : a));
    const r = spawnSync(process.execPath, [DAVTAP_BIN, '--upstream', 'https://127.0.0.1:1/', '--no-ui', '--db', db, ...resolved], {
      env: withoutProxyEnv(),
      encoding: 'utf8',
      timeout: 20_000,
    });
    t.is(r.status, 2, r.stderr);
    t.regex(r.stderr, pattern);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.false(fs.existsSync(db), 'nothing was started');
  });
}
