// What `davtap replay` prints: per replayed flow, what changed (the status, the multistatus resource
// by resource, findings), as text, JSON, or JUnit XML for CI. Pure.
import { shortName, valueChange } from '../analysis/compare.js';
import { counts as countsUnder, type PropertyChange, type ResourceDiff } from '../analysis/multistatus-diff.js';
import type { FlowDiff } from './diff.js';

export interface ReplayReport {
  /** Where the requests went: a URL, or null for each flow's original server. */
  to: string | null;
  values: boolean;
  flows: FlowDiff[];
}

const statusText = (s: number | null, outcome: string): string => (s === null ? `no answer (${outcome})` : String(s));
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function propertyLine(c: PropertyChange, counted: boolean): string {
  const name = shortName(c.name);
  const note = counted ? '' : c.volatile ? ' (volatile, not counted)' : ' (not counted)';
  switch (c.kind) {
    case 'added':
      return `${name} added (${c.after!.status ?? 'no status'})`;
    case 'removed':
      return `${name} removed (was ${c.before!.status ?? 'no status'})`;
    case 'status':
      return `${name} status ${c.before!.status} → ${c.after!.status}`;
    case 'value':
      return `${name} value ${valueChange(c.before!.value, c.after!.value)}${note}`;
  }
}

/** The lines of one resource's difference: `- /dav/a missing`, `~ /dav/ D:getetag removed`. */
export function resourceLines(r: ResourceDiff, counts: (c: PropertyChange) => boolean): string[] {
  if (r.kind === 'missing') return [`- ${r.key}: missing (was ${r.before!.status ?? 'propstat'})`];
  if (r.kind === 'added') return [`+ ${r.key}: added (${r.after!.status ?? 'propstat'})`];
  const out: string[] = [];
  if (r.statusChanged) out.push(`~ ${r.key}: status ${r.before!.status ?? 'propstat'} → ${r.after!.status ?? 'propstat'}`);
  for (const c of r.properties) out.push(`~ ${r.key}: ${propertyLine(c, counts(c))}`);
  return out;
}

/** The lines describing one flow's replay, headed by its verdict. */
export function flowLines(d: FlowDiff, values: boolean): string[] {
  const counts = (c: PropertyChange): boolean => countsUnder(c, { values });
  const verdict = d.counted === 0 ? 'same' : plural(d.counted, 'difference');
  const out = [`${d.method} ${d.url}  ${statusText(d.status.before, d.outcome.before)} → ${statusText(d.status.after, d.outcome.after)}: ${verdict}  (flow ${d.originalId} replayed as ${d.replayId})`];
  if (d.status.before === d.status.after && d.outcome.before !== d.outcome.after) out.push(`  outcome ${d.outcome.before} → ${d.outcome.after}`);
  if (d.multistatus) {
    const m = d.multistatus;
    if (m.beforeResponses !== m.afterResponses) out.push(`  ${m.beforeResponses} → ${m.afterResponses} responses`);
    for (const r of m.resources) for (const line of resourceLines(r, counts)) out.push(`  ${line}`);
  }
  if (d.notCompared !== undefined) out.push(`  multistatus not compared: ${d.notCompared}`);
  for (const f of d.findingsAdded) out.push(`  + finding ${f.rule} ${f.severity}: ${f.message}`);
  for (const f of d.findingsGone) out.push(`  - finding ${f.rule} ${f.severity}: ${f.message}`);
  return out;
}

export function renderText(r: ReplayReport): string {
  const out: string[] = [];
  for (const d of r.flows) out.push(...flowLines(d, r.values));
  const differing = r.flows.filter((d) => d.counted > 0).length;
  out.push(
    `replay: ${plural(r.flows.length, 'flow')} sent to ${r.to ?? 'their original servers'}; ${differing === 0 ? 'no difference' : `${differing} of ${r.flows.length} differ`}; recorded as ${plural(r.flows.length, 'new flow')}`,
  );
  return out.join('\n') + '\n';
}

export function renderJson(r: ReplayReport): string {
  const flows = r.flows.map((d) => ({ ...d, same: d.counted === 0 }));
  return JSON.stringify({ to: r.to, values: r.values, same: flows.every((f) => f.same), flows }, null, 2) + '\n';
}

const xmlEscape = (s: string): string =>
  s
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** One testcase per replayed flow; a differing one fails with the lines of the text report. */
export function renderJunit(r: ReplayReport): string {
  const failing = r.flows.filter((d) => d.counted > 0).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="davtap replay" tests="${r.flows.length}" failures="${failing}">`,
    `  <testsuite name="${xmlEscape(`davtap replay to ${r.to ?? 'the original servers'}`)}" tests="${r.flows.length}" failures="${failing}" errors="0" skipped="0">`,
  ];
  for (const d of r.flows) {
    const name = xmlEscape(`${d.method} ${d.url} (flow ${d.originalId})`);
    if (d.counted === 0) {
      out.push(`    <testcase classname="davtap.replay" name="${name}"/>`);
      continue;
    }
    const lines = flowLines(d, r.values);
    out.push(`    <testcase classname="davtap.replay" name="${name}">`);
    out.push(`      <failure message="${xmlEscape(lines[0]!)}">${xmlEscape(lines.slice(1).join('\n'))}</failure>`);
    out.push('    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
