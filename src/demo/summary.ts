// What `davtap demo --no-ui` says at the end: the rules that fired, how often, and whether each
// broken path was flagged and each clean flow was not. Pure: the flows come from the store.
import type { Category, Finding, Severity } from '../types.js';
import type { BrokenPath } from './faults.js';

export interface DemoFlow {
  method: string;
  path: string;
  status: number | null;
  /** The faults injected into it, when it is one of the broken paths. */
  injected: string | null;
  findings: Finding[];
}

export interface RuleCount {
  rule: string;
  count: number;
  category: Category;
  /** The worst severity among its findings. */
  severity: Severity;
  /** Every one of its findings follows from another (a consequence of the root cause). */
  consequence: boolean;
}

export interface DemoSummary {
  rules: RuleCount[];
  /** Each broken path with the rules its flows got (empty: not flagged). */
  broken: { path: BrokenPath; flows: number; rules: string[] }[];
  clean: number;
  /** Flows no fault touched that got findings anyway (the demo origin should give none). */
  unexpected: DemoFlow[];
}

const rank: Record<Severity, number> = { error: 3, warning: 2, info: 1 };

export function summarize(flows: readonly DemoFlow[], paths: readonly BrokenPath[]): DemoSummary {
  const byRule = new Map<string, RuleCount>();
  for (const f of flows) {
    for (const finding of f.findings) {
      const seen = byRule.get(finding.rule);
      const consequence = finding.consequenceOf !== undefined;
      if (!seen) {
        byRule.set(finding.rule, { rule: finding.rule, count: 1, category: finding.category, severity: finding.severity, consequence });
        continue;
      }
      seen.count++;
      if (rank[finding.severity] > rank[seen.severity]) seen.severity = finding.severity;
      seen.consequence &&= consequence;
    }
  }
  const broken = paths.map((path) => {
    const hit = flows.filter((f) => f.injected !== null && f.method === path.method && f.path === path.path && (path.report === undefined || f.injected === path.inject || f.injected.startsWith(`${path.inject} `)));
    return { path, flows: hit.length, rules: [...new Set(hit.flatMap((f) => f.findings.map((x) => x.rule)))].sort() };
  });
  const untouched = flows.filter((f) => f.injected === null);
  return {
    rules: [...byRule.values()].sort((a, b) => a.rule.localeCompare(b.rule)),
    broken,
    clean: untouched.filter((f) => f.findings.length === 0).length,
    unexpected: untouched.filter((f) => f.findings.length > 0),
  };
}

/** `findings: MS001 ×1 (truncation, error), …` and one line per broken path. */
export function summaryLines(s: DemoSummary): string[] {
  const rules = s.rules.map((r) => `${r.rule} ×${r.count} (${r.category}, ${r.severity}${r.consequence ? ', consequence' : ''})`);
  const lines = [`findings: ${rules.length > 0 ? rules.join(', ') : 'none'}`];
  for (const b of s.broken) {
    const verdict = b.flows === 0 ? 'not requested' : b.rules.length === 0 ? 'NOT flagged' : `flagged ${b.rules.join(' ')}`;
    lines.push(`broken: ${b.path.method} ${b.path.path}${b.path.report ? ` (${b.path.report})` : ''} --inject ${b.path.inject}: ${b.path.story}; ${verdict}`);
  }
  lines.push(`clean: ${s.clean} flow${s.clean === 1 ? '' : 's'} without findings${s.unexpected.length > 0 ? `; ${s.unexpected.length} unexpected: ${s.unexpected.map((f) => `${f.method} ${f.path} ${f.findings.map((x) => x.rule).join(' ')}`).join(', ')}` : ''}`);
  return lines;
}
