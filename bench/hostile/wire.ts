// Two of the hostile-input checks against a real davtap (the built CLI, reverse mode, --no-ui):
// - one-packet: each chunked request whose chunk framing is broken in the same read as its head
//   (the shapes that once stopped the process) is answered 400, and davtap still relays after them;
// - half-close: a client that shuts its sending side after its request (nc -N) gets the answer.
//
//   node --import tsx bench/hostile/wire.ts      (after npm run build)
//
// Prints `one-packet=alive half-close=ok` (exit 0), or what failed (exit 1).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-hostile-'));
  const child = spawn(process.execPath, [path.join(root, 'bin/davtap'), '--upstream', `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}/`, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'd.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`davtap did not start: ${stderr}`)), 15_000);
    child.stderr.on('data', () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  const failures: string[] = [];
  for (const body of badBodies) {
    const reply = await exchange(port, `PUT /dav/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, false);
    if (!reply.startsWith('HTTP/1.1 400 ')) failures.push(`no 400 for ${JSON.stringify(body)}: ${JSON.stringify(reply.slice(0, 60))}`);
  }
  const after = await exchange(port, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', false);
  const onePacket = exited === null && after.endsWith('ok GET /after');
  const half = await exchange(port, 'GET /half HTTP/1.1\r\nHost: x\r\n\r\n', true);
  const halfClose = half.startsWith('HTTP/1.1 200 ') && half.endsWith('ok GET /half');
  child.kill('SIGTERM');
  await new Promise((r) => (exited === null ? child.once('exit', r) : r(null)));
  origin.close();
  fs.rmSync(dir, { recursive: true, force: true });
  for (const f of failures) process.stderr.write(`${f}\n`);
  process.stdout.write(`one-packet=${onePacket && failures.length === 0 ? 'alive' : 'FAIL'} half-close=${halfClose ? 'ok' : 'FAIL'}\n`);
  return onePacket && failures.length === 0 && halfClose ? 0 : 1;
}

process.exitCode = await main();
