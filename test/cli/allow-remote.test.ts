// `davtap --listen … --allow-remote …` as users run it: forward mode refuses to be an open proxy,
// and the allow-list admits exactly loopback and the ranges given.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../helpers/davtap-process.js';
import { curl } from '../helpers/curl.js';
import { startOrigin, response } from '../helpers/origin.js';
import { ALLOWED_SOURCE, OTHER_SOURCE, type ProbeResult } from '../helpers/remote-clients-probe.js';

function davtap(args: string[]) {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, ...args], { env: withoutProxyEnv(), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-allow-remote-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:0', 'example.invalid:0']) {
  test(`forward mode on ${listen} without --allow-remote is refused in one line, exit 2, before anything is created`, (t) => {
    const dir = tempDir(t);
    const r = davtap(['--listen', listen, '--no-ui', '--db', path.join(dir, 'flows.db'), '--ca-dir', path.join(dir, 'ca')]);
    t.is(r.code, 2);
    t.regex(r.stderr, /^davtap: forward mode on \S+ would be an open proxy for every host that reaches it: name the clients allowed with --allow-remote CIDR\[,CIDR…\] \(loopback is always allowed\), or listen on 127\.0\.0\.1\n$/);
    t.is(r.stdout, '');
    t.deepEqual(fs.readdirSync(dir), []);
  });
}

for (const value of ['10.0.0.0/33', 'example.org', '10.0.0.0/8,', 'fe80::/10,nonsense']) {
  test(`--allow-remote '${value}' is a one-line usage error`, (t) => {
    const r = davtap(['--listen', '0.0.0.0:0', '--allow-remote', value, '--no-ui']);
    t.is(r.code, 2);
    t.regex(r.stderr, /^davtap: --allow-remote: '[^']*' is not an IP address or CIDR range \(examples: [^)]+\)\n$/);
  });
}

test('forward mode on 0.0.0.0 with --allow-remote starts, says who may connect, and serves loopback clients', async (t) => {
  const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  t.teardown(() => origin.close());
  const dir = tempDir(t);
  const proc = await startDavtap(['--listen', '0.0.0.0:0', '--allow-remote', '10.0.0.0/8', '--allow-remote', 'fd00::/8,192.168.1.7', '--no-ui', '--db', path.join(dir, 'flows.db'), '--ca-dir', path.join(dir, 'ca')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.stderr(), /davtap listening on http:\/\/0\.0\.0\.0:\d+\/ \(forward proxy; .*; clients: loopback, 10\.0\.0\.0\/8, fd00::\/8, 192\.168\.1\.7\); recording to /);
  const r = await curl(['-x', `http://127.0.0.1:${proc.port}`, `${origin.url}/dav/`]);
  t.is(r.stdout.toString(), 'ok', r.stderr);
  const result = await proc.stop();
  t.is(result.code, 0);
});

test('reverse mode on 0.0.0.0 needs no --allow-remote, and says that every client may connect', async (t) => {
  const dir = tempDir(t);
  const proc = await startDavtap(['--listen', '0.0.0.0:0', '--upstream', 'http://127.0.0.1:9/', '--no-ui', '--db', path.join(dir, 'flows.db')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.stderr(), /\(reverse → http:\/\/127\.0\.0\.1:9\/; https with CA \S+(?: \([^)]*\))? and http on this port; clients: any \(--allow-remote limits them\)\)/);
  t.is((await proc.stop()).code, 0);
});

// Real non-loopback clients need a second address: a private network namespace (root only) gives
// its own loopback interface documentation addresses, and nothing leaves it.
const privateNetwork = spawnSync('unshare', ['-n', 'true']).status === 0;
const PROBE = fileURLToPath(new URL('../helpers/remote-clients-probe.ts', import.meta.url));

function probe(davtapOptions: string[]): ProbeResult {
  const r = spawnSync('unshare', ['-n', '--', process.execPath, '--import', 'tsx', PROBE, ...davtapOptions], { env: withoutProxyEnv(), encoding: 'utf8', timeout: 50_000 });
  if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeResult;
}

(privateNetwork ? test : test.skip)('forward mode with --allow-remote: a client outside the ranges gets 403 for requests and CONNECT, and is recorded', (t) => {
  const result = probe(['--allow-remote', `${ALLOWED_SOURCE}/24`]);
  t.deepEqual(result.answers, {
    [ALLOWED_SOURCE]: { plain: 'HTTP/1.1 200 OK', connect: 'HTTP/1.1 200 Connection Established' },
    [OTHER_SOURCE]: { plain: 'HTTP/1.1 403 Forbidden', connect: 'HTTP/1.1 403 Forbidden' },
    '127.0.0.1': { plain: 'HTTP/1.1 200 OK', connect: 'HTTP/1.1 200 Connection Established' },
  });
  t.is(result.originRequests, 2);
  const refused = result.flowLines.filter((l) => l.includes('error(EREMOTE)'));
  t.is(refused.length, 2, result.flowLines.join('\n'));
  t.regex(refused.join('\n'), /GET {2}--- {2}http:\/\/[^ /]+\/from\/198\.51\.100\.7 /);
  t.regex(refused.join('\n'), /CONNECT {2}--- /);
});
