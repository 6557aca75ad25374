// The one-line-per-flow log of `--no-ui` (in the spirit of mitmdump's output). Terminals are
// shared, scrolled back and pasted into bug reports: credentials in the path are masked unless
// `--show-secrets`.
import { createRedactor, type Redactor } from '../redact/index.js';
import type { Finding, Flow, Severity } from '../types.js';

const masking = createRedactor();

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export function clock(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}k`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}

/**
 * Where the request went: the path (and query) in reverse mode, where every flow has the one
 * upstream; in forward mode, which relays to many origins, the origin too, as mitmdump shows it
 * (`http://host:port/dav/`; never the URL's user information). A target that is no URL (a refused
 * request) is shown as sent.
 */
function whereOf(url: string, mode: Flow['mode']): string {
  try {
    const u = new URL(url);
    return (mode === 'forward' ? u.origin : '') + u.pathname + u.search;
  } catch {
    return url;
  }
}

// Control characters would move the terminal's cursor (an SNI name is whatever the client sent).
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/g;

/** `{tls}`, or `{tls: name}` with the SNI name the client asked for: the client spoke TLS to davtap. */
function clientTlsMark(tls: { sni?: string }): string {
  return tls.sni !== undefined && tls.sni !== '' ? `{tls: ${tls.sni.replace(controlChars, '?')}}` : '{tls}';
}

/** What a flow line shows: read from a whole flow (the live log) or from a stored row (`davtap flows`). */
export interface FlowLineFacts {
  start: number;
  end: number | null;
  mode: Flow['mode'];
  method: string;
  url: string;
  /** Null without a response. */
  status: number | null;
  responseBytes: number;
  outcome: { kind: string; code?: string | null };
  /** Set when a 207 body was analyzed. */
  analysis: { findings: readonly Finding[]; failed: number; resources: number; counts: Record<Severity, number> } | null;
  injected: string | null;
  clientTls: { sni?: string } | null;
}

export function flowFacts(flow: Flow): FlowLineFacts {
  const a = flow.analysis;
  return {
    start: flow.timings.start,
    end: flow.timings.end,
    mode: flow.mode,
    method: flow.request.method,
    url: flow.request.url,
    status: flow.response ? flow.response.status : null,
    responseBytes: flow.response ? flow.response.body.bytesSeen : 0,
    outcome: flow.outcome,
    analysis: a ? { findings: a.findings, failed: a.summary.failedResources, resources: a.summary.resources, counts: a.summary.findings } : null,
    injected: flow.injected ?? null,
    clientTls: flow.client.tls ?? null,
  };
}

/**
 * time, method, status, path (with the origin in forward mode), bytes, duration, outcome [, 207
 * summary and finding counts] [, injection] [, `{tls…}` when the client's connection was TLS]
 */
export function flowLine(flow: Flow, redactor: Redactor = masking): string {
  return factsLine(flowFacts(flow), redactor);
}

export function factsLine(flow: FlowLineFacts, redactor: Redactor = masking): string {
  const status = flow.status !== null ? String(flow.status) : '---';
  const size = flow.status !== null ? bytes(flow.responseBytes) : '-';
  const duration = flow.end !== null ? `${flow.end - flow.start}ms` : '-';
  const outcome = flow.outcome.kind === 'complete' ? 'complete' : `${flow.outcome.kind}${flow.outcome.code ? `(${flow.outcome.code})` : ''}`;
  const parts = [clock(flow.start), flow.method, status, whereOf(redactor.url(flow.url), flow.mode), size, duration, outcome];
  const a = flow.analysis;
  const skipped = a?.findings.some((f) => f.evidence.limit === 'pipeline-queue');
  if (a && skipped) {
    parts.push('[not analyzed: davtap was behind]');
  } else if (a) {
    const counts = a.counts;
    const badges = [counts.error ? `E${counts.error}` : '', counts.warning ? `W${counts.warning}` : '', counts.info ? `I${counts.info}` : '']
      .filter(Boolean)
      .join(' ');
    parts.push(`[${a.failed}/${a.resources} failed${badges ? `; ${badges}` : ''}]`);
  }
  if (flow.injected) parts.push(`{injected: ${flow.injected}}`);
  if (flow.clientTls) parts.push(clientTlsMark(flow.clientTls));
  return parts.join('  ');
}
