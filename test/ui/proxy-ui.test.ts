// The UI with the real proxy: davtap in a terminal in front of a real WebDAV server (webdav-server,
// in-process) and a misbehaving origin that cuts its 207; and `davtap ui --db` attached to a
// separate proxy process. curl sends the requests; the screen is read with capture-pane.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { curl } from '../helpers/curl.js';
import { startDavServer } from '../helpers/webdav.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { tempDir } from './db.js';
import { Tmux, sh } from './tmux.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'src/cli/main.ts');

const propfind = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

/** An origin whose 207 promises 4,000 bytes and closes after the first 700 (a gateway cutting the body). */
function brokenOrigin(): Promise<Origin> {
  return startOrigin((_req, socket) => {
    const members = Array.from({ length: 40 }, (_, i) => `<D:response><D:href>/broken/item-${i}.txt</D:href><D:propstat><D:prop><D:getetag>"e${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`);
    const body = Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${members.join('\n')}\n</D:multistatus>\n`);
    socket.write(`HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; charset=utf-8\r\nServer: broken-gateway/1.0\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 700));
    setTimeout(() => socket.destroy(), 20);
  });
}

/** A free loopback port (the proxy is then told to listen on it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** davtap as a background process (no terminal: flows go to the database only). */
async function backgroundProxy(args: string[]): Promise<{ child: ChildProcess; url: string; stop: () => Promise<void> }> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|all|no)_proxy$/i.test(k)) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      child.once('exit', () => (clearTimeout(timer), resolve(true)));
    });
    if (!exited) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const m = /davtap listening on (http:\/\/\S+?)\/?(?:\s|$)/.exec(err);
    if (m) return { child, url: m[1]!, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`davtap did not start: ${err}`);
}

test('the proxy in a terminal shows a real PROPFIND and a cut 207 as they happen', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const origin = await brokenOrigin();
  t.teardown(() => origin.close());
  const port = await freePort();
  const db = path.join(dir, 'flows.db');
  // Forward mode: one proxy reaches both origins by absolute URL.
  const command = `cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(cli)} --listen 127.0.0.1:${port} --db ${sh(db)} --ca-dir ${sh(path.join(dir, 'ca'))}; echo davtap-exit=$?; sleep 60`;
  const term = Tmux.start(command);
  t.teardown(() => term.kill());
  const empty = await term.waitFor(/No flows yet/, 30_000);
  t.regex(empty.split('\n')[0]!, new RegExp(`^davtap  forward proxy http://127\\.0\\.0\\.1:${port}/ +0 flows .* db `));
  const proxy = `http://127.0.0.1:${port}`;
  t.is((await curl(['-x', proxy, '-X', 'PUT', '--data-binary', 'hello', `${dav.url}/dav/notes.txt`])).code, 0);
  const ok = await curl(['-x', proxy, '-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', propfind, `${dav.url}/dav/`]);
  t.is(ok.code, 0);
  t.regex(ok.stdout.toString(), /notes\.txt/);
  const broken = await curl(['-x', proxy, '-X', 'PROPFIND', '-H', 'Depth: 1', `${origin.url}/broken/`]);
  t.not(broken.code, 0, 'curl sees the cut body too');
  let screen = await term.waitFor(/\/broken\//, 10_000);
  screen = await term.waitFor(/3 flows/, 5000);
  const row = (needle: string) => screen.split('\n').find((l) => l.includes(needle)) ?? '';
  // Forward mode: each row names its server.
  const davHost = new URL(dav.url).host;
  t.regex(row(`${davHost}/dav/notes.txt`), /PUT +20\d/);
  t.regex(row(`${davHost}/dav/ `), /PROPFIND +207 .* 2 ok/);
  t.regex(row(`${new URL(origin.url).host}/broken/`), /^! .*PROPFIND +207 .*\/broken\/.* E\d/);
  // The cut flow is the newest: follow mode has it selected.
  term.send('Enter', '2');
  screen = await term.waitFor(/\[E\] MS00\d {2}truncation/);
  t.regex(screen, /Findings \(\d+\)/);
  term.send('3');
  screen = await term.waitFor(/\(body ended inside this response\)/);
  t.regex(screen, /\/broken\/item-\d+\.txt/);
  t.regex(screen.split('\n')[0]!, /^davtap {2}forward proxy http:\/\/127\.0\.0\.1:\d+\/ /);
  term.send('q', 'q');
  await term.waitFor(/Quit davtap\? \(y\/n\)/, 10_000);
  term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
});

