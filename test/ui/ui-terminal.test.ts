// `davtap ui --db FILE` in a real terminal (tmux): what the screen shows, and what the keys do.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tmux, sh } from './tmux.js';
import { tempDir, writeFlows } from './db.js';
import { gzipPropfind, malformedMultiget, mkcalendar, plainGet, propfindWithFailures, sampleFlows, truncatedPropfind } from './flows.js';
import { renderTab, wrapLines } from '../../ui/detail-model.js';
import { findMatches } from '../../ui/search.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const start = Date.UTC(2026, 10, 21, 6, 0, 0);

function davtapUi(args: string[]): string {
  const cli = path.join(root, 'src/cli/main.ts');
  return `cd ${sh(root)} && LANG=C.UTF-8 TZ=UTC node --import tsx ${sh(cli)} ui ${args.map(sh).join(' ')}; echo davtap-exit=$?; sleep 60`;
}

/** `text` drawn right after an SGR sequence that sets `code` (e.g. 31, red foreground). */
const sgrBefore = (code: string, text: string): RegExp =>
  new RegExp(`\u001b\\[(?:[0-9;]*;)?${code}m(?:\u001b\\[[0-9;]*m)*${text.replace(/[/.*+?()[\]]/g, '\\$&')}`);

const rowOf = (screen: string, needle: string): string => screen.split('\n').find((l) => l.includes(needle)) ?? '';

test('the list shows every flow with its status, 207 summary, badges and markers', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  const screen = await term.waitFor(/MKCOL/);
  t.regex(screen, /5 flows/);
  t.regex(rowOf(screen, '/dav/readme.txt'), /^ {3}06:00:00\.000 {3}GET +200 +\/dav\/readme\.txt +22b/);
  t.regex(rowOf(screen, '/dav/projects/'), /PROPFIND +207 .* I 1\/5 failed +I1\s*$/);
  t.regex(rowOf(screen, '/dav/big/'), /^! +06:00:02\.000 +PROPFIND +207 .* 32k .* E 1\/\d+ failed E2 W1\s*$/);
  t.regex(rowOf(screen, '/dav/shared/'), /DELETE +207 .* W 2\/2 failed +W2\s*$/);
  t.regex(rowOf(screen, '/dav/new-folder/'), /^! +06:00:04\.000 +MKCOL +ERR +\/dav\/new-folder\//);
});

test('Enter opens a flow, Tab walks the tabs, the ledger and the marked body are shown', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/MKCOL/);
  // Follow mode starts on the newest flow; go to the top and down to the DELETE.
  term.send('g', 'j', 'j', 'j', 'Enter');
  let screen = await term.waitFor(/DELETE http:\/\/127\.0\.0\.1:8081\/dav\/shared\//);
  t.regex(screen, /Summary +Findings \(2\) +Resources \(2\/2\)/);
  t.regex(screen, /207 +2 of 2 resources failed \(423 ×1, 424 ×1\)/);
  term.send('Tab');
  screen = await term.waitFor(/\[W\] MS504/);
  t.regex(screen, /\[W\] MS501 {2}partial-failure {2}blame server {2}2 of 2 resources failed/);
  term.send('Tab');
  screen = await term.waitFor(/sorted by failures/);
  t.regex(screen, /^ +0 {2}423 +\/dav\/shared\/locked\.odt {2}error lock-token-submitted/m);
  t.regex(screen, /^ +1 {2}424 +\/dav\/shared\//m);
  // Back to the list, up to the truncated PROPFIND, straight to its Response tab.
  term.send('q', 'k', 'Enter', '5');
  screen = await term.waitFor(/HTTP\/1\.1 207 Multi-Status/);
  t.regex(screen, /lines 1-45 of \d{3}/);
  term.send('G');
  screen = await term.waitFor(/\^/);
  t.regex(screen, /MS001 body ended after 32,768 of [\d,]+ declared bytes \(line \d+, column \d+\) \^/);
  // Resources of the truncated flow: the response the body ended inside comes first.
  term.send('3');
  screen = await term.waitFor(/sorted by failures/);
  t.regex(screen, /^ +\d+ {2}\(none\) +\/dav\/big\/file-\d+\.bin {2}\(body ended inside this response\)$/m);
  term.send('s');
  screen = await term.waitFor(/sorted by index/);
  t.regex(screen, /^ +0 {2}200 ×2 +\/dav\/big\/file-0000\.bin/m);
});

