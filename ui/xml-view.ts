// Response and request bodies for people: pretty XML when the body is well-formed, otherwise the raw
// text with line numbers and the error position marked under the offending column. PURE.
// fast-xml-parser is used for display only (DESIGN.md): entities are never expanded.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { formatCount } from './format.js';
import type { StyledLine } from './view-model.js';

/** A position to mark in a raw body: a 1-based line:column, or a byte offset into the text. */
export interface BodyMark {
  line?: number;
  column?: number;
  offset?: number;
  message: string;
}

export interface BodyView {
  mode: 'pretty' | 'raw' | 'empty';
  lines: StyledLine[];
  /** Where the marks landed (1-based), for the status bar and tests. */
  marks: Array<{ line: number; column: number; message: string }>;
}

export interface BodyViewOptions {
  /** Positions known to be wrong (from the analyzer's findings); a body with marks is shown raw. */
  marks?: BodyMark[];
  /** Raw lines longer than this are wrapped, so that a one-line 207 still shows where it breaks. */
  wrap?: number;
  /** Lines kept for display; the rest is summarised in one line. */
  maxLines?: number;
  /**
   * The caller already knows the body is well-formed (the analyzer parsed it with saxes and found
   * no malformed or truncation finding). Lets bodies above the validator's limit be indented.
   */
  knownWellFormed?: boolean;
}

// fast-xml-parser validates, parses and rebuilds at roughly 1.5 MB/s here: beyond this size the
// wait would be felt, and a body is indented by a single tokenizing pass instead.
export const validatorLimit = 128 * 1024;

const xmlOptions = {
  preserveOrder: true,
  ignoreAttributes: false,
  processEntities: false,
  htmlEntities: false,
  commentPropName: '#comment',
  cdataPropName: '#cdata',
  trimValues: true,
  parseTagValue: false,
  parseAttributeValue: false,
} as const;

/** Looks like XML enough to try (leading whitespace, BOM, declaration or an element). */
export function looksLikeXml(text: string): boolean {
  return /^\uFEFF?\s*</.test(text);
}

export function renderXmlBody(text: string, options: BodyViewOptions = {}): BodyView {
  const maxLines = options.maxLines ?? 20_000;
  if (text.length === 0) return { mode: 'empty', lines: [{ text: '(empty body)', style: 'dim' }], marks: [] };
  const marks = (options.marks ?? []).map((m) => resolveMark(text, m));
  if (marks.length === 0 && text.length <= validatorLimit) {
    const verdict = XMLValidator.validate(text, { allowBooleanAttributes: false });
    if (verdict === true) {
      const pretty = prettyPrint(text);
      if (pretty !== null) return { mode: 'pretty', lines: capLines(pretty.split('\n').map((t) => ({ text: t })), maxLines), marks: [] };
    } else {
      marks.push(validatorMark(text, verdict.err));
    }
  } else if (marks.length === 0 && options.knownWellFormed === true) {
    return { mode: 'pretty', lines: indentXml(text, maxLines), marks: [] };
  }
  const raw = rawWithMarks(text, marks, options.wrap ?? 160, maxLines);
  if (marks.length === 0 && text.length > validatorLimit) {
    raw.lines.unshift({ text: `(a large body not known to be well-formed: shown as received)`, style: 'dim' });
  }
  return raw;
}

