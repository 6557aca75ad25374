// Parser for mitmproxy-style filter expressions.
//
// Grammar (lowest precedence first):
//   expr    := orExpr
//   orExpr  := andExpr ( '|' andExpr )*
//   andExpr := unary ( '&'? unary )*        juxtaposition means '&', as in mitmproxy
//   unary   := '!' unary | primary
//   primary := '(' expr ')' | CODE | CODE ARG | WORD      a bare word is '~u WORD'
// CODE is `~` and a code of the table (codes.ts), which says whether it takes an ARG and of what kind.
// ARG and WORD are either a run of characters other than whitespace, parentheses, '&', '|' and '!'
// (a '!' inside a word is fine), or a quoted string ('…' or "…") with backslash escapes.
import { DavtapError } from '../errors.js';
import type { FilterNode } from './ast.js';
import { argKinds, BadArgument, filterCode, filterCodes } from './codes.js';

/** A filter that cannot be parsed. `position` is the 0-based offset of the offending character. */
export class FilterSyntaxError extends DavtapError {
  readonly position: number;
  readonly detail: string;
  constructor(detail: string, position: number) {
    super('USAGE', `filter: ${detail} at position ${position + 1}`);
    this.name = 'FilterSyntaxError';
    this.detail = detail;
    this.position = position;
  }
}

type Token =
  | { type: 'op'; value: '!' | '&' | '|' | '(' | ')'; pos: number }
  | { type: 'flag'; value: string; pos: number }
  | { type: 'word'; value: string; pos: number; quoted: boolean };

const operators = new Set(['!', '&', '|', '(', ')']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (operators.has(c)) {
      tokens.push({ type: 'op', value: c as '!', pos: i });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let value = '';
      i++;
      while (i < text.length && text[i] !== c) {
        // Only the quote and the backslash itself are escaped; other backslashes stay for the regex.
        if (text[i] === '\\' && (text[i + 1] === c || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
        } else {
          value += text[i];
          i++;
        }
      }
      if (i >= text.length) throw new FilterSyntaxError(`unterminated ${c === '"' ? 'double' : 'single'}-quoted string`, start);
      i++;
      tokens.push({ type: 'word', value, pos: start, quoted: true });
      continue;
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i]!) && !['&', '|', '(', ')'].includes(text[i]!)) i++;
    const word = text.slice(start, i);
    if (word.startsWith('~')) tokens.push({ type: 'flag', value: word.slice(1), pos: start });
    else tokens.push({ type: 'word', value: word, pos: start, quoted: false });
  }
  return tokens;
}

function describe(token: Token | undefined): string {
  if (!token) return 'end of filter';
  if (token.type === 'flag') return `'~${token.value}'`;
  return `'${token.value}'`;
}

class Parser {
  private index = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly length: number,
  ) {}

  parse(): FilterNode {
    if (this.tokens.length === 0) throw new FilterSyntaxError('empty filter', 0);
    const node = this.orExpr();
    const rest = this.peek();
    if (rest) throw new FilterSyntaxError(rest.type === 'op' && rest.value === ')' ? "unmatched ')'" : `unexpected ${describe(rest)}`, rest.pos);
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private endPos(): number {
    return this.length;
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return t !== undefined && t.type === 'op' && t.value === value;
  }

  private orExpr(): FilterNode {
    let left = this.andExpr();
    while (this.isOp('|')) {
      const pos = this.peek()!.pos;
      this.index++;
      left = { kind: 'or', left, right: this.andExpr(), pos };
    }
    return left;
  }

  private andExpr(): FilterNode {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (!t || (t.type === 'op' && (t.value === '|' || t.value === ')'))) return left;
      const pos = t.pos;
      if (t.type === 'op' && t.value === '&') this.index++;
      left = { kind: 'and', left, right: this.unary(), pos };
    }
  }

  private unary(): FilterNode {
    const t = this.peek();
    if (t && t.type === 'op' && t.value === '!') {
      this.index++;
      return { kind: 'not', operand: this.unary(), pos: t.pos };
    }
    return this.primary();
  }

  private primary(): FilterNode {
    const t = this.peek();
    if (!t) throw new FilterSyntaxError('expected a filter after the operator', this.endPos());
    if (t.type === 'op') {
      if (t.value === '(') {
        this.index++;
        if (this.isOp(')')) throw new FilterSyntaxError('empty parentheses', this.peek()!.pos);
        const inner = this.orExpr();
        if (!this.isOp(')')) {
          const next = this.peek();
          throw new FilterSyntaxError(`expected ')' to close the '(' at position ${t.pos + 1}`, next ? next.pos : this.endPos());
        }
        this.index++;
        return inner;
      }
      throw new FilterSyntaxError(`unexpected '${t.value}'`, t.pos);
    }
    this.index++;
    if (t.type === 'word') return { kind: 'code', code: 'u', arg: argument('regex', t.value, t.pos), pos: t.pos };
    return this.flag(t);
  }

  private flag(t: Token & { type: 'flag' }): FilterNode {
    const entry = filterCode(t.value);
    if (!entry) throw new FilterSyntaxError(`unknown filter '~${t.value}' (known: ${filterCodes.map((c) => `~${c.code}`).join(' ')})`, t.pos);
    if (entry.arg === null) {
      const next = this.peek();
      // mitmproxy's ~s means "has a response"; davtap's used to take the status, which is ~c now.
      // Read silently, `~s 207` would be "has a response and 207 in the URL".
      if (entry.code === 's' && next?.type === 'word' && !next.quoted && /^[1-5](\d\d|xx)$/i.test(next.value)) {
        throw new FilterSyntaxError(`'~s' takes no argument (it means: has a response); the status is '~c ${next.value}'`, next.pos);
      }
      return { kind: 'code', code: entry.code, arg: null, pos: t.pos };
    }
    const arg = this.peek();
    if (!arg || arg.type !== 'word') throw new FilterSyntaxError(`'~${entry.code}' needs an argument (${argKinds[entry.arg].placeholder})`, arg ? arg.pos : this.endPos());
    this.index++;
    return { kind: 'code', code: entry.code, arg: argument(entry.arg, arg.value, arg.pos), pos: t.pos };
  }
}

function argument(kind: keyof typeof argKinds, text: string, pos: number): string {
  try {
    return argKinds[kind].normalize(text);
  } catch (err) {
    if (err instanceof BadArgument) throw new FilterSyntaxError(err.message, pos);
    throw err;
  }
}

/** Parses a filter expression; throws `FilterSyntaxError` (with `position`) when it is not valid. */
export function parseFilter(text: string): FilterNode {
  return new Parser(tokenize(text), text.length).parse();
}

/** Renders an AST back to an equivalent filter expression (for titles and logs). */
export function formatFilter(node: FilterNode): string {
  const quote = (s: string) => (/^[^\s&|()!'"~][^\s&|()]*$/.test(s) ? s : `"${s.replace(/["\\]/g, (c) => '\\' + c)}"`);
  const wrap = (n: FilterNode, parent: 'or' | 'and' | 'not') =>
    (n.kind === 'or' && parent !== 'or') || (n.kind === 'and' && parent === 'not') ? `(${formatFilter(n)})` : formatFilter(n);
  switch (node.kind) {
    case 'code':
      return node.arg === null ? `~${node.code}` : `~${node.code} ${quote(node.arg)}`;
    case 'not':
      return `!${wrap(node.operand, 'not')}`;
    case 'and':
      return `${wrap(node.left, 'and')} & ${wrap(node.right, 'and')}`;
    case 'or':
      return `${wrap(node.left, 'or')} | ${wrap(node.right, 'or')}`;
  }
}