test('a filter narrows the list; a bad filter shows its error and changes nothing; q quits', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/MKCOL/);
  term.send('/');
  term.type('~m PROPFIND');
  term.send('Enter');
  let screen = await term.waitFor(/2 flows matching ~m PROPFIND/);
  t.false(screen.includes('MKCOL'));
  t.false(screen.includes('/dav/readme.txt'));
  t.regex(screen, /\/dav\/projects\//);
  t.regex(screen, /\/dav\/big\//);
  term.send('/');
  term.type(' & ~z');
  term.send('Enter');
  screen = await term.waitFor(/filter: .*position/);
  t.regex(screen, /2 flows matching ~m PROPFIND/, 'the previous filter stays');
  t.false(screen.includes('MKCOL'));
  // The prompt comes back empty, not with the bad text; Enter on it clears the filter.
  term.send('/');
  screen = await term.waitFor(/Enter apply {2}Esc cancel/);
  t.regex(screen.trimEnd().split('\n').at(-1)!, /^\/ {2,}Enter apply/);
  term.send('Enter');
  screen = await term.waitFor(/filter cleared/);
  t.regex(screen, /MKCOL/);
  term.send('?');
  screen = await term.waitFor(/davtap — keys/);
  t.regex(screen, /Flow list/);
  // The filter codes come from the filter table; the help scrolls when it is taller than the screen.
  term.send('PageDown', 'PageDown');
  screen = await term.waitFor(/~c CODE +response status: 207, or a class such as 4xx/);
  t.regex(screen, /~bs REGEX +response body/);
  term.send('PageDown', 'PageDown');
  screen = await term.waitFor(/any other key closes it/);
  t.regex(screen, /~sev SEVERITY/);
  term.send('x');
  await term.waitFor((s) => !s.includes('davtap — keys'));
  term.send('q');
  screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /davtap-exit=0/);
});

test('new flows written by another process appear without a keypress, and follow mode selects them', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [plainGet(start)]);
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/ 1 flow /);
  await writeFlows(db, [propfindWithFailures(start + 1000), plainGet(start + 2000, '/dav/arrived-later.txt')]);
  let screen = await term.waitFor(/arrived-later/, 5000);
  t.regex(screen, /3 flows +3\/3 +\[follow\]/);
  t.regex(rowOf(screen, '/dav/projects/'), /I 1\/5 failed +I1/);
  // F turns follow mode off: the cursor stays put while flows keep arriving.
  term.send('F');
  await term.waitFor(/follow mode off/);
  await writeFlows(db, [plainGet(start + 3000, '/dav/even-later.txt')]);
  screen = await term.waitFor(/even-later/, 5000);
  t.regex(screen, /4 flows +3\/4\s/);
  t.notRegex(screen, /\[follow\]/);
});

test('a resize redraws the list at the new width', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']), { width: 160, height: 30 });
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/MKCOL/);
  t.regex(rowOf(screen, '/dav/big/'), /40ms/);
  term.resize(70, 20);
  // At 70 columns the duration, time and size columns give way so that the 207 summary and badges stay.
  screen = await term.waitFor(/PROPFIND +207 +\/dav\/big\/ +E 1\/\d+ failed E2 W1/);
  t.true(screen.split('\n').every((l) => l.length <= 70));
  t.false(/40ms/.test(screen));
  t.regex(screen, /MKCOL/);
});

test('console output while the UI runs never reaches the screen; q asks first while flows are pending', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const program = path.join(root, 'test/ui/programs/noisy-ui.ts');
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(program)} ${sh(db)}; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/MKCOL/);
  t.regex(screen, /\[3 being written\]/);
  screen = await term.waitFor(/\[(log|error)\] stray console/);
  const lines = screen.trimEnd().split('\n');
  t.is(lines.length, 48);
  // Only the status bar (the last line) mentions the noise.
  t.deepEqual(lines.slice(0, -1).filter((l) => l.includes('stray')), []);
  term.send('q');
  screen = await term.waitFor(/3 flows are still being written\. Quit anyway\? \(y\/n\)/);
  term.send('n');
  screen = await term.waitFor(/still running/);
  t.regex(screen, /MKCOL/);
  term.send('q');
  await term.waitFor(/Quit anyway/);
  term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /console restored after the UI/);
  t.regex(screen, /davtap-exit=0/);
});

