// The floor of any relay written in Node on this machine: a blind TCP pipe (node:net), one upstream
// connection per client connection, bytes copied both ways, no HTTP parsing, capture, analysis or
// store. The proxy benchmark runs it as a reference: what davtap cannot beat whatever it does.
// Run as a child: `node --import tsx bench/lib/tcp-pipe.ts http://127.0.0.1:PORT` prints
// `listening PORT` once ready.
import net from 'node:net';

const upstream = new URL(process.argv[2] ?? '');

const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true });
  client.pipe(up);
  up.pipe(client);
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
