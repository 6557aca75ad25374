// Holding in the terminal UI, with the real proxy in tmux in front of the in-process WebDAV server:
// a PROPFIND's response is held as a row of its own (H, its status, [held response]) that opens
// like any flow; a releases it and the client gets the 207 as the server sent it. A held request is
// a row too, selectable and openable; a client that gives up (curl --max-time 2) turns its row
// […, client gone] past the patience (--intercept-patience), and X then sends nothing. davtap ui
// --db answers the intercept keys with one line: there is no proxy to intercept in.
import test from 'ava';
import path from 'node:path';
import { curl } from '../helpers/curl.js';
import { tempDir, writeFlows } from './db.js';
import { sampleFlows } from './flows.js';
import { cli, root, startLiveProxy } from './live-proxy.js';
import { Tmux, sh } from './tmux.js';



async function startUi(t: { teardown(fn: () => void | Promise<void>): void }, extra: string) {
  return startLiveProxy(t, { args: extra, ready: /No flows yet|HOLD|held/ });
}

test('a held PROPFIND response is a row (H 207 [held response]) that opens; a releases it and the client gets the 207 unchanged', async (t) => {
  const { dav, term, proxy } = await startUi(t, '');
  term.send('i');
  await term.waitFor(/intercept: /, 5000);
  term.type('~m PROPFIND & ~s');
  term.send('Enter');
  await term.waitFor(/\[intercept ~m PROPFIND & ~s\]/, 5000);
  let got = false;
  const held = curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy}/dav/`], 60_000).then((r) => {
    got = true;
    return r;
  });
  let screen = await term.waitFor(/^H +\S+ +PROPFIND +207 +\[held response\] \/dav\//m, 20_000);
  t.false(got, 'the client has nothing yet');
  // Selected (follow mode) and opened: the Summary says what waits.
  term.send('Enter');
  screen = await term.waitFor(/the response waits in davtap: the client has been sent nothing of it/, 10_000);
  t.regex(screen, /a delivers it, X closes the client connection without it/);
  term.send('q');
  await term.waitFor(/\[held response\]/, 5000);
  term.send('a');
  const r = await held;
  t.is(r.code, 0, r.stderr);
  const direct = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${dav.url}/dav/`]);
  t.deepEqual(r.stdout, direct.stdout, 'the 207 as the server sends it');
  t.regex(r.stdout.toString(), /multistatus/);
  screen = await term.waitFor((s) => /1 flow\b/.test(s) && !/\[held response/.test(s), 15_000);
  t.regex(screen, /PROPFIND +207/);
});

test('a held request is a selectable row; a client that gives up turns it [client gone], and X then sends nothing', async (t) => {
  // --intercept holds from the start; a patience of 1 s is passed long before curl gives up.
  const { dav, term, proxy } = await startUi(t, "--intercept '~m PUT' --intercept-patience 1");
  await term.waitFor(/\[intercept ~m PUT\]/, 10_000);
  // A flow to move away to, recorded before the PUT.
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'OPTIONS', `${proxy}/dav/`])).stdout.toString(), '200');
  await term.waitFor(/OPTIONS +200/, 10_000);
  const put = curl(['--max-time', '2', '-X', 'PUT', '--data-binary', 'late', `${proxy}/dav/late.txt`]);
  await term.waitFor(/^H +\S+ +PUT +HOLD \[held request/m, 15_000);
  // Selectable: up to the OPTIONS and back down to the held row, which opens.
  term.send('k');
  await term.waitFor(/ 1\/2 /, 5000);
  term.send('j');
  await term.waitFor(/ 2\/2 /, 5000);
  term.send('Enter');
  const opened = await term.waitFor(/the request waits in davtap: nothing of it was sent to the server/, 10_000);
  t.regex(opened, /PUT http:\/\/127\.0\.0\.1:\d+\/dav\/late\.txt/);
  term.send('q');
  t.is((await put).code, 28, 'curl gave up');
  await term.waitFor(/\[held request, client gone\] \/dav\/late\.txt/, 15_000);
  term.send('X');
  await term.waitFor(/killed held request PUT \S+: its client had gone, nothing was sent/, 10_000);
  await term.waitFor(/2 flows/, 15_000);
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', `${dav.url}/dav/late.txt`])).stdout.toString(), '404', 'never sent');
});

test('davtap ui --db: i, a, A and X say in one line that there is no proxy to intercept in', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows());
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(cli)} ui --db ${sh(db)}; echo ui-exit=$?; sleep 60`, { width: 160 });
  t.teardown(() => term.kill());
  await term.waitFor(/flows/, 30_000);
  for (const key of ['i', 'a', 'A', 'X']) {
    term.send(key);
    const screen = await term.waitFor(/no proxy to intercept in: davtap ui only reads the database \(i, a, A, X work in the davtap that runs the proxy\)/, 5000);
    t.notRegex(screen, /intercept: /, `${key} opens no prompt`);
    term.send('j');
    await term.waitFor((s) => !/no proxy to intercept in/.test(s), 5000);
  }
});
