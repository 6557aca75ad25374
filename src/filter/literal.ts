// A cheap necessary condition for a body pattern, for SQLite to test before handing a body to the
// regular expression: a LIKE pattern that every text the regex matches also matches. SQLite's LIKE
// runs in C on the stored bytes and folds ASCII case, as a JavaScript `i` regex without `u` folds
// ASCII letters only with ASCII letters; skipping the call into JavaScript for the bodies that
// cannot match is what makes a search of a long capture fast. When in doubt, no condition (null).

/** Characters that make a pattern more than literal text (groups, classes, alternatives, quantifiers). */
const structural = new Set(['(', ')', '[', ']', '{', '}', '|', '?', '*', '+']);
/** Escapes that stand for one character (or none) of a class: a gap, like `.`. */
const oneCharClasses = new Set(['d', 'D', 's', 'S', 'w', 'W', 'b', 'B', 'n', 'r', 't', 'f', 'v']);

const likeEscape = (c: string): string => (c === '%' || c === '_' || c === '\\' ? `\\${c}` : c);

export interface LikePrefilter {
  /** For `… LIKE ? ESCAPE '\'`. */
  like: string;
  /**
   * The pattern is that text and nothing else: a body matches it exactly when LIKE says so (if
   * LIKE saw the whole body, see codes.ts).
   */
  exact: boolean;
}

/**
 * The LIKE pattern every match of `pattern` satisfies, or null when the pattern is not literal text
 * with gaps, or its longest literal run is under 3 characters (the test would let nearly
 * everything through).
 */
export function likePrefilter(pattern: string): LikePrefilter | null {
  const literal = literalRuns(pattern);
  if (!literal || Math.max(...literal.runs.map((r) => r.length)) < 3) return null;
  return { like: likeOf(literal.runs), exact: literal.gaps === 0 && literal.runs.length === 1 };
}

const likeOf = (runs: readonly string[]): string => `%${runs.map((r) => [...r].map(likeEscape).join('')).join('%')}%`;

/**
 * The same for a pattern `~h` tests against each "Name: value" line, as a LIKE over the headers
 * as stored (a JSON array, `["Name","value",…]`), never exact: the ": " a line puts between name
 * and value is `","` there, and JSON escapes `"`, `\` and control characters. So the literal runs
 * are cut at those characters and at colons, and lose the spaces they start with; what is left
 * still appears in that order in the JSON of any headers with a matching line.
 */
export function headerLikePrefilter(pattern: string): string | null {
  const literal = literalRuns(pattern);
  if (!literal) return null;
  const pieces = literal.runs.flatMap(cutForJson).map((piece) => piece.replace(/^ +/, '')).filter((piece) => piece !== '');
  if (pieces.length === 0 || Math.max(...pieces.map((p) => p.length)) < 3) return null;
  return likeOf(pieces);
}

/** `run` cut at the characters a header line and its JSON do not share (see headerLikePrefilter). */
function cutForJson(run: string): string[] {
  const pieces: string[] = [];
  let piece = '';
  for (const c of run) {
    if (c === ':' || c === '"' || c === '\\' || c.charCodeAt(0) < 0x20) {
      pieces.push(piece);
      piece = '';
    } else piece += c;
  }
  pieces.push(piece);
  return pieces;
}

/** The literal runs of `pattern` in order, and how many gaps lie between them; null when it is more than text with gaps. */
function literalRuns(pattern: string): { runs: string[]; gaps: number } | null {
  let gaps = 0;
  const runs: string[] = [];
  let run = '';
  const gap = () => {
    gaps++;
    if (run !== '') runs.push(run);
    run = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (structural.has(c)) return null;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) return null;
      i++;
      if (/[A-Za-z0-9]/.test(next)) {
        // \d, \s, \b…: a gap; \x41, \u0041, \1, \c…: not worth understanding here.
        if (!oneCharClasses.has(next)) return null;
        gap();
      } else if (next.charCodeAt(0) < 128) run += next;
      else gap();
      continue;
    }
    // `.`, anchors and non-ASCII letters (whose case JavaScript may fold unlike LIKE) are gaps.
    if (c === '.' || c === '^' || c === '$' || c.charCodeAt(0) >= 128) gap();
    else run += c;
  }
  const last = run;
  if (last !== '') runs.push(last);
  return runs.length === 0 ? null : { runs, gaps };
}
