// The one-line-per-flow log of `--no-ui` (in the spirit of mitmdump's output). Terminals are
// shared, scrolled back and pasted into bug reports: credentials in the path are masked unless
// `--show-secrets`.
import { createRedactor, type Redactor } from '../redact/index.js';
import type { Flow } from '../types.js';

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
function clientTlsMark(tls: NonNullable<Flow['client']['tls']>): string {
  return tls.sni !== undefined && tls.sni !== '' ? `{tls: ${tls.sni.replace(controlChars, '?')}}` : '{tls}';
}

/**
 * time, method, status, path (with the origin in forward mode), bytes, duration, outcome [, 207
 * summary and finding counts] [, injection] [, `{tls…}` when the client's connection was TLS]
 */
export function flowLine(flow: Flow, redactor: Redactor = masking): string {
  const status = flow.response ? String(flow.response.status) : '---';
  const size = flow.response ? bytes(flow.response.body.bytesSeen) : '-';
  const duration = flow.timings.end !== null ? `${flow.timings.end - flow.timings.start}ms` : '-';
  const outcome = flow.outcome.kind === 'complete' ? 'complete' : `${flow.outcome.kind}${flow.outcome.code ? `(${flow.outcome.code})` : ''}`;
  const parts = [clock(flow.timings.start), flow.request.method, status, whereOf(redactor.url(flow.request.url), flow.mode), size, duration, outcome];
  const a = flow.analysis;
  const skipped = a?.findings.some((f) => f.evidence.limit === 'pipeline-queue');
  if (a && skipped) {
    parts.push('[not analyzed: davtap was behind]');
  } else if (a) {
    const counts = a.summary.findings;
    const badges = [counts.error ? `E${counts.error}` : '', counts.warning ? `W${counts.warning}` : '', counts.info ? `I${counts.info}` : '']
      .filter(Boolean)
      .join(' ');
    parts.push(`[${a.summary.failedResources}/${a.summary.resources} failed${badges ? `; ${badges}` : ''}]`);
  }
  if (flow.injected) parts.push(`{injected: ${flow.injected}}`);
  if (flow.client.tls) parts.push(clientTlsMark(flow.client.tls));
  return parts.join('  ');
}
