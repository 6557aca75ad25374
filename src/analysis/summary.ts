// The ledger's one-line summary: "2 of 120 resources failed (404 ×1, 423 ×1)".
import type { AnalysisSummary, Finding, Resource, Severity } from '../types.js';
import type { RequestInfo } from './request.js';

export function summarize(resources: Resource[], findings: Finding[], req: RequestInfo, multistatus: boolean): AnalysisSummary {
  const statusCounts = new Map<number, number>();
  const failedCodes = new Map<number, number>();
  let failed = 0;
  // 404 propstats answer an explicit prop list or a REPORT: expected, not a failure.
  const expected404 = req.propfind === 'prop' || req.method === 'REPORT';
  // The distinct codes of one resource, in order (status, then propstats); one array for all:
  // a listing has a hundred thousand resources with one or two codes each.
  // (Filled up to n: setting an array's length to 0 would free its storage each time.)
  const codes: number[] = [];
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    let n = 0;
    let prop404 = false;
    if (r.status !== null) codes[n++] = r.status;
    for (let k = 0; k < r.propstats.length; k++) {
      const s = r.propstats[k]!.status;
      if (s === 404) prop404 = true;
      if (s === null) continue;
      let seen = false;
      for (let m = 0; m < n && !seen; m++) seen = codes[m] === s;
      if (!seen) codes[n++] = s;
    }
    for (let k = 0; k < n; k++) statusCounts.set(codes[k]!, (statusCounts.get(codes[k]!) ?? 0) + 1);
    // A removed sync member is not a failure.
    if (req.isSyncCollection && r.status === 404) continue;
    // Expected 404s are propstat ones; a whole-resource 404 (a multiget href that is gone) failed.
    let failing = false;
    for (let k = 0; k < n; k++) {
      const c = codes[k]!;
      if (c < 400 || (c === 404 && expected404 && r.status !== 404 && prop404) || (c === 507 && r.status === 507)) continue;
      failing = true;
      failedCodes.set(c, (failedCodes.get(c) ?? 0) + 1);
    }
    if (failing) failed++;
  }
  // Integer-like keys: the object lists them in ascending order whatever the insertion order.
  const byStatus: Record<string, number> = {};
  for (const [c, k] of statusCounts) byStatus[String(c)] = k;
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
