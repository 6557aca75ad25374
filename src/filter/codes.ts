// The filter codes: ONE table. Each entry gives a code's argument kind, its help text, how it
// matches a flow in memory and how the store says the same in SQL. The parser, the help (`?` in
// the UI, `--help`), the README's table and completion are all made from it, and a test holds the
// in-memory and the SQL side of every entry to the same answers.
//
// Codes mitmproxy also has mean what they mean in mitmproxy's flowfilter (`~s` has a response,
// `~c` the status, `~q` no response, `~b` a body…); davtap's own codes follow them.
import { rules } from '../analysis/rules/index.js';
import type { Category, Severity } from '../types.js';
import { headerLikePrefilter, likePrefilter } from './literal.js';
import { bodyMatches, cachedPattern, categories, compilePattern, contentTypes, domainsOf, headerLines, severities, type FilterableFlow } from './ast.js';

/** A bad argument: the parser turns it into a FilterSyntaxError at the argument's position. */
export class BadArgument extends Error {}

/** What an argument is, how it is written in the help, and how it is checked and normalized. */
export interface ArgKind {
  /** The placeholder in help texts: REGEX, CODE… */
  placeholder: string;
  /** The normalized argument, or a BadArgument saying why it is not one. */
  normalize(text: string): string;
  /** The values completion offers, with what each means, when there is a closed list. */
  values?: () => readonly { value: string; help: string }[];
}

const regexArg: ArgKind = {
  placeholder: 'REGEX',
  normalize(text) {
    try {
      compilePattern(text);
    } catch (err) {
      const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
      throw new BadArgument(`bad regular expression (${why})`);
    }
    return text;
  },
};

const statusArg: ArgKind = {
  placeholder: 'CODE',
  normalize(text) {
    if (/^[1-5]\d\d$/.test(text) || /^[1-5]xx$/i.test(text)) return text.toLowerCase();
    throw new BadArgument(`'${text}' is not a status code (like 207 or 4xx)`);
  },
};

/** `207` → [207, 207]; `4xx` → [400, 499]. */
export function statusRange(arg: string): { min: number; max: number } {
  if (arg.endsWith('xx')) {
    const base = Number(arg[0]) * 100;
    return { min: base, max: base + 99 };
  }
  const code = Number(arg);
  return { min: code, max: code };
}

const categoryArg: ArgKind = {
  placeholder: 'CATEGORY',
  normalize(text) {
    const category = text.toLowerCase();
    if (!categories.includes(category as Category)) throw new BadArgument(`unknown category '${text}' (known: ${categories.join(', ')})`);
    return category;
  },
  values: () => categories.map((value) => ({ value, help: 'finding category' })),
};

const ruleIds = (): string[] => Object.keys(rules).sort();

const ruleArg: ArgKind = {
  placeholder: 'RULE',
  normalize(text) {
    const rule = text.toUpperCase();
    if (!(rule in rules)) {
      const ids = ruleIds();
      throw new BadArgument(`unknown rule '${text}' (rule ids run ${ids[0]} … ${ids[ids.length - 1]}; the README's "Rules" section lists them)`);
    }
    return rule;
  },
  values: () => ruleIds().map((value) => ({ value, help: `${rules[value]!.severity}, ${rules[value]!.category}: ${rules[value]!.title}` })),
};

const severityArg: ArgKind = {
  placeholder: 'SEVERITY',
  normalize(text) {
    const severity = text.toLowerCase();
    if (!severities.includes(severity as Severity)) throw new BadArgument(`unknown severity '${text}' (known: error, warning, info)`);
    return severity;
  },
  values: () => [...severities].reverse().map((value) => ({ value, help: value === 'info' ? 'any finding' : value === 'warning' ? 'a warning or an error' : 'an error' })),
};

export const argKinds = { regex: regexArg, status: statusArg, category: categoryArg, rule: ruleArg, severity: severityArg } as const;
export type ArgKindName = keyof typeof argKinds;

