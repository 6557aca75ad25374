// The flow list's part of `npm run tui-debugger` (bench/tui-debugger.ts): the header, the honest
// rows, filters, the mouse, NO_COLOR and the quit question, each checked against the built davtap
// in a real terminal (tmux), and search and the body views (m) in the flow view. Loopback only;
// everything started here is stopped here.
import { rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFlows } from '../test/ui/db.js';
import { gzipPropfind, malformedMultiget, mkcalendar, sampleFlows } from '../test/ui/flows.js';
import { Tmux, sh } from '../test/ui/tmux.js';
import { startDavServer } from '../test/helpers/webdav.js';
import net from 'node:net';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin/davtap');
const start = Date.UTC(2026, 10, 21, 6, 0, 0);
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

const results: Record<string, string> = {};
const notes: string[] = [];

const sgr = new RegExp(`${String.fromCharCode(27)}\\[([0-9;]*)m`, 'g');
const colours = (s: string) => [...s.matchAll(sgr)].flatMap((m) => m[1]!.split(';').filter(Boolean).map(Number)).filter((p) => (p >= 30 && p <= 38) || (p >= 40 && p <= 48) || (p >= 90 && p <= 107));
const mouse = (b: number, x: number, y: number) => `${String.fromCharCode(27)}[M${String.fromCharCode(32 + b, 33 + x, 33 + y)}`;

async function check(name: string, fn: () => Promise<boolean>): Promise<void> {
  try {
    if (await fn()) results[name] = 'ok';
  } catch (err) {
    notes.push(`${name}: ${err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err)}`);
  }
}

