// The replay acceptance run, against the built CLI (`./bin/davtap` as child processes) and the
// in-process WebDAV server, on loopback, the databases in a temp dir removed at the end. On a fresh
// clone: `npm ci && npm run replay-check` (builds first). Prints one line, exits 1 when a check fails:
//
//   replay: same=ok differs=ok recorded=+N unknown=ok
//
// - same: flows recorded through davtap (MKCOL, two PUTs, a PROPFIND Depth 1), the PROPFIND replayed
//   to the same server: exit 0 and "same";
// - differs: the PROPFIND replayed --to a davtap that injects drop:getetag: exit 1, and the diff
//   names `D:getetag removed` on each file;
// - recorded: the database holds N more flows after both runs, each naming the flow it replayed;
// - unknown: `--flow` with an id the database does not hold: one line on stderr, exit 2.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openReader } from '../src/store/index.js';
import { curl } from '../test/helpers/curl.js';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../test/helpers/davtap-process.js';
import { startDavServer } from '../test/helpers/webdav.js';

const verbose = process.env.REPLAY_VERBOSE === '1';
const dir = mkdtempSync(path.join(tmpdir(), 'davtap-replay-check-'));
const db = path.join(dir, 'flows.db');

/** Runs `davtap replay` without blocking this process's event loop: the WebDAV server lives here. */
function replay(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DAVTAP_BIN, 'replay', '--db', db, ...args], { encoding: 'utf8', timeout: 60_000, env: withoutProxyEnv() }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      if (verbose) process.stderr.write(`$ davtap replay ${args.join(' ')} → ${code}\n${stdout}${stderr}`);
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

const flowCount = (): { all: number; replays: number } => {
  const s = openReader(db);
  try {
    const all = s.countFlows();
    const replays = s.listFlows({ limit: 1000 }).filter((r) => r.replayOf !== null).length;
    return { all, replays };
  } finally {
    s.close();
  }
};

const results: Record<string, string> = { same: 'FAIL', differs: 'FAIL', recorded: 'FAIL', unknown: 'FAIL' };
const dav = await startDavServer();
const stops: (() => Promise<unknown>)[] = [() => dav.close()];
try {
  const rec = await startDavtap(['--no-ui', '--listen', '127.0.0.1:0', '--upstream', dav.url, '--db', db]);
  stops.push(() => rec.stop());
  await curl(['-X', 'MKCOL', `${rec.url}/dav/r/`]);
  await curl(['-X', 'PUT', '--data-binary', 'one', `${rec.url}/dav/r/one.txt`]);
  await curl(['-X', 'PUT', '--data-binary', 'two', `${rec.url}/dav/r/two.txt`]);
  await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', `${rec.url}/dav/r/`]);
  await rec.stop();
  const before = flowCount();

  const same = await replay(['--filter', '~m PROPFIND']);
  results.same = same.code === 0 && /207 → 207: same/.test(same.out) ? 'ok' : `FAIL(exit ${same.code})`;

  const faulty = await startDavtap(['--no-ui', '--listen', '127.0.0.1:0', '--upstream', dav.url, '--db', path.join(dir, 'faulty.db'), '--inject', 'drop:getetag']);
  stops.push(() => faulty.stop());
  const differs = await replay(['--filter', '~m PROPFIND', '--to', faulty.url]);
  const named = [...differs.out.matchAll(/^ {2}~ (\S+): D:getetag removed/gm)].map((m) => m[1]);
  results.differs = differs.code === 1 && named.includes('/dav/r/one.txt') && named.includes('/dav/r/two.txt') ? 'ok' : `FAIL(exit ${differs.code}, named ${named.join(' ') || 'nothing'})`;

  const after = flowCount();
  const added = after.all - before.all;
  results.recorded = added === 2 && after.replays === 2 ? `+${added}` : `FAIL(+${added}, ${after.replays} linked)`;

  const unknown = await replay(['--flow', 'no-such-flow']);
  results.unknown = unknown.code === 2 && unknown.err.trimEnd().split('\n').length === 1 && /no flow with id 'no-such-flow'/.test(unknown.err) ? 'ok' : `FAIL(exit ${unknown.code})`;
} catch (err) {
  process.stderr.write(`replay-check: ${(err as Error).message}\n`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

process.stdout.write(`replay: ${Object.entries(results).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
process.exitCode = Object.values(results).every((v) => v === 'ok' || /^\+\d+$/.test(v)) ? 0 : 1;
