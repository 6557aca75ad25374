// Two of the hostile-input checks against a real davtap (the built CLI, reverse mode, --no-ui):
// - one-packet: each chunked request whose chunk framing is broken in the same read as its head
//   (the shapes that once stopped the process) is answered 400, and davtap still relays after them;
// - half-close: a client that shuts its sending side after its request (nc -N) gets the answer.
//
//   node --import tsx bench/hostile/wire.ts      (after npm run build)
//
// Prints `one-packet=alive half-close=ok` (exit 0), or what failed (exit 1).
import http from 'node:http';
import net from 'node:net';
import { startDavtap } from './davtap-child.js';

const badBodies = ['zz\r\n', '-5\r\nhello\r\n0\r\n\r\n', '0x5\r\nhello\r\n0\r\n\r\n', '10000000000000000\r\nx\r\n', ' 5\r\nhello\r\n0\r\n\r\n', '5\nhello\r\n0\r\n\r\n', '5\rhello\r\n0\r\n\r\n', '5\r\nhelloXX0\r\n\r\n', '5\r\nhello\r\n0\r\n\rX', '5 z\r\nhello\r\n0\r\n\r\n'];

/** Sends raw bytes (optionally half-closing after them) and resolves with what came back once the connection closed. */
function exchange(port: number, bytes: string, halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
    socket.setTimeout(10_000, () => socket.destroy());
    if (halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

async function main(): Promise<number> {
  const origin = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.method} ${req.url}`));
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const davtap = await startDavtap(`http://127.0.0.1:${(origin.address() as net.AddressInfo).port}/`);
  const { port } = davtap;
  const failures: string[] = [];
  for (const body of badBodies) {
    const reply = await exchange(port, `PUT /dav/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, false);
    if (!reply.startsWith('HTTP/1.1 400 ')) failures.push(`no 400 for ${JSON.stringify(body)}: ${JSON.stringify(reply.slice(0, 60))}`);
  }
  const after = await exchange(port, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', false);
  const onePacket = davtap.process.child.exitCode === null && after.endsWith('ok GET /after');
  const half = await exchange(port, 'GET /half HTTP/1.1\r\nHost: x\r\n\r\n', true);
  const halfClose = half.startsWith('HTTP/1.1 200 ') && half.endsWith('ok GET /half');
  await davtap.stop();
  origin.close();
  for (const f of failures) process.stderr.write(`${f}\n`);
  process.stdout.write(`one-packet=${onePacket && failures.length === 0 ? 'alive' : 'FAIL'} half-close=${halfClose ? 'ok' : 'FAIL'}\n`);
  return onePacket && failures.length === 0 && halfClose ? 0 : 1;
}

process.exitCode = await main();