test('a warning from the proxy (recording failed) shows in the status bar while the UI runs', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const program = path.join(root, 'test/ui/programs/notice-ui.ts');
  const trigger = path.join(dir, 'recording-failed');
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(program)} ${sh(db)} ${sh(trigger)}; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/MKCOL/);
  t.notRegex(screen, /recording failed/);
  writeFileSync(trigger, '');
  screen = await term.waitFor(/recording failed \(relaying goes on\): database or disk is full/);
  const lines = screen.trimEnd().split('\n');
  t.regex(lines[lines.length - 1]!, /recording failed/);
  term.send('q');
  screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /davtap-exit=0/);
});

test('wide characters in a body are shown, not replaced', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  const flow = propfindWithFailures(start, 3);
  const xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/日本語.txt</D:href><D:propstat><D:prop><D:displayname>日本語のファイル é</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>';
  flow.response!.body = { bytes: Buffer.from(xml), bytesSeen: Buffer.byteLength(xml), captureComplete: true };
  flow.analysis!.resources[0]!.href = '/dav/日本語.txt';
  await writeFlows(db, [flow]);
  const term = Tmux.start(davtapUi(['--db', db]), { width: 100, height: 24 });
  t.teardown(() => term.kill());
  await term.waitFor(/PROPFIND/);
  term.send('Enter', '5');
  let screen = await term.waitFor(/displayname/);
  t.regex(screen, /^ {8}<D:displayname>日本語のファイル é<\/D:displayname>$/m);
  term.send('3');
  screen = await term.waitFor(/sorted by failures/);
  t.regex(screen, /^ +0 {2}200 ×3 +\/dav\/日本語\.txt$/m);
});

test('a caller shutting down closes the UI without asking, even with writes pending', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const pidFile = path.join(dir, 'pid');
  const program = path.join(root, 'test/ui/programs/abortable-ui.ts');
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(program)} ${sh(db)} ${sh(pidFile)}; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  await term.waitFor(/\[5 being written\]/);
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  const screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /ui closed by the caller/);
  t.regex(screen, /davtap-exit=0/);
  t.notRegex(screen, /Quit anyway/);
});

test('an honest list: a malformed 207 says E in red, never ok; REPORTs are named; long methods and paths fit at 80 columns; ! shows the flows with findings', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [...sampleFlows(start), malformedMultiget(start + 5000), mkcalendar(start + 6000)]);
  const term = Tmux.start(davtapUi(['--db', db, '--utc']), { width: 80, height: 24 });
  t.teardown(() => term.kill());
  let screen = await term.waitFor(/MKCALENDAR/);
  const multiget = rowOf(screen, 'calendar-multiget');
  t.regex(multiget, /REPORT +207 +calendar-multiget \/cal\/…\/personal\/ +E 0\/2 failed +E1 W1\s*$/);
  t.notRegex(screen, /\bok\b/, 'no flow on screen is all right, and none says ok');
  t.regex(rowOf(screen, 'MKCALENDAR'), / MKCALENDAR 201 +\/cal\/alice\/.*…\/team-offsite\//);
  t.true(screen.split('\n').every((l) => l.length <= 80));
  // The severity is in its colour: red (SGR 31) for an error, yellow (33) for a warning.
  const styled = term.captureStyled();
  t.regex(styled, sgrBefore('31', 'E 0/2 failed'));
  t.regex(styled, sgrBefore('33', 'W 2/2 failed'));
  // `!`: only the flows with findings, one key away; again: every flow.
  term.send('!');
  screen = await term.waitFor(/4 flows with findings/);
  t.false(screen.includes('MKCALENDAR'));
  t.false(screen.includes('/dav/readme.txt'));
  t.regex(screen, /calendar-multiget/);
  t.regex(screen, /\/dav\/projects\//);
  term.send('!');
  screen = await term.waitFor(/every flow shown/);
  t.regex(screen, /7 flows/);
  t.regex(screen, /MKCALENDAR/);
  term.send('?');
  screen = await term.waitFor(/davtap — keys/);
  t.regex(screen, /! +findings view/);
});

