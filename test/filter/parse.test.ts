import test, { type ExecutionContext } from 'ava';
import { filterCodes, FilterSyntaxError, formatFilter, parseFilter, type FilterNode } from '../../src/filter/index.js';

// A compact rendering of the tree that shows the grouping explicitly.
function shape(n: FilterNode): string {
  switch (n.kind) {
    case 'and':
      return `and(${shape(n.left)},${shape(n.right)})`;
    case 'or':
      return `or(${shape(n.left)},${shape(n.right)})`;
    case 'not':
      return `not(${shape(n.operand)})`;
    case 'code':
      return n.arg === null ? n.code : `${n.code}:${n.arg}`;
  }
}

const p = (text: string) => shape(parseFilter(text));

test('each filter code parses to its node, its argument normalized', (t) => {
  t.is(p('~m propfind'), 'm:propfind');
  t.is(p('~c 207'), 'c:207');
  t.is(p('~c 4XX'), 'c:4xx');
  t.is(p('~s'), 's');
  t.is(p('~q'), 'q');
  t.is(p('~u /dav/'), 'u:/dav/');
  t.is(p('~h Depth:\\s*infinity'), 'h:Depth:\\s*infinity');
  t.is(p('~bs getetag'), 'bs:getetag');
  t.is(p('~f Truncation'), 'f:truncation');
  t.is(p('~r ms001'), 'r:MS001');
  t.is(p('~sev Warning'), 'sev:warning');
  t.is(p('~marked'), 'marked');
  t.is(p('~all'), 'all');
  t.is(p('~e'), 'e');
  t.is(p('~i'), 'i');
});

test('every code of the table parses, with an argument exactly when its entry takes one', (t) => {
  const example = { regex: 'x', status: '207', category: 'truncation', rule: 'MS001', severity: 'error' } as const;
  for (const c of filterCodes) {
    if (c.arg === null) {
      t.is(p(`~${c.code}`), c.code);
      // A code without argument followed by a word: the word is a URL pattern, as in mitmproxy.
      t.is(p(`~${c.code} abc`), `and(${c.code},u:abc)`);
    } else {
      t.is(p(`~${c.code} ${example[c.arg]}`), `${c.code}:${example[c.arg]}`);
      t.regex(syntaxError(t, `~${c.code}`).message, new RegExp(`'~${c.code}' needs an argument`));
    }
  }
});

test("~s is mitmproxy's 'has a response': a status after it is refused with the ~c that was meant", (t) => {
  const err = syntaxError(t, '~s 207');
  t.is(err.position, 3);
  t.regex(err.message, /'~s' takes no argument \(it means: has a response\); the status is '~c 207'/);
  t.is(syntaxError(t, '~m GET & ~s 4xx').position, 12);
  // Quoted, it is a URL pattern, as in mitmproxy.
  t.is(p('~s "207"'), 'and(s,u:207)');
});

test('a bare word is a URL pattern', (t) => {
  t.is(p('calendars'), 'u:calendars');
  t.is(p('calendars & ~c 207'), 'and(u:calendars,c:207)');
});

test('! binds tighter than &, and & tighter than |', (t) => {
  t.is(p('~m GET | ~m PUT & ~e'), 'or(m:GET,and(m:PUT,e))');
  t.is(p('!~e & ~i'), 'and(not(e),i)');
  t.is(p('~e & ~i | ~c 207'), 'or(and(e,i),c:207)');
  t.is(p('!!~e'), 'not(not(e))');
});

test('parentheses override precedence', (t) => {
  t.is(p('(~m GET | ~m PUT) & ~e'), 'and(or(m:GET,m:PUT),e)');
  t.is(p('!(~e | ~i)'), 'not(or(e,i))');
  t.is(p('((~e))'), 'e');
});

test('juxtaposed filters are joined by & as in mitmproxy', (t) => {
  t.is(p('~m PROPFIND ~c 207'), 'and(m:PROPFIND,c:207)');
  t.is(p('~m PROPFIND ~c 207 | ~e'), 'or(and(m:PROPFIND,c:207),e)');
});

test('& and | are left-associative', (t) => {
  t.is(p('~e & ~i & ~c 207'), 'and(and(e,i),c:207)');
  t.is(p('~e | ~i | ~c 207'), 'or(or(e,i),c:207)');
});

