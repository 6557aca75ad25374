// Parser for mitmproxy-style filter expressions.
//
// Grammar (lowest precedence first):
//   expr    := orExpr
//   orExpr  := andExpr ( '|' andExpr )*
//   andExpr := unary ( '&'? unary )*        juxtaposition means '&', as in mitmproxy
//   unary   := '!' unary | primary
//   primary := '(' expr ')' | '~m' ARG | '~s' ARG | '~u' ARG | '~h' ARG | '~f' ARG | '~r' ARG
//            | '~e' | '~i' | WORD                  a bare word is '~u WORD'
// ARG and WORD are either a run of characters other than whitespace, parentheses, '&', '|' and '!'
// (a '!' inside a word is fine), or a quoted string ('…' or "…") with backslash escapes.
import { DavtapError } from '../errors.js';
import type { Category } from '../types.js';
import { categories, compilePattern, type FilterNode } from './ast.js';

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
const flagsWithArgument = new Set(['m', 's', 'u', 'h', 'f', 'r']);
const flagsWithout = new Set(['e', 'i']);

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
    if (t.type === 'word') return { kind: 'url', pattern: checkPattern(t.value, t.pos), pos: t.pos };
    return this.flag(t);
  }

  private flag(t: Token & { type: 'flag' }): FilterNode {
    const name = t.value;
    if (flagsWithout.has(name)) return name === 'e' ? { kind: 'error', pos: t.pos } : { kind: 'injected', pos: t.pos };
    if (!flagsWithArgument.has(name)) {
      throw new FilterSyntaxError(`unknown filter '~${name}' (known: ~m ~s ~u ~h ~f ~r ~e ~i)`, t.pos);
    }
    const arg = this.peek();
    if (!arg || arg.type !== 'word') throw new FilterSyntaxError(`'~${name}' needs an argument`, arg ? arg.pos : this.endPos());
    this.index++;
    const value = arg.value;
    switch (name) {
      case 'm':
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) throw new FilterSyntaxError(`'${value}' is not an HTTP method`, arg.pos);
        return { kind: 'method', method: value.toUpperCase(), pos: t.pos };
      case 's':
        return statusNode(value, arg.pos, t.pos);
      case 'u':
        return { kind: 'url', pattern: checkPattern(value, arg.pos), pos: t.pos };
      case 'h':
        return { kind: 'header', pattern: checkPattern(value, arg.pos), pos: t.pos };
      case 'f': {
        const category = value.toLowerCase();
        if (!categories.includes(category as Category)) {
          throw new FilterSyntaxError(`unknown category '${value}' (known: ${categories.join(', ')})`, arg.pos);
        }
        return { kind: 'category', category: category as Category, pos: t.pos };
      }
      default: {
        if (!/^MS\d{3}$/i.test(value)) throw new FilterSyntaxError(`'${value}' is not a rule id (like MS001)`, arg.pos);
        return { kind: 'rule', rule: value.toUpperCase(), pos: t.pos };
      }
    }
  }
}

function statusNode(value: string, argPos: number, pos: number): FilterNode {
  if (/^[1-5]\d\d$/.test(value)) {
    const code = Number(value);
    return { kind: 'status', min: code, max: code, text: value, pos };
  }
  const cls = /^([1-5])xx$/i.exec(value);
  if (cls) {
    const base = Number(cls[1]) * 100;
    return { kind: 'status', min: base, max: base + 99, text: value.toLowerCase(), pos };
  }
  throw new FilterSyntaxError(`'${value}' is not a status code (like 207 or 4xx)`, argPos);
}

function checkPattern(pattern: string, pos: number): string {
  try {
    compilePattern(pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    throw new FilterSyntaxError(`bad regular expression (${why})`, pos);
  }
  return pattern;
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
    case 'method':
      return `~m ${node.method}`;
    case 'status':
      return `~s ${node.text}`;
    case 'url':
      return `~u ${quote(node.pattern)}`;
    case 'header':
      return `~h ${quote(node.pattern)}`;
    case 'category':
      return `~f ${node.category}`;
    case 'rule':
      return `~r ${node.rule}`;
    case 'error':
      return '~e';
    case 'injected':
      return '~i';
    case 'not':
      return `!${wrap(node.operand, 'not')}`;
    case 'and':
      return `${wrap(node.left, 'and')} & ${wrap(node.right, 'and')}`;
    case 'or':
      return `${wrap(node.left, 'or')} | ${wrap(node.right, 'or')}`;
  }
}
