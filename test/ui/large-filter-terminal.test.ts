// `davtap ui --db FILE` over a capture of 200,000 flows, in a real terminal (tmux): a filter that
// must read every flow is counted in steps, the list saying so, and the keys work while it counts.
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/store/index.js';
import { Tmux, sh } from './tmux.js';
import { tempDir, writeFlows } from './db.js';
import { plainGet } from './flows.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const flows = 200_000;

function davtapUi(args: string[]): string {
  const cli = path.join(root, 'src/cli/main.ts');
  return `cd ${sh(root)} && LANG=C.UTF-8 TZ=UTC node --import tsx ${sh(cli)} ui ${args.map(sh).join(' ')}; echo davtap-exit=$?; sleep 60`;
}

/** One recorded flow, then copies of its row under new ids (the store's writer would take minutes). */
async function largeCapture(db: string): Promise<void> {
  await writeFlows(db, [plainGet(Date.UTC(2026, 10, 21, 6, 0, 0), '/dav/one.txt')]);
  const store = openStore(db);
  try {
    const columns = (store.db.prepare('PRAGMA table_info(flows)').all() as { name: string }[]).map((c) => c.name).filter((n) => n !== 'seq' && n !== 'id');
    const list = columns.map((c) => `"${c}"`).join(', ');
    store.db.exec(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${flows - 1}) ` +
        `INSERT INTO flows (id, ${list}) SELECT 'copy-' || n.i, ${columns.map((c) => `f."${c}"`).join(', ')} FROM n, flows f WHERE f.seq = 1`,
    );
  } finally {
    store.close();
  }
}

test('a filter that reads every one of 200,000 flows is counted while the keys still work, then shown exact', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  await largeCapture(db);
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  await term.waitFor(/200,000 flows/, 30_000);
  // Three regex codes over every flow's headers and URL, none matching: seconds of work.
  const filter = '~h no-such-header | ~d no-such-host | ~t no/such';
  term.send('/');
  term.type(filter);
  term.send('Enter');
  let screen = await term.waitFor(/Counting the flows that match/, 30_000);
  t.regex(screen, / [\d,]+\+ flows matching .* \(counting…\)/);
  t.regex(screen, /counting the flows: ~h no-such-header/);
  // The help opens while the count goes on.
  term.send('?');
  screen = await term.waitFor(/davtap — keys/, 10_000);
  t.regex(screen, /\(counting…\)/, 'the help answered before the count was done');
  term.send('x');
  screen = await term.waitFor(/No flow matches/, 120_000);
  t.regex(screen, / {3}0 flows matching ~h no-such-header \| ~d no-such-host \| ~t no\/such {3}/);
  t.notRegex(screen, /counting/);
  // A filter an index answers shows its rows and its count at once.
  term.send('/');
  term.type('~m GET');
  term.send('Enter');
  screen = await term.waitFor(/200,000 flows match ~m GET/, 30_000);
  t.regex(screen, /\/dav\/one\.txt/);
  term.send('q');
  screen = await term.waitFor(/davtap-exit=\d+/);
  t.regex(screen, /davtap-exit=0/);
});
