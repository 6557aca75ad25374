// A forgiving scan of XML markup for the body rewrites. Bodies are handled as latin1 strings, so
// that one character is one byte: offsets are byte offsets and every byte the rewrite does not
// touch goes back out exactly as it came in (UTF-8 sequences included).
//
// This is not a parser: it finds tags, skipping comments, CDATA, processing instructions and
// DOCTYPE, and gives up quietly on broken markup (the rest is then left alone). Entities are never
// expanded.

export interface Tag {
  kind: 'start' | 'end' | 'empty';
  /** Qualified name as written (prefix:local). */
  name: string;
  local: string;
  /** Offsets of '<' and one past '>'. */
  start: number;
  end: number;
}

function localOf(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(i + 1);
}

/** End of a start tag beginning at `from` ('<'), skipping quoted attribute values; -1 if unclosed. */
function startTagEnd(text: string, from: number): number {
  let quote = '';
  for (let i = from + 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      return i + 1;
    }
  }
  return -1;
}

/** Every tag in document order. */
export function* tags(text: string): Generator<Tag> {
  let at = 0;
  for (;;) {
    const lt = text.indexOf('<', at);
    if (lt < 0 || lt + 1 >= text.length) return;
    const next = text[lt + 1]!;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) return;
      at = end + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      if (end < 0) return;
      at = end + 3;
    } else if (next === '?') {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) return;
      at = end + 2;
    } else if (next === '!') {
      // DOCTYPE, possibly with an internal subset in brackets.
      const bracket = text.indexOf('[', lt);
      const close = text.indexOf('>', lt);
      if (close < 0) return;
      if (bracket >= 0 && bracket < close) {
        const end = text.indexOf(']', bracket);
        const after = end < 0 ? -1 : text.indexOf('>', end);
        if (after < 0) return;
        at = after + 1;
      } else {
        at = close + 1;
      }
    } else if (next === '/') {
      const close = text.indexOf('>', lt);
      if (close < 0) return;
      const name = text.slice(lt + 2, close).trim();
      yield { kind: 'end', name, local: localOf(name), start: lt, end: close + 1 };
      at = close + 1;
    } else {
      const end = startTagEnd(text, lt);
      if (end < 0) return;
      const name = /^<([^\s/>]+)/.exec(text.slice(lt, Math.min(end, lt + 1024)))?.[1] ?? '';
      const kind = text[end - 2] === '/' ? 'empty' : 'start';
      yield { kind, name, local: localOf(name), start: lt, end };
      at = end;
    }
  }
}

/** Replaces the given [start, end) spans (in order, not overlapping) by the given texts. */
export function splice(text: string, edits: Array<{ start: number; end: number; text: string }>): string {
  if (edits.length === 0) return text;
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at);
}