// Markup tokens: CDATA, comments, processing instructions, declarations, end tags, start or empty
// tags (quoted attribute values may hold '>'), and the text between them.
const xmlToken = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<![^>]*>|<\/[^>]*>|<(?:[^>"']|"[^"]*"|'[^']*')*>|[^<]+/g;

/**
 * One pass over a well-formed document: one element per line, indented by depth, an element
 * holding only text kept on one line. Stops once `maxLines` lines are built.
 */
export function indentXml(text: string, maxLines = 20_000): StyledLine[] {
  const lines: StyledLine[] = [];
  let depth = 0;
  const pad = () => '  '.repeat(depth);
  xmlToken.lastIndex = 0;
  let pending: string | null = null; // a start tag whose line is not written yet
  let pendingText = '';
  const flushPending = () => {
    if (pending === null) return;
    lines.push({ text: pad() + pending });
    depth++;
    if (pendingText) lines.push({ text: pad() + pendingText });
    pending = null;
    pendingText = '';
  };
  let m: RegExpExecArray | null;
  while ((m = xmlToken.exec(text)) !== null && lines.length < maxLines) {
    const token = m[0];
    if (token[0] !== '<') {
      const trimmed = token.trim();
      if (!trimmed) continue;
      if (pending !== null && !pendingText) pendingText = trimmed;
      else {
        flushPending();
        lines.push({ text: pad() + trimmed });
      }
    } else if (token.startsWith('</')) {
      if (pending !== null) {
        // <a>text</a> or <a></a> on one line.
        lines.push({ text: pad() + pending + pendingText + token });
        pending = null;
        pendingText = '';
      } else {
        depth = Math.max(0, depth - 1);
        lines.push({ text: pad() + token });
      }
    } else if (token.startsWith('<!') || token.startsWith('<?') || token.endsWith('/>')) {
      flushPending();
      lines.push({ text: pad() + token.replace(/\s+/g, (ws) => (ws.includes('\n') ? ' ' : ws)) });
    } else {
      flushPending();
      pending = token;
    }
  }
  flushPending();
  if (m !== null) lines.push({ text: `… the rest of the body is not shown (${formatCount(text.length - xmlToken.lastIndex)} more characters)`, style: 'dim' });
  return lines;
}

/** Raw text, numbered, without any XML interpretation (non-XML bodies). */
export function renderPlainBody(text: string, options: Pick<BodyViewOptions, 'wrap' | 'maxLines'> = {}): BodyView {
  if (text.length === 0) return { mode: 'empty', lines: [{ text: '(empty body)', style: 'dim' }], marks: [] };
  return rawWithMarks(text, [], options.wrap ?? 160, options.maxLines ?? 20_000);
}

function prettyPrint(text: string): string | null {
  try {
    const tree: unknown = new XMLParser(xmlOptions).parse(text);
    const out = new XMLBuilder({ ...xmlOptions, format: true, indentBy: '  ', suppressEmptyNode: true }).build(tree) as string;
    return out.replace(/\n+$/, '');
  } catch {
    return null;
  }
}

function resolveMark(text: string, mark: BodyMark): { line: number; column: number; message: string } {
  if (mark.line !== undefined && mark.line > 0) return { line: mark.line, column: Math.max(mark.column ?? 1, 1), message: mark.message };
  if (mark.offset !== undefined) return { ...positionOf(text, Math.min(Math.max(mark.offset, 0), text.length)), message: mark.message };
  return { ...positionOf(text, text.length), message: mark.message };
}

/** 1-based line and column of a character offset. */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

function validatorMark(text: string, err: { code: string; msg: string; line: number; col: number }): { line: number; column: number; message: string } {
  // The validator reports unclosed elements at 1:1 with the list of open tags: the real position is
  // the end of the body, which is what a truncated 207 looks like.
  const open = /^Invalid '\[(.*)\]' found\.$/s.exec(err.msg);
  if (open) {
    const tags = open[1]!.split(',').map((s) => s.trim().replace(/^"|"$/g, '')).filter(Boolean);
    const end = positionOf(text, text.replace(/\s+$/, '').length);
    return { ...end, message: `body ends inside ${tags.map((t) => `<${t}>`).join(' > ')}` };
  }
  return { line: err.line, column: Math.max(err.col, 1), message: err.msg };
}

/** Walks a text line by line without splitting all of it (bodies can be tens of MiB). */
class LineCursor {
  private pos = 0;
  line = 0;
  constructor(private readonly text: string) {}
  /** The text of line `n` (1-based, n > the last line read); null past the end. */
  seek(n: number): string | null {
    while (this.line < n - 1) {
      const nl = this.text.indexOf('\n', this.pos);
      if (nl === -1) return null;
      this.pos = nl + 1;
      this.line++;
    }
    if (this.pos > this.text.length) return null;
    const nl = this.text.indexOf('\n', this.pos);
    const end = nl === -1 ? this.text.length : nl;
    const content = this.text.slice(this.pos, end).replace(/\r$/, '');
    this.pos = nl === -1 ? this.text.length + 1 : nl + 1;
    this.line++;
    return content;
  }
}

function countLines(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Numbered raw lines, long ones wrapped, with a caret line under each mark. Only the first
 * `maxLines` display lines and a little context before each later mark are built: a truncated
 * 16 MiB body costs a scan, not a copy.
 */
function rawWithMarks(text: string, marks: Array<{ line: number; column: number; message: string }>, wrap: number, maxLines: number): BodyView {
  const total = countLines(text);
  const gutter = String(total).length;
  const clamped = marks.map((m) => ({ ...m, line: Math.min(Math.max(m.line, 1), total) }));
  const byLine = new Map<number, Array<{ column: number; message: string }>>();
  for (const m of clamped) {
    const list = byLine.get(m.line) ?? [];
    list.push({ column: m.column, message: m.message });
    byLine.set(m.line, list);
  }
  const width = Math.max(wrap, 20);
  const lines: StyledLine[] = [];
  const emit = (n: number, content: string) => {
    const lineMarks = byLine.get(n);
    const segments = Math.max(1, Math.ceil(content.length / width));
    for (let s = 0; s < segments; s++) {
      const prefix = s === 0 ? String(n).padStart(gutter) : '+'.padStart(gutter);
      const segment = content.slice(s * width, (s + 1) * width);
      lines.push({ text: `${prefix} | ${segment}`, style: lineMarks ? 'error' : undefined });
      for (const m of lineMarks ?? []) {
        const col = m.column - 1;
        // The caret goes under the segment holding the column; a column past the end stays on the last one.
        const inSegment = col >= s * width && (col < (s + 1) * width || s === segments - 1);
        if (!inSegment) continue;
        const at = Math.min(col - s * width, segment.length);
        const note = `${m.message} (line ${n}, column ${m.column})`;
        const pad = `${' '.repeat(gutter)} | `;
        // The note goes after the caret when it fits in the width, else before it (a caret near the
        // right edge), else on a line of its own.
        if (at + 2 + note.length <= width) lines.push({ text: `${pad}${' '.repeat(at)}^ ${note}`, style: 'mark' });
        else if (note.length + 1 <= at) lines.push({ text: `${pad}${' '.repeat(at - note.length - 1)}${note} ^`, style: 'mark' });
        else lines.push({ text: `${pad}${' '.repeat(at)}^`, style: 'mark' }, { text: `${pad}${note}`, style: 'mark' });
      }
    }
  };
  const cursor = new LineCursor(text);
  let n = 1;
  for (; n <= total && lines.length < maxLines; n++) emit(n, cursor.seek(n) ?? '');
  let shownUpTo = n - 1;
  // Marks past the cap are the most important lines of the body: show them with two lines of context.
  const later = [...byLine.keys()].filter((l) => l > shownUpTo).sort((a, b) => a - b);
  for (const markLine of later) {
    const from = Math.max(shownUpTo + 1, markLine - 2);
    if (from > shownUpTo + 1) lines.push({ text: `… ${formatCount(from - shownUpTo - 1)} lines not shown`, style: 'dim' });
    for (let k = from; k <= markLine; k++) emit(k, cursor.seek(k) ?? '');
    shownUpTo = markLine;
  }
  if (shownUpTo < total) lines.push({ text: `… ${formatCount(total - shownUpTo)} more lines not shown`, style: 'dim' });
  return { mode: 'raw', lines, marks: clamped };
}

function capLines(lines: StyledLine[], maxLines: number): StyledLine[] {
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  kept.push({ text: `… ${formatCount(lines.length - maxLines)} more lines not shown`, style: 'dim' });
  return kept;
}
