// The ledger's one-line summary: "2 of 120 resources failed (404 ×1, 423 ×1)", counted one resource
// at a time as each closes (the ledger itself need not be kept).
import type { AnalysisSummary, Finding, Resource, Severity } from '../types.js';
import type { LedgerPass } from './facts.js';
import type { RequestInfo } from './request.js';

export class LedgerSummary implements LedgerPass {
  private readonly statusCounts = new Map<number, number>();
  private readonly failedCodes = new Map<number, number>();
  private count = 0;
  private failed = 0;
  /** 404 propstats answer an explicit prop list or a REPORT: expected, not a failure. */
  private readonly expected404: boolean;
  /**
   * The distinct codes of one resource, in order (status, then propstats); one array for all:
   * a listing has a hundred thousand resources with one or two codes each.
   * (Filled up to n: setting an array's length to 0 would free its storage each time.)
   */
  private readonly codes: number[] = [];

  constructor(private readonly req: RequestInfo) {
    this.expected404 = req.propfind === 'prop' || req.method === 'REPORT';
  }

  add(r: Resource): void {
    this.count++;
    const codes = this.codes;
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
    for (let k = 0; k < n; k++) this.statusCounts.set(codes[k]!, (this.statusCounts.get(codes[k]!) ?? 0) + 1);
    // A removed sync member is not a failure.
    if (this.req.isSyncCollection && r.status === 404) return;
    // Expected 404s are propstat ones; a whole-resource 404 (a multiget href that is gone) failed.
    let failing = false;
    for (let k = 0; k < n; k++) {
      const c = codes[k]!;
      if (c < 400 || (c === 404 && this.expected404 && r.status !== 404 && prop404) || (c === 507 && r.status === 507)) continue;
      failing = true;
      this.failedCodes.set(c, (this.failedCodes.get(c) ?? 0) + 1);
    }
    if (failing) this.failed++;
  }

  summary(findings: Finding[], multistatus: boolean): AnalysisSummary {
    const resources = this.count;
    const failed = this.failed;
    // Integer-like keys: the object lists them in ascending order whatever the insertion order.
    const byStatus: Record<string, number> = {};
    for (const [c, k] of this.statusCounts) byStatus[String(c)] = k;
    const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
    for (const f of findings) counts[f.severity]++;
    const groups = [...this.failedCodes.entries()].sort((a, b) => a[0] - b[0]).map(([c, k]) => `${c} ×${k}`).join(', ');
    let text: string;
    if (!multistatus && resources === 0) text = 'no multistatus';
    else text = `${failed} of ${resources} resource${resources === 1 ? '' : 's'} failed${groups ? ` (${groups})` : ''}`;
    const errors = counts.error;
    if (errors > 0) text += `; ${errors} error finding${errors === 1 ? '' : 's'}`;
    return { resources, failedResources: failed, byStatus, findings: counts, text };
  }
}
