// The filter codes live in one table (src/filter/codes.ts): the README's table, the `--help` pages
// and the UI's `?` panel are made from it or tested against it here.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { completeFilter, filterCodes, filterHelp, filterTableMarkdown } from '../../src/filter/index.js';
import { main } from '../../src/cli/main.js';
import { helpLines } from '../../ui/panels/help.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test("the README's filter table is exactly the one the table makes", (t) => {
  const begin = readme.indexOf('<!-- filters:begin -->\n');
  const end = readme.indexOf('\n<!-- filters:end -->');
  t.true(begin > 0 && end > begin);
  t.is(readme.slice(begin + '<!-- filters:begin -->\n'.length, end), filterTableMarkdown());
  for (const c of filterCodes) t.true(filterTableMarkdown().includes(`| \`~${c.code}`), c.code);
});

async function helpOf(args: string[]): Promise<string> {
  let out = '';
  const sink = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
  const code = await main(args, { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never);
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`);
  return out;
}

test("'davtap ui --help' and 'davtap flows --help' carry the filter help the table makes, with every code", async (t) => {
  for (const command of ['ui', 'flows']) {
    const help = await helpOf([command, '--help']);
    t.true(help.includes(filterHelp()), command);
    for (const c of filterCodes) t.regex(help, new RegExp(`^ {2}~${c.code}\\b`, 'm'), `${command}: ${c.code}`);
  }
});

test("the UI's ? panel names every filter code", (t) => {
  const panel = helpLines.slice(helpLines.findIndex((l) => l.startsWith('Filters')));
  const tokens = new Set(panel.join(' ').split(/[\s/]+/));
  for (const c of filterCodes) t.true(tokens.has(`~${c.code}`), `~${c.code}`);
});

test('completion offers codes after ~, and rule ids, categories and severities after their code', (t) => {
  t.deepEqual(completeFilter('~m GET & ~b').candidates.map((c) => c.value), ['~b', '~bq', '~bs']);
  t.is(completeFilter('~m GET & ~b').from, 9);
  t.deepEqual(completeFilter('~s').candidates.map((c) => c.value), ['~s', '~sev']);
  const rules = completeFilter('~r ms00');
  t.is(rules.from, 3);
  t.true(rules.candidates.length > 0);
  t.true(rules.candidates.every((c) => c.value.startsWith('MS00') && c.help.length > 0));
  t.deepEqual(completeFilter('~f p').candidates.map((c) => c.value), ['partial-failure']);
  t.deepEqual(completeFilter('~sev ').candidates.map((c) => c.value), ['error', 'warning', 'info']);
  // In the middle of the text: what is before the cursor counts.
  t.deepEqual(completeFilter('~f tr & ~c 207', 5).candidates.map((c) => c.value), ['truncation']);
  // A regex argument has no list to offer.
  t.deepEqual(completeFilter('~u /da').candidates, []);
});
