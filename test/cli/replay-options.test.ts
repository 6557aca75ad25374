// `davtap replay`'s options live in one table (replayOptions): what it parses is derived from it, --help is
// generated from it, and the README's table is tested against it here, with the same argument names.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { replayOptions, replayOptionSpec, command } from '../../src/cli/replay.js';
import { main } from '../../src/cli/main.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Option name → its argument as documented (e.g. 'FILE'), '' for a flag. */
type Documented = Map<string, string>;

function fromReadme(): Documented {
  const start = readme.indexOf('<!-- replay-options:begin -->');
  const end = readme.indexOf('<!-- replay-options:end -->');
  if (start < 0 || end < start) throw new Error('README: no replay-options block');
  const out: Documented = new Map();
  for (const m of readme.slice(start, end).matchAll(/^\| `--([a-z-]+)(?: ((?:[^`\\]|\\.)+))?` \|/gm)) out.set(m[1]!, (m[2] ?? '').replace(/\\\|/g, '|'));
  return out;
}

async function helpText(): Promise<string> {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const code = await command.run(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never);
  if (code !== 0) throw new Error(`--help exited ${code}`);
  return text;
}

async function fromHelp(): Promise<Documented> {
  const text = await helpText();
  const options = text.slice(text.indexOf('Options:'), text.indexOf('\n\n', text.indexOf('Options:')));
  const out: Documented = new Map();
  for (const m of options.matchAll(/^ {2}(?:-h, )?--([a-z-]+)(?: ([^\s]+))?/gm)) if (m[1] !== 'help') out.set(m[1]!, m[2] ?? '');
  return out;
}

const names = replayOptions.map((o) => o.name).sort();

test('what davtap replay parses is the table, nothing more', (t) => {
  t.deepEqual(Object.keys(replayOptionSpec).sort(), names);
  for (const o of replayOptions) {
    t.is(replayOptionSpec[o.name]!.type, o.type, o.name);
    t.is(o.arg !== undefined, o.type === 'string', `--${o.name}: an argument name exactly for a value`);
  }
});

test('--help lists exactly the table, a flag without an argument, a value with its argument name', async (t) => {
  const help = await fromHelp();
  t.deepEqual([...help.keys()].sort(), names);
  for (const o of replayOptions) t.is(help.get(o.name), o.arg ?? '', `--${o.name}`);
});

test('the README table lists exactly the options of davtap replay, with the argument names of --help', async (t) => {
  const table = fromReadme();
  const help = await fromHelp();
  t.deepEqual([...table.keys()].sort(), names);
  for (const name of names) t.is(table.get(name), help.get(name), `--${name}`);
});

test('davtap replay is listed on the first help page and its --help is the usage of the README', async (t) => {
  const text = await helpText();
  t.regex(text, /^Usage: davtap replay \[--db FILE\] \[--flow ID\]… \[--filter EXPR\] \[--to URL\] \[--values\] \[--json\]/);
  t.true(readme.includes('`davtap replay [--db FILE] [--flow ID]… [--filter EXPR] [--to URL] [--values] [--json] [--junit FILE]`'));
  let top = '';
  const sink = { write: (s: string) => ((top += s), true) } as unknown as NodeJS.WriteStream;
  t.is(await main(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never), 0);
  t.regex(top, /^ {2}replay {3}send recorded requests again/m);
});
