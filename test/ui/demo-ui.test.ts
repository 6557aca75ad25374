// `davtap demo` in a real terminal: the UI shows the scripted client's flows with the broken paths'
// findings within seconds, its status bar names the demo's address, a client of one's own gets a
// 207 there while the UI is up (and its flow appears), and q ends it all with exit 0.
import test from 'ava';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokenPaths } from '../../src/demo/faults.js';
import { tempDir } from './db.js';
import { Tmux, sh } from './tmux.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/davtap');

function propfind(url: string, depth: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PROPFIND', headers: { Depth: depth }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('the demo UI shows the broken paths flagged within seconds, stays up for a client of ones own, and q ends it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'demo.db');
  const term = Tmux.start(`cd ${sh(dir)} && LANG=C.UTF-8 TMPDIR=${sh(dir)} node ${sh(bin)} demo --db ${sh(db)}; echo davtap-exit=$?; sleep 60`, { width: 140, height: 40 });
  t.teardown(() => term.kill());

  // The status bar names the demo's address as soon as the UI is up.
  let screen = await term.waitFor(/demo: WebDAV\/CalDAV\/CardDAV at http:\/\/127\.0\.0\.1:\d+\//, 30_000);
  const shown = Date.now();
  const url = /demo: WebDAV\/CalDAV\/CardDAV at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(screen)![1]!;

  // Every broken path's row carries an error badge, within seconds of the UI showing.
  const rowOf = (s: string, b: (typeof brokenPaths)[number]) => s.split('\n').filter((l) => new RegExp(`${b.method} +207 +(?:[a-z-]+ )?${b.path.replace(/\//g, '\\/')} `).test(l));
  screen = await term.waitFor((s) => brokenPaths.every((b) => rowOf(s, b).some((l) => /E\d/.test(l))), 10_000);
  t.true(Date.now() - shown < 10_000);
  for (const b of brokenPaths) t.regex(rowOf(screen, b).find((l) => /E\d/.test(l))!, /^\S*\*/, `${b.method} ${b.path} is marked injected`);
  // The clean listings have no badge.
  const clean = screen.split('\n').filter((l) => /PROPFIND +207 +\/files\/ /.test(l) || /PROPFIND +207 +\/calendars\/alice\/ /.test(l));
  t.is(clean.length, 2);
  for (const l of clean) t.notRegex(l, /[EWI]\d/);

  // A client of one's own, on the address shown, while the UI is up.
  const own = await propfind(`${url}readme.txt`, '0');
  t.is(own.status, 207);
  t.regex(own.body, /<D:href>\/readme\.txt<\/D:href>/);
  await term.waitFor(/PROPFIND +207 +\/readme\.txt /, 5000);

  // q quits (answering the question when the UI asks one).
  term.send('q');
  screen = await term.waitFor(/davtap-exit=\d+|y\/n/i, 10_000);
  if (!/davtap-exit=/.test(screen)) term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
  t.regex(screen, /demo: WebDAV\/CalDAV\/CardDAV at http:\/\/127\.0\.0\.1:\d+\/ \(try: curl -X PROPFIND -H 'Depth: 1' /);
});
