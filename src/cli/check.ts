// `davtap check`: offline analysis of saved responses (raw `.http` wire captures, bare `.xml`
// bodies, or every 207 of a `.har`), with the same analyzer the proxy runs live.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { analyze, rules } from '../analysis/analyzer.js';
import { DavtapError, UsageError } from '../errors.js';
import type { Analysis, Category, Finding, OutcomeKind, RawHeaders, RequestContext, ResponseHead, Severity, TransportEnd } from '../types.js';
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

/** One response to analyze, with where it came from. */
export interface CheckInput {
  input: string;
  req: RequestContext;
  head: ResponseHead;
  body: Uint8Array;
  /** How the transfer ended, when the input says (davtap's HAR export); complete otherwise. */
  transport?: TransportEnd;
  /**
   * Set when the body is a prefix because davtap's capture cap (--max-body) stopped recording,
   * not because the server stopped sending: `captured` of `seen` bytes were kept.
   */
  capped?: CappedCapture;
}

export interface CappedCapture {
  captured: number;
  seen: number;
  /** Rule ids the live analysis recorded (it saw every byte), when the input carries them. */
  liveFindings?: string[];
}

export interface CheckResult {
  input: string;
  status: number;
  findings: Finding[];
  resources: Analysis['resources'];
  summary: Analysis['summary'];
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP messages

interface RawMessage {
  startLine: string;
  rawHeaders: RawHeaders;
  body: Uint8Array;
}

/** Splits a message at its first blank line (CRLF CRLF, or LF LF from hand-written files). */
function splitMessage(bytes: Uint8Array, what: string): RawMessage & { rest: Uint8Array } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let headEnd: number;
  let bodyStart: number;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    headEnd = crlf;
    bodyStart = crlf + 4;
  } else if (lf >= 0) {
    headEnd = lf;
    bodyStart = lf + 2;
  } else {
    throw new DavtapError('IO', `${what}: no blank line after the headers`);
  }
  const lines = buf.subarray(0, headEnd).toString('latin1').split(/\r?\n/);
  const rawHeaders: RawHeaders = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new DavtapError('IO', `${what}: malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const rest = buf.subarray(bodyStart);
  return { startLine: lines[0] ?? '', rawHeaders, body: rest, rest };
}

export function parseRawResponse(bytes: Uint8Array, name: string): CheckInput['head'] & { body: Uint8Array } {
  let remaining = bytes;
  // Interim 1xx heads (100 Continue, 102 Processing) precede the final response in a capture.
  for (let guard = 0; guard < 16; guard++) {
    const m = splitMessage(remaining, name);
    const status = /^HTTP\/(\d(?:\.\d)?) (\d{3})(?: (.*))?$/.exec(m.startLine);
    if (!status) throw new DavtapError('IO', `${name}: not a raw HTTP response (first line ${JSON.stringify(m.startLine.slice(0, 60))})`);
    const code = Number(status[2]);
    if (code >= 100 && code < 200 && code !== 101) {
      remaining = m.rest;
      continue;
    }
    return { status: code, reason: status[3] ?? '', httpVersion: status[1]!, rawHeaders: m.rawHeaders, bodyForm: 'wire', body: m.body };
  }
  throw new DavtapError('IO', `${name}: too many interim responses`);
}

export function parseRawRequest(bytes: Uint8Array, name: string): RequestContext {
  const m = splitMessage(bytes, name);
  const line = /^([A-Za-z][A-Za-z-]*) (\S+)(?: HTTP\/\d(?:\.\d)?)?$/.exec(m.startLine.trim());
  if (!line) throw new DavtapError('IO', `${name}: not a raw HTTP request (first line ${JSON.stringify(m.startLine.slice(0, 60))})`);
  const target = line[2]!;
  const abs = /^(https?):\/\/([^/?#]+)/i.exec(target);
  const hostAt = m.rawHeaders.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === 'host');
  const host = hostAt >= 0 ? m.rawHeaders[hostAt + 1] : undefined;
  const req: RequestContext = { method: line[1]!.toUpperCase(), target, rawHeaders: m.rawHeaders, body: m.body };
  if (abs) {
    req.scheme = abs[1]!.toLowerCase() as 'http' | 'https';
    req.authority = abs[2]!;
  } else if (host !== undefined) {
    req.authority = host;
    req.scheme = 'http';
  }
  return req;
}

// ---------------------------------------------------------------------------------------------
// HAR

interface HarHeader {
  name: string;
  value: string;
}
interface HarEntry {
  /**
   * davtap's own export records how the exchange ended, and whether the body was captured whole
   * (`responseComplete` false: the capture cap kept a prefix of `content.size` bytes).
   */
  _davtap?: { outcome?: { kind?: string; code?: string; message?: string }; requestComplete?: boolean; responseComplete?: boolean; findings?: { rule?: unknown }[] };
  request?: { method?: string; url?: string; httpVersion?: string; headers?: HarHeader[]; postData?: { text?: string; encoding?: string } };
  response?: { status?: number; statusText?: string; httpVersion?: string; headers?: HarHeader[]; content?: { size?: number; text?: string; encoding?: string } };
}

const flatten = (headers: HarHeader[] | undefined): RawHeaders => (headers ?? []).flatMap((h) => [String(h.name), String(h.value)]);

export function harInputs(text: string, name: string): CheckInput[] {
  let doc: { log?: { entries?: HarEntry[] } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new DavtapError('IO', `${name}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const entries = doc.log?.entries;
  if (!Array.isArray(entries)) throw new DavtapError('IO', `${name}: not a HAR file (no log.entries)`);
  const out: CheckInput[] = [];
  entries.forEach((e, i) => {
    if (e.response?.status !== 207) return;
    const url = e.request?.url ?? '/';
    const abs = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
    // A request body the capture cap cut would read as a shorter prop list or fewer multiget
    // hrefs, and raise findings about the answer that are not the server's: left out, the
    // request-aware rules that need it stay quiet instead.
    const reqBody = e._davtap?.requestComplete === false ? undefined : e.request?.postData?.text;
    const req: RequestContext = {
      method: (e.request?.method ?? '').toUpperCase(),
      target: abs ? abs[3] || '/' : url,
      rawHeaders: flatten(e.request?.headers),
      ...(abs ? { scheme: abs[1]!.toLowerCase() as 'http' | 'https', authority: abs[2]! } : {}),
      ...(reqBody !== undefined ? { body: Buffer.from(reqBody, e.request?.postData?.encoding === 'base64' ? 'base64' : 'utf8') } : {}),
    };
    const content = e.response.content ?? {};
    let body: Buffer = Buffer.from(content.text ?? '', content.encoding === 'base64' ? 'base64' : 'utf8');
    const capped = cappedCapture(e, body.length);
    // HAR stores the decoded payload: framing and content coding headers no longer describe it,
    // unless the bytes are still compressed (base64 of gzip, as some exporters keep them).
    let stillGzip = body[0] === 0x1f && body[1] === 0x8b;
    if (capped && stillGzip) {
      // A capped gzip stream is cut by davtap, not by the server: decode what there is and
      // analyze that, instead of reporting the cut stream (MS004).
      body = gunzipPrefix(body);
      stillGzip = false;
    }
    const drop = new Set(['transfer-encoding', ...(stillGzip ? [] : ['content-encoding', 'content-length'])]);
    const raw = flatten(e.response.headers);
    const rawHeaders: RawHeaders = [];
    for (let k = 0; k + 1 < raw.length; k += 2) if (!drop.has(raw[k]!.toLowerCase())) rawHeaders.push(raw[k]!, raw[k + 1]!);
    const outcome = e._davtap?.outcome;
    const kinds: OutcomeKind[] = ['complete', 'upstream-aborted', 'client-aborted', 'timeout', 'error'];
    const transport: TransportEnd | undefined =
      outcome?.kind !== undefined && (kinds as string[]).includes(outcome.kind)
        ? {
            outcome: outcome.kind as OutcomeKind,
            ...(outcome.code !== undefined ? { code: outcome.code } : {}),
            ...(outcome.message !== undefined ? { message: outcome.message } : {}),
            ...(outcome.code === 'ECONNRESET' ? { closeKind: 'rst' as const } : {}),
          }
        : undefined;
    out.push({
      ...(transport ? { transport } : {}),
      ...(capped ? { capped } : {}),
      input: `${name}#${i}`,
      req,
      head: { status: 207, reason: e.response.statusText ?? '', httpVersion: (e.response.httpVersion ?? 'HTTP/1.1').replace(/^HTTP\//i, ''), rawHeaders, bodyForm: 'payload' },
      body,
    });
  });
  return out;
}

/** The capture cap's mark on a davtap HAR entry: a body kept as a prefix of what went by. */
function cappedCapture(e: HarEntry, captured: number): CappedCapture | undefined {
  if (e._davtap?.responseComplete !== false) return undefined;
  const size = e.response?.content?.size;
  const seen = typeof size === 'number' && Number.isFinite(size) && size >= captured ? size : captured;
  const live = Array.isArray(e._davtap.findings) ? e._davtap.findings.map((f) => f?.rule).filter((r): r is string => typeof r === 'string') : undefined;
  return { captured, seen, ...(live ? { liveFindings: live } : {}) };
}

/** What a gzip prefix decodes to, as far as it goes (an unreadable one decodes to nothing). */
function gunzipPrefix(bytes: Buffer): Buffer {
  try {
    return zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch {
    return Buffer.alloc(0);
  }
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
    lines.push(`  ${tag} ${f.category}: ${f.message}${f.consequenceOf !== undefined ? p.dim(` (consequence of ${f.consequenceOf})`) : ''}`);
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

export function checkOne(input: CheckInput): CheckResult {
  const transport: TransportEnd = input.transport ?? { outcome: 'complete', closeKind: 'fin' };
  const a = input.capped ? analyzeCapped(input, input.capped, transport) : analyze(input.req, input.head, input.body, transport);
  return { input: input.input, status: input.head.status, findings: a.findings, resources: a.resources, summary: a.summary };
}

/**
 * A body the capture cap cut short (DESIGN.md: the tap's caps are never reported as server
 * truncation). The analyzer is told that its byte budget is exactly what was captured and that
 * more followed (one byte past the prefix, which it never parses): it then stops there as at any
 * of its own limits, with MS703 instead of MS006/MS101 for the missing end, and keeps the rules
 * that need the whole document quiet. MS703 is then worded for what happened: the capture cap.
 */
function analyzeCapped(input: CheckInput, capped: CappedCapture, transport: TransportEnd): Analysis {
  const body = input.body;
  const limitFinding = (offset: number): Finding => ({
    rule: 'MS703',
    severity: 'warning',
    category: 'security',
    message:
      `capture capped at ${capped.captured.toLocaleString('en-US')} of ${capped.seen.toLocaleString('en-US')} bytes (davtap --max-body), not analyzed past it; ` +
      (capped.liveFindings !== undefined
        ? `the live analysis saw every byte and recorded ${capped.liveFindings.length === 0 ? 'no finding' : capped.liveFindings.join(', ')} (_davtap.findings)`
        : 'the cut is davtap\'s, not the server\'s'),
    evidence: { limit: 'capture', offset, captured: capped.captured, bytesSeen: capped.seen, ...(capped.liveFindings !== undefined ? { liveFindings: capped.liveFindings } : {}) },
  });
  if (body.length === 0) {
    const finding = limitFinding(0);
    return { findings: [finding], resources: [], summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 0, warning: 1, info: 0 }, text: 'not analyzed: the capture holds nothing to analyze' } };
  }
  const withMore = Buffer.concat([body, Buffer.alloc(1, 0x20)]);
  const a = analyze(input.req, input.head, withMore, transport, { maxBodyBytes: body.length });
  const at = a.findings.findIndex((f) => f.rule === 'MS703' && f.evidence['limit'] === 'maxBodyBytes');
  const offset = at >= 0 && typeof a.findings[at]!.evidence.offset === 'number' ? a.findings[at]!.evidence.offset : body.length;
  if (at >= 0) a.findings[at] = limitFinding(offset);
  else {
    a.findings.push(limitFinding(offset));
    a.summary.findings.warning++;
  }
  return a;
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
          findings: r.findings.map((f) => ({ rule: f.rule, severity: f.severity, category: f.category, message: f.message, evidence: f.evidence, ...(f.consequenceOf !== undefined ? { consequenceOf: f.consequenceOf } : {}) })),
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
