// Debian's Radicale 3 on 127.0.0.1 as a CalDAV origin for the gateway tests: a fresh temp dir, the
// repository's capture config (test/fixtures/servers/radicale.conf: any login accepted), a calendar
// /test/cal/ with the capture events and an address book /test/book/ with two cards. Radicale
// missing is an error, not a skip: CI installs it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, request } from '../../helpers/apache.js';

export const RADICALE_BIN = '/usr/bin/radicale';
const SERVERS = fileURLToPath(new URL('../../fixtures/servers/', import.meta.url));
const READY_TIMEOUT_MS = 15_000;
export const RADICALE_AUTH = 'test:test';

export interface RadicaleServer {
  /** Base URL with a trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Paths of the calendar's events, as PUT. */
  readonly events: string[];
  /** Paths of the address book's cards, as PUT. */
  readonly cards: string[];
  stop(): Promise<void>;
}

const connects = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export async function startRadicale(): Promise<RadicaleServer> {
  if (!existsSync(RADICALE_BIN)) throw new Error(`Radicale is not installed (${RADICALE_BIN}): apt-get install -y radicale`);
  const root = await mkdtemp(path.join(tmpdir(), 'davtap-radicale-'));
  const port = await freePort();
  await mkdir(path.join(root, 'data', 'radicale'), { recursive: true });
  const conf = (await readFile(path.join(SERVERS, 'radicale.conf'), 'utf8')).replaceAll('@TB@', root).replaceAll('@PORT@', String(port));
  await writeFile(path.join(root, 'radicale.conf'), conf);
  const child = spawn(RADICALE_BIN, ['--config', path.join(root, 'radicale.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(root, { recursive: true, force: true });
    })());
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let attempt = 0; !(await connects(port)); attempt++) {
    if (child.exitCode !== null || Date.now() > deadline || attempt > 600) {
      await stop();
      throw new Error(`radicale did not start on ${port}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const url = `http://127.0.0.1:${port}/`;
  const auth = { Authorization: `Basic ${Buffer.from(RADICALE_AUTH).toString('base64')}` };
  const setup = async (method: string, p: string, expect: number, body?: Buffer, type?: string): Promise<void> => {
    const res = await request(url + p.replace(/^\//, ''), method, { headers: { ...auth, ...(type ? { 'Content-Type': type } : {}) }, ...(body ? { body } : {}) });
    if (res.status !== expect) {
      await stop();
      throw new Error(`radicale setup: ${method} ${p} answered ${res.status}, expected ${expect}`);
    }
  };
  const req = (name: string) => readFile(path.join(SERVERS, 'requests', name));
  await setup('PROPFIND', '/test/', 207);
  await setup('MKCALENDAR', '/test/cal/', 201, await req('mkcalendar.xml'), 'application/xml');
  const events = ['/test/cal/event1.ics', '/test/cal/event2.ics', '/test/cal/caf%C3%A9%20r%C3%A9union.ics'];
  const files = ['event1.ics', 'event2.ics', 'event-reunion.ics'];
  for (let i = 0; i < events.length; i++) await setup('PUT', events[i]!, 201, await req(files[i]!), 'text/calendar');
  const mkcol =
    '<?xml version="1.0" encoding="utf-8"?>\n<D:mkcol xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>' +
    '<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>Test book</D:displayname></D:prop></D:set></D:mkcol>\n';
  await setup('MKCOL', '/test/book/', 201, Buffer.from(mkcol), 'application/xml');
  const cards = ['/test/book/alice.vcf', '/test/book/bob.vcf'];
  for (const card of cards) {
    const name = card.slice(card.lastIndexOf('/') + 1, -4);
    const vcard = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${name}@testbed\r\nFN:${name} Example\r\nN:Example;${name};;;\r\nEND:VCARD\r\n`;
    await setup('PUT', card, 201, Buffer.from(vcard), 'text/vcard');
  }
  return { url, port, events, cards, stop };
}
