// An origin that streams an endless chunked 207 of small <response>s, through a real davtap
// (the built CLI, --no-ui), read by a client as fast as it can: davtap's resident set must stay
// bounded while it streams (peak) and come back down after the flows end (held).
//
//   node --import tsx bench/hostile/infinite-207.ts [--seconds 17] [--flows 3] [--idle 20]
//
// Prints `infinite-207-peak=N MB held=N MB` (MB = 2^20 bytes) and exits 1 when the peak is over
// 400 MB or the held set over 250 MB.
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readRss } from '../lib/memory.js';
import { responseLength, startDavtap } from './davtap-child.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, flows: { type: 'string' }, idle: { type: 'string' } } });
const seconds = Number(values.seconds ?? 17);
const flows = Number(values.flows ?? 3);
const idleSeconds = Number(values.idle ?? 20);

/** One small <response>, as servers send in a Depth-1 listing. */
function responses(from: number, count: number): string {
  let s = '';
  for (let i = from; i < from + count; i++) {
    s += `<d:response><d:href>/dav/file-${i}.txt</d:href><d:propstat><d:prop><d:getcontentlength>${i}</d:getcontentlength></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`;
  }
  return s;
}

function startOrigin(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n');
      const open = '<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">';
      socket.write(`${Buffer.byteLength(open).toString(16)}\r\n${open}\r\n`);
      const deadline = Date.now() + seconds * 1000;
      let n = 0;
      const pump = () => {
        while (Date.now() < deadline) {
          const body = responses(n, 200);
          n += 200;
          const ok = socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
          if (!ok) {
            socket.once('drain', pump);
            return;
          }
        }
        const close = '</d:multistatus>';
        socket.end(`${close.length.toString(16)}\r\n${close}\r\n0\r\n\r\n`);
      };
      pump();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main(): Promise<number> {
  const origin = await startOrigin();
  const originPort = (origin.address() as net.AddressInfo).port;
  const davtap = await startDavtap(`http://127.0.0.1:${originPort}/`);
  const { port } = davtap;
  const pid = davtap.process.pid;
  let peakKiB = 0;
  const sampler = setInterval(() => {
    const r = readRss(pid);
    if (r) peakKiB = Math.max(peakKiB, r.rssKiB, r.hwmKiB);
  }, 50);
  let relayed = 0;
  for (let i = 0; i < flows; i++) {
    relayed += await responseLength(`http://127.0.0.1:${port}/dav/`, 'PROPFIND', { Depth: '1' });
  }
  // Idle: the flows are over; what davtap still holds after this is what it keeps.
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const held = readRss(pid);
  clearInterval(sampler);
  const code = await davtap.stop(process.env.KEEP_DB !== undefined);
  origin.close();
  const db = path.join(davtap.dir, 'd.db');
  const peakMB = Math.round(peakKiB / 1024);
  const heldMB = Math.round((held?.rssKiB ?? 0) / 1024);
  process.stderr.write(`relayed ${(relayed / 2 ** 30).toFixed(2)} GiB in ${flows} flows of ${seconds} s; davtap exited ${code}; db ${db}\n`);
  process.stdout.write(`infinite-207-peak=${peakMB} MB held=${heldMB} MB\n`);
  return peakMB <= 400 && heldMB <= 250 && code === 0 ? 0 : 1;
}

process.exitCode = await main();
