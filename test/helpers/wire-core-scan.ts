// Which source files do HTTP/1 wire parsing themselves: search for the end of a head, parse a hex
// chunk size, or look a header up in a raw header list with a loop of their own. DESIGN.md wants
// all of it in src/http/ (the one wire core), so that every reader of bytes (relays, analyzer,
// check, verify, exports, UI) agrees on what a message is.
//
// The line patterns are bench/lib/wire-core-scan.ts's (the ones `npm run one-relay` counts with),
// plus a few header lookups they do not see (below). Being a scan of source text, it tells parsing
// from serialising by the call around the text:
// - a head end counts when CRLF CRLF (or the bare-LF form, or a constant holding it) is searched
//   for: the argument of indexOf, lastIndexOf, includes, search or split. Writing the literal into
//   a message (`socket.write('HTTP/1.1 200 OK\r\n\r\n')`, a head built with `+`) is serialising
//   and does not count;
// - a chunk size counts when a number is read in base 16 near the word "chunk"; percent-decoding,
//   character references and IPv6 groups are hex too, but not chunk sizes;
// - a header lookup counts when a walk over the [name, value, …] list (or its pairs) compares
//   lower-cased names, or compares a name as is with a lower-case literal.
// Used by test/http/one-core.test.ts; acceptance scripts print wireSummary().
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanText, type WireWork } from '../../bench/lib/wire-core-scan.js';

export type WireKind = WireWork;

export interface WireHit {
  /** Path relative to the repository root, with forward slashes. */
  file: string;
  line: number;
  kind: WireKind;
  text: string;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The scanned folders: the product's source, not its tests or benchmarks. */
const SCANNED = ['src', 'ui'];

/** The one folder allowed to do wire parsing. */
export const WIRE_CORE = 'src/http/';

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(path.join(root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const dir of SCANNED) walk(dir);
  return out.sort();
}

/**
 * Header lookups the line patterns of bench/lib/wire-core-scan.ts do not see: a walk over name and
 * value pairs rather than the flat list, and a name compared as is with a lower-case literal
 * (which silently misses `Content-Type`).
 */
const moreLookups: RegExp[] = [
  // pairs.filter(([k]) => k.toLowerCase() === name)
  /\(\s*\[\s*(\w+)\s*(?:,\s*\w+\s*)?\]\s*\)\s*=>\s*\1\.toLowerCase\(\)\s*[!=]==/,
  // for (const [k, v] of pairs) if (k.toLowerCase() === lower)
  /for\s*\(\s*const\s*\[\s*(\w+)\s*,\s*\w+\s*\]\s*of\b.*?\)\s*if\s*\(\s*\1\.toLowerCase\(\)\s*[!=]==/,
  // rawHeaders[i] === 'content-type'
  /\b\w*(?:raw|[Hh]eaders|[Tt]railers)\w*\[\s*\w+\s*\]!?\s*[!=]==\s*['"`][a-z0-9-]+['"`]/,
];

/** The wire parsing in one file's text. */
export function scanSource(file: string, text: string): WireHit[] {
  const hits: WireHit[] = scanText(file, text).map((h) => ({ file: h.file, line: h.line, kind: h.work, text: h.text }));
  const seen = new Set(hits.filter((h) => h.kind === 'header-lookup').map((h) => h.line));
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/^\s*(?:\/\/|\*|\/\*).*$/, '');
    if (!seen.has(i + 1) && moreLookups.some((p) => p.test(code))) hits.push({ file, line: i + 1, kind: 'header-lookup', text: line.trim() });
  });
  return hits.sort((a, b) => a.line - b.line);
}

/** Every place in `src/` and `ui/` (src/http/ included) that does wire parsing, by file and line. */
export function wireHits(root: string = repoRoot): WireHit[] {
  return sourceFiles(root).flatMap((file) => scanSource(file, readFileSync(path.join(root, file), 'utf8')));
}

/** The files that do wire parsing (src/http/ included), sorted. */
export function wireFiles(root: string = repoRoot): string[] {
  return [...new Set(wireHits(root).map((h) => h.file))].sort();
}

/** The folders those files are in: one, src/http/, when the wire core is the only one. */
export function wireFolders(files: readonly string[]): string[] {
  return [...new Set(files.map((f) => `${path.posix.dirname(f)}/`))].sort();
}

/** `wire-files=N in M folder(s)`, for acceptance scripts. */
export function wireSummary(root: string = repoRoot): string {
  const files = wireFiles(root);
  return `wire-files=${files.length} in ${wireFolders(files).length} folder(s)`;
}
