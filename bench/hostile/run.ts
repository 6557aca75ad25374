// The hostile-input acceptance run: each check against a real davtap (the built CLI), one line of
// results. On a fresh clone: `npm ci && npm run hostile`.
//
// Prints `hostile: one-packet=alive infinite-207-peak=N MB held=N MB gzip-bomb-cpu=Ns half-close=ok
// open-proxy=refused redaction=ok` and exits 1 when any check fails (each script sets its own
// bound: peak ≤ 400 MB, held ≤ 250 MB, bomb CPU ≤ 2 s).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const here = import.meta.dirname;
const run = (script: string): { out: string; ok: boolean } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, script)], { encoding: 'utf8', timeout: 10 * 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0 && r.stderr) process.stderr.write(`${script}: ${r.stderr.trim()}\n`);
  return { out: (r.stdout ?? '').trim().split('\n').pop() ?? '', ok: r.status === 0 };
};

const wire = run('wire.ts');
const onePacket = /one-packet=\S+/.exec(wire.out)?.[0] ?? 'one-packet=FAIL';
const halfClose = /half-close=\S+/.exec(wire.out)?.[0] ?? 'half-close=FAIL';
const infinite = run('infinite-207.ts');
const bomb = run('gzip-bomb.ts');
const openProxy = run('open-proxy.ts');
const redaction = run('redaction.ts');
const parts = [onePacket, infinite.out || 'infinite-207=FAIL', bomb.out || 'gzip-bomb-cpu=FAIL', halfClose, openProxy.out || 'open-proxy=FAIL', redaction.out || 'redaction=FAIL'];
process.stdout.write(`hostile: ${parts.join(' ')}\n`);
process.exitCode = [wire, infinite, bomb, openProxy, redaction].every((r) => r.ok) ? 0 : 1;
