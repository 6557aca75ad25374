// Search inside the flow view (`/` in a tab, `n`/`N`): where a query occurs in the lines the tab
// shows. PURE: lines and a query in, match positions out; the blessed layer highlights and scrolls.

/** One occurrence: the line (as shown, after wrapping) and the columns [start, end) within it. */
export interface SearchMatch {
  line: number;
  start: number;
  end: number;
}

/** Case-insensitive plain text (no regex): every non-overlapping occurrence, in reading order. */
export function findMatches(lines: readonly string[], query: string): SearchMatch[] {
  if (query === '') return [];
  const needle = query.toLowerCase();
  const matches: SearchMatch[] = [];
  lines.forEach((text, line) => {
    const hay = text.toLowerCase();
    // toLowerCase can change a string's length (rare letters such as İ): then match on the text as is.
    const source = hay.length === text.length ? hay : text;
    for (let at = source.indexOf(needle); at !== -1; at = source.indexOf(needle, at + needle.length)) {
      matches.push({ line, start: at, end: at + needle.length });
    }
  });
  return matches;
}

/** The first match on or below `line` (the top of the screen), wrapping to the first; -1 when none. */
export function firstMatchFrom(matches: readonly SearchMatch[], line: number): number {
  if (matches.length === 0) return -1;
  const i = matches.findIndex((m) => m.line >= line);
  return i === -1 ? 0 : i;
}

/** `n` (+1) and `N` (-1): the next or previous match, wrapping around; -1 when none. */
export function stepMatch(count: number, current: number, direction: 1 | -1): number {
  if (count === 0) return -1;
  if (current < 0) return direction === 1 ? 0 : count - 1;
  return (current + direction + count) % count;
}

/** "3/17" (the current match of all), "0/0" when nothing matches. */
export function matchCount(matches: readonly SearchMatch[], current: number): string {
  return matches.length === 0 ? '0/0' : `${current + 1}/${matches.length}`;
}

/**
 * The scroll position that shows `line`: unchanged when it is already on screen, otherwise the
 * line a third of the way down, so some context above it is seen.
 */
export function scrollToLine(scroll: number, height: number, line: number): number {
  if (line >= scroll && line < scroll + height) return scroll;
  return Math.max(0, line - Math.floor(height / 3));
}
