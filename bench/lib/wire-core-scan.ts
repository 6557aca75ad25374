// Finds the source files that do the HTTP/1 wire core's work themselves: find the end of a head,
// parse a chunk size, or look a header up by name in a raw [name, value, …] array. DESIGN.md wants
// one such place (src/http/); `npm run one-relay` counts the files and the folders they are in.
// A static scan by patterns, line by line with a few lines of context: it tells where such code
// is, not that it is wrong, and each hit names the line that matched.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type WireWork = 'head-end' | 'chunk-size' | 'header-lookup';

export interface WireHit {
  /** Relative to the root scanned, with forward slashes. */
  file: string;
  work: WireWork;
  line: number;
  text: string;
}

/**
 * A search for the empty line that ends a head: indexOf/lastIndexOf/includes/search/split given
 * CRLF CRLF (as a string, a regex or a constant named for it) or LF LF.
 */
const HEAD_END = /\.(?:indexOf|lastIndexOf|includes|search|split)\(\s*(?:'\\r\\n\\r\\n'|"\\r\\n\\r\\n"|'\\n\\n'|"\\n\\n"|\/\\r\?\\n\\r\?\\n\/|\/\\r\\n\\r\\n\/|[A-Z_]*CRLFCRLF[A-Z_]*\b|HEAD_END\b)/;
/** A hexadecimal number read: parseInt(…, 16), Number('0x' + …), or a run of hex digits in a regex. */
const HEX_READ = /parseInt\([^;]*,\s*16\s*\)|Number\(\s*['"`]0x|\[0-9a-fA-F\]\+|\[0-9A-Fa-f\]\+|\[\\da-fA-F\]\+/;
/** …counts as a chunk size when "chunk" is written within this many lines of it. */
const CHUNK_CONTEXT = 4;
/** A walk over [name, value, …] pairs: a loop stepping by two, or an even-index test. */
const PAIR_WALK = /\b(\w+)\s*\+=\s*2\b|\b\w+\s*%\s*2\s*===\s*0/;
/** …that compares a lower-cased name: a lookup (or a filter) by header name. */
const NAME_MATCH = /\.toLowerCase\(\)\s*(?:===|!==)|(?:===|!==)\s*[\w.!\][]+\.toLowerCase\(\)|\.has\([^)]*\.toLowerCase\(\)\)/;
/** …within this many lines of the walk. */
const PAIR_CONTEXT = 3;

function sourcesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourcesUnder(full);
    return /\.(?:ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The hits in one file's text. */
export function scanText(file: string, text: string): WireHit[] {
  const lines = text.split('\n');
  const hits: WireHit[] = [];
  const near = (i: number, span: number, re: RegExp) => lines.slice(Math.max(0, i - span), i + span + 1).some((l) => re.test(l));
  lines.forEach((line, i) => {
    const hit = (work: WireWork) => hits.push({ file, work, line: i + 1, text: line.trim() });
    if (HEAD_END.test(line)) hit('head-end');
    if (HEX_READ.test(line) && near(i, CHUNK_CONTEXT, /chunk/i)) hit('chunk-size');
    if (PAIR_WALK.test(line) && lines.slice(i, i + PAIR_CONTEXT + 1).some((l) => NAME_MATCH.test(l))) hit('header-lookup');
  });
  return hits;
}

/** Scans the source folders under `root` (default src/ and ui/) for wire-core work. */
export function scanWireCore(root: string, folders: string[] = ['src', 'ui']): WireHit[] {
  return folders.flatMap((folder) =>
    sourcesUnder(path.join(root, folder)).flatMap((full) => scanText(path.relative(root, full).split(path.sep).join('/'), readFileSync(full, 'utf8'))),
  );
}
