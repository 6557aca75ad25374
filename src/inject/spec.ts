// The --inject grammar: a comma-separated list of faults, each `NAME[:ARG…]`. Parsing is strict:
// anything not in the grammar is a one-line usage error that lists every valid form.
import { UsageError } from '../errors.js';

/** How a truncated body ends for the client. */
export type CutFraming =
  /** Upstream's framing and Content-Length kept: the body is short and the connection closes. */
  | 'keep'
  /** Content-Length set to the cut length: a complete message whose XML stops early. */
  | 'keep-length'
  /** Sent chunked, and the connection closes without the terminating zero-size chunk. */
  | 'chunked';

export type InjectSpec =
  | { kind: 'truncate-bytes'; text: string; bytes: number; framing: 'keep' | 'chunked' }
  | { kind: 'truncate-responses'; text: string; responses: number; framing: CutFraming }
  | { kind: 'strip-ns'; text: string; prefix?: string; uri?: string }
  | { kind: 'drop'; text: string; localName: string }
  | { kind: 'rewrite-href'; text: string; origin?: string; prefix: string }
  | { kind: 'html'; text: string }
  | { kind: 'gzip-no-header'; text: string }
  | { kind: 'delay'; text: string; ms: number }
  | { kind: 'stall'; text: string; after: number; ms?: number }
  | { kind: 'reset'; text: string; after?: number };

/** One documented way of writing a fault: one line of `--help`, one row of the README's fault table. */
export interface FaultForm {
  /** The spec as written, placeholders in capitals (two spellings of one fault share a row). */
  readonly specs: readonly string[];
  /** What the client gets, in a few words (`--help`). */
  readonly help: string;
  /** The findings the client's copy leads to (the README's last column), `none` when there are none. */
  readonly finding: string;
}

/** A fault's grammar in one line (as the usage error lists it) and its documented forms. */
export interface FaultEntry {
  readonly grammar: string;
  readonly forms: readonly FaultForm[];
}

/**
 * The catalogue of faults, the one table behind what davtap says about --inject: the usage error
 * lists the grammars, `--help`'s fault list is generated from the forms (faultHelp), and the
 * README's fault table is tested against them in both directions, findings included
 * (test/inject/catalogue.test.ts), as is the parser: every form here parses, and every fault name
 * the parser knows is here.
 */
export const faultCatalogue: readonly FaultEntry[] = [
  {
    grammar: 'truncate:bytes=N[:chunked]',
    forms: [
      { specs: ['truncate:bytes=N'], help: 'close the connection after N body bytes, Content-Length kept', finding: 'MS001' },
      { specs: ['truncate:bytes=N:chunked'], help: 'send chunked and close after N bytes, no terminating chunk', finding: 'MS002' },
    ],
  },
  {
    grammar: 'truncate:responses=N[:keep-length|:chunked]',
    forms: [
      { specs: ['truncate:responses=N'], help: 'cut right after the Nth </response>, Content-Length kept, close', finding: 'MS001' },
      { specs: ['truncate:responses=N:keep-length'], help: '… with Content-Length set to the cut length (clean end)', finding: 'MS006' },
      { specs: ['truncate:responses=N:chunked'], help: '… sent chunked, no terminating chunk', finding: 'MS002' },
    ],
  },
  {
    grammar: 'strip-ns:PREFIX|URI',
    forms: [{ specs: ['strip-ns:PREFIX', 'strip-ns:URI'], help: 'remove the declaration of PREFIX, or every declaration of URI', finding: 'MS104 (MS107 for a default namespace)' }],
  },
  {
    grammar: 'drop:LOCALNAME',
    forms: [{ specs: ['drop:LOCALNAME'], help: 'remove every element with this local name (propstat, href, …)', finding: 'MS202, MS201…' }],
  },
  {
    grammar: 'rewrite-href:http://HOST[:PORT][/PREFIX]|/PREFIX',
    forms: [
      { specs: ['rewrite-href:http://HOST[:PORT][/PREFIX]'], help: 'hrefs moved to that origin (and under PREFIX)', finding: 'MS304, MS303' },
      { specs: ['rewrite-href:/PREFIX'], help: 'hrefs moved under that path prefix', finding: 'MS303' },
    ],
  },
  { grammar: 'html', forms: [{ specs: ['html'], help: 'replace the body with an HTML error page (status kept)', finding: 'MS108' }] },
  { grammar: 'gzip-no-header', forms: [{ specs: ['gzip-no-header'], help: 'gzip the body but send no Content-Encoding', finding: 'MS405' }] },
  { grammar: 'delay:MS', forms: [{ specs: ['delay:MS'], help: 'hold the response MS milliseconds before sending anything', finding: 'none' }] },
  {
    grammar: 'stall:after=BYTES[:ms=MS]',
    forms: [{ specs: ['stall:after=BYTES[:ms=MS]'], help: 'pause after BYTES body bytes (MS ms; default until the client gives up)', finding: 'MS001 when the client gives up' }],
  },
  {
    grammar: 'reset[:after=BYTES]',
    forms: [{ specs: ['reset', 'reset:after=BYTES'], help: 'reset the connection before the head, or after BYTES body bytes', finding: 'MS001/MS002/MS003 by framing' }],
  },
];

/** Every fault's grammar, as the usage error lists them. */
export const specForms: readonly string[] = faultCatalogue.map((f) => f.grammar);

