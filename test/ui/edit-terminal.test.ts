// `e` and `D` in the terminal UI: the proxy in a real terminal (tmux) in front of the in-process
// WebDAV server, with a scripted $EDITOR (a shell script that edits the file with sed, or fails, as
// a file next to it says). An edited PROPFIND is recorded as a replay of its original with the
// Depth the editor wrote; an editor exiting non-zero, or a head that no longer parses, sends nothing.
import test from 'ava';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { firstHeader } from '../../src/http/headers.js';
import { openReader } from '../../src/store/index.js';
import { curl } from '../helpers/curl.js';
import { tempDir } from './db.js';
import { startLiveProxy } from './live-proxy.js';
import { sh } from './tmux.js';



/** An $EDITOR that does what the file `mode` beside it says (a sed script to apply, or `fail`) and keeps a copy of what it saved. */
function scriptedEditor(dir: string): { editor: string; mode(what: string): void; lastSaved(): string } {
  const editor = path.join(dir, 'editor.sh');
  const modeFile = path.join(dir, 'mode');
  const saved = path.join(dir, 'saved.http');
  writeFileSync(editor, `#!/bin/sh\nmode=$(cat ${sh(modeFile)})\n[ "$mode" = fail ] && exit 1\nsed -i -e "$mode" "$1" && cp "$1" ${sh(saved)}\n`);
  chmodSync(editor, 0o755);
  return { editor, mode: (what) => writeFileSync(modeFile, what), lastSaved: () => readFileSync(saved, 'utf8') };
}

const flowCount = (screen: string) => Number(/(\d+) flows?\b/.exec(screen)?.[1] ?? -1);

