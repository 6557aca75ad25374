// The checks every command with an option table gets: what it parses is the table, --help is
// generated from it, and the README's `<!-- NAME-options:begin -->` table agrees with both, with
// the same argument names.
import test from 'ava';
import { readFileSync } from 'node:fs';
import type { Command } from '../../src/cli/io.js';

export const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

interface TableOption {
  name: string;
  type: 'string' | 'boolean';
  arg?: string;
}

/** Option name → its argument as documented (e.g. 'FILE'), '' for a flag. */
type Documented = Map<string, string>;

function fromReadme(block: string): Documented {
  const start = readme.indexOf(`<!-- ${block}:begin -->`);
  const end = readme.indexOf(`<!-- ${block}:end -->`);
  if (start < 0 || end < start) throw new Error(`README: no ${block} block`);
  const out: Documented = new Map();
  for (const m of readme.slice(start, end).matchAll(/^\| `--([a-z-]+)(?: ((?:[^`\\]|\\.)+))?` \|/gm)) out.set(m[1]!, (m[2] ?? '').replace(/\\\|/g, '|'));
  return out;
}

/** What `command --help` prints. */
export async function helpText(command: Command): Promise<string> {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const code = await command.run(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never);
  if (code !== 0) throw new Error(`--help exited ${code}`);
  return text;
}

async function fromHelp(command: Command): Promise<Documented> {
  const text = await helpText(command);
  const options = text.slice(text.indexOf('Options:'), text.indexOf('\n\n', text.indexOf('Options:')));
  const out: Documented = new Map();
  for (const m of options.matchAll(/^ {2}(?:-h, )?--([a-z-]+)(?: ([^\s]+))?/gm)) if (m[1] !== 'help') out.set(m[1]!, m[2] ?? '');
  return out;
}

/** Registers the three agreement tests for `davtap NAME`. */
export function optionTableTests(name: string, options: readonly TableOption[], spec: Record<string, { type: string }>, command: Command): void {
  const names = options.map((o) => o.name).sort();

  test(`what davtap ${name} parses is the table, nothing more`, (t) => {
    t.deepEqual(Object.keys(spec).sort(), names);
    for (const o of options) {
      t.is(spec[o.name]!.type, o.type, o.name);
      t.is(o.arg !== undefined, o.type === 'string', `--${o.name}: an argument name exactly for a value`);
    }
  });

  test('--help lists exactly the table, a flag without an argument, a value with its argument name', async (t) => {
    const help = await fromHelp(command);
    t.deepEqual([...help.keys()].sort(), names);
    for (const o of options) t.is(help.get(o.name), o.arg ?? '', `--${o.name}`);
  });

  test(`the README table lists exactly the options of davtap ${name}, with the argument names of --help`, async (t) => {
    const table = fromReadme(`${name}-options`);
    const help = await fromHelp(command);
    t.deepEqual([...table.keys()].sort(), names);
    for (const n of names) t.is(table.get(n), help.get(n), `--${n}`);
  });
}
