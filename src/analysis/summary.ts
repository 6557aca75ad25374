// The ledger's one-line summary: "2 of 120 resources failed (404 ×1, 423 ×1)".
import type { AnalysisSummary, Finding, Resource, Severity } from '../types.js';
import type { RequestInfo } from './request.js';

export function summarize(resources: Resource[], findings: Finding[], req: RequestInfo, multistatus: boolean): AnalysisSummary {
  const byStatus: Record<string, number> = {};
  const failedCodes = new Map<number, number>();
  let failed = 0;
  // 404 propstats answer an explicit prop list or a REPORT: expected, not a failure.
  const expected404 = req.propfind === 'prop' || req.method === 'REPORT';
  for (const r of resources) {
    const codes = new Set<number>();
    if (r.status !== null) codes.add(r.status);
    for (const p of r.propstats) if (p.status !== null) codes.add(p.status);
    for (const c of codes) byStatus[String(c)] = (byStatus[String(c)] ?? 0) + 1;
    const removedSyncMember = req.isSyncCollection && r.status === 404;
    // Expected 404s are propstat ones; a whole-resource 404 (a multiget href that is gone) failed.
    const propCodes = new Set(r.propstats.map((p) => p.status));
    const failing = removedSyncMember
      ? []
      : [...codes].filter((c) => c >= 400 && !(c === 404 && expected404 && r.status !== 404 && propCodes.has(404)) && !(c === 507 && r.status === 507));
    if (failing.length > 0) {
      failed++;
      for (const c of failing) failedCodes.set(c, (failedCodes.get(c) ?? 0) + 1);
    }
  }
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  const groups = [...failedCodes.entries()].sort((a, b) => a[0] - b[0]).map(([c, k]) => `${c} ×${k}`).join(', ');
  let text: string;
  if (!multistatus && resources.length === 0) text = 'no multistatus';
  else text = `${failed} of ${resources.length} resource${resources.length === 1 ? '' : 's'} failed${groups ? ` (${groups})` : ''}`;
  const errors = counts.error;
  if (errors > 0) text += `; ${errors} error finding${errors === 1 ? '' : 's'}`;
  return { resources: resources.length, failedResources: failed, byStatus, findings: counts, text };
}