test('e sends an edited PROPFIND as a replay of it (Depth changed, linked, diff shown); D sends a copy of its own; a failing editor or a bad head sends nothing', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { editor, mode, lastSaved } = scriptedEditor(dir);
  const { db, term, proxy } = await startLiveProxy(t, { dir, env: `unset VISUAL; EDITOR=${sh(editor)}` });
  t.is((await curl(['-X', 'PUT', '--data-binary', 'hello', `${proxy}/dav/r.txt`])).code, 0);
  // A credential (a cookie: the in-process server ignores it): masked in the editor, sent as recorded.
  t.is((await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Cookie: sid=c2VjcmV0', `${proxy}/dav/`])).code, 0);
  await term.waitFor(/2 flows/, 10_000);

  // The editor exits 1: nothing is sent.
  mode('fail');
  term.send('e');
  let screen = await term.waitFor(/not sent: the editor \(.*\) exited with status 1/, 10_000);
  t.is(flowCount(screen), 2);

  // A header without its colon: a one-line error naming the line, nothing sent.
  mode('s/^Depth: 1/Depth 0/');
  term.send('e');
  screen = await term.waitFor(/not sent: line \d+: 'Depth 0' has no colon/, 10_000);
  t.is(flowCount(screen), 2);

  // Depth 1 → 0 (the selected PROPFIND, the newest: follow mode); e again opens the text that
  // failed, so the fix is applied to it.
  mode('s/^Depth 0/Depth: 0/');
  term.send('e');
  screen = await term.waitFor(/Press any key to close/, 20_000);
  t.regex(screen, /PROPFIND http:\/\/127\.0\.0\.1:\d+\/dav\/ +207 → 207: \d+ differences? +\(flow [0-9a-f-]+ replayed as/);
  t.regex(screen, /2 → 1 responses/);
  term.send('x');
  screen = await term.waitFor(/3 flows/, 10_000);

  const reader = openReader(db);
  t.teardown(() => reader.close());
  const [edited, original] = reader.listFlows({ limit: 2 });
  t.is(edited!.replayOf, original!.id);
  const editedFlow = reader.getFlow(edited!.id)!;
  t.is(firstHeader(editedFlow.request.rawHeaders, 'depth'), '0');
  t.regex(lastSaved(), /^Cookie: \[redacted\]$/m);
  t.false(lastSaved().includes('c2VjcmV0'), 'the credential never reaches the editor');
  t.is(firstHeader(editedFlow.request.rawHeaders, 'cookie'), 'sid=c2VjcmV0');
  t.is(firstHeader(reader.getFlow(original!.id)!.request.rawHeaders, 'depth'), '1');

  // D on the original: a copy sent as a new flow of its own (no replay link).
  mode('s/^Depth: 1/Depth: 0/');
  term.send('k', 'D');
  screen = await term.waitFor(/sent a copy of PROPFIND \/dav\/ as flow [0-9a-f]{8}: 207/, 20_000);
  await term.waitFor(/4 flows/, 10_000);
  const [copy] = reader.listFlows({ limit: 1 });
  t.is(copy!.replayOf, null);
  const copyFlow = reader.getFlow(copy!.id)!;
  t.is(firstHeader(copyFlow.request.rawHeaders, 'depth'), '0');

  // Unchanged: not sent.
  mode('s/^NOTHING//');
  term.send('e');
  screen = await term.waitFor(/not sent: the request was not changed/, 10_000);
  t.is(flowCount(screen), 4);

  term.send('q');
  await term.waitFor(/Quit davtap\? \(y\/n\)/);
  term.send('y');
  screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  t.regex(screen, /davtap-exit=0/);
});

test('e on a held PUT: the edited request (body and target) is what the server receives, then it is released', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { editor, mode } = scriptedEditor(dir);
  const { db, dav, term, proxy } = await startLiveProxy(t, { dir, env: `unset VISUAL; EDITOR=${sh(editor)}` });

  term.send('i');
  await term.waitFor(/intercept: /, 5000);
  term.type('~m PUT');
  term.send('Enter');
  await term.waitFor(/\[intercept ~m PUT\]/, 5000);

  // A body larger than one read, so that the relay has to read it while holding the request.
  const original = `${'original line\n'.repeat(8000)}end\n`;
  const bodyFile = path.join(dir, 'body.txt');
  writeFileSync(bodyFile, original);
  const put = curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', `@${bodyFile}`, `${proxy}/dav/held.txt`]);
  await term.waitFor(/\[1 held: PUT /, 10_000);

  // An editor that fails leaves it held and sends nothing.
  // The held row (after the recorded flows) is selected with G.
  mode('fail');
  term.send('G', 'e');
  await term.waitFor(/not sent: the editor \(.*\) exited with status 1/, 15_000);
  t.regex(term.capture(), /\[1 held: PUT /);
  t.is((await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${dav.url}/dav/held.txt`])).stdout.toString(), '404');

  // The edit: another target and a shorter body (Content-Length recomputed).
  mode('1s|/dav/held.txt|/dav/edited.txt|; s/^original line$/edited/');
  term.send('G', 'e');
  const screen = await term.waitFor(/sent the edited PUT \/dav\/held\.txt in place of the held one; Content-Length \d+ → \d+/, 15_000);
  t.regex(screen, /Content-Length 112004 → 56004/);
  t.is((await put).stdout.toString(), '201');
  const stored = (await curl(['-sS', `${dav.url}/dav/edited.txt`])).stdout.toString();
  t.is(stored, `${'edited\n'.repeat(8000)}end\n`);
  t.is((await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${dav.url}/dav/held.txt`])).stdout.toString(), '404', 'the original target was never written');

  // The flow records what was sent.
  await term.waitFor(/1 flow\b/, 10_000);
  const reader = openReader(db);
  t.teardown(() => reader.close());
  const [row] = reader.listFlows({ limit: 1 });
  const flow = reader.getFlow(row!.id)!;
  t.is(flow.request.target, '/dav/edited.txt');
  t.is(flow.request.body.bytes.toString(), stored);
  t.is(firstHeader(flow.request.rawHeaders, 'content-length'), String(Buffer.byteLength(stored)));
  t.is(flow.response?.status, 201);

  term.send('q');
  await term.waitFor(/Quit davtap\? \(y\/n\)/);
  term.send('y');
  t.regex(await term.waitFor(/davtap-exit=\d+/, 15_000), /davtap-exit=0/);
});
