// `davtap rules` prints the catalogue the analyzer uses, and the README's rule table (tested
// against the same catalogue in test/analysis/catalogue.test.ts) says the same.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { rules } from '../../src/analysis/analyzer.js';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const io: CliIO = { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd: process.cwd() };
  const code = await main(args, io);
  return { code, out, err };
}

interface Row { id: string; category: string; severity: string; blame: string; title: string }

test('--json lists every rule of the catalogue with its category, severity, blame and title', async (t) => {
  const r = await run(['rules', '--json']);
  t.is(r.code, 0);
  const listed = (JSON.parse(r.out) as { rules: Row[] }).rules;
  t.deepEqual(listed.map((x) => x.id), Object.keys(rules).sort());
  for (const row of listed) t.deepEqual(row, { id: row.id, category: rules[row.id]!.category, severity: rules[row.id]!.severity, blame: rules[row.id]!.blame, title: rules[row.id]!.title });
  t.is(listed.find((x) => x.id === 'MS110')?.blame, 'client');
  t.is(listed.find((x) => x.id === 'MS604')?.blame, 'client');
});

test('the text table has one line per rule, and the README rule table agrees with it on severity and blame', async (t) => {
  const r = await run(['rules']);
  t.is(r.code, 0);
  const lines = r.out.trimEnd().split('\n');
  t.regex(lines[0]!, /^id +category +severity +blame +title$/);
  t.is(lines.length, Object.keys(rules).length + 1);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const line of lines.slice(1)) {
    const [id, , severity, blame] = line.split(/ +/);
    const row = new RegExp(`^\\| ${id} \\| ${severity} \\| [^|]+ \\| ${blame} \\|`, 'm');
    t.regex(readme, row, line);
  }
});

test('a bad flag or an argument is a one-line usage error, exit 2', async (t) => {
  const bad = await run(['rules', '--bogus']);
  t.is(bad.code, 2);
  t.regex(bad.err, /^davtap: rules: Unknown option '--bogus'/);
  t.is(bad.err.trim().split('\n').length, 1);
  t.is((await run(['rules', 'MS001'])).code, 2);
  t.regex((await run(['rules', '--help'])).out, /^Usage: davtap rules \[--json\]/);
});
