// One JSON object per line and per flow, for scripts (`jq`, a spreadsheet import): the summary
// fields of the flow list plus its findings; bodies only when asked for.
import { firstHeader } from '../http/headers.js';
import type { Finding, Flow } from '../types.js';
import { bodyText, clientUrl, contentCoding, tlsSides } from './common.js';
import { redactFlow, type Redactor } from '../redact/index.js';

export interface JsonlOptions {
  /** Include the request and response bodies (text, or base64 with `encoding`). */
  bodies?: boolean;
}

export interface JsonlRecord {
  id: string;
  start: string;
  durationMs: number | null;
  mode: Flow['mode'];
  method: string;
  url: string;
  clientUrl: string;
  /** The client's connection to davtap was TLS; the SNI name it asked for (null when none or plain). */
  clientTls: boolean;
  clientSni: string | null;
  /** davtap's connection to the server was TLS (an https URL); null when the request named no server. */
  upstreamTls: boolean | null;
  status: number | null;
  reason: string | null;
  outcome: Flow['outcome'];
  requestBytes: number;
  responseBytes: number | null;
  contentType: string | null;
  contentEncoding: string | null;
  captureComplete: boolean;
  resources: number | null;
  failedResources: number | null;
  summary: string | null;
  findingCounts: Record<'error' | 'warning' | 'info', number>;
  findings: Finding[];
  injected: string | null;
  /** The id of the recorded flow this one re-sent (`davtap replay`), null for a client's flow. */
  replayOf: string | null;
  /** Sandwich mode: `front` or `back` (null outside it), and on a front flow its back flow's id. */
  leg: 'front' | 'back' | null;
  pairedWith: string | null;
  requestHeaders: [string, string][];
  responseHeaders: [string, string][] | null;
  requestBody?: { text: string; encoding?: 'base64' };
  responseBody?: { text: string; encoding?: 'base64'; decoded: boolean } | null;
}

const tuples = (raw: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
};

export function jsonlRecord(recorded: Flow, redactor: Redactor, options: JsonlOptions = {}): JsonlRecord {
  const flow = redactFlow(recorded, redactor);
  const res = flow.response;
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of flow.analysis?.findings ?? []) counts[f.severity]++;
  const rec: JsonlRecord = {
    id: flow.id,
    start: new Date(flow.timings.start).toISOString(),
    durationMs: flow.timings.end === null ? null : flow.timings.end - flow.timings.start,
    mode: flow.mode,
    method: flow.request.method,
    url: redactor.url(flow.request.url),
    clientUrl: redactor.url(clientUrl(flow)),
    ...tlsSides(flow),
    status: res?.status ?? null,
    reason: res?.reason ?? null,
    outcome: flow.outcome,
    requestBytes: flow.request.body.bytesSeen,
    responseBytes: res?.body.bytesSeen ?? null,
    contentType: res ? (firstHeader(res.rawHeaders, 'content-type') ?? null) : null,
    contentEncoding: contentCoding(flow) ?? null,
    captureComplete: flow.request.body.captureComplete && (res === null || res.body.captureComplete),
    resources: flow.analysis?.summary.resources ?? null,
    failedResources: flow.analysis?.summary.failedResources ?? null,
    summary: flow.analysis?.summary.text ?? null,
    findingCounts: counts,
    findings: flow.analysis?.findings ?? [],
    injected: flow.injected ?? null,
    replayOf: flow.replayOf ?? null,
    leg: flow.leg ?? null,
    pairedWith: flow.pairedWith ?? null,
    requestHeaders: tuples(redactor.headers(flow.request.rawHeaders)),
    responseHeaders: res ? tuples(redactor.headers(res.rawHeaders)) : null,
  };
  if (options.bodies === true) {
    rec.requestBody = bodyText(flow.request.body.bytes);
    if (res === null) rec.responseBody = null;
    else {
      // The decoded copy when there is one: scripts want the XML, not the gzip stream.
      const decoded = contentCoding(flow) !== undefined && res.decoded !== null;
      rec.responseBody = { ...bodyText(decoded ? res.decoded!.bytes : res.body.bytes), decoded };
    }
  }
  return rec;
}

/** One line (with its newline) for a flow. */
export const jsonlLine = (flow: Flow, redactor: Redactor, options: JsonlOptions = {}): string => `${JSON.stringify(jsonlRecord(flow, redactor, options))}\n`;