test('quoted arguments keep spaces, operators and escaped quotes', (t) => {
  t.is(p('~h "User-Agent: DAVx5"'), 'h:User-Agent: DAVx5');
  t.is(p("~u 'a|b'"), 'u:a|b');
  t.is(p('~u "say \\"hi\\""'), 'u:say "hi"');
  // Backslashes before anything else reach the regular expression untouched.
  t.is(p('~u "\\d+"'), 'u:\\d+');
});

test('a ! inside a word is part of the word', (t) => {
  t.is(p('~u wow!'), 'u:wow!');
});

function syntaxError(t: ExecutionContext, text: string): FilterSyntaxError {
  const err = t.throws(() => parseFilter(text), { instanceOf: FilterSyntaxError });
  return err as FilterSyntaxError;
}

test('errors carry the position of the offending text', (t) => {
  t.is(syntaxError(t, '~m GET & ~x').position, 9);
  t.regex(syntaxError(t, '~m GET & ~x').message, /unknown filter '~x'.*at position 10/);
  t.is(syntaxError(t, '~c abc').position, 3);
  t.is(syntaxError(t, '~f nonsense').position, 3);
  t.regex(syntaxError(t, '~f nonsense').message, /unknown category 'nonsense' \(known: truncation, stripped/);
  t.is(syntaxError(t, '~r X1').position, 3);
  t.is(syntaxError(t, '~sev fatal').position, 5);
  t.is(syntaxError(t, '~u "(unclosed"').position, 3);
  t.regex(syntaxError(t, '~u "(unclosed"').message, /bad regular expression/);
});

test('unknown rule ids, categories and severities are one-line errors at their position, not an empty list', (t) => {
  const rule = syntaxError(t, '~m PROPFIND & ~r MS999');
  t.is(rule.position, 17);
  t.regex(rule.message, /^filter: unknown rule 'MS999' \(rule ids run MS\d{3} … MS\d{3}; .*\) at position 18$/);
  t.false(rule.message.includes('\n'));
  t.regex(syntaxError(t, '~f truncated').message, /unknown category 'truncated'.* at position 4$/);
  t.regex(syntaxError(t, '~sev warn').message, /unknown severity 'warn' \(known: error, warning, info\) at position 6$/);
});

test('missing operands and arguments are reported at the end or at the operator', (t) => {
  const end = syntaxError(t, '~m GET &');
  t.is(end.position, 8);
  t.regex(end.message, /expected a filter/);
  t.is(syntaxError(t, '~m').position, 2);
  t.regex(syntaxError(t, '~m').message, /'~m' needs an argument \(REGEX\)/);
  t.is(syntaxError(t, '| ~e').position, 0);
  t.is(syntaxError(t, '~m & ~e').position, 3);
});

test('unbalanced parentheses are reported where they are', (t) => {
  const open = syntaxError(t, '(~e | ~i');
  t.is(open.position, 8);
  t.regex(open.message, /expected '\)' to close the '\(' at position 1/);
  const close = syntaxError(t, '~e)');
  t.is(close.position, 2);
  t.regex(close.message, /unmatched '\)'/);
  t.is(syntaxError(t, '()').position, 1);
});

test('unterminated quotes and empty filters are errors', (t) => {
  t.is(syntaxError(t, '~u "abc').position, 3);
  t.regex(syntaxError(t, '   ').message, /empty filter/);
});

test('FilterSyntaxError is a usage error (exit 2) with a one-line message', (t) => {
  const err = syntaxError(t, '~c 99');
  t.is(err.exitCode, 2);
  t.false(err.message.includes('\n'));
  t.is(err.detail, "'99' is not a status code (like 207 or 4xx)");
});

test('formatFilter renders a tree that parses back to the same tree', (t) => {
  for (const text of [
    '~m GET | ~m PUT & ~e',
    '(~m GET | ~m PUT) & !~e',
    '!(~e & ~i)',
    '~h "User-Agent: x" & ~u \'a b\'',
    '~c 4xx ~f truncation ~r MS001',
    'calendars',
    '~bs "<D:getetag>" & ~sev warning | ~marked & !~q',
    '~b \'a "b"\' ~d example\\.org',
  ]) {
    const tree = parseFilter(text);
    t.is(shape(parseFilter(formatFilter(tree))), shape(tree), text);
  }
});
