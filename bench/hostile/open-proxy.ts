// Hostile probe: can davtap be used as an open proxy?
//
//   npm run build && node --import tsx bench/hostile/open-proxy.ts
//
// Prints `open-proxy=refused` (exit 0) when
//   (a) forward mode on 0.0.0.0 without --allow-remote is refused: exit 2 and one line on stderr;
//   (b) a client judged remote is answered 403, for a plain request and a CONNECT, recorded as a
//       refused flow, and nothing reaches the origin. Every client here is on loopback, which the
//       CLI's rule always admits, so the proxy is given a rule that judges them remote
//       (ProxyOptions.clientAllowed, as in test/proxy/client-access.test.ts);
//   (c) where a private network namespace can be made (root), the real CLI with --allow-remote
//       answers 403 to a client on a non-loopback address outside the range.
// Otherwise prints `open-proxy=FAIL` and the reasons on stderr, and exits 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProxy } from '../../src/proxy/index.js';
import { CLIENT_REFUSED_CODE } from '../../src/proxy/client-access.js';
import type { Flow } from '../../src/types.js';
import { DAVTAP_BIN, withoutProxyEnv } from '../../test/helpers/davtap-process.js';
import { response, startOrigin } from '../../test/helpers/origin.js';
import { OTHER_SOURCE, type ProbeResult } from '../../test/helpers/remote-clients-probe.js';

const failures: string[] = [];
const expect = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

function cliRefusesOpenForwardMode(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-open-proxy-'));
  try {
    const r = spawnSync(process.execPath, [DAVTAP_BIN, '--listen', '0.0.0.0:0', '--no-ui', '--db', path.join(dir, 'flows.db'), '--ca-dir', path.join(dir, 'ca')], {
      cwd: dir,
      env: withoutProxyEnv(),
      encoding: 'utf8',
      timeout: 20_000,
    });
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(r.status === 2, `(a) davtap --listen 0.0.0.0:0 without --allow-remote exited ${r.status} (signal ${r.signal}), not 2`);
    expect(lines.length === 1, `(a) expected one line on stderr, got ${lines.length}: ${JSON.stringify(r.stderr)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function firstLine(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (s: string) => (got += s));
    socket.on('error', (e: NodeJS.ErrnoException) => (got ||= `error ${e.code}`));
    socket.on('close', () => resolve(got.split('\r\n')[0]!));
    socket.setTimeout(10_000, () => socket.destroy());
    socket.write(request);
  });
}

async function remoteClientGets403(): Promise<void> {
  const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-open-proxy-ca-'));
  const flows: Flow[] = [];
  const proxy = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    caDir,
    maxBody: 1024 * 1024,
    maxRequestBody: 1024 * 1024,
    clientAllowed: () => false,
    hooks: { onFlow: (flow) => flows.push(flow) },
  });
  try {
    const plain = await firstLine(proxy.port, `GET ${origin.url}/secret HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    const connect = await firstLine(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\nGET /inside HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(plain === 'HTTP/1.1 403 Forbidden', `(b) plain request from a remote client answered '${plain}'`);
    expect(connect === 'HTTP/1.1 403 Forbidden', `(b) CONNECT from a remote client answered '${connect}'`);
    const refused = flows.filter((f) => f.outcome.code === CLIENT_REFUSED_CODE).map((f) => f.request.method);
    expect(refused.includes('GET') && refused.includes('CONNECT'), `(b) refused flows recorded: ${JSON.stringify(refused)}`);
    expect(origin.connections === 0, `(b) the origin got ${origin.connections} connections`);
  } finally {
    await proxy.close();
    await origin.close();
    fs.rmSync(caDir, { recursive: true, force: true });
  }
}

function realRemoteClientGets403(): void {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return;
  const probe = fileURLToPath(new URL('../../test/helpers/remote-clients-probe.ts', import.meta.url));
  const r = spawnSync('unshare', ['-n', '--', process.execPath, '--import', 'tsx', probe, '--allow-remote', '192.0.2.0/24'], { env: withoutProxyEnv(), encoding: 'utf8', timeout: 50_000 });
  if (r.status !== 0) {
    failures.push(`(c) the private-network probe failed: ${r.stderr.trim()}`);
    return;
  }
  const result = JSON.parse(r.stdout) as ProbeResult;
  const other = result.answers[OTHER_SOURCE];
  expect(other?.plain === 'HTTP/1.1 403 Forbidden' && other.connect === 'HTTP/1.1 403 Forbidden', `(c) a client at ${OTHER_SOURCE} got ${JSON.stringify(other)}`);
}

try {
  cliRefusesOpenForwardMode();
  await remoteClientGets403();
  realRemoteClientGets403();
} catch (err) {
  failures.push(`probe crashed: ${err instanceof Error ? err.message : String(err)}`);
}
if (failures.length === 0) {
  process.stdout.write('open-proxy=refused\n');
} else {
  process.stdout.write('open-proxy=FAIL\n');
  for (const f of failures) process.stderr.write(`${f}\n`);
  process.exitCode = 1;
}
