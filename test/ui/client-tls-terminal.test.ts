// `davtap ui` in a real terminal (tmux): a TLS client connection is marked in the list, and the
// flow's Summary says which side was TLS.
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Flow } from '../../src/types.js';
import { tempDir, writeFlows } from './db.js';
import { plainGet, propfindWithFailures } from './flows.js';
import { Tmux, sh } from './tmux.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const start = Date.UTC(2026, 10, 21, 6, 0, 0);

function davtapUi(args: string[]): string {
  const cli = path.join(root, 'src/cli/main.ts');
  return `cd ${sh(root)} && LANG=C.UTF-8 TZ=UTC node --import tsx ${sh(cli)} ui ${args.map(sh).join(' ')}; echo davtap-exit=$?; sleep 60`;
}

const rowOf = (screen: string, needle: string): string => screen.split('\n').find((l) => l.includes(needle)) ?? '';

test('the list marks TLS clients with T, aligned with plain rows; the Summary names both sides', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  const plain = plainGet(start);
  const pf = propfindWithFailures(start + 1000);
  const tls: Flow = {
    ...pf,
    client: { address: '127.0.0.1', port: 5123, tls: { sni: 'dav.example' } },
    request: { ...pf.request, url: pf.request.url.replace('http://127.0.0.1:8081', 'https://dav.example.org') },
  };
  await writeFlows(db, [plain, tls]);
  const term = Tmux.start(davtapUi(['--db', db, '--utc']));
  t.teardown(() => term.kill());
  const screen = await term.waitFor(/PROPFIND/);
  const plainRow = rowOf(screen, '/dav/readme.txt');
  const tlsRow = rowOf(screen, '/dav/projects/');
  t.regex(plainRow, /^ {3}06:00:00\.000 {3}GET +200 +\/dav\/readme\.txt/);
  t.regex(tlsRow, /^ {3}06:00:01\.000 T PROPFIND +207 +\/dav\/projects\//);
  t.is(tlsRow.indexOf('/dav/'), plainRow.indexOf('/dav/'), 'the path column starts at the same place');
  t.is(tlsRow.indexOf('207'), plainRow.indexOf('200'), 'the status column too');

  // Follow mode starts on the newest flow: the TLS one.
  term.send('Enter');
  const detail = await term.waitFor(/over TLS/);
  t.regex(detail, /client +127\.0\.0\.1:5123 over TLS \(SNI dav\.example\)/);
  t.regex(detail, /upstream +https:\/\/dav\.example\.org over TLS/);
  term.send('q', 'k', 'Enter');
  const plainDetail = await term.waitFor(/GET http:\/\/127\.0\.0\.1:8081\/dav\/readme\.txt/);
  t.regex(plainDetail, /client +127\.0\.0\.1:\d+, plain HTTP/);
  t.regex(plainDetail, /upstream +http:\/\/127\.0\.0\.1:8081, plain HTTP/);
});
