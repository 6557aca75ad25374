// `davtap verify`: proves that a gateway passes 207 Multi-Status bodies through intact, or says in
// words where it does not.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { prefixMap, type PrefixMap } from '../analysis/compare.js';
import { DavtapError, UsageError } from '../errors.js';
import type { Category, Severity } from '../types.js';
import { categories, renderJson, renderJunit, renderText, reportFails, severities, type FailOn } from '../verify/report.js';
import { verify } from '../verify/run.js';
import { parseCommandArgs, parseSize } from './args.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap verify --origin URL --via URL [--path P]… [--depth N] [--map VIA=ORIGIN]
                     [--auth USER:PASS] [--insecure] [--accept-encoding E] [--fail-on LEVEL]
                     [--concurrency N] [--json] [--junit FILE]

Sends the same WebDAV requests to the origin and through a gateway (nginx, Apache mod_proxy,
Caddy, a CDN, a WAF) and compares the answers: status, framing, Content-Type, Content-Encoding,
the bytes, and the multistatus itself (hrefs after prefix mapping, per-resource statuses,
per-property statuses and values). Both copies are also checked with the 207 rules.

It crawls the origin with PROPFIND Depth 1 from each --path, and on every collection found sends
PROPFIND allprop, propname and a named property set, plus calendar-query/calendar-multiget and
addressbook-query/addressbook-multiget where the origin advertises CalDAV or CardDAV.

Options:
  --origin URL         the WebDAV server itself, e.g. http://127.0.0.1:8080/
  --via URL            the same server through the gateway, e.g. http://127.0.0.1/dav/
  --path P             where to start, relative to both URLs (repeatable; default /)
  --depth N            collection levels to list below each path (default 2: the path and its
                       child collections)
  --max-collections N  visit at most N collections in all (default 100)
  --concurrency N      list up to N collections at a time (default 1), for large trees
  --map VIA=ORIGIN     path prefix mapping, e.g. /dav/=/ (default: the difference between the
                       paths of --via and --origin)
  --auth USER:PASS     Basic authentication for both sides (never printed)
  --insecure           accept any TLS certificate (self-signed test gateways)
  --accept-encoding E  send Accept-Encoding: E with every request, as clients such as rclone do
                       (default: none, so that any compression is the gateway's own idea)
  --timeout SECONDS    give up on a response after this long without a byte (default 10)
  --max-time SECONDS   give up on a response that takes longer than this in all (default 60)
  --max-bytes SIZE     read at most SIZE of one response (default 64MiB); a larger answer is
                       reported as not compared, never as cut by the gateway
  --fail-on LEVEL      exit 1 when a difference reaches LEVEL: a severity (error, warning, info)
                       or a category (truncation, stripped, malformed, semantic, partial-failure,
                       security: its warnings and errors). Default: error.
  --json               print the whole report as JSON
  --junit FILE         also write a JUnit XML file: one testcase per path
  -h, --help           this help

Exit status: 0 the gateway's answers equal the origin's up to the mapping (no difference reached
--fail-on), 1 one did, 2 usage or network error.
`;

interface VerifyFlags {
  origin?: string;
  via?: string;
  path?: string[];
  depth?: string;
  'max-collections'?: string;
  concurrency?: string;
  map?: string;
  auth?: string;
  insecure?: boolean;
  'accept-encoding'?: string;
  timeout?: string;
  'max-time'?: string;
  'max-bytes'?: string;
  'fail-on'?: string;
  json?: boolean;
  junit?: string;
}

/** A user's value quoted for a one-line message (control characters escaped). */
const shown = (v: string): string => ([...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) ? JSON.stringify(v) : `'${v}'`);

function parseFailOn(text: string | undefined): FailOn {
  const v = (text ?? 'error').trim().toLowerCase();
  if ((severities as string[]).includes(v)) return { kind: 'severity', at: v as Severity };
  if ((categories as string[]).includes(v)) return { kind: 'category', category: v as Category };
  throw new UsageError(`verify: --fail-on ${shown(text ?? '')} is neither a severity (${severities.join(', ')}) nor a category (${categories.join(', ')})`);
}

function parseUrl(flag: string, text: string | undefined): string {
  if (text === undefined) throw new UsageError(`verify: ${flag} URL is required (see 'davtap verify --help')`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`verify: ${flag} ${shown(text)} is not a URL (example: http://127.0.0.1:8080/)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`verify: ${flag} ${shown(text)} must be an http:// or https:// URL`);
  if (u.username || u.password) throw new UsageError(`verify: ${flag}: give credentials with --auth, not in the URL`);
  if (u.search || u.hash) throw new UsageError(`verify: ${flag} ${shown(text)} must not carry a query or fragment`);
  return u.href;
}

function parseCount(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) throw new UsageError(`verify: ${flag} ${shown(text)} must be a whole number from ${min} to ${max}`);
  return Number(text);
}

