import test from 'ava';
import { findMatches, firstMatchFrom, matchCount, scrollToLine, stepMatch } from '../../ui/search.js';
import { createMarkup, highlightedLineMarkup } from '../../ui/panels/markup.js';

test('findMatches finds every occurrence, case-insensitively, as plain text', (t) => {
  const lines = ['<D:getetag/>', 'no match here', 'GETETAG and getEtag', 'a.b*c'];
  t.deepEqual(findMatches(lines, 'getetag'), [
    { line: 0, start: 3, end: 10 },
    { line: 2, start: 0, end: 7 },
    { line: 2, start: 12, end: 19 },
  ]);
  // Regex characters are matched literally.
  t.deepEqual(findMatches(lines, 'b*c'), [{ line: 3, start: 2, end: 5 }]);
  t.deepEqual(findMatches(lines, '.'), [{ line: 3, start: 1, end: 2 }]);
  t.deepEqual(findMatches(lines, ''), []);
  // Non-overlapping: "aaaa" holds two "aa".
  t.is(findMatches(['aaaa'], 'aa').length, 2);
});

test('n / N step through the matches and wrap around; the count reads current/total', (t) => {
  t.is(stepMatch(3, -1, 1), 0);
  t.is(stepMatch(3, -1, -1), 2);
  t.is(stepMatch(3, 2, 1), 0);
  t.is(stepMatch(3, 0, -1), 2);
  t.is(stepMatch(0, 0, 1), -1);
  const matches = findMatches(['x', 'ab', 'x', 'ab'], 'ab');
  t.is(firstMatchFrom(matches, 2), 1);
  t.is(firstMatchFrom(matches, 9), 0, 'wraps to the first');
  t.is(firstMatchFrom([], 0), -1);
  t.is(matchCount(matches, 1), '2/2');
  t.is(matchCount([], -1), '0/0');
});

test('scrollToLine leaves a visible line alone and brings another a third down the screen', (t) => {
  t.is(scrollToLine(10, 30, 15), 10);
  t.is(scrollToLine(10, 30, 100), 90);
  t.is(scrollToLine(50, 30, 5), 0);
});

test('matches are drawn in reverse video, the current one underlined too, with or without colour', (t) => {
  const plain = createMarkup(false);
  const text = highlightedLineMarkup(plain, { text: 'a {getetag} b' }, 80, [{ start: 3, end: 10, current: true }]);
  t.is(text, 'a {open}{inverse}{underline}getetag{/underline}{/inverse}{close} b');
  const other = highlightedLineMarkup(plain, { text: 'xx yy' }, 80, [{ start: 0, end: 2, current: false }]);
  t.is(other, '{inverse}xx{/inverse} yy');
  // Cut at the screen edge like any detail line.
  t.is(highlightedLineMarkup(plain, { text: 'abcdefgh' }, 5, [{ start: 2, end: 7, current: false }]), 'ab{inverse}cd{/inverse}~');
});
