// The exit statuses are a contract with scripts and CI jobs: the README's table lists exactly the
// statuses davtap exits with and the error codes behind each, and the code exits with no status
// outside the table. A change on either side without the other fails here.
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { errorCodes, exitStatuses } from '../src/errors.js';

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

function readmeExits(): Map<number, { codes: string[]; meaning: string }> {
  const begin = readme.indexOf('<!-- exits:begin -->');
  const end = readme.indexOf('<!-- exits:end -->');
  if (begin < 0 || end < begin) throw new Error('README has no exits:begin/exits:end section');
  const rows = new Map<number, { codes: string[]; meaning: string }>();
  for (const line of readme.slice(begin, end).split('\n')) {
    const m = /^\| `(\d+)` \|([^|]*)\| (.+) \|$/.exec(line);
    if (m) rows.set(Number(m[1]), { codes: [...m[2]!.matchAll(/`([A-Z_]+)`/g)].map((c) => c[1]!), meaning: m[3]!.trim() });
  }
  return rows;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

test('the README exit table lists exactly the statuses of the code, each with its meaning', (t) => {
  const table = readmeExits();
  t.deepEqual([...table.keys()].sort((a, b) => a - b), Object.keys(exitStatuses).map(Number));
  for (const [status, meaning] of Object.entries(exitStatuses)) t.is(table.get(Number(status))?.meaning, meaning, `status ${status}`);
});

test('each error code is listed under the status it exits with, and the README names no other', (t) => {
  const table = readmeExits();
  for (const [code, { exit }] of Object.entries(errorCodes)) t.true(table.get(exit)?.codes.includes(code), `${code} under ${exit}`);
  const listed = [...table.entries()].flatMap(([status, row]) => row.codes.map((code) => [code, status] as const));
  for (const [code, status] of listed) t.is(errorCodes[code as keyof typeof errorCodes]?.exit as number | undefined, status, `README lists ${code} under ${status}`);
});

test('the process exits with no status outside the table', (t) => {
  const used = new Set<number>();
  for (const file of [...sources(path.join(root, 'src')), path.join(root, 'bin/davtap')]) {
    const text = readFileSync(file, 'utf8');
    // A worker thread's process.exit() ends the thread, not davtap.
    if (/from 'node:worker_threads'/.test(text) && /parentPort/.test(text)) continue;
    for (const m of text.matchAll(/process\.exit\((\d+)\)|process\.exitCode = (\d+)/g)) used.add(Number(m[1] ?? m[2]));
    if (file.includes(`${path.sep}cli${path.sep}`)) {
      // A command's run() returns its status: the literals it returns.
      for (const m of text.matchAll(/\breturn (\d+);|\? (\d+) : (\d+);/g)) for (const n of m.slice(1)) if (n !== undefined) used.add(Number(n));
    }
  }
  t.true(used.size >= 4, `found ${[...used].join(', ')}`);
  for (const status of used) t.true(status in exitStatuses, `status ${status} is exited with but not in the table`);
});
