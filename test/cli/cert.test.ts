// The reverse listener's https from the command line: leaves from the CA in --ca-dir by default
// (named on the start-up line), or the certificate given with --cert; --cert is checked before
// anything listens.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../helpers/davtap-process.js';
import { curl } from '../helpers/curl.js';
import { startOrigin, response } from '../helpers/origin.js';
import { caFileName, ensureCa, LeafIssuer } from '../../src/proxy/ca.js';

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-cert-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function origin(t: ExecutionContext) {
  const o = await startOrigin((req, s) => void s.write(response(200, { 'Content-Length': req.target.length }, req.target)));
  t.teardown(() => o.close());
  return o;
}

test('reverse mode serves https with a leaf from the CA in --ca-dir, and says so on the start-up line', async (t) => {
  const dir = tempDir(t);
  const o = await origin(t);
  const proc = await startDavtap(['--upstream', o.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'db'), '--ca-dir', path.join(dir, 'ca')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.stderr(), /https with CA \S+davtap-ca\.pem \(new: clients must trust it, see davtap ca\) and http on this port/);
  const r = await curl(['-sS', '--cacert', path.join(dir, 'ca', caFileName), `https://localhost:${proc.port}/x`]);
  t.is(r.stdout.toString(), '/x', r.stderr);
});

test('--cert serves the certificate given; one without its key, or in forward mode, is a one-line error and exit 2', async (t) => {
  const dir = tempDir(t);
  const o = await origin(t);
  const own = ensureCa(path.join(dir, 'own'));
  const issuer = new LeafIssuer(own);
  const certOnly = issuer.issue('localhost').cert;
  const withKey = certOnly + (issuer as unknown as { leafKeyPem: string }).leafKeyPem;
  fs.writeFileSync(path.join(dir, 'server.pem'), withKey);
  fs.writeFileSync(path.join(dir, 'nokey.pem'), certOnly);
  const proc = await startDavtap(['--upstream', o.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'db'), '--ca-dir', path.join(dir, 'ca'), '--cert', path.join(dir, 'server.pem')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.stderr(), /https with the certificate given and http on this port/);
  const r = await curl(['-sS', '--cacert', path.join(own.info.dir, caFileName), `https://localhost:${proc.port}/y`]);
  t.is(r.stdout.toString(), '/y', r.stderr);
  const run = (args: string[]) => spawnSync(DAVTAP_BIN, args, { encoding: 'utf8', env: withoutProxyEnv(), timeout: 20_000 });
  const noKey = run(['--upstream', o.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'db2'), '--cert', path.join(dir, 'nokey.pem')]);
  t.is(noKey.status, 2);
  t.regex(noKey.stderr, /^davtap: --cert: \S+nokey\.pem holds no private key/);
  t.is(noKey.stderr.trim().split('\n').length, 1);
  const forward = run(['--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'db3'), '--cert', path.join(dir, 'server.pem')]);
  t.is(forward.status, 2);
  t.regex(forward.stderr, /--cert is for reverse mode/);
});
