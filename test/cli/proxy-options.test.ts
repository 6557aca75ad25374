// The proxy's options live in one table (proxyOptionSpec, what the command parses); its --help and
// the README's options block are tested against it in both directions, with the same argument
// name for each option, so that no option is undocumented and no documented option is gone.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { command, proxyOptionSpec } from '../../src/cli/proxy.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Option name → its argument as documented (e.g. 'URL'), '' for a flag. */
type Documented = Map<string, string>;

function fromReadme(): Documented {
  const block = readme.slice(readme.indexOf('<!-- options:begin -->'), readme.indexOf('<!-- options:end -->'));
  const out: Documented = new Map();
  for (const m of block.matchAll(/^\| `--([a-z-]+)(?: ([^`]+))?` \|/gm)) out.set(m[1]!, (m[2] ?? '').split('[')[0]!);
  return out;
}

async function fromHelp(): Promise<Documented> {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const code = await command.run(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never);
  if (code !== 0) throw new Error(`--help exited ${code}`);
  const options = text.slice(text.indexOf('Options:'), text.indexOf('\n\n', text.indexOf('Options:')));
  const out: Documented = new Map();
  for (const m of options.matchAll(/^ {2}--([a-z-]+)(?: ([A-Z][^\s[]*))?/gm)) if (m[1] !== 'help') out.set(m[1]!, m[2] ?? '');
  return out;
}

const parsed = Object.entries(proxyOptionSpec).map(([name, o]) => [name, o.type] as const);

test('--help documents exactly the options the proxy parses, a flag without an argument, a value with one', async (t) => {
  const help = await fromHelp();
  t.deepEqual([...help.keys()].sort(), parsed.map(([n]) => n).sort());
  for (const [name, type] of parsed) t.is(help.get(name) !== '', type === 'string', `--${name}`);
});

test('the README options table lists exactly the options the proxy parses, with the argument names of --help', async (t) => {
  const table = fromReadme();
  const help = await fromHelp();
  t.deepEqual([...table.keys()].sort(), parsed.map(([n]) => n).sort());
  for (const [name] of parsed) t.is(table.get(name), help.get(name), `--${name}`);
});
