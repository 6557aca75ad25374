// The terminal UI's `w` / `W` keys (mitmproxy's save), in a real terminal (tmux): a report bundle lands in
// ./davtap-export-<time>/ of the directory the UI runs in, and the status bar says where.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tmux, sh } from '../ui/tmux.js';
import { tempDir, writeFlows } from '../ui/db.js';
import { captureFlow, refusedFlow } from './flows.js';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Resolved here: the UI runs in a temp dir, where a bare 'tsx' would not resolve.
const tsxLoader = import.meta.resolve('tsx');

test('w writes the selected or open flow, W the filtered list, each into its own directory', async (t) => {
  const { dir, cleanup } = tempDir('davtap-export-ui-');
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  const flows = [captureFlow('lighttpd-proppatch-protected', 0), captureFlow('nginx-propfind-d1-named', 1), refusedFlow(2)];
  await writeFlows(db, flows);
  const term = Tmux.start(`cd ${sh(dir)} && LANG=C.UTF-8 TZ=UTC node --import ${sh(tsxLoader)} ${sh(cli)} ui --db ${sh(db)} --utc; echo davtap-exit=$?; sleep 60`);
  t.teardown(() => term.kill());
  await term.waitFor(/3 flows/);

  // The first flow, from the list.
  term.send('g', 'w');
  let screen = await term.waitFor(/exported 1 flow to (\S+)\/report\.md/);
  const first = /exported 1 flow to (\S+)\/report\.md/.exec(screen)![1]!;
  t.is(path.dirname(first), dir);
  t.regex(path.basename(first), /^davtap-export-\d{8}-\d{6}(-\d+)?$/);
  t.true(readFileSync(path.join(first, 'report.md'), 'utf8').includes('## 001 · PROPPATCH /dav/b.txt'));
  t.false(existsSync(path.join(first, '002-request.http')));

  // The filtered list: only the 207s.
  term.send('/');
  await term.waitFor(/^\//m);
  term.type('~c 207');
  term.send('Enter');
  await term.waitFor(/2 flows match ~c 207/);
  term.send('W');
  screen = await term.waitFor(/exported 2 flows to (\S+)\/report\.md/);
  const filtered = /exported 2 flows to (\S+)\/report\.md/.exec(screen)![1]!;
  t.not(filtered, first);
  t.deepEqual(readdirSync(filtered).filter((f) => f.endsWith('-response.http')).sort(), ['001-response.http', '002-response.http']);

  // From the detail view of the second 207.
  term.send('G', 'Enter');
  await term.waitFor(/Summary +Findings/);
  term.send('w');
  screen = await term.waitFor(/exported 1 flow to (\S+)\/report\.md/);
  const detail = /exported 1 flow to (\S+)\/report\.md/.exec(screen)![1]!;
  t.true(readFileSync(path.join(detail, 'report.md'), 'utf8').includes('PROPFIND /dav/'));
  t.is(new Set([first, filtered, detail]).size, 3);

  term.send('q', 'q');
  screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /davtap-exit=0/);
});
