// What `davtap check` prints, written as the analysis goes: the --json document streamed (every
// resource of the ledger as it closes, findings and summary once the body ended) and the human
// report (the first resources in a table). Evidence arrays are capped here, for both, in one place.
import { once } from 'node:events';
import type { AnalysisSummary, Evidence, Finding, Resource, Severity } from '../types.js';

/** Items of one evidence array printed, --json and text alike; the full count is said beside them. */
export const EVIDENCE_ITEMS = 20;

/** Resources listed in the human report's table. */
export const TABLE_ROWS = 100;

/**
 * Evidence with every array cut to its first EVIDENCE_ITEMS items; `evidenceCount` then gives each
 * cut array's full length by field name, e.g. { "matrix": 50 }.
 */
export function capEvidence(evidence: Evidence): Evidence {
  let counts: Record<string, number> | undefined;
  let out: Evidence | undefined;
  for (const [key, value] of Object.entries(evidence)) {
    if (!Array.isArray(value) || value.length <= EVIDENCE_ITEMS) continue;
    out ??= { ...evidence };
    out[key] = value.slice(0, EVIDENCE_ITEMS);
    (counts ??= {})[key] = value.length;
  }
  return out === undefined ? evidence : { ...out, evidenceCount: counts };
}

/** A finding as --json prints it. */
function findingJson(f: Finding): Record<string, unknown> {
  return { rule: f.rule, severity: f.severity, category: f.category, blame: f.blame, message: f.message, evidence: capEvidence(f.evidence), ...(f.consequenceOf !== undefined ? { consequenceOf: f.consequenceOf } : {}) };
}

type Out = NodeJS.WritableStream;

/** Writes and, when the stream's buffer is full, waits for it to drain: memory stays one buffer. */
async function put(out: Out, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/**
 * The --json document {"results":[{input, status, resources, findings, summary}]}, streamed: each
 * resource on its own line as the analysis hands it over, so the ledger is never held whole.
 */
export class JsonResults {
  private results = 0;

  constructor(private readonly out: Out) {}

  begin(): Promise<void> {
    return put(this.out, '{\n"results": [');
  }

  startResult(input: string, status: number): Promise<void> {
    const sep = this.results++ === 0 ? '\n' : ',\n';
    return put(this.out, `${sep}{"input": ${JSON.stringify(input)}, "status": ${status}, "resources": [`);
  }

  private resourcesInResult = 0;

  async resources(rs: readonly Resource[]): Promise<void> {
    if (rs.length === 0) return;
    let text = '';
    for (const r of rs) text += `${this.resourcesInResult++ === 0 ? '\n' : ',\n'}${JSON.stringify(r)}`;
    await put(this.out, text);
  }

  endResult(findings: readonly Finding[], summary: AnalysisSummary): Promise<void> {
    const closing = this.resourcesInResult > 0 ? '\n]' : ']';
    this.resourcesInResult = 0;
    return put(this.out, `${closing},\n"findings": ${JSON.stringify(findings.map(findingJson), null, 2)},\n"summary": ${JSON.stringify(summary)}}`);
  }

  end(): Promise<void> {
    return put(this.out, this.results > 0 ? '\n]\n}\n' : ']\n}\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Human output

export interface Paint {
  bold(s: string): string;
  sev(s: Severity, text: string): string;
  dim(s: string): string;
}

export function paint(on: boolean): Paint {
  const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  const colour: Record<Severity, (s: string) => string> = { error: wrap('31'), warning: wrap('33'), info: wrap('36') };
  return { bold: wrap('1'), dim: wrap('2'), sev: (s, t) => colour[s](t) };
}

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

/** Evidence arrays of plain values, one line each, capped as in --json ("matrix (20 of 50): …"). */
function evidenceLists(f: Finding): string[] {
  const lines: string[] = [];
  const capped = capEvidence(f.evidence);
  const counts = (capped.evidenceCount ?? {}) as Record<string, number>;
  for (const [key, value] of Object.entries(capped)) {
    if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v === 'object' && v !== null)) continue;
    const total = counts[key];
    lines.push(`${key}${total !== undefined ? ` (${value.length} of ${total})` : ''}: ${value.map(String).join(', ')}`);
  }
  return lines;
}

/** The first TABLE_ROWS resources of one input, and how many there were in all. */
export class ResourceTable {
  readonly rows: Resource[] = [];
  count = 0;

  add(rs: readonly Resource[]): void {
    for (const r of rs) if (this.count++ < TABLE_ROWS) this.rows.push(r);
  }
}

export function renderHuman(input: string, summary: AnalysisSummary, status: string, table: ResourceTable, findings: readonly Finding[], p: Paint): string {
  const lines: string[] = [];
  lines.push(p.bold(`${input}: ${status}, ${summary.text}`));
  if (table.rows.length > 0) {
    const rows = table.rows.map((res) => {
      const code = res.status !== null ? String(res.status) : res.propstats.map((ps) => ps.status ?? '?').join('/');
      const failed = res.propstats.filter((ps) => ps.status !== null && ps.status >= 400).flatMap((ps) => ps.props.map((q) => `${q.replace(/^\{DAV:\}/, 'D:')} ${ps.status}`));
      return [res.href || '(no href)', code + (res.complete ? '' : ' (incomplete)'), failed.slice(0, 4).join(', ') + (failed.length > 4 ? ` +${failed.length - 4}` : '')];
    });
    const w0 = Math.min(60, Math.max(4, ...rows.map((x) => x[0]!.length)));
    const w1 = Math.max(6, ...rows.map((x) => x[1]!.length));
    lines.push(p.dim(`  ${'href'.padEnd(w0)}  ${'status'.padEnd(w1)}  failed properties`));
    for (const [href, code, failed] of rows) lines.push(`  ${href!.padEnd(w0)}  ${code!.padEnd(w1)}  ${failed}`);
    if (table.count > TABLE_ROWS) lines.push(p.dim(`  … ${table.count - TABLE_ROWS} more resources (--json lists all)`));
  }
  if (findings.length === 0) lines.push('  no findings');
  for (const f of findings) {
    const tag = p.sev(f.severity, `${f.severity.padEnd(7)} ${f.rule}`);
    lines.push(`  ${tag} ${f.category} ${p.dim(`[${f.blame}]`)}: ${f.message}${f.consequenceOf !== undefined ? p.dim(` (consequence of ${f.consequenceOf})`) : ''}`);
    const ev = evidenceLine(f);
    if (ev !== '') lines.push(p.dim(`          ${ev}`));
    for (const list of evidenceLists(f)) lines.push(p.dim(`          ${list}`));
  }
  return lines.join('\n') + '\n';
}
