// Turns the view-model's styles into blessed tags. Text is escaped first: Clark names ({DAV:}href)
// and XML bodies are full of braces that blessed would otherwise read as tags.
//
// Colours are the terminal's own eight (they follow its light or dark theme); there is no grey or
// black: under TERM=screen or tmux blessed turns grey into SGR 30, black, which vanishes on a dark
// background. Without colour (NO_COLOR) every style is plain but for bold headings: severities
// still read by their letters and words (E 2/5 failed, [W]).
import type { Cell, CellStyle, StyledLine } from '../view-model.js';

type Style = CellStyle | NonNullable<StyledLine['style']>;

const colourTags: Record<Style, string | null> = {
  normal: null,
  ok: 'green-fg',
  redirect: 'cyan-fg',
  'client-error': 'yellow-fg',
  'server-error': 'red-fg',
  error: 'red-fg',
  warning: 'yellow-fg',
  info: 'cyan-fg',
  dim: null,
  injected: 'magenta-fg',
  // Held by the intercept filter: a background, so that the row stands out from every status colour.
  held: 'blue-bg',
  heading: 'bold',
  mark: 'red-fg',
};

const plainTags: Record<Style, string | null> = { ...colourTags, ...Object.fromEntries(Object.keys(colourTags).map((k) => [k, null])), heading: 'bold', mark: 'underline' };

export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (ch) => (ch === '{' ? '{open}' : '{close}'));
}

/** The markup functions for a screen with or without colour. */
export interface Markup {
  styled(text: string, style: Style | undefined): string;
  cellsMarkup(cells: readonly Cell[]): string;
  lineMarkup(line: StyledLine, width: number): string;
}

export function createMarkup(color = true): Markup {
  const tags = color ? colourTags : plainTags;
  const styled = (text: string, style: Style | undefined): string => {
    const tag = style ? tags[style] : null;
    const safe = escapeTags(text);
    return tag ? `{${tag}}${safe}{/${tag}}` : safe;
  };
  return {
    styled,
    cellsMarkup: (cells) => cells.map((c) => styled(c.text, c.style)).join(' '),
    // Cuts to the screen width: detail lines are not wrapped by blessed, so the scroll position stays exact.
    lineMarkup: (line, width) => {
      const text = line.text.length > width ? line.text.slice(0, Math.max(width - 1, 0)) + '~' : line.text;
      return styled(text.replace(/\t/g, '    '), line.style);
    },
  };
}

const coloured = createMarkup(true);
export const styled = coloured.styled;
export const cellsMarkup = coloured.cellsMarkup;
export const lineMarkup = coloured.lineMarkup;

/**
 * A detail line with search matches in reverse video (the current one also underlined), so they
 * read with or without colour. `ranges` are columns of the line's text with tabs expanded.
 */
export function highlightedLineMarkup(markup: Markup, line: StyledLine, width: number, ranges: readonly { start: number; end: number; current: boolean }[]): string {
  if (ranges.length === 0) return markup.lineMarkup(line, width);
  const expanded = line.text.replace(/\t/g, '    ');
  const cut = expanded.length > width ? Math.max(width - 1, 0) : expanded.length;
  const parts: string[] = [];
  let at = 0;
  for (const r of ranges) {
    const start = Math.min(r.start, cut);
    const end = Math.min(r.end, cut);
    if (start >= end) continue;
    if (start > at) parts.push(markup.styled(expanded.slice(at, start), line.style));
    const tag = r.current ? 'inverse}{underline' : 'inverse';
    parts.push(`{${tag}}${escapeTags(expanded.slice(start, end))}{/${r.current ? 'underline}{/inverse' : 'inverse'}}`);
    at = end;
  }
  if (cut > at) parts.push(markup.styled(expanded.slice(at, cut), line.style));
  if (expanded.length > width) parts.push('~');
  return parts.join('');
}
