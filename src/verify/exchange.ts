// Turns one raw exchange into a vantage point: the analyzer's verdict on the bytes, the payload with
// its framing removed and the representation with its content coding removed (best effort: a cut
// gzip stream still yields what it holds, so the comparison can say where the body stopped).
import zlib from 'node:zlib';
import { analyze } from '../analysis/analyzer.js';
import type { VantagePoint } from '../analysis/compare.js';
import { Deframer } from '../analysis/framing.js';
import { joinedHeader, listTokens } from '../http/headers.js';
import type { Analysis, RequestContext } from '../types.js';
import type { RawExchange } from './http.js';

export interface Side extends VantagePoint {
  /** The request went out but no usable response came back: why, in one line. */
  failure?: string;
}

const EMPTY_ANALYSIS: Analysis = {
  findings: [],
  resources: [],
  summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 0, warning: 0, info: 0 }, text: 'no response' },
};

export function inflateBestEffort(coding: string, bytes: Buffer): Buffer {
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  try {
    if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(bytes, opts);
    if (coding === 'deflate') return zlib.inflateSync(bytes, opts);
    if (coding === 'br') return zlib.brotliDecompressSync(bytes, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  } catch {
    // A stream broken beyond its first block: nothing decodable (the analyzer reports MS004).
    return Buffer.alloc(0);
  }
  return bytes;
}

/**
 * A response payload with its Content-Encoding undone (last coding first), or, when none is
 * declared and the bytes start with gzip's magic, inflated as gzip: what a client would read.
 */
export function decodePayload(rawHeaders: readonly string[], payload: Buffer): { decoded: Buffer; sniffedGzip: boolean } {
  const codings = listTokens(joinedHeader(rawHeaders, 'Content-Encoding')).filter((t) => t !== 'identity');
  let decoded: Buffer = payload;
  for (const c of [...codings].reverse()) decoded = inflateBestEffort(c, decoded);
  const sniffedGzip = codings.length === 0 && payload.length >= 2 && payload[0] === 0x1f && payload[1] === 0x8b;
  if (sniffedGzip) decoded = inflateBestEffort('gzip', payload);
  return { decoded, sniffedGzip };
}

export function requestContext(ex: RawExchange): RequestContext {
  const u = new URL(ex.request.url);
  return {
    method: ex.request.method,
    target: ex.request.path,
    scheme: u.protocol === 'https:' ? 'https' : 'http',
    authority: u.host,
    rawHeaders: ex.request.rawHeaders,
    ...(ex.request.body !== undefined ? { body: ex.request.body } : {}),
  };
}

export function toSide(ex: RawExchange, base: string): Side {
  const res = ex.response;
  if (!res) {
    return {
      status: 0,
      rawHeaders: [],
      framing: 'none',
      payloadBytes: 0,
      decoded: new Uint8Array(0),
      sniffedGzip: false,
      transport: ex.transport,
      analysis: EMPTY_ANALYSIS,
      base,
      failure: ex.transport.message ?? ex.transport.code ?? 'no response',
    };
  }
  const noBody = ex.request.method === 'HEAD' || res.status === 204 || res.status === 304;
  const parts: Uint8Array[] = [];
  const deframer = new Deframer(res.rawHeaders, 'wire', noBody, (b) => parts.push(Uint8Array.from(b)));
  deframer.write(res.wire);
  const framing = deframer.finish();
  const payload = Buffer.concat(parts);
  const { decoded, sniffedGzip } = decodePayload(res.rawHeaders, payload);
  const analysis = analyze(
    requestContext(ex),
    { status: res.status, reason: res.reason, httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, bodyForm: 'wire' },
    res.wire,
    ex.transport,
  );
  return {
    status: res.status,
    rawHeaders: res.rawHeaders,
    framing: framing.framing,
    payloadBytes: framing.payloadBytes,
    decoded,
    sniffedGzip,
    transport: ex.transport,
    analysis,
    base,
  };
}
