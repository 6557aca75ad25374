// The list of redacted names is a promise to users: the README shows exactly the table the code
// uses, in its order, and the export's --help prints it from the same table.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { defaultSecretNames, secretNameTest } from '../../src/redact/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function readmeList(): string[] {
  const begin = readme.indexOf('<!-- redaction:begin -->');
  const end = readme.indexOf('<!-- redaction:end -->');
  if (begin < 0 || end < begin) throw new Error('README has no redaction:begin/redaction:end section');
  return [...readme.slice(begin, end).matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

test('the README lists exactly the default table, in order', (t) => {
  t.deepEqual(readmeList(), [...defaultSecretNames]);
});

test('davtap export --help prints the default table', async (t) => {
  let out = '';
  const sink = new Writable({ write(c, _e, cb) { out += String(c); cb(); } });
  t.is(await main(['export', '--help'], { stdout: sink, stderr: sink, env: {}, cwd: process.cwd() }), 0);
  const listed = out.replace(/\s+/g, ' ');
  t.true(listed.includes(defaultSecretNames.join(', ')), listed);
});

test('entries match whole names, longer names after a separator, patterns; negations win', (t) => {
  const isSecret = secretNameTest(['key', '*secret*', 'token', '!lock-token']);
  t.true(isSecret('KEY'));
  t.true(isSecret('api_key'));
  t.true(isSecret('X-Api-Key'));
  t.true(isSecret('app.key'));
  t.false(isSecret('monkey'), 'no separator: a different word');
  t.false(isSecret('keys'));
  t.true(isSecret('x-my-secret-thing'));
  t.true(isSecret('SECRET'));
  t.true(isSecret('api%5Fkey'), 'names are compared percent-decoded, as the server reads them');
  t.false(isSecret('Lock-Token'));
  t.true(isSecret('X-Auth-Token'));
});
