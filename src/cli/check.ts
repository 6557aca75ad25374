// `davtap check`: offline analysis of saved responses (raw `.http` wire captures, bare `.xml`
// bodies, or every 207 of a `.har`), with the same analyzer the proxy runs live.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { rules } from '../analysis/analyzer.js';
import { DavtapError, UsageError } from '../errors.js';
import { harInputs } from '../readers/har.js';
import { parseRawRequest, parseRawResponse } from '../readers/raw.js';
import { checkOne, type CheckInput, type CheckResult } from '../readers/saved.js';
import type { Category, Finding, RequestContext, Severity } from '../types.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap check [--json] [--request REQ] [--fail-on LEVEL] FILE…

Analyzes saved responses offline with the rules davtap applies to every 207 it relays
(rule ids MS001–MS703, see README "Rules").

FILE is one of:
  *.har    every entry whose response status is 207, with that entry's request as context;
           a body davtap's capture cap cut (export of a --max-body run) is analyzed up to
           the cap and reported as MS703, not as truncation
  *.xml    a bare response body, checked as a 207 with Content-Type application/xml
  other    a raw HTTP response exactly as on the wire (status line, headers, blank line, body
           with its chunked framing and content coding), e.g. saved with 'curl --raw -i'

Options:
  --request REQ      raw HTTP request (request line, headers, blank line, body) behind the
                     responses: enables the request-aware rules (Depth, requested properties,
                     multiget hrefs, sync-token, Prefer, href scope). Applies to every FILE that
                     is not a HAR; without it those rules are skipped.
  --fail-on LEVEL    exit 1 when a finding reaches LEVEL: a severity (error, warning, info) or a
                     category (truncation, stripped, malformed, semantic, partial-failure,
                     security: any warning or error of it). Default: error.
  --json             print {"results":[{input, status, findings, resources, summary}]}
  -h, --help         this help