/** How an entry names columns and binds values in its SQL (the store decides, per database). */
export interface SqlContext {
  /** A `?` bound to `value`: call it in the order the placeholders appear in the text. */
  param(value: string | number): string;
  /** A flows column (`f.status`), or what it reads as in a file written before it existed. */
  column(name: string): string;
  /**
   * The distinct values recorded in an indexed flows column (the methods: a handful), when the
   * store can read them cheaply off the column's index. A code that matches such a column by regex
   * runs the regex over these values here and gives SQLite the matching ones, which its index finds
   * in seq order, rather than a regex per row.
   */
  distinct?(column: 'method'): readonly string[];
  /**
   * When the query is limited to a range of seqs (a count taken a range at a time), the same limit
   * on a subquery's column holding flow seqs (` AND x.flow_seq > ? AND x.flow_seq <= ?`, or ''), so
   * that the subquery reads only that range of its index rather than all of it for every range.
   */
  seqRange(column: string): string;
  /**
   * Where the file keeps whole bodies: `perFlow`, a row per flow in `flow_bodies` (columns request,
   * response, decoded; schema 12 on); `perKind`, a row per body in `bodies` (kind, bytes): all of
   * them in an older file, those of the flows recorded before the upgrade in an upgraded one.
   */
  bodies: { perFlow: boolean; perKind: boolean };
}

export interface FilterCode {
  /** Without the `~`. */
  code: string;
  /** The argument's kind; null for a code that takes none. */
  arg: ArgKindName | null;
  help: string;
  /** mitmproxy's code (same meaning) or one only davtap has. */
  origin: 'mitmproxy' | 'davtap';
  /** Judged on what the response head tells (the only codes `--inject-filter` accepts). */
  atHead: boolean;
  /**
   * Looks at the response alone (or at whether there is one): an intercept filter that names such
   * a code holds responses too, judged again once the response has arrived (as mitmproxy judges
   * every filter at the request and at the response).
   */
  response?: true;
  /** `arg` is the normalized argument ('' for a code without one). */
  match(flow: FilterableFlow, arg: string): boolean;
  /**
   * A boolean SQL expression over `flows f` saying the same as `match`, its values bound through
   * `ctx.param`.
   */
  sql(arg: string, ctx: SqlContext): string;
}

// --- what several entries share -------------------------------------------------------------

const anyLine = (re: RegExp, raw: readonly string[] | undefined): boolean => raw !== undefined && headerLines(raw).some((line) => re.test(line));
const anyContentType = (re: RegExp, raw: readonly string[] | undefined): boolean => raw !== undefined && contentTypes(raw).some((v) => re.test(v));

/** mitmproxy's asset types (`~a`), searched in each response Content-Type. */
export const assetPattern = 'text/javascript|application/x-javascript|application/javascript|text/css|image/.*|font/.*|application/font.*';

/** The response body as `~bs` sees it: the decoded copy of a gzip/br body when there is one. */
const responseBody = (flow: FilterableFlow): Uint8Array | undefined => (flow.response ? (flow.response.decoded ?? flow.response.body).bytes : undefined);

/**
 * Whether a stored body BLOB `x` matches the regex `arg`. SQLite hands the body over as TEXT (no
 * copy, unlike a BLOB: half the time of a search) read as UTF-8, as `bodyMatches` reads it. When the
 * pattern holds literal text (literal.ts), SQLite's LIKE first rules out, in C, the bodies that
 * cannot match, and answers alone for a pattern that is nothing but that text. LIKE stops at a NUL
 * byte and counts bytes that are no ASCII as characters of their own: when the body's length in
 * characters up to its first NUL differs from its length in bytes, LIKE's "no" is not trusted and
 * the regex decides.
 */
function bodyTest(x: string, arg: string, ctx: SqlContext): string {
  const text = `CAST(${x} AS TEXT)`;
  const prefilter = likePrefilter(arg);
  if (!prefilter) return `body_match(${ctx.param(arg)}, ${text})`;
  // In the order of the placeholders.
  const like = `CASE WHEN ${text} LIKE ${ctx.param(prefilter.like)} ESCAPE '\\'`;
  const onLike = prefilter.exact ? '1' : `body_match(${ctx.param(arg)}, ${text})`;
  return `${like} THEN ${onLike} WHEN length(${text}) = length(${x}) THEN 0 ELSE body_match(${ctx.param(arg)}, ${text}) END`;
}

/**
 * A stored request or response body matches `arg`, wherever the store keeps it: whole in
 * `flow_bodies` (or, for flows recorded before schema 12, in `bodies`), or a response in 256 KiB
 * `body_parts` (joined in part order by `join_parts`). The response's is its decoded copy when the
 * flow has one (a gzip/br response), its payload otherwise. A flow without a stored body matches nothing.
 */
