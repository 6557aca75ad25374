// `davtap ca`'s options live in one table (caOptions): what it parses is derived from it, --help is
// generated from it, and the README's table is tested against it (test/helpers/option-table.ts).
import test from 'ava';
import { caOptions, caOptionSpec, command } from '../../src/cli/ca.js';
import { helpText, optionTableTests } from '../helpers/option-table.js';

optionTableTests('ca', caOptions, caOptionSpec, command);

test('--help names the formats and points to certs/README.md', async (t) => {
  const text = await helpText(command);
  t.regex(text, /--export FILE/);
  t.regex(text, /--format pem\|der/);
  t.regex(text, /certs\/README\.md/);
  t.regex(text, /http:\/\/davtap\.ca\//);
});
