// Intercept in the terminal UI, with the real proxy in tmux in front of the in-process WebDAV
// server: i sets the filter, a matching PUT is held (the file is not written) while the title says
// so, A releases it (201); quitting with a request held asks, and k kills it (502) and quits.
import test from 'ava';
import { curl } from '../helpers/curl.js';
import { startLiveProxy } from './live-proxy.js';



const code = async (args: string[]) => (await curl(['-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout.toString();

test('i holds a matching PUT (not written), A releases it (201); q with a held request asks, k kills it and quits', async (t) => {
  const { dav, term, proxy } = await startLiveProxy(t);

  term.send('i');
  await term.waitFor(/intercept: /, 5000);
  term.type('~m PUT');
  term.send('Enter');
  await term.waitFor(/\[intercept ~m PUT\]/, 5000);

  const put = code(['-X', 'PUT', '--data-binary', 'held', `${proxy}/dav/held.txt`]);
  // The title names it, and it is a row of its own (H, HOLD) before it is recorded.
  let screen = await term.waitFor(/\[1 held: PUT http:\/\/127\.0\.0\.1:\d+\/dav\/held/, 10_000);
  t.regex(screen, /^H +\S+ +PUT +HOLD \[held request\] \/dav\/held\.txt/m);
  t.is(await code([`${dav.url}/dav/held.txt`]), '404', 'the server has not received it');
  // Other requests are not held.
  t.is(await code(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy}/dav/`]), '207');
  term.send('A');
  t.is(await put, '201');
  t.is((await curl([`${dav.url}/dav/held.txt`])).stdout.toString(), 'held');
  screen = await term.waitFor((s) => /2 flows/.test(s) && !/held:/.test(s), 10_000);
  t.regex(screen, /PUT +201/);

  const killed = curl(['-sS', '-w', '\n%{http_code}', '-X', 'PUT', '--data-binary', 'never', `${proxy}/dav/never.txt`]);
  await term.waitFor(/\[1 held: PUT /, 10_000);
  term.send('q');
  screen = await term.waitFor(/1 request is held by intercept: r release, k kill and quit/, 5000);
  term.send('k');
  t.regex((await killed).stdout.toString(), /killed in davtap[\s\S]*502$/);
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
  t.is(await code([`${dav.url}/dav/never.txt`]), '404');
});
