// The bug-report bundle: a directory a user can zip and attach to an issue. `report.md` tells a
// maintainer what happened flow by flow; the raw `.http` files carry the exact bytes (for
// `davtap check`, or any HTTP tool); `findings.json` is the machine-readable part; `replay.sh`
// and the per-flow scripts send each request again with curl.
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DavtapError } from '../errors.js';
import type { Finding, Flow } from '../types.js';
import { firstHeader, headerValues } from '../http/headers.js';
import { clientUrl, contentCoding, davtapVersion, httpVersion, tlsSides, writePrivateFile, type TlsSides } from './common.js';
import { curlCommand, envNameFor } from './curl.js';
import { failedResources } from './ledger.js';
import { rawRequest, rawResponse } from './raw.js';
import { redactFlow, type Redactor } from '../redact/index.js';

/** Response headers that tell which proxy, CDN or cache answered: the gateway's fingerprint. */
export const fingerprintHeaders: readonly string[] = [
  'Via', 'Server', 'X-Cache', 'X-Cache-Hits', 'X-Cache-Status', 'CF-Ray', 'CF-Cache-Status', 'Age', 'X-Served-By', 'X-Varnish',
  'X-Powered-By', 'X-Amz-Cf-Id', 'X-Amz-Cf-Pop', 'X-Proxy-Cache', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Real-IP', 'X-Request-Id',
  'X-Azure-Ref', 'X-Akamai-Request-ID', 'Server-Timing', 'Alt-Svc', 'DAV', 'MS-Author-Via',
];

export interface ReportOptions {
  /** Where the database was (named in report.md). */
  source?: string;
  /** Clock for the "exported at" line (tests pin it). */
  now?: Date;
}

export interface ReportResult {
  dir: string;
  flows: number;
  /** Every file written, relative to `dir`. */
  files: string[];
}

const MAX_EVIDENCE = 300;
const pad = (n: number): string => String(n).padStart(3, '0');
const int = (n: number): string => n.toLocaleString('en-US');

