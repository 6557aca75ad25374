// The terminal UI as a debugger, end to end: the built `./bin/davtap` in a real terminal (tmux) in
// front of the in-process WebDAV server. On a fresh clone: `npm ci && npm run tui-debugger` (builds
// first; needs tmux and curl). Prints one line, exits 1 when a check fails:
//
//   tui-debugger: header=ok honest-row=ok filters=ok search=… body-modes=… mouse=ok no-color=ok quit-confirm=ok intercept=ok replay=ok edit=ok hold-response=ok
//
// The flow list's items (header … no-color, and quit-confirm without held requests) are checked by
// bench/tui-list-checks.ts; quit-confirm is ok when both questions are.
//
// - intercept: `i ~m PUT`, a PUT is held (the server has no file) while a PROPFIND passes; `A`
//   releases it and the client gets 201 with the file written;
// - replay: `r` on the newest flow adds a replayed flow to the list and shows "207 → 207: same";
// - edit (with a scripted $EDITOR, a sed script): `e` on the PROPFIND sent with Depth: 1 instead
//   of 0 is recorded as its replay and shows the difference; `e` on a held PUT changes the body the
//   server stores (Content-Length recomputed, said so); an editor exiting 1 sends nothing;
// - hold-response: `i ~m PROPFIND & ~s`, a PROPFIND's 207 is held (a row: H, 207, [held response];
//   the client has nothing), `a` releases it and the client gets the server's 207 unchanged;
// - quit-confirm: `q` with a PUT held asks, `k` kills it (the client gets 502) and davtap exits 0.
import net from 'node:net';
import path from 'node:path';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { curl } from '../test/helpers/curl.js';
import { DAVTAP_BIN } from '../test/helpers/davtap-process.js';
import { firstHeader } from '../src/http/headers.js';
import { openReader } from '../src/store/index.js';
import { startDavServer } from '../test/helpers/webdav.js';
import { Tmux, sh } from '../test/ui/tmux.js';
import { listChecks } from './tui-list-checks.js';