test('davtap ui attached to a separate proxy process follows its flows live', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const origin = await brokenOrigin();
  t.teardown(() => origin.close());
  const db = path.join(dir, 'flows.db');
  const proxy = await backgroundProxy(['--upstream', origin.url, '--listen', '127.0.0.1:0', '--db', db, '--no-ui']);
  t.teardown(() => proxy.stop());
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(cli)} ui --db ${sh(db)}; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/No flows yet/, 20_000);
  // The header names the proxy's run as recorded in the database: mode, listener, upstream, file.
  const title = screen.split('\n')[0]!;
  t.true(title.includes(`davtap  reverse ${proxy.url}/ → ${origin.url}/`), title);
  t.true(title.includes(`db ${db}`), title);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}/broken/first/`]);
  screen = await term.waitFor(/\/broken\/first\//, 10_000);
  t.regex(screen, /1 flow /);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}/broken/second/`]);
  screen = await term.waitFor(/\/broken\/second\//, 10_000);
  t.regex(screen, /2 flows +2\/2 +\[follow\]/);
  t.regex(screen.split('\n').find((l) => l.includes('/broken/second/'))!, /^! .*PROPFIND +207 .* E\d/);
  // The UI only reads: quitting it leaves the proxy running and recording, so q quits at once.
  term.send('q');
  await term.waitFor(/davtap-exit=0/, 10_000);
  t.is(proxy.child.exitCode, null);
});

test('./bin/davtap --upstream URL --db FILE in a terminal shows the UI over a real WebDAV server', async (t) => {
  const bin = path.join(root, 'bin/davtap');
  if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) t.fail('davtap is not built: run npm run build first');
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const port = await freePort();
  const db = path.join(dir, 'flows.db');
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 ${sh(bin)} --upstream ${sh(`${dav.url}/`)} --listen 127.0.0.1:${port} --db ${sh(db)}; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  const empty = await term.waitFor(/No flows yet/, 30_000);
  t.regex(empty.split('\n')[0]!, new RegExp(`^davtap  reverse http://127\\.0\\.0\\.1:${port}/ → ${dav.url.replace(/[.]/g, '\\.')}/ .* 0 flows .* db `));
  const proxy = `http://127.0.0.1:${port}`;
  for (const name of ['one', 'two']) t.is((await curl(['-X', 'PUT', '--data-binary', name, `${proxy}/dav/${name}.txt`])).code, 0);
  t.is((await curl(['-X', 'MKCOL', `${proxy}/dav/folder/`])).code, 0);
  const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy}/dav/`]);
  t.regex(listing.stdout.toString(), /two\.txt/);
  const screen = await term.waitFor(/4 flows/, 10_000);
  const row = (needle: string) => screen.split('\n').find((l) => l.includes(needle)) ?? '';
  t.regex(row('/dav/one.txt'), /PUT +201/);
  t.regex(row('/dav/folder/'), /MKCOL +201/);
  // webdav-server answers with absolute hrefs naming itself, not davtap: the analyzer flags it (MS304).
  t.regex(row(' /dav/ '), /PROPFIND +207 .* E 0\/4 failed +E\d/);
  term.send('Enter', '3');
  const ledger = await term.waitFor(/sorted by failures/);
  t.regex(ledger, /200 ×\d+ +http:\/\/127\.0\.0\.1:\d+\/dav\/folder\//);
  // q leaves the flow, then asks: quitting the UI stops the proxy it runs with (mitmproxy asks too).
  term.send('q', 'q');
  await term.waitFor(/Quit davtap\? \(y\/n\)/, 10_000);
  term.send('n');
  await term.waitFor(/still running/);
  t.is((await curl(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy}/dav/`])).code, 0, 'the proxy still relays after n');
  term.send('q');
  await term.waitFor(/Quit davtap\? \(y\/n\)/, 10_000);
  term.send('y');
  t.regex(await term.waitFor(/davtap-exit=\d+/, 15_000), /davtap-exit=0/);
});
