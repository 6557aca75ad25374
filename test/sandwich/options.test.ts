// `davtap sandwich`'s options live in one table (sandwichOptions): what it parses is derived from
// it, --help is generated from it, the README's table is tested against it, and the relay options
// it shares with the proxy are all in it.
import test from 'ava';
import { relayOptionSpec } from '../../src/cli/proxy.js';
import { command, parseLegMap, sandwichOptions, sandwichOptionSpec } from '../../src/cli/sandwich.js';
import { optionTableTests } from '../helpers/option-table.js';

optionTableTests('sandwich', sandwichOptions, sandwichOptionSpec, command);

test("every relay option of the proxy is one of the sandwich's, with the same type", (t) => {
  for (const [name, spec] of Object.entries(relayOptionSpec)) {
    const o = sandwichOptions.find((x) => x.name === name);
    t.truthy(o, `--${name}`);
    t.is(o?.type, spec.type, `--${name}`);
    t.is(o?.multiple === true, 'multiple' in spec && spec.multiple === true, `--${name}`);
  }
});

test('--map takes two absolute prefixes and gives them a trailing slash; anything else is a usage error', (t) => {
  t.deepEqual(parseLegMap('/dav=/remote.php/dav/'), { front: '/dav/', back: '/remote.php/dav/' });
  t.deepEqual(parseLegMap('/=/store/'), { front: '/', back: '/store/' });
  for (const bad of ['dav/=/x/', '/dav/', '/a/=/b/=/c/', '/a/=x', '=/b/', '/a b/=/c/']) {
    const err = t.throws(() => parseLegMap(bad), undefined, bad);
    t.regex(err!.message, /must be FRONT_PREFIX=BACK_PREFIX, both absolute paths/);
    t.is(err!.name, 'UsageError');
  }
});
