// Which ledger entries count as failed, by the rule the analyzer's summary uses, so that the
// report's failure table has exactly the "k" of its "k of n resources failed".
import { parseRequest } from '../analysis/request.js';
import type { Flow, Resource } from '../types.js';

export interface FailedResource {
  resource: Resource;
  /** The failing codes (whole status and propstats), ascending. */
  codes: number[];
  /** Failing properties as `prefix-free name status`, e.g. `{DAV:}getetag 403`. */
  properties: { prop: string; status: number }[];
}

export function failedResources(flow: Flow): FailedResource[] {
  const analysis = flow.analysis;
  if (!analysis) return [];
  const req = parseRequest({
    method: flow.request.method,
    target: flow.request.target,
    rawHeaders: flow.request.rawHeaders,
    ...(flow.request.body.bytes.length > 0 ? { body: flow.request.body.bytes } : {}),
  });
  // 404 propstats answer an explicit prop list or a REPORT: expected, not a failure (summary.ts).
  const expected404 = req.propfind === 'prop' || req.method === 'REPORT';
  const out: FailedResource[] = [];
  for (const r of analysis.resources) {
    if (req.isSyncCollection && r.status === 404) continue; // a member removed since the last sync
    const codes = new Set<number>();
    if (r.status !== null) codes.add(r.status);
    for (const p of r.propstats) if (p.status !== null) codes.add(p.status);
    const propCodes = new Set(r.propstats.map((p) => p.status));
    const failing = [...codes].filter((c) => c >= 400 && !(c === 404 && expected404 && r.status !== 404 && propCodes.has(404)) && !(c === 507 && r.status === 507));
    if (failing.length === 0) continue;
    const properties = r.propstats
      .filter((p) => p.status !== null && failing.includes(p.status))
      .flatMap((p) => p.props.map((prop) => ({ prop, status: p.status! })));
    out.push({ resource: r, codes: failing.sort((a, b) => a - b), properties });
  }
  return out;
}
