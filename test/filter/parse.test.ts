import test, { type ExecutionContext } from 'ava';
import { FilterSyntaxError, formatFilter, parseFilter, type FilterNode } from '../../src/filter/index.js';

// A compact rendering of the tree that shows the grouping explicitly.
function shape(n: FilterNode): string {
  switch (n.kind) {
    case 'and':
      return `and(${shape(n.left)},${shape(n.right)})`;
    case 'or':
      return `or(${shape(n.left)},${shape(n.right)})`;
    case 'not':
      return `not(${shape(n.operand)})`;
    case 'method':
      return `m:${n.method}`;
    case 'status':
      return `s:${n.min}-${n.max}`;
    case 'url':
      return `u:${n.pattern}`;
    case 'header':
      return `h:${n.pattern}`;
    case 'category':
      return `f:${n.category}`;
    case 'rule':
      return `r:${n.rule}`;
    case 'error':
      return 'e';
    case 'injected':
      return 'i';
  }
}

const p = (text: string) => shape(parseFilter(text));

test('each filter kind parses to its node', (t) => {
  t.is(p('~m propfind'), 'm:PROPFIND');
  t.is(p('~s 207'), 's:207-207');
  t.is(p('~s 4xx'), 's:400-499');
  t.is(p('~u /dav/'), 'u:/dav/');
  t.is(p('~h Depth:\\s*infinity'), 'h:Depth:\\s*infinity');
  t.is(p('~f Truncation'), 'f:truncation');
  t.is(p('~r ms001'), 'r:MS001');
  t.is(p('~e'), 'e');
  t.is(p('~i'), 'i');
});

test('a bare word is a URL pattern', (t) => {
  t.is(p('calendars'), 'u:calendars');
  t.is(p('calendars & ~s 207'), 'and(u:calendars,s:207-207)');
});

test('! binds tighter than &, and & tighter than |', (t) => {
  t.is(p('~m GET | ~m PUT & ~e'), 'or(m:GET,and(m:PUT,e))');
  t.is(p('!~e & ~i'), 'and(not(e),i)');
  t.is(p('~e & ~i | ~s 207'), 'or(and(e,i),s:207-207)');
  t.is(p('!!~e'), 'not(not(e))');
});

test('parentheses override precedence', (t) => {
  t.is(p('(~m GET | ~m PUT) & ~e'), 'and(or(m:GET,m:PUT),e)');
  t.is(p('!(~e | ~i)'), 'not(or(e,i))');
  t.is(p('((~e))'), 'e');
});

test('juxtaposed filters are joined by & as in mitmproxy', (t) => {
  t.is(p('~m PROPFIND ~s 207'), 'and(m:PROPFIND,s:207-207)');
  t.is(p('~m PROPFIND ~s 207 | ~e'), 'or(and(m:PROPFIND,s:207-207),e)');
});

test('& and | are left-associative', (t) => {
  t.is(p('~e & ~i & ~s 207'), 'and(and(e,i),s:207-207)');
  t.is(p('~e | ~i | ~s 207'), 'or(or(e,i),s:207-207)');
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
  t.is(syntaxError(t, '~s abc').position, 3);
  t.is(syntaxError(t, '~f nonsense').position, 3);
  t.regex(syntaxError(t, '~f nonsense').message, /unknown category 'nonsense' \(known: truncation, stripped/);
  t.is(syntaxError(t, '~r X1').position, 3);
  t.is(syntaxError(t, '~u "(unclosed"').position, 3);
  t.regex(syntaxError(t, '~u "(unclosed"').message, /bad regular expression/);
});

test('missing operands and arguments are reported at the end or at the operator', (t) => {
  const end = syntaxError(t, '~m GET &');
  t.is(end.position, 8);
  t.regex(end.message, /expected a filter/);
  t.is(syntaxError(t, '~m').position, 2);
  t.regex(syntaxError(t, '~m').message, /'~m' needs an argument/);
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
  const err = syntaxError(t, '~s 99');
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
    '~s 4xx ~f truncation ~r MS001',
    'calendars',
  ]) {
    const tree = parseFilter(text);
    t.is(shape(parseFilter(formatFilter(tree))), shape(tree), text);
  }
});
