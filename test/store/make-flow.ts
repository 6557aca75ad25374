// Builds realistic flows for the store's tests and benchmark: a PROPFIND whose 207 body lists
// `resources` members, with the ledger and findings an analysis of that body would produce.
import type { Finding, Flow, Resource } from '../../src/types.js';

export interface FlowShape {
  resources?: number;
  /** Indexes of resources answered 404 (whole-resource status). */
  failing?: number[];
  method?: string;
  status?: number | null;
  path?: string;
  findings?: Finding[];
  injected?: string;
  outcome?: Flow['outcome'];
  requestHeaders?: string[];
  responseHeaders?: string[];
  /** Response body size override: a body of this many bytes (repeated XML) instead of the multistatus. */
  bodyBytes?: number;
  start?: number;
}

function multistatus(path: string, n: number, failing: Set<number>): { body: Buffer; resources: Resource[] } {
  const head = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  let text = head;
  const resources: Resource[] = [];
  for (let i = 0; i < n; i++) {
    const href = `${path}file-${i}.ics`;
    const start = Buffer.byteLength(text);
    let xml: string;
    if (failing.has(i)) {
      xml = `<D:response><D:href>${href}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>\n`;
    } else {
      xml =
        `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getetag>"${i.toString(16)}-5f2a"</D:getetag>` +
        `<D:getcontentlength>${1000 + i}</D:getcontentlength><D:getlastmodified>Sat, 21 Nov 2026 05:00:00 GMT</D:getlastmodified>` +
        `<D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
    }
    text += xml;
    const r: Resource = {
      index: i,
      href,
      hrefNormalized: href,
      status: failing.has(i) ? 404 : null,
      propstats: failing.has(i)
        ? []
        : [{ status: 200, statusLine: 'HTTP/1.1 200 OK', props: ['{DAV:}getetag', '{DAV:}getcontentlength', '{DAV:}getlastmodified', '{DAV:}resourcetype'] }],
      span: { start, end: Buffer.byteLength(text) - 1 },
      complete: true,
    };
    if (failing.has(i)) r.statusLine = 'HTTP/1.1 404 Not Found';
    resources.push(r);
  }
  text += '</D:multistatus>\n';
  return { body: Buffer.from(text), resources };
}

export function makeFlow(i: number, shape: FlowShape = {}): Flow {
  const path = shape.path ?? `/dav/calendars/user${i % 7}/`;
  const n = shape.resources ?? 50;
  const failing = new Set(shape.failing ?? []);
  const method = shape.method ?? 'PROPFIND';
  const status = shape.status === undefined ? 207 : shape.status;
  const start = shape.start ?? 1_790_000_000_000 + i * 10;
  const { body, resources } = multistatus(path, n, failing);
  const responseBody = shape.bodyBytes === undefined ? body : Buffer.alloc(shape.bodyBytes, 'x');
  const requestBody = Buffer.from('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>');
  const findings = shape.findings ?? [];
  const flow: Flow = {
    id: `flow-${i}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 40000 + (i % 20000) },
    timings: { start, firstByte: start + 3, end: start + 7 },
    request: {
      method,
      url: `http://127.0.0.1:8080${path}`,
      target: path,
      httpVersion: '1.1',
      rawHeaders: shape.requestHeaders ?? ['Host', '127.0.0.1:8080', 'Depth', '1', 'User-Agent', 'DAVx5/4.3', 'Content-Type', 'application/xml'],
      body: { bytes: requestBody, bytesSeen: requestBody.length, captureComplete: true },
    },
    response:
      status === null
        ? null
        : {
            status,
            reason: status === 207 ? 'Multi-Status' : 'Other',
            httpVersion: '1.1',
            rawHeaders: shape.responseHeaders ?? ['Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(responseBody.length)],
            framing: 'content-length',
            declaredLength: responseBody.length,
            body: { bytes: responseBody, bytesSeen: responseBody.length, captureComplete: true },
            decoded: null,
            informational: [],
            rawTrailers: [],
          },
    outcome: shape.outcome ?? { kind: 'complete' },
  };
  if (status === 207 && method === 'PROPFIND') {
    const counts = { error: 0, warning: 0, info: 0 };
    for (const f of findings) counts[f.severity]++;
    flow.analysis = {
      findings,
      resources,
      summary: {
        resources: n,
        failedResources: failing.size,
        byStatus: failing.size > 0 ? { '200': n - failing.size, '404': failing.size } : { '200': n },
        findings: counts,
        text: failing.size > 0 ? `${failing.size} of ${n} resources failed (404 ×${failing.size})` : `${n} resources, none failed`,
      },
    };
  }
  if (shape.injected !== undefined) flow.injected = shape.injected;
  return flow;
}

export const truncationFinding: Finding = {
  rule: 'MS001',
  severity: 'error',
  category: 'truncation',
  // Not the rule's default (unknown): a round trip must keep a finding's own blame.
  blame: 'gateway',
  message: 'body ended before Content-Length',
  evidence: { offset: 4096, href: '/dav/x.ics' },
};

export const failureFinding: Finding = {
  rule: 'MS601',
  severity: 'warning',
  category: 'partial-failure',
  blame: 'server',
  message: '1 resource failed',
  evidence: { href: '/dav/file-3.ics' },
};