/** `--help`'s fault list: one form per line, its description from column 34 (or on the next line). */
export function faultHelp(): string {
  const column = 33;
  return faultCatalogue
    .flatMap((f) => f.forms)
    .map((form) => {
      const label = `  ${form.specs.join(' | ')}`;
      return label.length < column - 1 ? `${label.padEnd(column)}${form.help}` : `${label}\n${' '.repeat(column)}${form.help}`;
    })
    .join('\n');
}

export class InjectSpecError extends UsageError {
  constructor(spec: string, why: string) {
    super(`--inject: '${spec}' ${why} (forms: ${specForms.join(', ')})`);
    this.name = 'InjectSpecError';
  }
}

const ncName = /^[A-Za-z_][\w.-]*$/;

function count(spec: string, what: string, text: string | undefined): number {
  if (text === undefined || !/^\d{1,15}$/.test(text)) throw new InjectSpecError(spec, `needs ${what} as a whole number`);
  return Number(text);
}

/** `key=value` with the expected key, or an error naming it. */
function keyed(spec: string, part: string | undefined, key: string): string {
  const prefix = `${key}=`;
  if (part === undefined || !part.startsWith(prefix)) throw new InjectSpecError(spec, `needs ${key}=N`);
  return part.slice(prefix.length);
}

function noMore(spec: string, rest: string[]): void {
  if (rest.length > 0) throw new InjectSpecError(spec, `has an unexpected ':${rest.join(':')}'`);
}

function parseHrefTarget(spec: string, arg: string): { origin?: string; prefix: string } {
  const trimPrefix = (p: string) => p.replace(/\/+$/, '');
  if (arg.startsWith('/')) {
    if (/[\s?#]/.test(arg)) throw new InjectSpecError(spec, 'needs a path prefix without spaces, query or fragment');
    return { prefix: trimPrefix(arg) };
  }
  let url: URL;
  try {
    url = new URL(arg);
  } catch {
    throw new InjectSpecError(spec, 'needs an http(s) URL or a /prefix');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    throw new InjectSpecError(spec, 'needs an http(s) URL without query, fragment or credentials, or a /prefix');
  }
  return { origin: url.origin, prefix: trimPrefix(url.pathname) };
}

/** Parses one fault. Throws InjectSpecError (exit 2) when it is not in the grammar. */
export function parseInjectSpec(spec: string): InjectSpec {
  const text = spec.trim();
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const arg = colon < 0 ? undefined : text.slice(colon + 1);
  const parts = arg === undefined ? [] : arg.split(':');
  switch (name) {
    case 'truncate': {
      const [what, mode, ...rest] = parts;
      noMore(text, rest);
      if (what?.startsWith('bytes=')) {
        if (mode !== undefined && mode !== 'chunked') throw new InjectSpecError(text, `has an unknown mode '${mode}' (bytes=N takes :chunked)`);
        return { kind: 'truncate-bytes', text, bytes: count(text, 'bytes=N', what.slice(6)), framing: mode === 'chunked' ? 'chunked' : 'keep' };
      }
      if (what?.startsWith('responses=')) {
        if (mode !== undefined && mode !== 'chunked' && mode !== 'keep-length') throw new InjectSpecError(text, `has an unknown mode '${mode}'`);
        const responses = count(text, 'responses=N', what.slice(10));
        if (responses < 1) throw new InjectSpecError(text, 'needs responses=N with N at least 1');
        return { kind: 'truncate-responses', text, responses, framing: mode ?? 'keep' };
      }
      throw new InjectSpecError(text, 'needs bytes=N or responses=N');
    }
    case 'strip-ns': {
      if (arg === undefined || arg === '') throw new InjectSpecError(text, 'needs a prefix or a namespace URI');
      // A prefix is an NCName; anything else (DAV:, urn:…, http://…) is a namespace URI.
      return ncName.test(arg) ? { kind: 'strip-ns', text, prefix: arg } : { kind: 'strip-ns', text, uri: arg };
    }
    case 'drop': {
      if (arg === undefined || !ncName.test(arg)) throw new InjectSpecError(text, 'needs an element local name such as propstat or href');
      return { kind: 'drop', text, localName: arg };
    }
    case 'rewrite-href': {
      if (arg === undefined || arg === '') throw new InjectSpecError(text, 'needs an http(s) URL or a /prefix');
      return { kind: 'rewrite-href', text, ...parseHrefTarget(text, arg) };
    }
    case 'html':
    case 'gzip-no-header':
      if (arg !== undefined) throw new InjectSpecError(text, 'takes no argument');
      return { kind: name, text };
    case 'delay': {
      noMore(text, parts.slice(1));
      return { kind: 'delay', text, ms: count(text, 'MS', parts[0]) };
    }
    case 'stall': {
      const [after, ms, ...rest] = parts;
      noMore(text, rest);
      const bytes = count(text, 'after=BYTES', keyed(text, after, 'after'));
      if (ms === undefined) return { kind: 'stall', text, after: bytes };
      return { kind: 'stall', text, after: bytes, ms: count(text, 'ms=MS', keyed(text, ms, 'ms')) };
    }
    case 'reset': {
      if (arg === undefined) return { kind: 'reset', text };
      noMore(text, parts.slice(1));
      return { kind: 'reset', text, after: count(text, 'after=BYTES', keyed(text, parts[0], 'after')) };
    }
    default:
      throw new InjectSpecError(text, name === '' ? 'is empty' : 'is not a known fault');
  }
}

/** Parses `SPEC[,SPEC…]`; the faults apply in the order given. */
export function parseInjectSpecs(text: string): InjectSpec[] {
  const specs = text.split(',').map((s) => s.trim());
  if (specs.every((s) => s === '')) throw new InjectSpecError(text, 'is empty');
  return specs.map(parseInjectSpec);
}