Exit status: 0 no finding reached --fail-on, 1 one did, 2 usage or I/O error.
`;

const severities: Severity[] = ['info', 'warning', 'error'];
const categories: Category[] = ['truncation', 'stripped', 'malformed', 'semantic', 'partial-failure', 'security'];

interface CheckFlags {
  json?: boolean;
  request?: string;
  'fail-on'?: string;
}

// ---------------------------------------------------------------------------------------------
// Exit status

type FailOn = { kind: 'severity'; at: Severity } | { kind: 'category'; category: Category };

export function parseFailOn(text: string | undefined): FailOn {
  const v = (text ?? 'error').trim().toLowerCase();
  if ((severities as string[]).includes(v)) return { kind: 'severity', at: v as Severity };
  if ((categories as string[]).includes(v)) return { kind: 'category', category: v as Category };
  throw new UsageError(`check: --fail-on '${text}' is neither a severity (${severities.join(', ')}) nor a category (${categories.join(', ')})`);
}

export function reaches(f: Finding, failOn: FailOn): boolean {
  if (failOn.kind === 'severity') return severities.indexOf(f.severity) >= severities.indexOf(failOn.at);
  return f.category === failOn.category && f.severity !== 'info';
}

// ---------------------------------------------------------------------------------------------
// Human output

interface Paint {
  bold(s: string): string;
  sev(s: Severity, text: string): string;
  dim(s: string): string;
}

function paint(on: boolean): Paint {
  const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  const colour: Record<Severity, (s: string) => string> = { error: wrap('31'), warning: wrap('33'), info: wrap('36') };
  return { bold: wrap('1'), dim: wrap('2'), sev: (s, t) => colour[s](t) };
}

const MAX_ROWS = 100;

function evidenceLine(f: Finding): string {
  const e = f.evidence;
  const parts: string[] = [];
  if (typeof e.line === 'number') parts.push(`line ${e.line}:${String(e.column ?? '?')}`);
  if (typeof e.offset === 'number') parts.push(`byte ${e.offset}`);
  if (typeof e.path === 'string' && e.path !== '') parts.push(e.path);
  if (typeof e.href === 'string' && !f.message.includes(e.href)) parts.push(e.href);
  if (typeof e.excerpt === 'string' && e.excerpt !== '') parts.push(JSON.stringify(e.excerpt.length > 80 ? `…${e.excerpt.slice(-80)}` : e.excerpt));
  return parts.join('  ');
}

export function renderHuman(r: CheckResult, p: Paint): string {
  const lines: string[] = [];
  lines.push(p.bold(`${r.input}: ${r.status}, ${r.summary.text}`));
  if (r.resources.length > 0) {
    const rows = r.resources.slice(0, MAX_ROWS).map((res) => {
      const status = res.status !== null ? String(res.status) : res.propstats.map((ps) => ps.status ?? '?').join('/');
      const failed = res.propstats.filter((ps) => ps.status !== null && ps.status >= 400).flatMap((ps) => ps.props.map((q) => `${q.replace(/^\{DAV:\}/, 'D:')} ${ps.status}`));
      return [res.href || '(no href)', status + (res.complete ? '' : ' (incomplete)'), failed.slice(0, 4).join(', ') + (failed.length > 4 ? ` +${failed.length - 4}` : '')];
    });
    const w0 = Math.min(60, Math.max(4, ...rows.map((x) => x[0]!.length)));
    const w1 = Math.max(6, ...rows.map((x) => x[1]!.length));
    lines.push(p.dim(`  ${'href'.padEnd(w0)}  ${'status'.padEnd(w1)}  failed properties`));
    for (const [href, status, failed] of rows) lines.push(`  ${href!.padEnd(w0)}  ${status!.padEnd(w1)}  ${failed}`);
    if (r.resources.length > MAX_ROWS) lines.push(p.dim(`  … ${r.resources.length - MAX_ROWS} more resources (--json lists all)`));
  }
  if (r.findings.length === 0) lines.push('  no findings');
  for (const f of r.findings) {
    const tag = p.sev(f.severity, `${f.severity.padEnd(7)} ${f.rule}`);
    lines.push(`  ${tag} ${f.category} ${p.dim(`[${f.blame}]`)}: ${f.message}${f.consequenceOf !== undefined ? p.dim(` (consequence of ${f.consequenceOf})`) : ''}`);
    const ev = evidenceLine(f);
    if (ev !== '') lines.push(p.dim(`          ${ev}`));
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

async function load(file: string, io: CliIO): Promise<Uint8Array> {
  try {
    return await readFile(path.resolve(io.cwd, file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DavtapError('IO', `check: cannot read ${file}${code === 'ENOENT' ? ': no such file' : code !== undefined ? ` (${code})` : ''}`);
  }
}

export async function inputsOf(file: string, req: RequestContext | undefined, io: CliIO): Promise<CheckInput[]> {
  const bytes = await load(file, io);
  const lower = file.toLowerCase();
  if (lower.endsWith('.har')) return harInputs(Buffer.from(bytes).toString('utf8'), file);
  const context: RequestContext = req ?? { method: '', target: '', rawHeaders: [] };
  if (lower.endsWith('.xml')) {
    return [{ input: file, req: context, head: { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' }, body: bytes }];
  }
  const { body, ...head } = parseRawResponse(bytes, file);
  return [{ input: file, req: context, head, body }];
}

export const command: Command = {
  summary: 'analyze saved 207 responses offline',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals, help: wantsHelp } = parseCommandArgs<CheckFlags>(
      'check',
      args,
      { json: { type: 'boolean' }, request: { type: 'string' }, 'fail-on': { type: 'string' } },
      true,
    );
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    const failOn = parseFailOn(values['fail-on']);
    if (positionals.length === 0) throw new UsageError("check: no FILE given (see 'davtap check --help')");
    const req = values.request !== undefined ? parseRawRequest(await load(values.request, io), values.request) : undefined;
    const results: CheckResult[] = [];
    for (const file of positionals) {
      for (const input of await inputsOf(file, req, io)) results.push(checkOne(input));
    }
    if (values.json === true) {
      const out = {
        results: results.map((r) => ({
          input: r.input,
          status: r.status,
          findings: r.findings.map((f) => ({ rule: f.rule, severity: f.severity, category: f.category, blame: f.blame, message: f.message, evidence: f.evidence, ...(f.consequenceOf !== undefined ? { consequenceOf: f.consequenceOf } : {}) })),
          resources: r.resources,
          summary: r.summary,
        })),
      };
      io.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } else {
      const p = paint(io.stdout.isTTY === true && io.env['NO_COLOR'] === undefined);
      if (results.length === 0) io.stdout.write('no 207 responses in the input\n');
      for (const r of results) io.stdout.write(renderHuman(r, p));
    }
    return results.some((r) => r.findings.some((f) => reaches(f, failOn))) ? 1 : 0;
  },
};

/** Rule ids known to the catalogue (for help texts and tests). */
export const knownRules = Object.keys(rules);
