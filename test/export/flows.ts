// Flows for the export tests, built from real captures the way the proxy records them: the
// request as the client sent it, the response payload de-chunked but still content-coded, a
// decoded copy for gzip, and the real analyzer's verdict on the payload (what live.ts does).
import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { analyze } from '../../src/analysis/analyzer.js';
import { createFlowWriter, openStore, type Store } from '../../src/store/index.js';
import type { CapturedBody, Flow, Framing, OutcomeKind, RawHeaders, ResponseHead } from '../../src/types.js';
import { getHeader, isChunked, isGzip, parseMessage, payloadOf, statusOf, type RawMessage } from '../helpers/corrupt.js';
import { tempDb } from '../store/temp.js';

const captures = new URL('../fixtures/captures/', import.meta.url).pathname;

export interface CaptureOptions {
  /** Extra request headers (credentials for the redaction tests). */
  requestHeaders?: RawHeaders;
  responseHeaders?: RawHeaders;
  /** Query string appended to the URL and target. */
  query?: string;
  /** Keep only this many response payload bytes and end the flow as an upstream abort. */
  cutAt?: number;
  /** The client reached davtap at this authority (reverse mode); default: the capture's Host. */
  clientHost?: string;
}

export function loadCapture(name: string): { request: RawMessage; response: RawMessage } {
  return {
    request: parseMessage(readFileSync(`${captures}${name}.req`)),
    response: parseMessage(readFileSync(`${captures}${name}.http`)),
  };
}

function framingOf(m: RawMessage): Framing {
  if (isChunked(m)) return 'chunked';
  return getHeader(m, 'Content-Length') !== undefined ? 'content-length' : 'close-delimited';
}

export function captureFlow(name: string, i: number, options: CaptureOptions = {}): Flow {
  const { request, response } = loadCapture(name);
  const [method = '', path = '/'] = request.startLine.split(' ');
  const target = path + (options.query ?? '');
  const host = getHeader(request, 'Host') ?? '127.0.0.1';
  const upstream = `http://${host}${target}`;
  const reqHeaders = [...request.rawHeaders, ...(options.requestHeaders ?? [])];
  if (options.clientHost !== undefined) {
    const at = reqHeaders.findIndex((v, k) => k % 2 === 0 && v.toLowerCase() === 'host');
    reqHeaders[at + 1] = options.clientHost;
  }
  const status = statusOf(response);
  let payload = payloadOf(response);
  const wireLength = payload.length;
  let outcome: { kind: OutcomeKind; code?: string; message?: string } = { kind: 'complete' };
  if (options.cutAt !== undefined) {
    payload = payload.subarray(0, options.cutAt);
    outcome = { kind: 'upstream-aborted', code: 'ECONNRESET', message: `upstream closed after ${options.cutAt} of ${wireLength} bytes` };
  }
  const resHeaders = [...response.rawHeaders, ...(options.responseHeaders ?? [])];
  let decoded: CapturedBody | null = null;
  let decodeError: string | undefined;
  if (isGzip(response)) {
    try {
      const bytes = gunzipSync(payload);
      decoded = { bytes, bytesSeen: bytes.length, captureComplete: true };
    } catch (err) {
      decodeError = (err as Error).message;
    }
  }
  const start = 1_795_000_000_000 + i * 1000;
  const flow: Flow = {
    id: `${name}-${String(i).padStart(3, '0')}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 50000 + i },
    timings: { start, firstByte: start + 4, end: start + 9 },
    request: {
      method,
      url: upstream,
      target,
      httpVersion: request.startLine.split(' ')[2]?.replace('HTTP/', '') ?? '1.1',
      rawHeaders: reqHeaders,
      body: { bytes: request.body, bytesSeen: request.body.length, captureComplete: true },
    },
    response: {
      status: status.status,
      reason: status.reason,
      httpVersion: status.httpVersion,
      rawHeaders: resHeaders,
      framing: framingOf(response),
      declaredLength: getHeader(response, 'Content-Length') === undefined ? null : Number(getHeader(response, 'Content-Length')),
      body: { bytes: payload, bytesSeen: payload.length, captureComplete: true },
      decoded,
      informational: [],
      rawTrailers: [],
    },
    outcome,
  };
  if (decodeError !== undefined) flow.response!.decodeError = decodeError;
  const ct = getHeader(response, 'Content-Type') ?? '';
  if (status.status === 207 || /xml/i.test(ct)) {
    const head: ResponseHead = { status: status.status, reason: status.reason, httpVersion: status.httpVersion, rawHeaders: resHeaders, bodyForm: 'payload' };
    const clientHost = getHeader({ ...request, rawHeaders: reqHeaders }, 'Host');
    flow.analysis = analyze(
      { method, target, scheme: 'http', ...(clientHost !== undefined ? { authority: clientHost } : {}), rawHeaders: reqHeaders, ...(request.body.length > 0 ? { body: request.body } : {}) },
      head,
      payload,
      outcome.kind === 'complete' ? { outcome: 'complete', closeKind: 'fin' } : { outcome: outcome.kind, code: 'ECONNRESET', closeKind: 'rst' },
    );
  }
  return flow;
}

/** A flow whose upstream refused the connection: no response at all. */
export function refusedFlow(i: number): Flow {
  const start = 1_795_000_000_000 + i * 1000;
  return {
    id: `refused-${i}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 51000 + i },
    timings: { start, firstByte: null, end: start + 2 },
    request: {
      method: 'PROPFIND',
      url: 'http://127.0.0.1:9/dav/',
      target: '/dav/',
      httpVersion: '1.1',
      rawHeaders: ['Host', '127.0.0.1:9', 'Depth', '0'],
      body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true },
    },
    response: null,
    outcome: { kind: 'error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' },
  };
}

/** A PUT of binary content (a PNG header and noise): bodies that are not text. */
export function binaryPutFlow(i: number): Flow {
  const start = 1_795_000_000_000 + i * 1000;
  const body = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe]), Buffer.from('binary tail')]);
  return {
    id: `put-binary-${i}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 52000 + i },
    timings: { start, firstByte: start + 3, end: start + 3 },
    request: {
      method: 'PUT',
      url: 'http://127.0.0.1:8080/dav/pic.png',
      target: '/dav/pic.png',
      httpVersion: '1.1',
      rawHeaders: ['Host', '127.0.0.1:8080', 'Content-Type', 'image/png', 'Content-Length', String(body.length), 'Authorization', 'Basic dXNlcjpodW50ZXIy'],
      body: { bytes: body, bytesSeen: body.length, captureComplete: true },
    },
    response: {
      status: 201,
      reason: 'Created',
      httpVersion: '1.1',
      rawHeaders: ['Content-Length', '0', 'Set-Cookie', 'session=s3cr3t-session; Path=/; HttpOnly'],
      framing: 'content-length',
      declaredLength: 0,
      body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true },
      decoded: null,
      informational: [],
      rawTrailers: [],
    },
    outcome: { kind: 'complete' },
  };
}

/** A fresh database (removed after the test) holding `flows`, written through the real writer. */
export async function storeWith(t: ExecutionContext, flows: Flow[]): Promise<{ file: string; store: Store }> {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store, { tickMs: 1 });
  for (const f of flows) writer.enqueue(f);
  await writer.close();
  t.teardown(() => store.close());
  return { file, store };
}
