// Runs inside a private network namespace (`unshare -n`, as root), where it gives the namespace's
// own loopback interface two documentation addresses, 192.0.2.1 and 198.51.100.7: davtap then sees
// clients that are not on loopback, while no packet can leave the namespace.
//
//   unshare -n -- node --import tsx test/helpers/remote-clients-probe.ts [davtap options…]
//
// Starts bin/davtap in forward mode on 0.0.0.0 with the options given, sends from each address (and
// from 127.0.0.1) one plain request and one CONNECT, and prints what came back as one JSON object.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startDavtap } from './davtap-process.js';
import { response, startOrigin } from './origin.js';

export const ALLOWED_SOURCE = '192.0.2.1';
export const OTHER_SOURCE = '198.51.100.7';

export interface ProbeResult {
  /** Per source address: the status line answered to a plain request and to a CONNECT. */
  answers: Record<string, { plain: string; connect: string }>;
  originRequests: number;
  /** davtap's --no-ui flow lines. */
  flowLines: string[];
}

/** Sends `request` from `source` to davtap and resolves with the first line of its answer. */
function statusLine(source: string, port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: source, port, localAddress: source });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (s: string) => {
      got += s;
      if (got.includes('\r\n')) socket.destroy();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (got ||= `error ${e.code}`));
    socket.on('close', () => resolve(got.split('\r\n')[0]!));
    socket.setTimeout(10_000, () => socket.destroy());
    socket.write(request);
  });
}

async function main(davtapOptions: string[]): Promise<ProbeResult> {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  for (const a of [ALLOWED_SOURCE, OTHER_SOURCE]) execFileSync('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-remote-clients-'));
  const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
  const davtap = await startDavtap([...davtapOptions, '--listen', '0.0.0.0:0', '--no-ui', '--db', path.join(dir, 'flows.db'), '--ca-dir', path.join(dir, 'ca')]);
  const answers: ProbeResult['answers'] = {};
  try {
    for (const source of [ALLOWED_SOURCE, OTHER_SOURCE, '127.0.0.1']) {
      const plain = await statusLine(source, davtap.port, `GET ${origin.url}/from/${source} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
      const connect = await statusLine(source, davtap.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
      answers[source] = { plain, connect };
    }
    // The flow lines of the refused requests come from the recorder: give them a moment.
    const deadline = Date.now() + 5_000;
    while (davtap.stdout().split('\n').filter(Boolean).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await davtap.stop();
    await origin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { answers, originRequests: origin.requests.length, flowLines: davtap.stdout().split('\n').filter(Boolean) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
