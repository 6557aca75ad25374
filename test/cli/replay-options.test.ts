// `davtap replay`'s options live in one table (replayOptions): what it parses is derived from it,
// --help is generated from it, and the README's table is tested against it
// (test/helpers/option-table.ts).
import test from 'ava';
import { replayOptions, replayOptionSpec, command } from '../../src/cli/replay.js';
import { main } from '../../src/cli/main.js';
import { helpText, optionTableTests, readme } from '../helpers/option-table.js';

optionTableTests('replay', replayOptions, replayOptionSpec, command);

test('davtap replay is listed on the first help page and its --help is the usage of the README', async (t) => {
  const text = await helpText(command);
  t.regex(text, /^Usage: davtap replay \[--db FILE\] \[--flow ID\]… \[--filter EXPR\] \[--to URL\] \[--values\] \[--json\]/);
  t.true(readme.includes('`davtap replay [--db FILE] [--flow ID]… [--filter EXPR] [--to URL] [--values] [--json] [--junit FILE]`'));
  let top = '';
  const sink = { write: (s: string) => ((top += s), true) } as unknown as NodeJS.WriteStream;
  t.is(await main(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never), 0);
  t.regex(top, /^ {2}replay {3}send recorded requests again/m);
});
