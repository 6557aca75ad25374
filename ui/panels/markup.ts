// Turns the view-model's styles into blessed tags. Text is escaped first: Clark names ({DAV:}href)
// and XML bodies are full of braces that blessed would otherwise read as tags.
import type { Cell, CellStyle, StyledLine } from '../view-model.js';

type Style = CellStyle | NonNullable<StyledLine['style']>;

const tagFor: Record<Style, string | null> = {
  normal: null,
  ok: 'green-fg',
  redirect: 'cyan-fg',
  'client-error': 'yellow-fg',
  'server-error': 'red-fg',
  error: 'red-fg',
  warning: 'yellow-fg',
  info: 'cyan-fg',
  dim: 'gray-fg',
  injected: 'magenta-fg',
  heading: 'bold',
  mark: 'red-fg',
};

export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (ch) => (ch === '{' ? '{open}' : '{close}'));
}

export function styled(text: string, style: Style | undefined): string {
  const tag = style ? tagFor[style] : null;
  const safe = escapeTags(text);
  return tag ? `{${tag}}${safe}{/${tag}}` : safe;
}

export function cellsMarkup(cells: readonly Cell[]): string {
  return cells.map((c) => styled(c.text, c.style)).join(' ');
}

/** Cuts to the screen width: detail lines are not wrapped by blessed, so the scroll position stays exact. */
export function lineMarkup(line: StyledLine, width: number): string {
  const text = line.text.length > width ? line.text.slice(0, Math.max(width - 1, 0)) + '~' : line.text;
  return styled(text.replace(/\t/g, '    '), line.style);
}