const sgrSequence = new RegExp(`${String.fromCharCode(27)}\\[([0-9;]*)m`, 'g');

/** The SGR colour parameters (foreground, background, 256-colour) in a `capture-pane -e` screen. */
function colourParams(styledScreen: string): number[] {
  const found: number[] = [];
  for (const m of styledScreen.matchAll(sgrSequence)) {
    for (const p of m[1]!.split(';').filter((x) => x !== '').map(Number)) {
      if ((p >= 30 && p <= 38) || (p >= 40 && p <= 48) || (p >= 90 && p <= 97) || (p >= 100 && p <= 107)) found.push(p);
    }
  }
  return found;
}

test('no black text (SGR 30) on any screen; NO_COLOR draws no colour at all and severities still read by their letters', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [...sampleFlows(start), malformedMultiget(start + 5000)]);
  const coloured = Tmux.start(davtapUi(['--db', db, '--utc']), { width: 120, height: 24 });
  t.teardown(() => coloured.kill());
  await coloured.waitFor(/calendar-multiget/);
  let params = colourParams(coloured.captureStyled());
  t.true(params.includes(31), 'errors are red');
  t.false(params.includes(30) || params.includes(90), `no black or grey text: ${params.join(',')}`);
  coloured.send('g', 'j', 'Enter');
  await coloured.waitFor(/Framing/);
  params = colourParams(coloured.captureStyled());
  t.false(params.includes(30) || params.includes(90), `no black or grey in the detail view: ${params.join(',')}`);

  const plain = Tmux.start(davtapUi(['--db', db, '--utc']).replace('LANG=C.UTF-8', 'LANG=C.UTF-8 NO_COLOR=1'), { width: 120, height: 24 });
  t.teardown(() => plain.kill());
  const screen = await plain.waitFor(/calendar-multiget/);
  t.deepEqual(colourParams(plain.captureStyled()), []);
  t.regex(screen, /E 0\/2 failed +E1 W1/);
  t.regex(screen, /W 2\/2 failed +W2/);
});

/** An xterm mouse report (X10 encoding) for column x, row y (0-based): button 0 press, 3 release, 64/65 wheel. */
const mouse = (button: number, x: number, y: number): string => `\u001b[M${String.fromCharCode(32 + button, 33 + x, 33 + y)}`;

test('the mouse: a click selects a flow, a click on the selected one opens it, the wheel scrolls', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, Array.from({ length: 60 }, (_, i) => plainGet(start + i * 1000, `/dav/file-${String(i).padStart(2, '0')}.txt`)));
  const term = Tmux.start(davtapUi(['--db', db, '--utc', '--no-follow']), { width: 100, height: 20 });
  t.teardown(() => term.kill());
  await term.waitFor(/file-00\.txt/);
  // Row 2 is the first flow: click the fourth one.
  term.type(mouse(0, 30, 5) + mouse(3, 30, 5));
  let screen = await term.waitFor(/ 4\/60 /);
  t.regex(screen, /60 flows +4\/60/);
  term.type(mouse(65, 30, 5));
  await term.waitFor(/ 7\/60 /);
  term.type(mouse(65, 30, 5));
  screen = await term.waitFor(/ 10\/60 /);
  t.regex(screen, /file-09\.txt/);
  const selected = screen.split('\n').findIndex((l) => l.includes('file-09.txt'));
  term.type(mouse(0, 30, selected) + mouse(3, 30, selected));
  screen = await term.waitFor(/GET http:\/\/127\.0\.0\.1:8081\/dav\/file-09\.txt/);
  t.regex(screen, /Summary +Findings/);
});

