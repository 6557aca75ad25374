// `r` in the terminal UI: the proxy in a real terminal (tmux) in front of the in-process WebDAV
// server; the selected PROPFIND is sent again, the replay joins the list as a new flow, and what
// changed is shown.
import test from 'ava';
import { openReader } from '../../src/store/index.js';
import { curl } from '../helpers/curl.js';
import { startLiveProxy } from './live-proxy.js';



test('r replays the selected flow: a new flow in the list, linked to its original, and the diff shown', async (t) => {
  const { db, term, proxy } = await startLiveProxy(t);
  t.is((await curl(['-X', 'PUT', '--data-binary', 'hello', `${proxy}/dav/r.txt`])).code, 0);
  t.is((await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy}/dav/`])).code, 0);
  await term.waitFor(/2 flows/, 10_000);

  // Follow mode has the PROPFIND (the newest) selected.
  term.send('r');
  let screen = await term.waitFor(/207 → 207: same/, 20_000);
  t.regex(screen, /PROPFIND http:\/\/127\.0\.0\.1:\d+\/dav\/ +207 → 207: same +\(flow [0-9a-f-]+ replayed as/);
  t.regex(screen, /Press any key to close/);
  term.send('x');
  screen = await term.waitFor(/3 flows/, 10_000);
  t.is(screen.split('\n').filter((l) => /PROPFIND +207/.test(l)).length, 2);

  // The replay's Summary names the flow it replayed.
  term.send('Enter');
  screen = await term.waitFor(/replay of +flow [0-9a-f-]+ \(sent again by davtap\)/, 10_000);
  term.send('q');
  await term.waitFor(/3 flows/, 5000);

  const reader = openReader(db);
  t.teardown(() => reader.close());
  const [replay, original] = reader.listFlows({ limit: 2 });
  t.is(replay!.replayOf, original!.id);
  t.is(original!.method, 'PROPFIND');

  term.send('q');
  // The proxy runs in this davtap: quitting asks first.
  await term.waitFor(/Quit davtap\? \(y\/n\)/);
  term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
});