function storedBodyMatches(body: 'request' | 'response', arg: string, ctx: SqlContext): string {
  const decoded = `${ctx.column('decoded_bytes_seen')} IS NOT NULL`;
  // Params in the order of the text: the whole body's tests first.
  const tests: string[] = [];
  if (ctx.bodies.perFlow) {
    const column = body === 'request' ? 'b.request' : `(CASE WHEN ${decoded} THEN b.decoded ELSE b.response END)`;
    tests.push(`EXISTS (SELECT 1 FROM flow_bodies b WHERE b.flow_seq = f.seq AND ${column} IS NOT NULL AND ${bodyTest(column, arg, ctx)})`);
  }
  const kind = body === 'request' ? "'request'" : `(CASE WHEN ${decoded} THEN 'decoded' ELSE 'response' END)`;
  if (ctx.bodies.perKind) tests.push(`EXISTS (SELECT 1 FROM bodies k WHERE k.flow_seq = f.seq AND k.kind = ${kind} AND ${bodyTest('k.bytes', arg, ctx)})`);
  if (body === 'response') {
    tests.push(
      `(EXISTS (SELECT 1 FROM body_parts q WHERE q.flow_id = f.id AND q.kind = ${kind}) AND ` +
        `body_match(${ctx.param(arg)}, CAST((SELECT join_parts(p.part, p.bytes) FROM body_parts p WHERE p.flow_id = f.id AND p.kind = ${kind}) AS TEXT)))`,
    );
  }
  return tests.length === 1 ? tests[0]! : `(${tests.join(' OR ')})`;
}

/**
 * `~h` and its kin: the regex over the header lines of the columns named (request, response), after
 * SQLite's LIKE has ruled out in C the headers that cannot hold a matching line (literal.ts).
 */
function headersSql(arg: string, ctx: SqlContext, request: boolean, response: boolean): string {
  const like = headerLikePrefilter(arg);
  const columns = [request ? 'f.request_headers' : null, response ? 'f.response_headers' : null].filter((c) => c !== null);
  // In the order of the placeholders: the LIKE tests first.
  const tests = like === null ? null : columns.map((c) => `${c} LIKE ${ctx.param(like)} ESCAPE '\\'`).join(' OR ');
  const match = `header_match(${ctx.param(arg)}, ${request ? 'f.request_headers' : 'NULL'}, ${response ? 'f.response_headers' : 'NULL'})`;
  return tests === null ? match : `((${tests}) AND ${match})`;
}

const requestBodySql = (arg: string, ctx: SqlContext): string => storedBodyMatches('request', arg, ctx);
const responseBodySql = (arg: string, ctx: SqlContext): string => storedBodyMatches('response', arg, ctx);

const findings = (flow: FilterableFlow) => flow.analysis?.findings ?? [];

/**
 * The distinct methods recorded, as a query (column `m`): a walk of the method index from one
 * value to the next (a few look-ups per method), not a scan of every entry.
 */
export const distinctMethodsSql =
  'WITH RECURSIVE d(m) AS (SELECT min(method) FROM flows UNION ALL SELECT (SELECT min(method) FROM flows WHERE method > d.m) FROM d WHERE d.m IS NOT NULL) SELECT m FROM d WHERE m IS NOT NULL';

// --- the table --------------------------------------------------------------------------------

