// How much a new HTTPS host stalls other flows in forward mode: the time the event loop is held
// while davtap issues a leaf certificate, and the event-loop delay seen while 32 clients open
// TLS tunnels to 32 new host names at once through the proxy.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startProxy } from '../src/proxy/index.js';
import { ensureCa, LeafIssuer } from '../src/proxy/ca.js';

function pct(values: number[], p: number): number {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** Opens CONNECT host:port through the proxy, then a TLS handshake with SNI `servername`. */
function tunnel(proxyPort: number, servername: string, caPem: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1', () => socket.write(`CONNECT ${servername}:443 HTTP/1.1\r\nHost: ${servername}:443\r\n\r\n`));
    socket.once('data', (d) => {
      if (!/^HTTP\/1\.1 200/.test(d.toString())) return reject(new Error(d.toString()));
      const secure = tls.connect({ socket, servername, ca: caPem }, () => {
        secure.destroy();
        resolve();
      });
      secure.on('error', reject);
    });
    socket.on('error', reject);
  });
}

export async function run(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-ca-bench-'));
  try {
    const ca = ensureCa(dir);
    // 1. Leaf issuance alone, one at a time: the event-loop time a new host costs.
    const issuer = new LeafIssuer(ca);
    for (let i = 0; i < 200; i++) issuer.contextFor(`warm-${i}.example`);
    const issue = issuer.issueMs.slice(100);

    // 2. Through the proxy: 32 simultaneous handshakes to new names, event-loop delay measured.
    const proxy = await startProxy({ listenHost: '127.0.0.1', listenPort: 0, caDir: dir, maxBody: 1 << 20, maxRequestBody: 1 << 20, hooks: { onFlow: () => {} } });
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 32 }, (_, i) => tunnel(proxy.port, `host-${i}.bench.example`, ca.certPem)));
    const wall = performance.now() - t0;
    h.disable();
    const proxied = proxy.leafIssueMs();
    await proxy.close();
    const ms = (n: number) => n.toFixed(2);
    return [
      'Forward mode: how long a new HTTPS host holds the event loop (and so stalls other flows).',
      '',
      '| measure | p50 | p99 | max |',
      '|---|---|---|---|',
      `| leaf issuance, event loop held (ms, 100 hosts) | ${ms(pct(issue, 50))} | ${ms(pct(issue, 99))} | ${ms(Math.max(...issue))} |`,
      `| leaf issuance inside the proxy (ms, 32 hosts at once) | ${ms(pct(proxied, 50))} | ${ms(pct(proxied, 99))} | ${ms(Math.max(...proxied))} |`,
      `| event-loop delay during the 32 handshakes (ms) | ${ms(h.percentile(50) / 1e6)} | ${ms(h.percentile(99) / 1e6)} | ${ms(h.max / 1e6)} |`,
      '',
      `32 CONNECT + TLS handshakes to new names took ${ms(wall)} ms in all. Keys are generated once`,
      '(native RSA) and leaves are signed natively, so a new host holds the event loop for the',
      'time of one certificate build and signature rather than an RSA key generation.',
      '',
    ].join('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
