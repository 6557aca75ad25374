// Renders a VerifyReport: words per path for people, JSON for scripts, JUnit XML for CI systems.
// Whether a difference fails the run is decided here, by --fail-on, once for all three forms.
import { plural } from '../analysis/rules/util.js';
import type { Category, Finding, Severity } from '../types.js';
import type { ExchangeReport, PathReport, VerifyReport } from './run.js';

export type FailOn = { kind: 'severity'; at: Severity } | { kind: 'category'; category: Category };

export const severities: Severity[] = ['info', 'warning', 'error'];
export const categories: Category[] = ['truncation', 'stripped', 'malformed', 'semantic', 'partial-failure', 'security'];

/** A severity counts itself and everything above; a category counts its warnings and errors. */
export function reaches(f: Finding, failOn: FailOn): boolean {
  if (failOn.kind === 'severity') return severities.indexOf(f.severity) >= severities.indexOf(failOn.at);
  return f.category === failOn.category && f.severity !== 'info';
}

export const pathFails = (p: PathReport, failOn: FailOn): boolean => p.exchanges.some((e) => e.differences.some((f) => reaches(f, failOn)));
export const reportFails = (r: VerifyReport, failOn: FailOn): boolean => r.paths.some((p) => pathFails(p, failOn));

const MAX_LINES_PER_EXCHANGE = 5;

function count(r: VerifyReport): Record<Severity, number> {
  const c: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const p of r.paths) for (const e of p.exchanges) for (const f of e.differences) if (f.consequenceOf === undefined) c[f.severity]++;
  return c;
}

/** "PROPFIND allprop: via: 118 of 120 responses, body cut at 32,768 bytes [MS001 error]" lines. */
export function exchangeLines(e: ExchangeReport, failOn: FailOn): string[] {
  // Consequences (an XML error caused by a stripped namespace…) stay in --json; words name the cause.
  const shown = e.differences.filter((f) => f.consequenceOf === undefined && (f.severity !== 'info' || reaches(f, failOn)));
  const lines = shown.slice(0, MAX_LINES_PER_EXCHANGE).map((f) => `${e.probe}: ${f.message} [${f.rule} ${f.severity}]`);
  if (shown.length > MAX_LINES_PER_EXCHANGE) lines.push(`${e.probe}: and ${shown.length - MAX_LINES_PER_EXCHANGE} more differences (--json lists them all)`);
  return lines;
}

export function renderText(r: VerifyReport, failOn: FailOn): string {
  const out: string[] = [];
  out.push(`davtap verify: origin ${r.origin} via ${r.via} (${r.mapText}${r.mapSource === 'bases' ? ', from the two URLs' : ''})`);
  const width = Math.min(48, Math.max(8, ...r.paths.map((p) => p.viaPath.length)));
  for (const p of r.paths) {
    const failed = pathFails(p, failOn);
    const lines = p.exchanges.flatMap((e) => exchangeLines(e, failOn));
    const identical = p.exchanges.filter((e) => e.identicalBytes).length;
    const head = `${failed ? 'FAIL' : lines.length > 0 ? 'WARN' : 'PASS'}  ${p.viaPath.padEnd(width)}  `;
    if (lines.length === 0) {
      out.push(`${head}${p.exchanges.length} exchanges, ${identical === p.exchanges.length ? 'byte-identical' : `same multistatus (${identical} byte-identical)`}`);
    } else {
      out.push(head + lines[0]);
      for (const l of lines.slice(1)) out.push(' '.repeat(head.length) + l);
    }
    const not207 = p.exchanges.filter((e) => e.origin.status !== 207);
    if (not207.length > 0) {
      const codes = [...new Set(not207.map((e) => e.origin.status))].join('/');
      out.push(`${' '.repeat(head.length)}(origin answered ${codes} (not 207) to ${not207.map((e) => e.probe).join(', ')}: no Multi-Status to compare there)`);
    }
    const own = [...new Set(p.exchanges.flatMap((e) => e.originFindings.map((f) => `${f.rule} ${f.message}`)))];
    if (own.length > 0) out.push(`${' '.repeat(head.length)}(origin's own answer, not the gateway: ${own.slice(0, 2).join('; ')}${own.length > 2 ? `; +${own.length - 2}` : ''})`);
  }
  const c = count(r);
  const failing = r.paths.filter((p) => pathFails(p, failOn)).length;
  const bound = r.notVisited > 0 ? `; stopped at ${r.maxCollections} collections (--max-collections), ${r.notVisited} found but not visited` : '';
  out.push(`Crawled ${plural(r.paths.length, 'collection')} to depth ${r.depth} (at most ${r.maxCollections})${bound}; ${plural(r.exchanges, 'request pair')} compared.`);
  out.push(
    failing === 0
      ? `Result: the gateway passes every Multi-Status through intact${c.warning + c.info > 0 ? ` (${plural(c.warning, 'warning')}, ${plural(c.info, 'note')} below --fail-on)` : ''}.`
      : `Result: ${failing} of ${r.paths.length} paths differ: ${plural(c.error, 'error')}, ${plural(c.warning, 'warning')}, ${plural(c.info, 'note')}.`,
  );
  return out.join('\n') + '\n';
}

export function renderJson(r: VerifyReport, failOn: FailOn): string {
  const paths = r.paths.map((p) => ({ ...p, passed: !pathFails(p, failOn) }));
  return JSON.stringify({ ...r, paths, failOn, passed: !reportFails(r, failOn), totals: count(r) }, null, 2) + '\n';
}

const xmlEscape = (s: string): string =>
  s
    // Characters XML 1.0 cannot carry at all are replaced, not escaped.
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** One testcase per path; a failing path's failure carries the words of the text report. */
export function renderJunit(r: VerifyReport, failOn: FailOn): string {
  const failing = r.paths.filter((p) => pathFails(p, failOn)).length;
  const suite = `davtap verify ${r.via} against ${r.origin}`;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="davtap verify" tests="${r.paths.length}" failures="${failing}">`,
    `  <testsuite name="${xmlEscape(suite)}" tests="${r.paths.length}" failures="${failing}" errors="0" skipped="0">`,
  ];
  for (const p of r.paths) {
    const name = xmlEscape(p.viaPath);
    if (!pathFails(p, failOn)) {
      out.push(`    <testcase classname="davtap.verify" name="${name}"/>`);
      continue;
    }
    const failures = p.exchanges.flatMap((e) => e.differences.filter((f) => reaches(f, failOn) && f.consequenceOf === undefined).map((f) => ({ e, f })));
    const first = failures[0]!;
    const body = failures.map(({ e, f }) => `${e.probe} ${e.viaPath}: ${f.message} [${f.rule} ${f.severity}]`).join('\n');
    out.push(`    <testcase classname="davtap.verify" name="${name}">`);
    out.push(`      <failure type="${first.f.rule}" message="${xmlEscape(`${first.e.probe}: ${first.f.message}`)}">${xmlEscape(body)}</failure>`);
    out.push('    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