const verbose = process.env.TUI_VERBOSE === '1';
const results: Record<string, string> = { intercept: 'FAIL', replay: 'FAIL', edit: 'FAIL', 'hold-response': 'FAIL', 'quit-confirm': 'FAIL' };
const code = async (args: string[]) => (await curl(['-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout.toString();

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

const dir = mkdtempSync(path.join(tmpdir(), 'davtap-tui-debugger-'));
const dav = await startDavServer();
const port = await freePort();
const proxy = `http://127.0.0.1:${port}`;
// The editor: a sed script read from the file `mode` beside it, or `fail` (exit 1).
const editor = path.join(dir, 'editor.sh');
const modeFile = path.join(dir, 'mode');
writeFileSync(editor, `#!/bin/sh\nmode=$(cat ${sh(modeFile)})\n[ "$mode" = fail ] && exit 1\nexec sed -i -e "$mode" "$1"\n`);
chmodSync(editor, 0o755);
const editWith = (mode: string) => writeFileSync(modeFile, mode);
const db = path.join(dir, 'flows.db');
const term = Tmux.start(
  `unset VISUAL; EDITOR=${sh(editor)} LANG=C.UTF-8 ${sh(DAVTAP_BIN)} --upstream ${sh(`${dav.url}/`)} --listen 127.0.0.1:${port} --db ${sh(db)} --ca-dir ${sh(path.join(dir, 'ca'))}; echo davtap-exit=$?; sleep 60`,
);
let step = 'start';
try {
  await term.waitFor(/No flows yet/, 30_000);

  step = 'intercept';
  term.send('i');
  await term.waitFor(/intercept: /, 5000);
  term.type('~m PUT');
  term.send('Enter');
  await term.waitFor(/\[intercept ~m PUT\]/, 5000);
  const put = code(['-X', 'PUT', '--data-binary', 'held', `${proxy}/dav/held.txt`]);
  await term.waitFor(/\[1 held: PUT /, 10_000);
  const notWritten = (await code([`${dav.url}/dav/held.txt`])) === '404';
  const othersPass = (await code(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy}/dav/`])) === '207';
  term.send('A');
  const released = (await put) === '201' && (await curl([`${dav.url}/dav/held.txt`])).stdout.toString() === 'held';
  results.intercept = notWritten && othersPass && released ? 'ok' : `FAIL(written-while-held=${!notWritten} others=${othersPass} released=${released})`;

  step = 'replay';
  await term.waitFor((s) => /2 flows/.test(s) && !/held:/.test(s), 10_000);
  // Follow mode: the newest flow (the PUT) is selected; the PROPFIND is one up.
  term.send('k', 'r');
  await term.waitFor(/207 → 207: same/, 20_000);
  term.send('x');
  await term.waitFor(/3 flows/, 10_000);
  results.replay = 'ok';

  step = 'edit';
  // The PROPFIND (Depth: 0) is still selected: sent again with Depth: 1, as its replay.
  editWith('s/^Depth: 0$/Depth: 1/');
  term.send('e');
  const diff = await term.waitFor(/Press any key to close/, 20_000);
  const differs = /207 → 207: \d+ differences?/.test(diff) && /1 → \d+ responses/.test(diff);
  term.send('x');
  await term.waitFor(/4 flows/, 10_000);
  const reader = openReader(db);
  const [edited, ...earlier] = reader.listFlows({ limit: 10 });
  const editedFlow = reader.getFlow(edited!.id);
  const linked = earlier.some((f) => f.id === edited!.replayOf && f.method === 'PROPFIND') && firstHeader(editedFlow!.request.rawHeaders, 'depth') === '1';
  reader.close();
  // A held PUT, edited: the server stores what the editor wrote.
  const heldPut = code(['-X', 'PUT', '--data-binary', 'before', `${proxy}/dav/edit.txt`]);
  await term.waitFor(/\[1 held: PUT /, 10_000);
  editWith('s/^before$/after/');
  // Its row comes after the recorded flows.
  term.send('G', 'e');
  const sent = await term.waitFor(/sent the edited PUT \/dav\/edit\.txt in place of the held one; Content-Length 6 → 5/, 15_000);
  const stored = (await heldPut) === '201' && (await curl([`${dav.url}/dav/edit.txt`])).stdout.toString() === 'after';
  await term.waitFor(/5 flows/, 10_000);
  // An editor that fails: nothing is sent.
  editWith('fail');
  term.send('e');
  const refused = await term.waitFor(/not sent: the editor \(.*\) exited with status 1/, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const nothingSent = /5 flows/.test(term.capture()) && /5 flows/.test(refused);
  results.edit = differs && linked && sent && stored && nothingSent ? 'ok' : `FAIL(diff=${differs} linked=${linked} held-stored=${stored} failing-editor-sent-nothing=${nothingSent})`;

  step = 'hold-response';
  // The prompt starts from the filter in force (~m PUT): cleared, then the response filter.
  const setIntercept = async (filter: string) => {
    term.send('i');
    await term.waitFor(/intercept: /, 5000);
    term.send(...Array<string>(24).fill('BSpace'));
    term.type(filter);
    term.send('Enter');
    await term.waitFor((s) => s.includes(`[intercept ${filter}]`), 5000);
  };
  await setIntercept('~m PROPFIND & ~s');
  let delivered = false;
  const heldPropfind = curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy}/dav/`], 60_000).then((r) => {
    delivered = true;
    return r;
  });
  await term.waitFor(/^H +\S+ +PROPFIND +207 +\[held response\] \/dav\//m, 15_000);
  await new Promise((r) => setTimeout(r, 300));
  const waited = !delivered;
  term.send('a');
  const client = await heldPropfind;
  const direct = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${dav.url}/dav/`]);
  const unchanged = client.code === 0 && client.stdout.equals(direct.stdout) && /multistatus/.test(client.stdout.toString());
  await term.waitFor((s) => !/\[held response/.test(s), 10_000);
  results['hold-response'] = waited && unchanged ? 'ok' : `FAIL(client-waited=${waited} delivered-unchanged=${unchanged})`;
  await setIntercept('~m PUT');

  step = 'quit-confirm';
  const killed = curl(['-sS', '-w', '\n%{http_code}', '-X', 'PUT', '--data-binary', 'never', `${proxy}/dav/never.txt`]);
  await term.waitFor(/\[1 held: PUT /, 10_000);
  term.send('q');
  await term.waitFor(/1 request is held by intercept/, 5000);
  term.send('k');
  const answer = (await killed).stdout.toString();
  const screen = await term.waitFor(/davtap-exit=\d+/, 15_000);
  const exited = /davtap-exit=0/.test(screen);
  results['quit-confirm'] = /502$/.test(answer) && exited && (await code([`${dav.url}/dav/never.txt`])) === '404' ? 'ok' : `FAIL(answer ${answer.slice(-3)}, ${exited ? 'exit 0' : 'no clean exit'})`;
} catch (err) {
  if (results[step] === 'FAIL') results[step] = 'FAIL(timeout)';
  if (verbose) process.stderr.write(`tui-debugger: ${step}: ${(err as Error).message}\n`);
} finally {
  term.kill();
  await dav.close();
  rmSync(dir, { recursive: true, force: true });
}

const list = await listChecks();
if (verbose) for (const n of list.notes) process.stderr.write(`tui-debugger: ${n}\n`);
const heldQuestion = results['quit-confirm'];
Object.assign(results, { ...list.results, ...results });
results['quit-confirm'] = list.results['quit-confirm'] === 'ok' ? heldQuestion! : `FAIL(quit question: ${list.results['quit-confirm']})`;
const ordered = Object.fromEntries(Object.keys(list.results).concat(['intercept', 'replay', 'edit', 'hold-response']).map((k) => [k, results[k]]));
process.stdout.write(`tui-debugger: ${Object.entries(ordered).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
// Items the UI does not have yet say so (missing) and do not fail the run.
process.exitCode = Object.values(ordered).every((v) => v === 'ok' || v === 'missing') ? 0 : 1;
