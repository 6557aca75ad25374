// davtap replay against Debian's Apache mod_dav: flows recorded through the built davtap, replayed
// to Apache itself (nothing differs) and to a davtap in front of it that drops getetag (the diff
// names exactly that, on each resource that had one).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApache } from '../helpers/apache.js';
import { curl } from '../helpers/curl.js';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../helpers/davtap-process.js';

function replay(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DAVTAP_BIN, 'replay', ...args], { encoding: 'utf8', timeout: 60_000, env: withoutProxyEnv() }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, out: stdout, err: stderr });
    });
  });
}

test('replayed to Apache itself nothing differs; through drop:getetag the diff names getetag removed on each resource', async (t) => {
  const apache = await startApache();
  t.teardown(() => apache.stop());
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-replay-apache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'flows.db');
  const base = apache.url.replace(/\/$/, '');
  const rec = await startDavtap(['--no-ui', '--listen', '127.0.0.1:0', '--upstream', base, '--db', db]);
  t.teardown(() => rec.stop().then(() => undefined));
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'MKCOL', `${rec.url}/rp/`])).stdout.toString(), '201');
  for (const name of ['a.txt', 'b.txt']) await curl(['-X', 'PUT', '--data-binary', name, `${rec.url}/rp/${name}`]);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${rec.url}/rp/`]);
  await rec.stop();

  const same = await replay(['--db', db, '--filter', '~m PROPFIND']);
  t.is(same.code, 0, same.out + same.err);
  t.regex(same.out, /207 → 207: same/);

  const faulty = await startDavtap(['--no-ui', '--listen', '127.0.0.1:0', '--upstream', base, '--db', path.join(dir, 'faulty.db'), '--inject', 'drop:getetag']);
  t.teardown(() => faulty.stop().then(() => undefined));
  const differs = await replay(['--db', db, '--filter', '~m PROPFIND', '--to', faulty.url]);
  t.is(differs.code, 1, differs.out + differs.err);
  t.deepEqual([...differs.out.matchAll(/^ {2}~ (\S+): D:getetag removed/gm)].map((m) => m[1]).sort(), ['/rp/', '/rp/a.txt', '/rp/b.txt']);
  t.deepEqual(differs.out.split('\n').filter((l) => /^ {2}[-+~] \//.test(l) && !/getetag removed/.test(l)), []);
});