export const filterCodes: readonly FilterCode[] = [
  {
    code: 'a',
    arg: null,
    help: 'asset in the response: CSS, JavaScript, images, fonts (by Content-Type)',
    origin: 'mitmproxy',
    atHead: true,
    response: true,
    match: (flow) => anyContentType(cachedPattern(assetPattern), flow.response?.rawHeaders),
    sql: (_arg, ctx) => `content_type_match(${ctx.param(assetPattern)}, ${ctx.column('response_headers')})`,
  },
  {
    code: 'all',
    arg: null,
    help: 'every flow',
    origin: 'mitmproxy',
    atHead: true,
    match: () => true,
    sql: () => '1',
  },
  {
    code: 'b',
    arg: 'regex',
    help: 'request or response body (a gzip/br response decoded)',
    origin: 'mitmproxy',
    atHead: false,
    match: (flow, arg) => {
      const re = cachedPattern(arg, 'body');
      return bodyMatches(re, flow.request.body.bytes) || bodyMatches(re, responseBody(flow));
    },
    sql: (arg, ctx) => `(${requestBodySql(arg, ctx)} OR ${responseBodySql(arg, ctx)})`,
  },
  {
    code: 'bq',
    arg: 'regex',
    help: 'request body',
    origin: 'mitmproxy',
    atHead: false,
    match: (flow, arg) => bodyMatches(cachedPattern(arg, 'body'), flow.request.body.bytes),
    sql: (arg, ctx) => requestBodySql(arg, ctx),
  },
  {
    code: 'bs',
    arg: 'regex',
    help: 'response body (a gzip/br response decoded)',
    origin: 'mitmproxy',
    atHead: false,
    response: true,
    match: (flow, arg) => bodyMatches(cachedPattern(arg, 'body'), responseBody(flow)),
    sql: (arg, ctx) => responseBodySql(arg, ctx),
  },
  {
    code: 'c',
    arg: 'status',
    help: 'response status: 207, or a class such as 4xx',
    origin: 'mitmproxy',
    atHead: true,
    response: true,
    match: (flow, arg) => {
      const { min, max } = statusRange(arg);
      const status = flow.response?.status;
      return status !== undefined && status >= min && status <= max;
    },
    sql: (arg, ctx) => {
      const { min, max } = statusRange(arg);
      return min === max ? `f.status = ${ctx.param(min)}` : `f.status BETWEEN ${ctx.param(min)} AND ${ctx.param(max)}`;
    },
  },
  {
    code: 'd',
    arg: 'regex',
    help: "domain: the host name of the request's URL or Host header",
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => domainsOf(flow.request.url, flow.request.rawHeaders).some((name) => cachedPattern(arg).test(name)),
    sql: (arg, ctx) => `domain_match(${ctx.param(arg)}, f.url, f.request_headers)`,
  },
  {
    code: 'e',
    arg: null,
    help: 'error: the exchange did not end cleanly (cut, reset, refused, timeout)',
    origin: 'mitmproxy',
    atHead: false,
    match: (flow) => flow.outcome.kind !== 'complete',
    sql: () => "f.outcome_kind <> 'complete'",
  },
  {
    code: 'h',
    arg: 'regex',
    help: 'a request or response header line ("Name: value")',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => anyLine(cachedPattern(arg), flow.request.rawHeaders) || anyLine(cachedPattern(arg), flow.response?.rawHeaders),
    sql: (arg, ctx) => headersSql(arg, ctx, true, true),
  },
  {
    code: 'hq',
    arg: 'regex',
    help: 'a request header line',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => anyLine(cachedPattern(arg), flow.request.rawHeaders),
    sql: (arg, ctx) => headersSql(arg, ctx, true, false),
  },
  {
    code: 'hs',
    arg: 'regex',
    help: 'a response header line',
    origin: 'mitmproxy',
    atHead: true,
    response: true,
    match: (flow, arg) => anyLine(cachedPattern(arg), flow.response?.rawHeaders),
    sql: (arg, ctx) => headersSql(arg, ctx, false, true),
  },
  {
    code: 'm',
    arg: 'regex',
    help: 'request method (PROPFIND; PROP matches PROPFIND and PROPPATCH)',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => cachedPattern(arg).test(flow.request.method),
    // The methods recorded are few: the regex runs over the distinct ones and the method index
    // then finds their flows, rather than the regex running on every row. `f.method = ?` (one
    // method) lets the index hand over its flows in seq order: a first page without a sort.
    sql: (arg, ctx) => {
      const methods = ctx.distinct?.('method');
      if (!methods) return `f.method IN (SELECT m FROM (${distinctMethodsSql}) WHERE m REGEXP ${ctx.param(arg)})`;
      const re = cachedPattern(arg);
      const hits = methods.filter((m) => re.test(m));
      if (hits.length === 0) return '0';
      return hits.length === 1 ? `f.method = ${ctx.param(hits[0]!)}` : `f.method IN (${hits.map((m) => ctx.param(m)).join(', ')})`;
    },
  },
  {
    code: 'marked',
    arg: null,
    help: 'flows marked in the UI',
    origin: 'mitmproxy',
    atHead: false,
    match: (flow) => flow.marked === true,
    sql: (_arg, ctx) => `${ctx.column('marked')} <> 0`,
  },
  {
    code: 'q',
    arg: null,
    help: 'a request without a response',
    origin: 'mitmproxy',
    atHead: false,
    response: true,
    match: (flow) => flow.response === null,
    sql: () => 'f.status IS NULL',
  },
  {
    code: 's',
    arg: null,
    help: 'has a response (the status is ~c)',
    origin: 'mitmproxy',
    atHead: true,
    response: true,
    match: (flow) => flow.response !== null,
    sql: () => 'f.status IS NOT NULL',
  },
  {
    code: 't',
    arg: 'regex',
    help: 'Content-Type of the request or the response',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => anyContentType(cachedPattern(arg), flow.request.rawHeaders) || anyContentType(cachedPattern(arg), flow.response?.rawHeaders),
    sql: (arg, ctx) => `(content_type_match(${ctx.param(arg)}, f.request_headers) OR content_type_match(${ctx.param(arg)}, f.response_headers))`,
  },
  {
    code: 'tq',
    arg: 'regex',
    help: 'request Content-Type',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => anyContentType(cachedPattern(arg), flow.request.rawHeaders),
    sql: (arg, ctx) => `content_type_match(${ctx.param(arg)}, f.request_headers)`,
  },
  {
    code: 'ts',
    arg: 'regex',
    help: 'response Content-Type',
    origin: 'mitmproxy',
    atHead: true,
    response: true,
    match: (flow, arg) => anyContentType(cachedPattern(arg), flow.response?.rawHeaders),
    sql: (arg, ctx) => `content_type_match(${ctx.param(arg)}, f.response_headers)`,
  },
  {
    code: 'u',
    arg: 'regex',
    help: 'URL; a bare word means ~u WORD',
    origin: 'mitmproxy',
    atHead: true,
    match: (flow, arg) => cachedPattern(arg).test(flow.request.url),
    // SQLite's LIKE rules out in C the URLs that cannot match (literal.ts) before the regex runs.
    sql: (arg, ctx) => {
      const prefilter = likePrefilter(arg);
      if (!prefilter) return `f.url REGEXP ${ctx.param(arg)}`;
      const like = `f.url LIKE ${ctx.param(prefilter.like)} ESCAPE '\\'`;
      return prefilter.exact ? like : `(${like} AND f.url REGEXP ${ctx.param(arg)})`;
    },
  },
  // IN (not a correlated EXISTS): SQLite builds the set once from the covering index
  // (category or rule, flow_seq), which is what paging deep into a filtered list needs.
  {
    code: 'f',
    arg: 'category',
    help: `a finding of this category: ${categories.join(', ')}`,
    origin: 'davtap',
    atHead: false,
    match: (flow, arg) => findings(flow).some((f) => f.category === arg),
    sql: (arg, ctx) => `f.seq IN (SELECT x.flow_seq FROM findings x WHERE x.category = ${ctx.param(arg)}${ctx.seqRange('x.flow_seq')})`,
  },
  {
    code: 'r',
    arg: 'rule',
    help: 'a finding of this rule (MS001)',
    origin: 'davtap',
    atHead: false,
    match: (flow, arg) => findings(flow).some((f) => f.rule === arg),
    sql: (arg, ctx) => `f.seq IN (SELECT x.flow_seq FROM findings x WHERE x.rule = ${ctx.param(arg)}${ctx.seqRange('x.flow_seq')})`,
  },
  {
    code: 'sev',
    arg: 'severity',
    help: 'a finding of at least this severity: error; warning (or error); info (any finding)',
    origin: 'davtap',
    atHead: false,
    match: (flow, arg) => {
      const least = severities.indexOf(arg as Severity);
      return findings(flow).some((f) => severities.indexOf(f.severity) >= least);
    },
    sql: (arg) => {
      const counted = severities.slice(severities.indexOf(arg as Severity)).map((s) => `f.findings_${s} > 0`);
      return `(${counted.join(' OR ')})`;
    },
  },
  {
    code: 'i',
    arg: null,
    help: 'a fault injection was applied (--inject)',
    origin: 'davtap',
    atHead: false,
    match: (flow) => flow.injected !== undefined && flow.injected !== null,
    sql: () => 'f.injected IS NOT NULL',
  },
];

const byCode = new Map(filterCodes.map((c) => [c.code, c]));

/** The entry for `code` (without `~`), or undefined. */
export function filterCode(code: string): FilterCode | undefined {
  return byCode.get(code);
}
