// The terminal UI as a user sees it in front of a real Apache mod_dav: davtap runs in tmux, curl
// sends a PROPFIND and a DELETE over a locked member (Apache answers 424 with a multistatus), and
// the screen must show both flows, the failure summary, and the ledger naming the locked member.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApache, freePort, type ApacheServer } from '../helpers/apache.js';
import { curl } from '../helpers/curl.js';
import { Tmux, sh } from '../ui/tmux.js';

const bin = fileURLToPath(new URL('../../bin/davtap', import.meta.url));
const LOCK_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner>ui test</D:owner></D:lockinfo>\n';

let apache: ApacheServer | undefined;
let work = '';

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-ui-apache-'));
  apache = await startApache();
  await apache.mkcol('/shared/');
  await apache.put('/shared/keep.txt', 'locked member\n');
  await apache.put('/shared/other.txt', 'other\n');
});

test.after.always(async () => {
  await apache?.stop();
  await rm(work, { recursive: true, force: true });
});

test('the UI shows a PROPFIND and a refused DELETE over a locked member, with the ledger', async (t) => {
  const port = await freePort();
  const db = path.join(work, 'flows.db');
  const term = Tmux.start(`${sh(process.execPath)} ${sh(bin)} --upstream ${sh(apache!.url)} --listen 127.0.0.1:${port} --db ${sh(db)}`, { width: 160, height: 40 });
  t.teardown(() => term.kill());
  await term.waitFor(/^davtap +reverse .* db \S*flows\.db/m);
  const base = `http://127.0.0.1:${port}`;

  const propfind = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', '-o', '/dev/null', '-w', '%{http_code}', `${base}/shared/`]);
  t.is(propfind.stdout.toString(), '207');
  const lock = await curl(['-X', 'LOCK', '-H', 'Content-Type: application/xml', '--data-binary', LOCK_BODY, '-o', '/dev/null', '-w', '%{http_code}', `${base}/shared/keep.txt`]);
  t.is(lock.stdout.toString(), '200');
  const del = await curl(['-X', 'DELETE', '-w', '\n%{http_code}', `${base}/shared/`]);
  t.regex(del.stdout.toString(), /423 Locked[\s\S]*\n424$/);

  // The list: all three flows; the DELETE row says its one resource failed.
  const list = await term.waitFor((s) => /DELETE +424 +\/shared\//.test(s) && /PROPFIND +207 +\/shared\//.test(s), 20_000);
  t.regex(list, /DELETE +424 +\/shared\/ .*1\/1 failed/);
  t.regex(list, /PROPFIND +207 +\/shared\/ .*0\/3 failed|PROPFIND +207 +\/shared\/ .*3 ok/);

  // Open the DELETE (the newest, selected in follow mode) and go to its ledger.
  term.send('G', 'Enter');
  const summary = await term.waitFor(/Summary +Findings.*Resources/);
  t.regex(summary, /424 Failed Dependency/);
  t.regex(summary, /1 of 1 resource failed \(423/);
  term.send('3');
  const ledger = await term.waitFor(/\/shared\/keep\.txt/, 10_000);
  t.regex(ledger, /423 +\/shared\/keep\.txt/);

  // Findings tab: the partial failure is named (MS501) with the locked member.
  term.send('2');
  const findings = await term.waitFor(/MS501/, 10_000);
  t.regex(findings, /MS501/);

  term.send('q', 'q');
  await term.waitFor((s) => !/Summary +Findings.*Resources/.test(s) || /EXIT|\$ *$/.test(s), 10_000).catch(() => '');
});
