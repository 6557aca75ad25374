import test from 'ava';
import { readFile } from 'node:fs/promises';
import { comparable, debugSection, parseLitmus, recomputedSummaries, summaryCounts, type LitmusRun } from './litmus.js';

// Real litmus 0.13 console output, captured without a terminal: against Apache mod_dav, and against
// a plain HTTP server that claims success for everything (so FAIL, SKIPPED and warnings appear).
const fixture = (name: string) => readFile(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

for (const name of ['litmus-apache.txt', 'litmus-not-dav.txt']) {
  test(`the parsed tests of ${name} add up to litmus's own summary for every suite`, async (t) => {
    const { results, summaries } = parseLitmus(await fixture(name));
    t.true(Object.keys(summaries).length >= 5);
    const recomputed = recomputedSummaries(results);
    for (const [suite, summary] of Object.entries(summaries)) {
      t.deepEqual(recomputed[suite], summaryCounts(summary), suite);
    }
  });
}

test('every Apache test is numbered in order, named, and the two warnings are kept with their tests', async (t) => {
  const { results } = parseLitmus(await fixture('litmus-apache.txt'));
  t.is(results.length, 104);
  for (const suite of new Set(results.map((r) => r.suite))) {
    t.deepEqual(results.filter((r) => r.suite === suite).map((r) => r.index), [...Array(results.filter((r) => r.suite === suite).length).keys()]);
  }
  t.false(results.some((r) => r.name === '?'));
  const warned = results.filter((r) => r.messages.length > 0);
  t.deepEqual(
    warned.map((r) => [r.suite, r.index, r.name, r.outcome, r.messages]),
    [
      ['locks', 18, 'cond_put_corrupt_token', 'pass', ['WARNING: PUT failed with 400 not 423']],
      ['locks', 38, 'unmapped_lock', 'pass', ['WARNING: LOCK on unmapped url returned 200 not 201 (RFC4918:S7.3)']],
    ],
  );
});

test('a test that follows a warning and warns itself is counted even though litmus never prints its name', async (t) => {
  const { results } = parseLitmus(await fixture('litmus-not-dav.txt'));
  const basic = results.filter((r) => r.suite === 'basic');
  t.deepEqual(basic.map((r) => r.index), [...Array(16).keys()]);
  t.like(basic[4], { name: '?', outcome: 'pass', messages: ['WARNING: length mismatch: 0 vs 41'] });
  t.like(basic[5], { name: 'put_no_parent', outcome: 'fail' });
  t.like(results.find((r) => r.suite === 'locks' && r.index === 3), { name: 'precond', outcome: 'skipped' });
});

test('comparable lines hide the address and the base collection, and keep outcomes and messages', (t) => {
  const run: LitmusRun = {
    results: [{ suite: 'copymove', index: 9, name: 'move', outcome: 'fail', messages: ['FAIL (MOVE `/via/litmus/a\' to http://127.0.0.1:4711/via/litmus/b: 201)'] }],
    summaries: {},
    exitCode: 1,
    output: '',
    debugLog: '',
  };
  t.deepEqual(comparable(run, 'http://127.0.0.1:4711/via/'), ['copymove  9 move: fail [FAIL (MOVE `/BASE/litmus/a\' to http://HOST/BASE/litmus/b: 201)]']);
});

test('the debug.log section of one test is found by the X-Litmus tag of its requests', (t) => {
  const log = [
    '******* Running test 8: delete_null ********',
    'DELETE /litmus/frag HTTP/1.1',
    'X-Litmus: basic: 8 (delete_null)',
    '******* Running test 9: delete_fragment ********',
    'DELETE /litmus/frag/#ment HTTP/1.1',
    'X-Litmus: basic: 9 (delete_fragment)',
    '******* Running test 9: move ********',
    'X-Litmus: copymove: 9 (move)',
  ].join('\n');
  const section = debugSection(log, 'basic', 9);
  t.true(section.startsWith('******* Running test 9: delete_fragment'));
  t.true(section.includes('/litmus/frag/#ment'));
  t.false(section.includes('copymove'));
  t.regex(debugSection(log, 'locks', 3), /no request tagged/);
});
