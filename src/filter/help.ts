// What the table of filter codes (codes.ts) tells users: the help (`?` in the UI, `--help`), the
// README's table (a test compares them) and completion of what is being typed.
import { argKinds, filterCode, filterCodes, type FilterCode } from './codes.js';

const operators: readonly [string, string][] = [
  ['!', 'not'],
  ['&', 'and (also: two filters side by side)'],
  ['|', 'or'],
  ['( )', 'grouping'],
  ['"…" \'…\'', 'quoting an argument with spaces or operators'],
];

/** `~c CODE`: a code as written in help texts. */
export function codeUsage(entry: FilterCode): string {
  return entry.arg === null ? `~${entry.code}` : `~${entry.code} ${argKinds[entry.arg].placeholder}`;
}

/**
 * The filter language, one code per line (mitmproxy's codes, then davtap's), then the operators;
 * a help text longer than `width` continues on the next line, under itself.
 */
export function filterHelpLines(indent = '  ', width = 100): string[] {
  const column = Math.max(...filterCodes.map((c) => codeUsage(c).length), ...operators.map(([op]) => op.length)) + 2;
  const lines: string[] = [];
  const add = (left: string, right: string) => {
    let line = `${indent}${left.padEnd(column)}`;
    let room = line.length;
    for (const word of right.split(' ')) {
      if (room > indent.length + column && room + 1 + word.length > width) {
        lines.push(line);
        line = ' '.repeat(indent.length + column) + word;
      } else line += (room > indent.length + column ? ' ' : '') + word;
      room = line.length;
    }
    lines.push(line);
  };
  for (const c of filterCodes.filter((c) => c.origin === 'mitmproxy')) add(codeUsage(c), c.help);
  for (const c of filterCodes.filter((c) => c.origin === 'davtap')) add(codeUsage(c), c.help);
  for (const [op, what] of operators) add(op, what);
  return lines;
}

/** The help as one text: for `--help` pages. */
export function filterHelp(indent = '  '): string {
  return [
    `${indent.slice(2)}Filters (mitmproxy's language; regular expressions are case-insensitive):`,
    ...filterHelpLines(indent),
  ].join('\n');
}

/** The README's table of filter codes (the README carries exactly this; a test checks it). */
export function filterTableMarkdown(): string {
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| filter | matches | as in mitmproxy |',
    '|---|---|---|',
    ...filterCodes.map((c) => `| \`${codeUsage(c)}\` | ${escape(c.help)} | ${c.origin === 'mitmproxy' ? 'yes' : 'davtap only'} |`),
    ...operators.map(([op, what]) => `| ${op.split(' ').map((o) => `\`${escape(o)}\``).join(' ')} | ${escape(what)} | yes |`),
  ].join('\n');
}

export interface Completion {
  /** Where the word being completed starts: candidates replace text[from, cursor). */
  from: number;
  candidates: { value: string; help: string }[];
}

/**
 * What may complete the word before `cursor` (default: the end): a code after `~`, or the value
 * of a code whose argument is a closed list (`~r MS0` → rule ids, `~f` categories, `~sev`).
 */
export function completeFilter(text: string, cursor = text.length): Completion {
  const before = text.slice(0, cursor);
  const word = /[^\s&|()!]*$/.exec(before)![0];
  const from = cursor - word.length;
  if (word.startsWith('~')) {
    const prefix = word.slice(1);
    return { from, candidates: filterCodes.filter((c) => c.code.startsWith(prefix)).map((c) => ({ value: `~${c.code}`, help: c.help })) };
  }
  const previous = /~(\w+)\s+$/.exec(before.slice(0, from));
  const entry = previous ? filterCode(previous[1]!) : undefined;
  const values = entry?.arg ? argKinds[entry.arg].values?.() : undefined;
  if (!values) return { from, candidates: [] };
  const lower = word.toLowerCase();
  return { from, candidates: values.filter((v) => v.value.toLowerCase().startsWith(lower)) };
}