/** Text safe inside a Markdown table cell. */
const cell = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
/** Text as inline code, with a fence longer than any backtick run inside it. */
function code(s: string): string {
  const runs = s.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s.replace(/\r?\n/g, ' ')}${pad}${fence}`;
}

function outcomeText(flow: Flow): string {
  const o = flow.outcome;
  return [o.kind, o.code, o.message].filter((s) => s !== undefined && s !== '').join(': ');
}

function evidenceLines(f: Finding): string[] {
  const e = f.evidence;
  const where: string[] = [];
  if (typeof e.line === 'number') where.push(`line ${e.line}:${String(e.column ?? '?')}`);
  if (typeof e.offset === 'number') where.push(`byte ${int(e.offset)}`);
  if (typeof e.path === 'string' && e.path !== '') where.push(code(e.path));
  if (typeof e.href === 'string' && e.href !== '') where.push(`href ${code(e.href)}`);
  const lines: string[] = [];
  if (where.length > 0) lines.push(`  - at ${where.join(', ')}`);
  const others = Object.entries(e).filter(([k, v]) => !['line', 'column', 'offset', 'path', 'href', 'excerpt'].includes(k) && v !== undefined);
  // Long values (a matrix of 500 failed properties) are cut here; findings.json has them whole.
  const short = (v: unknown): string => {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s.length > MAX_EVIDENCE ? `${s.slice(0, MAX_EVIDENCE)}… (${int(s.length)} characters, see findings.json)` : s;
  };
  if (others.length > 0) lines.push(`  - ${others.map(([k, v]) => `${k}: ${code(short(v))}`).join('; ')}`);
  if (typeof e.excerpt === 'string' && e.excerpt !== '') {
    const fence = e.excerpt.includes('```') ? '~~~~' : '```';
    lines.push(`  ${fence}`, ...e.excerpt.split(/\r?\n/).map((l) => `  ${l}`), `  ${fence}`);
  }
  return lines;
}

/** "client to davtap over TLS (SNI `dav.example`), davtap to server over TLS (https)". */
function tlsLine(sides: TlsSides): string {
  const client = sides.clientTls ? `over TLS (${sides.clientSni !== null ? `SNI ${code(sides.clientSni)}` : 'no SNI'})` : 'plain HTTP';
  const upstream = sides.upstreamTls === null ? 'none (not relayed)' : sides.upstreamTls ? 'over TLS (https)' : 'plain HTTP';
  return `client to davtap ${client}, davtap to server ${upstream}`;
}

interface FlowFiles {
  prefix: string;
  request: string;
  response: string | null;
  /** The decoded copy of a content-coded response body. */
  decoded: string | null;
  body: string | null;
  replay: string;
}

function flowSection(flow: Flow, files: FlowFiles, redactor: Redactor): string[] {
  const req = flow.request;
  const res = flow.response;
  const out: string[] = [];
  out.push(`## ${files.prefix} · ${req.method} ${cell(redactor.url(req.target))} → ${res ? `${res.status} ${res.reason}` : 'no response'}`, '');
  out.push(`- Request: ${code(`${req.method} ${redactor.url(clientUrl(flow))} ${httpVersion(req.httpVersion)}`)}`);
  if (redactor.url(req.url) !== redactor.url(clientUrl(flow))) out.push(`- Upstream: ${code(redactor.url(req.url))} (${flow.mode} mode)`);
  out.push(`- Client: ${flow.client.address}:${flow.client.port}, ${flow.mode} mode, started ${new Date(flow.timings.start).toISOString()}`);
  out.push(`- TLS: ${tlsLine(tlsSides(flow))}`);
  out.push(`- Status: ${res ? `${res.status} ${res.reason}` : '(no response head arrived)'}`);
  out.push(`- Outcome: ${outcomeText(flow)}${flow.timings.end !== null ? ` after ${int(flow.timings.end - flow.timings.start)} ms` : ''}`);
  if (res) {
    const coding = contentCoding(flow);
    const decoded = res.decoded ? `, decoded ${coding ?? ''} copy ${int(res.decoded.bytesSeen)} bytes` : '';
    const declared = res.declaredLength !== null ? ` of ${int(res.declaredLength)} declared` : '';
    out.push(`- Response body: ${int(res.body.bytesSeen)} bytes${declared} (${res.framing})${decoded}${res.decodeError !== undefined ? `; decoding failed: ${res.decodeError}` : ''}`);
    if (!res.body.captureComplete) out.push(`- Note: davtap kept only the first ${int(res.body.bytes.length)} bytes of this body (its capture limit); the saved response is a prefix, not the server's fault`);
  }
  if (!req.body.captureComplete) out.push(`- Note: the saved request body is the first ${int(req.body.bytes.length)} of ${int(req.body.bytesSeen)} bytes`);
  if (flow.injected !== undefined) out.push(`- Fault injected by davtap: ${code(flow.injected)}`);
  if (flow.replayOf !== undefined) out.push(`- Replay of flow ${code(flow.replayOf)} (sent again by davtap replay)`);
  if (flow.leg === 'back') out.push('- Sandwich: the back leg (the gateway\'s request to the origin)');
  else if (flow.leg === 'front') {
    out.push(
      flow.pairedWith !== undefined
        ? `- Sandwich: the front leg (a client through the gateway); the gateway's request to the origin is flow ${code(flow.pairedWith)}, and gateway differences (MS8xx) compare the two answers`
        : '- Sandwich: the front leg, answered by the gateway itself (no request reached the origin)',
    );
  }
  if (flow.analysis) out.push(`- Summary: **${flow.analysis.summary.text}**`);
  out.push(`- Files: ${[files.request, files.response, files.decoded, files.body].filter((f): f is string => f !== null).map(code).join(', ')}; replay: ${code(`sh ${files.replay}`)}`);
  out.push('');

  if (res) {
    const fp = fingerprintHeaders.flatMap((name) => headerValues(res.rawHeaders, name).map((v) => [name, redactor.headerValue(name, v)] as const));
    if (fp.length > 0) {
      out.push('Gateway fingerprint:', '', '| header | value |', '|---|---|');
      for (const [n, v] of fp) out.push(`| ${n} | ${cell(v)} |`);
      out.push('');
    } else {
      out.push('Gateway fingerprint: none of ' + ['Via', 'Server', 'X-Cache', 'CF-Ray', 'Age'].join(', ') + '… in the response', '');
    }
  }

  const findings = flow.analysis?.findings ?? [];
  if (flow.analysis) {
    out.push(`### Findings (${findings.length})`, '');
    if (findings.length === 0) out.push('None: the body passed every rule.', '');
    for (const f of findings) {
      const cause = f.consequenceOf !== undefined ? ` (consequence of ${f.consequenceOf})` : '';
      const inj = f.injected !== undefined ? ` [injected: ${f.injected}]` : '';
      out.push(`- **${f.severity} ${f.rule}** ${f.category} (blame: ${f.blame}): ${f.message}${cause}${inj}`, ...evidenceLines(f));
    }
    if (findings.length > 0) out.push('');
    const failed = failedResources(flow);
    if (failed.length > 0) {
      out.push(`### Failed resources (${failed.length} of ${flow.analysis.summary.resources})`, '', '| # | href | status | failed properties |', '|---|---|---|---|');
      for (const f of failed) {
        const props = f.properties.map((p) => `${p.prop.replace(/^\{DAV:\}/, 'D:')} ${p.status}`);
        const desc = f.resource.description !== undefined ? ` — ${f.resource.description}` : '';
        out.push(`| ${f.resource.index} | ${cell(f.resource.href || '(no href)')} | ${f.codes.join(', ')}${f.resource.complete ? '' : ' (incomplete)'} | ${cell(props.join(', ') + desc)} |`);
      }
      out.push('');
    }
  }
  return out;
}

