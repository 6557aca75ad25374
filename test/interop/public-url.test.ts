// davtap in reverse mode behind a TLS terminator: Debian's nginx serving https with a self-signed
// certificate, passing plain http to davtap, which relays to Debian's Apache mod_dav; all three on
// 127.0.0.1. Clients write COPY and MOVE Destinations on nginx's https address. With --public-url
// naming that address davtap maps them to Apache's and both methods succeed; without it the
// Destination reaches Apache as sent and Apache refuses it (502, "different scheme or port").
// The built ./bin/davtap runs as a child, as users run it.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startApache, type ApacheServer } from '../helpers/apache.js';
import { curl } from '../helpers/curl.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';

let apache: ApacheServer;
let nginx: NginxGateway;
let withPublicUrl: DavtapProcess;
let withoutPublicUrl: DavtapProcess;
let work: string;

/** nginx's address for clients: https, no trailing slash. */
const front = (name: 'public-url' | 'no-public-url') => nginx.urls[name]!.replace(/\/$/, '');

/** curl through nginx's https with its self-signed certificate accepted (-k), status and headers printed. */
async function send(method: string, url: string, headers: string[] = []): Promise<{ status: number; head: string; body: string }> {
  const r = await curl(['-k', '-i', '-X', method, ...headers.flatMap((h) => ['-H', h]), url]);
  const text = r.stdout.toString('latin1');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  if (!m) throw new Error(`no response from ${method} ${url} (curl exit ${r.code}): ${r.stderr}`);
  const end = text.indexOf('\r\n\r\n');
  return { status: Number(m[1]), head: text.slice(0, end), body: text.slice(end + 4) };
}

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-public-url-'));
  const cert = path.join(work, 'nginx.pem');
  const key = path.join(work, 'nginx-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  apache = await startApache({ accessLog: false });
  await apache.mkcol('/dav/');
  // davtap listens on ports chosen now, so that nginx can point at them and davtap can be told nginx's address.
  const ports = { 'public-url': await freePort(), 'no-public-url': await freePort() };
  const tls = `ssl_certificate ${cert};\nssl_certificate_key ${key};`;
  const pass = (port: number) => `location / {\n    proxy_pass http://127.0.0.1:${port};\n}`;
  nginx = await startNginx([
    { name: 'public-url', tls: true, config: `${tls}\n${pass(ports['public-url'])}` },
    { name: 'no-public-url', tls: true, config: `${tls}\n${pass(ports['no-public-url'])}` },
  ]);
  const common = ['--upstream', apache.url, '--no-ui'];
  withPublicUrl = await startDavtap([...common, '--listen', `127.0.0.1:${ports['public-url']}`, '--public-url', nginx.urls['public-url']!, '--db', path.join(work, 'with.db')]);
  withoutPublicUrl = await startDavtap([...common, '--listen', `127.0.0.1:${ports['no-public-url']}`, '--db', path.join(work, 'without.db')]);
});

test.after.always(async () => {
  await withPublicUrl?.stop();
  await withoutPublicUrl?.stop();
  await nginx?.stop();
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('the start-up line says which address clients use', (t) => {
  t.true(withPublicUrl.stderr().includes(`; clients use ${nginx.urls['public-url']!}; `), withPublicUrl.stderr());
  t.false(withoutPublicUrl.stderr().includes('clients use'), withoutPublicUrl.stderr());
});

test('with --public-url, COPY and MOVE through nginx https succeed, and Location names nginx\'s address', async (t) => {
  const base = front('public-url');
  await apache.put('/dav/with.txt', 'copied and moved\n');
  const copy = await send('COPY', `${base}/dav/with.txt`, [`Destination: ${base}/dav/with-copy.txt`]);
  t.is(copy.status, 201, copy.head + copy.body);
  t.is(await readFile(path.join(apache.dataDir, 'dav', 'with-copy.txt'), 'utf8'), 'copied and moved\n');
  t.is(/^Location: (.*)$/im.exec(copy.head)?.[1], `${base}/dav/with-copy.txt`, copy.head);
  const move = await send('MOVE', `${base}/dav/with-copy.txt`, [`Destination: ${base}/dav/with%20moved.txt`, 'Overwrite: F']);
  t.is(move.status, 201, move.head + move.body);
  t.false(existsSync(path.join(apache.dataDir, 'dav', 'with-copy.txt')));
  t.is(await readFile(path.join(apache.dataDir, 'dav', 'with moved.txt'), 'utf8'), 'copied and moved\n');
  // The result is visible through the same https address.
  const get = await send('GET', `${base}/dav/with%20moved.txt`);
  t.is(get.status, 200);
  t.is(get.body, 'copied and moved\n');
});

test('without --public-url, the same COPY and MOVE reach Apache with nginx\'s https Destination, and Apache refuses them', async (t) => {
  const base = front('no-public-url');
  await apache.put('/dav/without.txt', 'stays\n');
  for (const method of ['COPY', 'MOVE']) {
    const r = await send(method, `${base}/dav/without.txt`, [`Destination: ${base}/dav/without-${method}.txt`]);
    t.is(r.status, 502, `${method}: ${r.head}`);
    t.regex(r.body, /Destination URI refers to different scheme or port/, method);
    t.false(existsSync(path.join(apache.dataDir, 'dav', `without-${method}.txt`)), method);
  }
  t.true(existsSync(path.join(apache.dataDir, 'dav', 'without.txt')));
});
