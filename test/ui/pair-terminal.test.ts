// The pair view in a real terminal (tmux): `davtap sandwich` with its UI around a small real
// gateway that rewrites hrefs (test/helpers/gateway.ts) in front of the in-process WebDAV server.
// `c` on the front PROPFIND shows both legs and names the rewritten href as each side has it; `c`
// on its back flow shows the same pair; a request the gateway answered itself says "unmatched".
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, request } from '../helpers/apache.js';
import { startGateway } from '../helpers/gateway.js';
import { startDavServer } from '../helpers/webdav.js';
import { tempDir } from './db.js';
import { Tmux, sh } from './tmux.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'src/cli/main.ts');

test('c shows the pair: the href the gateway rewrote on both sides, from the front flow and from the back flow; a flow the gateway answered itself is unmatched', async (t) => {
  t.timeout(120_000);
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  await request(`${dav.url}/dav/docs/`, 'MKCOL');
  await request(`${dav.url}/dav/docs/a.txt`, 'PUT', { body: 'a\n' });
  const gw = await startGateway('rewrite-hrefs');
  t.teardown(() => gw.close());
  const front = await freePort();
  const back = await freePort();
  gw.upstream = new URL(`http://127.0.0.1:${back}/`);
  const db = path.join(dir, 'flows.db');
  const term = Tmux.start(
    `cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(cli)} sandwich --listen 127.0.0.1:${front} --gateway ${sh(gw.url)} --back-listen 127.0.0.1:${back} --origin ${sh(`${dav.url}/`)} --window 1 --db ${sh(db)} --ca-dir ${sh(path.join(dir, 'ca'))}; echo davtap-exit=$?; sleep 60`,
    { width: 170, height: 60 },
  );
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/No flows yet/, 30_000);
  // The header names both legs.
  t.true(screen.includes(`davtap  sandwich http://127.0.0.1:${front}/ → gateway ${gw.url} → http://127.0.0.1:${back}/ → origin ${dav.url}/`), screen);

  const listing = await request(`http://127.0.0.1:${front}/dav/docs/`, 'PROPFIND', { headers: { Depth: '1' } });
  t.is(listing.status, 207);
  t.regex(listing.body.toString(), /http:\/\/10\.9\.8\.7:8080\/dav\/docs\/a\.txt/, 'the gateway rewrote the hrefs');
  t.is((await request(`http://127.0.0.1:${front}/gateway-status`, 'GET')).status, 200);
  // Three flows: the front and back PROPFIND, and the GET no request to the origin explains (after --window).
  await term.waitFor(/3 flows/, 20_000);

  // The front PROPFIND (its URL is the gateway's): the pair view.
  term.send('/');
  term.type(`~m PROPFIND & ~u 127.0.0.1:${gw.port}/`);
  term.send('Enter');
  await term.waitFor((s) => s.includes(`1 flows match ~m PROPFIND & ~u 127.0.0.1:${gw.port}/`), 10_000);
  term.send('c');
  screen = await term.waitFor(/Pair: front \S+ +↔ +back \S+/, 10_000);
  t.regex(screen, /request +PROPFIND 127\.0\.0\.1:\d+\/dav\/docs\/ +PROPFIND 127\.0\.0\.1:\d+\/dav\/docs\//);
  t.regex(screen, /status +207 Multi-Status +207 Multi-Status/);
  t.regex(screen, /\[E\] MS804 +via rewrote hrefs to http:\/\/10\.9\.8\.7:8080\//);
  t.regex(screen, /href +front http:\/\/10\.9\.8\.7:8080\/dav\/docs\/a\.txt +← +back http:\/\/127\.0\.0\.1:\d+\/dav\/docs\/a\.txt/);
  const pairLine = /Pair: front (\S+) +↔ +back (\S+)/.exec(screen)!;

  // From the back flow (the origin's URL): the same pair.
  term.send('c');
  await term.waitFor((s) => !/Pair: front/.test(s), 5000);
  term.send('/');
  term.type(`~m PROPFIND & ~u 127.0.0.1:${dav.port}/`);
  term.send('Enter');
  await term.waitFor((s) => s.includes(`1 flows match ~m PROPFIND & ~u 127.0.0.1:${dav.port}/`), 10_000);
  term.send('Enter');
  await term.waitFor(/Summary.*Findings.*Resources/, 10_000);
  term.send('c');
  screen = await term.waitFor(/Pair: front \S+ +↔ +back \S+/, 10_000);
  t.is(/Pair: front (\S+) +↔ +back (\S+)/.exec(screen)![0], pairLine[0]);
  t.regex(screen, /href +front http:\/\/10\.9\.8\.7:8080\/dav\/docs\/a\.txt +← +back http:\/\/127\.0\.0\.1:\d+\/dav\/docs\/a\.txt/);
  // c again goes back to the open flow, q to the list.
  term.send('c');
  await term.waitFor(/Summary.*Findings.*Resources/, 5000);
  term.send('q');

  // The request the gateway answered itself.
  term.send('/');
  term.type('~u gateway-status');
  term.send('Enter');
  await term.waitFor(/1 flows match ~u gateway-status/, 10_000);
  term.send('c');
  screen = await term.waitFor(/unmatched: the gateway answered this request itself/, 10_000);
  t.regex(screen, /Pair: front \S+ +↔ +back —/);
  t.notRegex(screen, /Resources \(front vs back/);

  term.send('q');
  await term.waitFor((s) => !/Pair: front/.test(s), 5000);
  term.send('q');
  // Both relays run in this davtap: q asks first, as the proxy's UI does.
  await term.waitFor(/Quit davtap\? \(y\/n\)/, 5000);
  term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
});
