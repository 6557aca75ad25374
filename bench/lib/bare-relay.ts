// The least a Node reverse proxy can do: node:http in, node:http out over a keep-alive agent,
// headers copied, bodies piped, no capture, no analysis, no store. The proxy benchmark runs it as
// a reference, to tell the cost of Node's HTTP stack on this machine from the cost of davtap's work.
// Run as a child: `node --import tsx bench/lib/bare-relay.ts http://127.0.0.1:PORT` prints
// `listening PORT` once ready.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';

const upstream = new URL(process.argv[2] ?? '');
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });

const server = http.createServer((req, res) => {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined && k !== 'connection' && k !== 'keep-alive') headers[k] = v;
  }
  headers.host = upstream.host;
  const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
    pipeline(up, res, () => {});
  });
  out.on('error', () => res.destroy());
  pipeline(req, out, () => {});
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
