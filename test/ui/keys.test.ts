// The UI's keys live in one table (ui/keys.ts): the `?` panel is made from it, the README's key
// table is exactly what it makes, and every one-character key it lists is one the UI binds.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { keyHelpLines, keyTable, keyTableMarkdown } from '../../ui/keys.js';
import { helpLines } from '../../ui/panels/help.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const app = readFileSync(new URL('../../ui/app.ts', import.meta.url), 'utf8');

test("the README's key table is exactly the one the key table makes", (t) => {
  const begin = readme.indexOf('<!-- ui-keys:begin -->\n');
  const end = readme.indexOf('\n<!-- ui-keys:end -->');
  t.true(begin > 0 && end > begin);
  t.is(readme.slice(begin + '<!-- ui-keys:begin -->\n'.length, end), keyTableMarkdown());
});

test('the ? panel shows every binding of the table', (t) => {
  t.true(helpLines.join('\n').includes(keyHelpLines().join('\n')));
  for (const k of keyTable) t.true(helpLines.some((l) => l.startsWith(`  ${k.keys} `)), k.keys);
});

test('every one-character key of the table is bound in the UI, and export is on w (save), not e', (t) => {
  const single = new Set(keyTable.flatMap((k) => k.keys.split(/[\s/,]+/)).filter((w) => w.length === 1 && !/[0-9…]/.test(w)));
  for (const ch of single) t.true(app.includes(`ch === '${ch}'`), `ui/app.ts binds ${ch}`);
  t.true(keyTable.some((k) => k.keys === 'w / W' && /report bundle/.test(k.does)));
  t.false(keyTable.some((k) => /export|report bundle/.test(k.does) && /\be\b/i.test(k.keys)));
});