test('/ in the flow view searches the tab: the count in the tab line, n / N move and scroll, matches in reverse video', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/MKCOL/);
  // The truncated PROPFIND's Response tab: one getetag per member in a body far taller than the screen.
  term.send('g', 'j', 'j', 'Enter', '5');
  await term.waitFor(/HTTP\/1\.1 207 Multi-Status/);
  const expected = findMatches(wrapLines(renderTab(truncatedPropfind(start + 2000), 'Response', { width: 160 }), 159).map((l) => l.text), 'GetEtag').length;
  t.true(expected > 100);
  term.send('/');
  term.type('GetEtag');
  term.send('Enter');
  let screen = await term.waitFor(new RegExp(`/GetEtag 1/${expected} `));
  t.regex(screen.split('\n')[1]!, /Response .*\/GetEtag 1\/\d+ +lines 1-/);
  // eslint-disable-next-line no-control-regex
  t.regex(term.captureStyled(), /\u001b\[(?:[0-9;]*;)?7(?:;[0-9;]*)?m(?:\u001b\[[0-9;]*m)*getetag/);
  term.send('n');
  await term.waitFor(new RegExp(`/GetEtag 2/${expected} `));
  term.send('N', 'N');
  screen = await term.waitFor(new RegExp(`/GetEtag ${expected}/${expected} `));
  // The last match is far down the body: the view scrolled to it.
  t.notRegex(screen, /lines 1-/);
  t.regex(screen, /getetag/);
  // Esc clears the search; n is the next flow again.
  term.send('Escape');
  screen = await term.waitFor(/search cleared/);
  t.notRegex(screen, /\/GetEtag \d/);
  term.send('n');
  await term.waitFor(/<d:href>\/dav\/shared\/<\/d:href>/);
});

test('m cycles the body views of a gzip response: pretty, text and hex of the decoded copy, then the wire bytes; the tab line names the view', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [...sampleFlows(start), gzipPropfind(start + 5000)]);
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/\/dav\/zipped\//);
  // Follow mode starts on the newest flow: the gzip PROPFIND.
  term.send('Enter', '5');
  let screen = await term.waitFor(/Response \[pretty, decoded gzip\]/);
  t.regex(screen, /^ +<D:href>\/dav\/zipped\/<\/D:href>$/m);
  term.send('m');
  screen = await term.waitFor(/Response \[text, decoded gzip\]/);
  t.regex(screen, /^<D:response><D:href>\/dav\/zipped\/<\/D:href>/m);
  term.send('m');
  screen = await term.waitFor(/Response \[hex, decoded gzip\]/);
  t.regex(screen, /^00000000 {2}3c 3f 78 6d 6c 20 76 65 72 73 69 6f 6e 3d 22 31 {2}<\?xml version="1$/m);
  term.send('m');
  screen = await term.waitFor(/Response \[wire gzip\]/);
  t.regex(screen, /^00000000 {2}1f 8b 08 /m);
  t.notRegex(screen, /<D:href>/);
  // The Raw tab keeps the view where it has it (hex), and the cycle comes back to pretty.
  term.send('6');
  screen = await term.waitFor(/Raw \[text\]/);
  term.send('m');
  screen = await term.waitFor(/Raw \[hex\]/);
  t.regex(screen, /^00000000 {2}1f 8b 08 /m);
  term.send('5');
  await term.waitFor(/Response \[hex, decoded gzip\]/);
  term.send('m', 'm');
  await term.waitFor(/Response \[pretty, decoded gzip\]/);
});

test('m marks the selected flow (# in front of its row), ~marked lists the marked flows, m again unmarks', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, sampleFlows(start));
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/MKCOL/);
  // The cursor starts on the newest flow (MKCOL); one up is the DELETE.
  term.send('k', 'm');
  let screen = await term.waitFor(/marked DELETE/);
  t.regex(rowOf(screen, '/dav/shared/'), /^# +06:00:03\.000 +DELETE/);
  t.notRegex(rowOf(screen, '/dav/readme.txt'), /^#/);
  term.send('/');
  term.type('~marked');
  term.send('Enter');
  screen = await term.waitFor(/1 flows? matching ~marked/);
  t.regex(screen, /\/dav\/shared\//);
  t.false(screen.includes('MKCOL'));
  // The mark is in the database: another reader sees it too, and m again takes it away.
  term.send('m');
  screen = await term.waitFor(/unmarked DELETE/);
  t.notRegex(rowOf(screen, '/dav/shared/'), /^#/);
});
