// `davtap sandwich` as a command, recording into a real store: both legs with their leg and pair
// link, the gateway differences on the front flow with blame gateway, the front flow's own
// findings that follow from them marked as consequences, and the exit status of a timed run.
import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { freePort, request } from '../helpers/apache.js';
import { startGateway, type GatewayBehaviour } from '../helpers/gateway.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';

let dav: DavServer;
let scratch: string;

test.before(async () => {
  dav = await startDavServer();
  await request(`${dav.url}/dav/docs/`, 'MKCOL');
  for (let i = 0; i < 4; i++) await request(`${dav.url}/dav/docs/f${i}.txt`, 'PUT', { body: `file ${i}\n` });
  scratch = await mkdtemp(path.join(tmpdir(), 'davtap-sandwich-'));
});

test.after.always(async () => {
  await dav?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function timedRun(behaviour: GatewayBehaviour, extra: string[] = []): Promise<{ code: number; err: string; db: string }> {
  const gw = await startGateway(behaviour);
  const [front, back] = [await freePort(), await freePort()];
  gw.upstream = new URL(`http://127.0.0.1:${back}/`);
  const db = path.join(scratch, `${behaviour}-${front}.db`);
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
  const io: CliIO = { stdout: sink(() => {}), stderr: sink((s) => (err += s)), env: {}, cwd: scratch };
  const running = main(['sandwich', '--listen', `127.0.0.1:${front}`, '--gateway', gw.url, '--back-listen', `127.0.0.1:${back}`, '--origin', dav.url, '--db', db, '--no-ui', '--ca-dir', path.join(scratch, 'ca'), '--duration', '4', ...extra], io);
  // Clients once both listeners are up (the start-up line says so).
  for (let i = 0; i < 400 && !err.includes('davtap sandwich: clients'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!err.includes('davtap sandwich: clients')) throw new Error(`not started: ${err}`);
  for (const p of ['/dav/', '/dav/docs/']) await request(`http://127.0.0.1:${front}${p}`, 'PROPFIND', { headers: { Depth: '1' } }).catch(() => undefined);
  await request(`http://127.0.0.1:${front}/gateway-status`, 'GET');
  const code = await running;
  await gw.close();
  return { code, err, db };
}

type Row = { id: string; leg: string | null; paired_with: string | null; path: string };

test.serial('an honest gateway: both legs recorded and linked, zero gateway differences, exit 0', async (t) => {
  const r = await timedRun('honest');
  t.is(r.code, 0, r.err);
  t.regex(r.err, /davtap sandwich: 2 pairs compared, 0 with gateway differences; 1 front flows the gateway answered itself; 0 back flows/);
  const raw = new Database(r.db, { readonly: true });
  t.teardown(() => raw.close());
  const rows = raw.prepare('SELECT id, leg, paired_with, path FROM flows ORDER BY seq').all() as Row[];
  const fronts = rows.filter((x) => x.leg === 'front');
  const backs = rows.filter((x) => x.leg === 'back');
  t.is(fronts.length, 3);
  t.is(backs.length, 2);
  t.deepEqual(fronts.filter((f) => f.paired_with !== null).map((f) => f.paired_with).sort(), backs.map((b) => b.id).sort());
  t.is(fronts.find((f) => f.path === '/gateway-status')!.paired_with, null);
  t.is((raw.prepare("SELECT count(*) AS n FROM findings WHERE rule LIKE 'MS8%'").get() as { n: number }).n, 0);
  // The exports carry the legs and the pair link.
  let out = '';
  const io: CliIO = { stdout: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }), stderr: new Writable({ write: (_c, _e, cb) => cb() }), env: {}, cwd: scratch };
  t.is(await main(['export', '--db', r.db, '--jsonl'], io), 0);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; leg: string | null; pairedWith: string | null });
  t.deepEqual(lines.map((l) => [l.id, l.leg, l.pairedWith]), rows.map((x) => [x.id, x.leg, x.paired_with]));
});

test.serial('a gateway that cuts 207s: MS806 with blame gateway on each front flow, its knock-ons marked, and --fail-on truncation exits 1', async (t) => {
  const r = await timedRun('cut', ['--fail-on', 'truncation']);
  t.is(r.code, 1, r.err);
  t.regex(r.err, /davtap sandwich: 2 gateway differences reach --fail-on, e\.g\. via: \d+ of \d+ responses, body cut at/);
  const raw = new Database(r.db, { readonly: true });
  t.teardown(() => raw.close());
  const found = raw
    .prepare("SELECT f.leg, x.rule, x.blame, x.consequence_of FROM findings x JOIN flows f ON f.seq = x.flow_seq WHERE x.rule = 'MS806'")
    .all() as { leg: string; rule: string; blame: string; consequence_of: string | null }[];
  t.deepEqual(found.map((x) => [x.leg, x.blame, x.consequence_of]), [['front', 'gateway', null], ['front', 'gateway', null]]);
  // The front flow's own transport finding of the cut is its consequence, not a second root cause.
  const own = raw.prepare("SELECT x.rule, x.consequence_of FROM findings x JOIN flows f ON f.seq = x.flow_seq WHERE f.leg = 'front' AND x.rule = 'MS001'").all() as { consequence_of: string | null }[];
  t.true(own.length >= 1);
  t.true(own.every((x) => x.consequence_of === 'MS806'));
  t.is((raw.prepare("SELECT count(*) AS n FROM findings x JOIN flows f ON f.seq = x.flow_seq WHERE f.leg = 'back' AND (x.rule LIKE 'MS8%' OR x.category = 'truncation')").get() as { n: number }).n, 0, 'the origin answered intact');
});

test('usage errors are one line with exit 2', async (t) => {
  for (const [args, words] of [
    [['--gateway', 'http://127.0.0.1:1/', '--origin', 'http://127.0.0.1:2/'], /--back-listen HOST:PORT is required/],
    [['--back-listen', '127.0.0.1:9', '--origin', 'http://127.0.0.1:2/'], /--gateway URL is required/],
    [['--back-listen', '127.0.0.1:9', '--gateway', 'http://127.0.0.1:1/', '--origin', 'http://127.0.0.1:2/', '--fail-on', 'error'], /--fail-on needs --duration SECONDS/],
    [['--back-listen', '127.0.0.1:9', '--gateway', 'http://127.0.0.1:1/', '--origin', 'http://127.0.0.1:2/', '--duration', '1', '--fail-on', 'loud'], /--fail-on 'loud' is neither a severity/],
    [['--back-listen', '127.0.0.1:9', '--gateway', 'http://127.0.0.1:1/', '--origin', 'http://127.0.0.1:2/', '--map', 'dav=/remote.php/dav/'], /--map 'dav=\/remote.php\/dav\/' must be FRONT_PREFIX=BACK_PREFIX/],
  ] as [string[], RegExp][]) {
    let err = '';
    const io: CliIO = { stdout: new Writable({ write: (_c, _e, cb) => cb() }), stderr: new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }), env: {}, cwd: scratch };
    t.is(await main(['sandwich', ...args], io), 2, err);
    t.regex(err, words);
    t.is(err.trim().split('\n').length, 1);
  }
});