/** Refuses a target that would mix this bundle with another one's files. */
function prepareDir(dir: string): void {
  try {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (st === undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
    else if (!st.isDirectory()) throw new DavtapError('IO', `export: ${dir} exists and is not a directory`);
    else if (readdirSync(dir).length > 0) throw new DavtapError('IO', `export: ${dir} is not empty (choose a new directory for the report)`);
  } catch (err) {
    if (err instanceof DavtapError) throw err;
    throw new DavtapError('IO', `export: cannot create ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const replayHeader = `#!/bin/sh
# Sends the requests of this davtap report again with curl, oldest first, printing each response.
#   sh replay.sh                  every request, to the servers they went to
#   sh replay.sh 002 005          only these
#   DAVTAP_BASE=http://127.0.0.1:8080 sh replay.sh   to another server (scheme://host:port)
# Each NNN-replay.sh takes extra curl options: sh 001-replay.sh -o /dev/null -w '%{http_code}\\n'
# Redacted headers are read from the environment when set, e.g. DAVTAP_AUTHORIZATION='Basic …'.
set -u
cd "$(dirname "$0")" || exit 2
`;

/**
 * Writes the bundle into `dir` (created 0700 when missing; it must be empty) and returns what it
 * wrote. Flows are read one at a time from `flows`.
 */
export function writeReport(dir: string, flows: Iterable<Flow>, redactor: Redactor, options: ReportOptions = {}): ReportResult {
  prepareDir(dir);
  const files: string[] = [];
  const write = (name: string, data: string | Uint8Array, mode = 0o600) => {
    try {
      writePrivateFile(path.join(dir, name), data, mode);
    } catch (err) {
      throw new DavtapError('IO', `export: cannot write ${path.join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    files.push(name);
  };

  const sections: string[] = [];
  const overview: string[] = ['| # | started | request | status | outcome | summary | findings |', '|---|---|---|---|---|---|---|'];
  const machine: unknown[] = [];
  const numbers: string[] = [];
  let n = 0;
  for (const recorded of flows) {
    // Every text of the bundle (report.md, findings.json, raw files, replay scripts) comes from
    // the redacted copy: findings and the ledger included, not only headers and URLs.
    const flow = redactFlow(recorded, redactor);
    n++;
    const prefix = pad(n);
    numbers.push(prefix);
    const f: FlowFiles = { prefix, request: `${prefix}-request.http`, response: null, decoded: null, body: null, replay: `${prefix}-replay.sh` };
    write(f.request, rawRequest(flow, redactor));
    const raw = rawResponse(flow, redactor);
    if (raw !== null) {
      f.response = `${prefix}-response.http`;
      write(f.response, raw);
    }
    // A gzip/br body is unreadable in the raw file: the decoded copy goes beside it.
    if (flow.response?.decoded && contentCoding(flow) !== undefined) {
      f.decoded = `${prefix}-response.decoded${/xml/i.test(firstHeader(flow.response.rawHeaders, 'content-type') ?? '') ? '.xml' : ''}`;
      write(f.decoded, flow.response.decoded.bytes);
    }
    if (flow.request.body.bytes.length > 0) {
      f.body = `${prefix}-request.body`;
      write(f.body, flow.request.body.bytes);
    }
    const envs = [...new Set(flow.request.rawHeaders.filter((_, i) => i % 2 === 0 && redactor.redactsHeader(flow.request.rawHeaders[i]!)).map(envNameFor))];
    const cmd = curlCommand(flow, redactor, { ...(f.body !== null ? { bodyFile: f.body } : {}), baseExpr: `"\${DAVTAP_BASE:-${originOf(flow.request.url)}}"`, extra: '--include "$@"' });
    write(
      f.replay,
      `#!/bin/sh\n# ${flow.request.method} ${redactor.url(flow.request.url)} (flow ${flow.id}); recorded answer: ${flow.response ? `${flow.response.status} ${flow.response.reason}` : 'none'}\n` +
        (envs.length > 0 ? `# Redacted headers: set ${envs.join(', ')} to send real values.\n` : '') +
        `cd "$(dirname "$0")" || exit 2\n${cmd}\n`,
      0o700,
    );
    const res = flow.response;
    const findings = flow.analysis?.findings ?? [];
    const sev = flow.analysis?.summary.findings;
    overview.push(
      `| ${prefix} | ${new Date(flow.timings.start).toISOString()} | ${cell(`${flow.request.method} ${redactor.url(flow.request.target)}`)} | ${res ? res.status : '—'} | ${cell(flow.outcome.kind)} | ${cell(flow.analysis?.summary.text ?? '')} | ${sev ? `${sev.error} error, ${sev.warning} warning, ${sev.info} info` : ''} |`,
    );
    sections.push(...flowSection(flow, f, redactor));
    machine.push({
      number: prefix,
      id: flow.id,
      method: flow.request.method,
      url: redactor.url(flow.request.url),
      ...tlsSides(flow),
      status: res?.status ?? null,
      outcome: flow.outcome,
      summary: flow.analysis?.summary ?? null,
      findings,
      failedResources: failedResources(flow).map((x) => x.resource),
      files: { request: f.request, response: f.response, decodedResponse: f.decoded, requestBody: f.body, replay: f.replay },
    });
  }

  const now = options.now ?? new Date();
  const header = [
    '# davtap report',
    '',
    `Exported ${now.toISOString()} by davtap ${davtapVersion()} (node ${process.version}, ${process.platform})` +
      (options.source !== undefined ? ` from ${code(path.basename(options.source))}` : '') +
      `: ${n} flow${n === 1 ? '' : 's'}.`,
    '',
    redactor.enabled
      ? 'Credentials are redacted: the values of Authorization, Cookie and other credential headers, of token-, key-, password- and session-like query and path parameters, and of any name given with --redact, in headers, URLs, findings and their evidence, in this file, the raw files and the replay commands. Bodies are kept as recorded.'
      : '**Not redacted** (exported with --no-redact): headers and URLs are as recorded, credentials included.',
    '',
    'Files: `NNN-request.http` / `NNN-response.http` hold each exchange as HTTP/1.1 bytes (check a response again with `davtap check NNN-response.http --request NNN-request.http`); `findings.json` has the findings and failed resources; `replay.sh` sends the requests again with curl.',
    '',
    '## Overview',
    '',
    ...overview,
    '',
  ];
  write('report.md', [...header, ...sections].join('\n'));
  write('findings.json', JSON.stringify({ davtap: davtapVersion(), node: process.version, exported: now.toISOString(), redacted: redactor.enabled, flows: machine }, null, 2) + '\n');
  const replay =
    replayHeader +
    `all="${numbers.join(' ')}"\n` +
    '[ $# -gt 0 ] || set -- $all\n' +
    'for n in "$@"; do\n' +
    '  [ -f "$n-replay.sh" ] || { echo "replay.sh: no request $n" >&2; exit 2; }\n' +
    '  echo "=== $n $(sed -n 2p "$n-replay.sh" | cut -c3-)"\n' +
    '  sh "./$n-replay.sh"\n' +
    '  echo\n' +
    'done\n';
  write('replay.sh', replay, 0o700);
  return { dir, flows: n, files };
}

function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '';
  }
}