function parseMap(text: string | undefined): PrefixMap | undefined {
  if (text === undefined) return undefined;
  const m = /^(\/[^=]*)=(\/[^=]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`verify: --map ${shown(text)} must be VIA_PREFIX=ORIGIN_PREFIX, both absolute paths (example: /dav/=/)`);
  return prefixMap(m[1]!, m[2]!);
}

export const command: Command = {
  summary: 'compare a gateway\'s 207 answers with the origin\'s',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantHelp } = parseCommandArgs<VerifyFlags>('verify', args, {
      origin: { type: 'string' },
      via: { type: 'string' },
      path: { type: 'string', multiple: true },
      depth: { type: 'string' },
      'max-collections': { type: 'string' },
      concurrency: { type: 'string' },
      map: { type: 'string' },
      auth: { type: 'string' },
      insecure: { type: 'boolean' },
      'accept-encoding': { type: 'string' },
      timeout: { type: 'string' },
      'max-time': { type: 'string' },
      'max-bytes': { type: 'string' },
      'fail-on': { type: 'string' },
      json: { type: 'boolean' },
      junit: { type: 'string' },
    });
    if (wantHelp) {
      io.stdout.write(help);
      return 0;
    }
    const origin = parseUrl('--origin', values.origin);
    const via = parseUrl('--via', values.via);
    const failOn = parseFailOn(values['fail-on']);
    const depth = parseCount('--depth', values.depth, 2, 1, 32);
    const maxCollections = parseCount('--max-collections', values['max-collections'], 100, 1, 100_000);
    const concurrency = parseCount('--concurrency', values.concurrency, 1, 1, 64);
    const timeout = parseCount('--timeout', values.timeout, 10, 1, 3600);
    const maxTime = parseCount('--max-time', values['max-time'], 60, 1, 36_000);
    const maxBytes = values['max-bytes'] === undefined ? 64 * 1024 * 1024 : parseSize('--max-bytes', values['max-bytes']);
    if (maxBytes < 1024) throw new UsageError('verify: --max-bytes must be at least 1KiB');
    const map = parseMap(values.map);
    if (values.auth !== undefined && !values.auth.includes(':')) throw new UsageError('verify: --auth must be USER:PASS');
    const encoding = values['accept-encoding'];
    if (encoding !== undefined && !/^[\w!#$%&'*+.^`|~-]+(;\s*q=[0-9.]+)?(\s*,\s*[\w!#$%&'*+.^`|~-]+(;\s*q=[0-9.]+)?)*$/.test(encoding.trim())) {
      throw new UsageError(`verify: --accept-encoding ${shown(encoding)} is not a list of codings (example: gzip, br)`);
    }
    for (const p of values.path ?? []) if (!p.startsWith('/')) throw new UsageError(`verify: --path ${shown(p)} must start with /`);

    // On a terminal, one line says which request is under way (stderr: stdout stays the report).
    const tty = io.stderr.isTTY === true;
    let compared = 0;
    const progress = (line: string): void => {
      const width = Math.max(20, (io.stderr.columns ?? 80) - 1);
      io.stderr.write(`\r\x1b[K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    };
    const report = await verify({
      origin,
      via,
      concurrency,
      ...(tty
        ? {
            onStart: (probe: string, viaPath: string) => progress(`verify: ${compared} compared; ${probe} ${viaPath} …`),
            onExchange: () => {
              compared++;
            },
          }
        : {}),
      paths: values.path ?? ['/'],
      depth,
      maxCollections,
      idleTimeoutMs: timeout * 1000,
      totalTimeoutMs: maxTime * 1000,
      maxBytes,
      ...(map ? { map } : {}),
      ...(values.auth !== undefined ? { auth: values.auth } : {}),
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['accept-encoding'] !== undefined ? { acceptEncoding: values['accept-encoding'] } : {}),
    });
    if (tty) io.stderr.write('\r\x1b[K');
    io.stdout.write(values.json ? renderJson(report, failOn) : renderText(report, failOn));
    if (values.junit !== undefined) {
      const file = path.resolve(io.cwd, values.junit);
      try {
        await writeFile(file, renderJunit(report, failOn));
      } catch (err) {
        throw new DavtapError('IO', `verify: cannot write --junit ${file}: ${(err as Error).message}`);
      }
    }
    return reportFails(report, failOn) ? 1 : 0;
  },
};
