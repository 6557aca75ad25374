// A recorded flow as it may be shown or handed on: every header, URL and piece of free text
// redacted in one place, so that an export format or a display that renders the copy cannot
// forget a field (a finding message quoting a `Location`, an href in the ledger, evidence).
// Bodies are kept as recorded: a 207 that lost its hrefs cannot be debugged from a redacted copy.
import type { Evidence, Finding, Flow, PropStat, Resource } from '../types.js';
import { REDACTED, type Redactor } from './redactor.js';

/** The flow with credentials redacted; the flow itself when the redactor is off. Bodies are shared. */
export function redactFlow(flow: Flow, redactor: Redactor): Flow {
  if (!redactor.enabled) return flow;
  const req = flow.request;
  const out: Flow = {
    ...flow,
    request: { ...req, url: redactor.url(req.url), target: redactor.url(req.target), rawHeaders: redactor.headers(req.rawHeaders) },
    outcome: flow.outcome.message === undefined ? flow.outcome : { ...flow.outcome, message: redactor.text(flow.outcome.message) },
  };
  const res = flow.response;
  if (res !== null) {
    out.response = {
      ...res,
      reason: redactor.text(res.reason),
      rawHeaders: redactor.headers(res.rawHeaders),
      rawTrailers: redactor.headers(res.rawTrailers),
      informational: res.informational.map((i) => ({ ...i, rawHeaders: redactor.headers(i.rawHeaders) })),
    };
    if (res.decodeError !== undefined) out.response.decodeError = redactor.text(res.decodeError);
  }
  if (flow.analysis) {
    out.analysis = {
      findings: flow.analysis.findings.map((f) => redactFinding(f, redactor)),
      resources: flow.analysis.resources.map((r) => redactResource(r, redactor)),
      summary: { ...flow.analysis.summary, text: redactor.text(flow.analysis.summary.text) },
    };
    // A version marker (getctag, sync-token, getetag) is a server's opaque token, never a
    // credential; kept as it is, like the ledger's etags.
    if (flow.analysis.collectionMarker !== undefined) out.analysis.collectionMarker = { ...flow.analysis.collectionMarker };
  }
  return out;
}

/** A finding with its message and every string in its evidence redacted. */
export function redactFinding(finding: Finding, redactor: Redactor): Finding {
  if (!redactor.enabled) return finding;
  return { ...finding, message: redactor.text(finding.message), evidence: redactValue(finding.evidence, redactor) as Evidence };
}

/**
 * Evidence is open-ended (strings, numbers, lists, nested records): every string is free text,
 * and a value filed under a secret name (`{ token: … }`) is replaced whole.
 */
function redactValue(value: unknown, redactor: Redactor): unknown {
  if (typeof value === 'string') return redactor.text(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redactor));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'string' && redactor.isSecretName(k) ? REDACTED : redactValue(v, redactor);
    return out;
  }
  return value;
}

// Hrefs are kept (they are what a 207 is about); only their query, fragment and path parameter
// secrets go, as in any URL.
function redactResource(r: Resource, redactor: Redactor): Resource {
  const out: Resource = { ...r, href: redactor.url(r.href), hrefNormalized: redactor.url(r.hrefNormalized), propstats: r.propstats.map((p) => redactPropstat(p, redactor)) };
  if (r.extraHrefs !== undefined) out.extraHrefs = r.extraHrefs.map(redactor.url);
  if (r.location !== undefined) out.location = redactor.url(r.location);
  if (r.description !== undefined) out.description = redactor.text(r.description);
  if (r.statusLine !== undefined) out.statusLine = redactor.text(r.statusLine);
  return out;
}

function redactPropstat(p: PropStat, redactor: Redactor): PropStat {
  return p.description === undefined ? p : { ...p, description: redactor.text(p.description) };
}
