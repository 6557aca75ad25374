// `davtap export` from a database on read-only media: a read-only file in a directory nobody may
// write, where SQLite cannot create the -wal and -shm files a WAL database is normally read through.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { withoutProxyEnv } from '../helpers/davtap-process.js';
import { captureFlow, refusedFlow } from '../export/flows.js';
import { writeFlows } from '../ui/db.js';
import { tempDir } from '../store/temp.js';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const SETPRIV = '/usr/bin/setpriv';
const NOBODY = 65534;

/** A database written by the store's writer and closed cleanly, then made read-only: file 0444, directory 0555. */
async function readOnlyDb(t: Parameters<typeof tempDir>[0]): Promise<{ db: string; dir: string }> {
  const dir = path.join(tempDir(t), 'media');
  fs.mkdirSync(dir);
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [captureFlow('nginx-propfind-d1-named', 0), refusedFlow(1)]);
  t.deepEqual(fs.readdirSync(dir), ['flows.db'], 'a clean close leaves the main file only');
  fs.chmodSync(db, 0o444);
  fs.chmodSync(dir, 0o555);
  // Writable again afterwards, so that the temporary directory can be removed by a non-root user.
  t.teardown(() => fs.chmodSync(dir, 0o755));
  return { db, dir };
}

async function exportInProcess(cwd: string, args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await main(['export', ...args], { stdout: sink(() => {}), stderr: sink((s) => (err += s)), env: {}, cwd });
  return { code, err };
}

test('export reads a database on read-only media and creates nothing beside it', async (t) => {
  const { db, dir } = await readOnlyDb(t);
  const before = sha(db);
  const out = tempDir(t);
  const har = await exportInProcess(out, ['--db', db, '--har', 'trace.har']);
  t.is(har.code, 0, har.err);
  const report = await exportInProcess(out, ['--db', db, '--report', 'bundle']);
  t.is(report.code, 0, report.err);
  const entries = (JSON.parse(fs.readFileSync(path.join(out, 'trace.har'), 'utf8')) as { log: { entries: unknown[] } }).log.entries;
  t.is(entries.length, 2);
  t.true(fs.existsSync(path.join(out, 'bundle', 'report.md')));
  t.deepEqual(fs.readdirSync(dir), ['flows.db'], 'no -wal, -shm or journal beside the database');
  t.is(sha(db), before, 'the database is byte for byte as it was');
});

// Root ignores permission bits, so as root the test above cannot tell a read-only directory from a
// writable one. Run as an unprivileged user, it can: there SQLite's usual read-only open fails, as
// on real read-only media. As root, the export runs as `nobody` through util-linux's setpriv.
test('an unprivileged user exports from a directory it may not write', async (t) => {
  const root = process.getuid?.() === 0;
  if (root && !fs.existsSync(SETPRIV)) {
    t.log(`running as root without ${SETPRIV}: covered by the test above only`);
    t.pass();
    return;
  }
  const { db, dir } = await readOnlyDb(t);
  const out = tempDir(t);
  // The way there must be open to the unprivileged user, the database directory itself not.
  for (let d = path.dirname(dir); d !== path.dirname(d) && root; d = path.dirname(d)) if ((fs.statSync(d).mode & 0o005) !== 0o005) fs.chmodSync(d, fs.statSync(d).mode | 0o005);
  if (root) fs.chownSync(out, NOBODY, NOBODY);
  const asUser = (file: string, args: string[]): [string, string[]] =>
    root ? [SETPRIV, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', file, ...args]] : [file, args];
  const run = (file: string, args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      const [cmd, argv] = asUser(file, args);
      execFile(cmd, argv, { cwd: out, env: { ...withoutProxyEnv(), HOME: out }, timeout: 60_000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
      );
    });

  // The honest part: this user really cannot create files beside the database.
  const probe = await run(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'probe'))}, '')`]);
  t.not(probe.code, 0, 'the directory is not writable for this user');
  t.regex(probe.stderr, /EACCES|EROFS|EPERM/);

  const r = await run(process.execPath, ['--import', tsxLoader, mainTs, 'export', '--db', db, '--jsonl', 'flows.jsonl']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readFileSync(path.join(out, 'flows.jsonl'), 'utf8').trim().split('\n').length, 2);
  t.deepEqual(fs.readdirSync(dir), ['flows.db']);

  // A live reader (the UI's) tries SQLite's usual way first, and falls back to the same immutable read.
  const storeTs = fileURLToPath(new URL('../../src/store/index.ts', import.meta.url));
  const live = `import { openReader } from ${JSON.stringify(storeTs)}; const r = openReader(${JSON.stringify(db)}); if (r.countFlows(null) !== 2) process.exit(3); r.close();`;
  const ui = await run(process.execPath, ['--import', tsxLoader, '--input-type=module', '-e', live]);
  t.is(ui.code, 0, ui.stderr);
  t.deepEqual(fs.readdirSync(dir), ['flows.db']);
});
