// The terminal UI's intercept controls (i, a, A, X and the question on quit), over the relay's
// Interceptor. The filter is the UI's filter language, judged as mitmproxy judges its intercept
// filter: on each request as it arrived (no response yet, so ~c or ~s never match a request), and
// again on the whole response when the filter names a response code (~s ~c ~hs ~bs ~ts ~a ~q; the
// table in src/filter/codes.ts says which): `~m PROPFIND & ~s` holds PROPFIND responses only.
import zlib from 'node:zlib';
import { filterCode, matchFlow, parseFilter, type FilterNode } from '../filter/index.js';
import { firstHeader } from '../http/headers.js';
import type { InterceptFilter, Interceptor } from '../proxy/intercept.js';
import { decodableEncoding } from '../tap/decode.js';
import type { Flow, FlowStart } from '../types.js';
import type { UiIntercept } from '../../ui/app.js';
import { maskSecrets, requestToText, restoreSecrets, whyNotEditable, type EditableRequest } from '../replay/edit-text.js';
import { createRedactor } from '../redact/index.js';
import type { InterceptedRequest } from '../proxy/hooks.js';

/** True when the filter names a code that looks at the response. */
export function namesResponse(node: FilterNode): boolean {
  switch (node.kind) {
    case 'code':
      return filterCode(node.code)?.response === true;
    case 'not':
      return namesResponse(node.operand);
    case 'and':
    case 'or':
      return namesResponse(node.left) || namesResponse(node.right);
  }
}

/**
 * The filter judged on what a response head tells: true, false, or null when it depends on what
 * the head does not tell (a body, a finding). Only a sure false lets the response stream unkept.
 */
export function matchAtHead(node: FilterNode, flow: Flow): boolean | null {
  switch (node.kind) {
    case 'code': {
      const code = filterCode(node.code)!;
      return code.atHead ? code.match(flow, node.arg ?? '') : null;
    }
    case 'not': {
      const v = matchAtHead(node.operand, flow);
      return v === null ? null : !v;
    }
    case 'and': {
      const l = matchAtHead(node.left, flow);
      if (l === false) return false;
      const r = matchAtHead(node.right, flow);
      if (r === false) return false;
      return l === null || r === null ? null : true;
    }
    case 'or': {
      const l = matchAtHead(node.left, flow);
      if (l === true) return true;
      const r = matchAtHead(node.right, flow);
      if (r === true) return true;
      return l === null || r === null ? null : false;
    }
  }
}

/** A response head as a flow, for the filter. */
function flowOfHead(start: FlowStart): Flow {
  return {
    id: start.id,
    mode: start.mode,
    client: { address: '', port: 0 },
    timings: start.timings,
    request: start.request,
    response: { ...start.response, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
    outcome: { kind: 'complete' },
  };
}

/** A gzip, deflate or br body decoded for ~bs (at most `max` bytes; one that does not decode is searched as it came). */
function withDecodedBody(flow: Flow, max: number): Flow {
  const response = flow.response;
  if (!response) return flow;
  const encoding = decodableEncoding(firstHeader(response.rawHeaders, 'content-encoding'));
  if (!encoding || response.body.bytes.length === 0) return flow;
  try {
    const options = { maxOutputLength: max };
    const bytes =
      encoding === 'gzip' ? zlib.gunzipSync(response.body.bytes, options)
      : encoding === 'br' ? zlib.brotliDecompressSync(response.body.bytes, options)
      : zlib.inflateSync(response.body.bytes, options);
    return { ...flow, response: { ...response, decoded: { bytes, bytesSeen: bytes.length, captureComplete: true } } };
  } catch {
    return flow;
  }
}

/** The intercept filter for a parsed expression (`maxBody`: how far a compressed body is decoded to judge it). */
export function interceptFilterOf(node: FilterNode, maxBody = 64 * 1024 * 1024): InterceptFilter {
  const filter: InterceptFilter = { request: (r) => matchFlow(node, r.snapshot()) };
  if (!namesResponse(node)) return filter;
  filter.responseHead = (start) => matchAtHead(node, flowOfHead(start)) !== false;
  filter.response = (flow) => matchFlow(node, withDecodedBody(flow, maxBody));
  return filter;
}

export function interceptForUi(interceptor: Interceptor, maxBody?: number, options: { showSecrets?: boolean } = {}): UiIntercept {
  // e shows credentials masked as the screen does (unless --show-secrets) and sends them as they came.
  const redactor = createRedactor({ enabled: options.showSecrets !== true });
  const asSent = (r: InterceptedRequest, body: Buffer): EditableRequest => ({ method: r.method, target: r.upstream.target, httpVersion: '1.1', rawHeaders: r.upstream.rawHeaders, body });
  const pick = (id: string | undefined): string[] => (id !== undefined ? [id] : interceptor.list().map((r) => r.id));
  return {
    setFilter(text) {
      const t = text.trim();
      if (t === '') {
        interceptor.setFilter(null);
        return null;
      }
      try {
        interceptor.setFilter(interceptFilterOf(parseFilter(t), maxBody), t);
        return null;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    filter: () => interceptor.filter,
    held: () => interceptor.list(),
    flow: (id) => interceptor.flow(id),
    patienceMs: interceptor.patienceMs,
    resume: (id) => pick(id).filter((x) => interceptor.resume(x)).length,
    kill: (id) => pick(id).filter((x) => interceptor.kill(x)).length,
    // e on a held request: edited as it goes to the server (its path there, the fields after
    // reverse mode's mapping), so that what the editor saves is exactly what the server receives.
    async requestText(id) {
      const r = interceptor.request(id);
      if (!r) return { error: 'no request is held under this id (a held response cannot be edited)' };
      const label = `${r.method} ${r.upstream.target}`;
      let body: Buffer;
      try {
        body = await r.readBody();
      } catch (err) {
        return { error: `${label} cannot be edited: ${(err as Error).message}` };
      }
      if (!interceptor.request(id)) return { error: `${label} is no longer held` };
      const why = whyNotEditable({ bytes: body, bytesSeen: body.length, captureComplete: true });
      if (why !== undefined) return { error: `${label}: ${why.replace('(r sends it again as recorded)', '(a resumes it unchanged)')}` };
      return { text: requestToText(maskSecrets(asSent(r, body), redactor)), label };
    },
    sendEdited(id, request) {
      const r = interceptor.request(id);
      if (!r) return false;
      const sent = restoreSecrets(request, asSent(r, Buffer.alloc(0)), redactor);
      return interceptor.edit(id, { method: sent.method, target: sent.target, rawHeaders: sent.rawHeaders, body: sent.body });
    },
  };
}