/** Runs the checks; returns each item's result ('ok', 'fail' or 'missing') and why one failed. */
export async function listChecks(): Promise<{ results: Record<string, string>; notes: string[] }> {
Object.assign(results, {
  header: 'fail', 'honest-row': 'fail', filters: 'fail', search: 'fail', 'body-modes': 'fail', mouse: 'fail', 'no-color': 'fail', 'quit-confirm': 'fail',
});
notes.length = 0;
const dir = mkdtempSync(path.join(os.tmpdir(), 'davtap-tui-'));
const terms: Tmux[] = [];
const ui = (db: string, env = '') => {
  const t = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 TZ=UTC ${env} ${sh(bin)} ui --db ${sh(db)} --utc; echo davtap-exit=$?; sleep 60`, { width: 100, height: 30 });
  terms.push(t);
  return t;
};
try {
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [...sampleFlows(start), malformedMultiget(start + 5000), mkcalendar(start + 6000)]);

  await check('honest-row', async () => {
    const t = ui(db);
    const s = await t.waitFor(/MKCALENDAR/);
    const row = s.split('\n').find((l) => l.includes('calendar-multiget')) ?? '';
    const red = new RegExp(`${String.fromCharCode(27)}\\[(?:[0-9;]*;)?31m(?:${String.fromCharCode(27)}\\[[0-9;]*m)*E 0/2 failed`).test(t.captureStyled());
    return /REPORT +207 +calendar-multiget .*E 0\/2 failed/.test(row) && !/\bok\b/.test(row) && / MKCALENDAR /.test(s) && red;
  });

  await check('filters', async () => {
    const t = ui(db);
    await t.waitFor(/MKCALENDAR/);
    t.send('/');
    t.type('~c 207');
    t.send('Enter');
    let s = await t.waitFor(/4 flows matching ~c 207/);
    const byStatus = !s.includes('MKCALENDAR') && !s.includes('readme.txt');
    t.send('/');
    t.type('~b getetag');
    t.send('Enter');
    s = await t.waitFor(/flows? matching ~b getetag/);
    const byBody = /\/dav\/big\//.test(s) && !/\/dav\/shared\//.test(s);
    t.send('!');
    s = await t.waitFor(/with findings matching ~b getetag/);
    return byStatus && byBody;
  });

  await check('no-color', async () => {
    const t = ui(db, 'NO_COLOR=1');
    const s = await t.waitFor(/MKCALENDAR/);
    const withColour = ui(db);
    await withColour.waitFor(/MKCALENDAR/);
    const params = colours(withColour.captureStyled());
    return colours(t.captureStyled()).length === 0 && /E 0\/2 failed/.test(s) && !params.includes(30) && !params.includes(90);
  });

  await check('mouse', async () => {
    const t = ui(db);
    await t.waitFor(/MKCALENDAR/);
    t.type(mouse(0, 30, 3) + mouse(3, 30, 3));
    await t.waitFor(/ 2\/7 /);
    t.type(mouse(0, 30, 3) + mouse(3, 30, 3));
    const s = await t.waitFor(/Summary +Findings/);
    return /PROPFIND http:\/\/127\.0\.0\.1:8081\/dav\/projects\//.test(s);
  });

  await check('search', async () => {
    const t = ui(db);
    await t.waitFor(/MKCALENDAR/);
    // The malformed calendar-multiget's Response tab: two getetag properties before the break.
    t.send('g', 'j', 'j', 'j', 'j', 'j', 'Enter', '5');
    await t.waitFor(/HTTP\/1\.1 207 Multi-Status/);
    t.send('/');
    t.type('getetag');
    t.send('Enter');
    await t.waitFor(/\/getetag 1\/2(?!\d)/);
    const reverse = new RegExp(`${String.fromCharCode(27)}\\[(?:[0-9;]*;)?7(?:;[0-9;]*)?m(?:${String.fromCharCode(27)}\\[[0-9;]*m)*getetag`).test(t.captureStyled());
    t.send('n');
    await t.waitFor(/\/getetag 2\/2(?!\d)/);
    t.send('n');
    await t.waitFor(/\/getetag 1\/2(?!\d)/);
    return reverse;
  });

  await check('body-modes', async () => {
    const zipped = path.join(dir, 'gzip.db');
    await writeFlows(zipped, [gzipPropfind(start + 1000)]);
    const t = ui(zipped);
    await t.waitFor(/\/dav\/zipped\//);
    t.send('Enter', '5');
    const pretty = await t.waitFor(/Response \[pretty, decoded gzip\]/);
    t.send('m', 'm');
    const hex = await t.waitFor(/Response \[hex, decoded gzip\]/);
    t.send('m');
    const wire = await t.waitFor(/Response \[wire gzip\]/);
    t.send('m');
    await t.waitFor(/Response \[pretty, decoded gzip\]/);
    return /<D:href>\/dav\/zipped\/<\/D:href>/.test(pretty) && /^00000000 {2}3c 3f 78 6d 6c/m.test(hex) && /^00000000 {2}1f 8b 08 /m.test(wire) && !/<D:href>/.test(wire);
  });

  const dav = await startDavServer();
  try {
    const port = await freePort();
    const live = path.join(dir, 'live.db');
    const t = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 ${sh(bin)} --upstream ${sh(`${dav.url}/`)} --listen 127.0.0.1:${port} --db ${sh(live)} --ca-dir ${sh(path.join(dir, 'ca'))}; echo davtap-exit=$?; sleep 60`, { width: 160, height: 30 });
    terms.push(t);
    await check('header', async () => {
      const s = await t.waitFor(/No flows yet/, 30_000);
      const title = s.split('\n')[0]!;
      const attached = ui(live);
      const a = await attached.waitFor(/No flows yet/, 20_000);
      const expect = `davtap  reverse http://127.0.0.1:${port}/ → ${dav.url}/`;
      return title.startsWith(expect) && title.includes(`db ${live}`) && /0 flows/.test(title) && a.split('\n')[0]!.startsWith(expect);
    });
    await check('quit-confirm', async () => {
      t.send('q');
      await t.waitFor(/Quit davtap\? \(y\/n\)/);
      t.send('n');
      await t.waitFor(/still running/);
      t.send('q');
      await t.waitFor(/Quit davtap\? \(y\/n\)/);
      t.send('y');
      const s = await t.waitFor(/davtap-exit=\d+/, 15_000);
      return /davtap-exit=0/.test(s);
    });
  } finally {
    await dav.close();
  }
} finally {
  for (const t of terms) t.kill();
  rmSync(dir, { recursive: true, force: true });
}
return { results, notes };
}
