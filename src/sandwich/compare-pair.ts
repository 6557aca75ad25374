// The comparison of one pair: the back flow's answer (the origin's copy) against the front flow's
// (what the client got), with verify's comparison (compare.ts). Pure apart from the decompression
// it needs: it runs on the comparison worker (comparer.ts), off the relay thread.
import { compareVantagePoints, type PrefixMap, type VantagePoint } from '../analysis/compare.js';
import { analyze } from '../analysis/analyzer.js';
import { GATEWAY, isGatewayRule } from '../analysis/rules/gateway.js';
import { n } from '../analysis/rules/util.js';
import { hasHeader } from '../http/headers.js';
import { requestContextOf, transportEndOf } from '../pipeline/live.js';
import type { Finding, Flow } from '../types.js';
import { decodePayload } from '../verify/exchange.js';

/** One side of a pair: its flow and its response payload (de-chunked), unless over the cap. */
export interface PairSide {
  flow: Flow;
  payload: Buffer;
  overCap: boolean;
}

/** What a comparison says: the gateway differences, and the front flow's own rules they explain (rule → cause). */
export interface PairResult {
  findings: Finding[];
  consequences: Record<string, string>;
}

/** Everything one comparison needs besides the two sides. */
export interface PairContext {
  map: PrefixMap;
  gatewayBase: string;
  originBase: string;
}

/** One side of the comparison from a recorded flow and its response payload (de-chunked). */
export function vantageOf(flow: Flow, payload: Buffer, base: string): VantagePoint {
  const res = flow.response!;
  const { decoded, sniffedGzip } = decodePayload(res.rawHeaders, payload);
  const analysis = analyze(
    requestContextOf(flow.request, flow.mode, flow.client.tls !== undefined),
    { status: res.status, reason: res.reason, httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, bodyForm: 'payload' },
    payload,
    transportEndOf(flow.outcome),
  );
  return { status: res.status, rawHeaders: res.rawHeaders, framing: res.framing, payloadBytes: res.body.bytesSeen, decoded, sniffedGzip, transport: transportEndOf(flow.outcome), analysis, base };
}

/**
 * The gateway differences between a back flow (the origin's answer) and its front flow (what the
 * client got), compared when either is a 207: MS8xx findings, and the analyzer's rules their root
 * causes explain on the front flow (rule → cause).
 */
export function comparePair(back: PairSide, front: PairSide, { map, gatewayBase, originBase }: PairContext): PairResult {
  const none = { findings: [], consequences: {} };
  const b = back.flow.response;
  const f = front.flow.response;
  if (!b || (b.status !== 207 && f?.status !== 207)) return none;
  if (!f) {
    const why = front.flow.outcome.message ?? front.flow.outcome.code ?? front.flow.outcome.kind;
    return {
      findings: [{ rule: GATEWAY.statusChanged, severity: 'error', category: 'stripped', blame: 'gateway', message: `via gave no response where the origin answered ${b.status}: ${why}`, evidence: { origin: b.status, noResponse: true, backFlow: back.flow.id } }],
      consequences: {},
    };
  }
  if (back.overCap || front.overCap) return none;
  if (back.flow.outcome.kind === 'client-aborted' && front.flow.outcome.kind !== 'complete') return gaveUp(back, front, gatewayBase);
  const cmp = compareVantagePoints(vantageOf(back.flow, back.payload, originBase), vantageOf(front.flow, front.payload, gatewayBase), {
    map,
    acceptEncoding: hasHeader(front.flow.request.rawHeaders, 'accept-encoding'),
    foreignHrefsOnlyWhenChanged: true,
  });
  const findings = cmp.differences.filter((d) => isGatewayRule(d.rule)).map((d) => ({ ...d, evidence: { ...d.evidence, backFlow: back.flow.id } }));
  const consequences: Record<string, string> = {};
  for (const d of cmp.differences) if (!isGatewayRule(d.rule) && d.consequenceOf !== undefined) consequences[d.rule] = d.consequenceOf;
  return { findings, consequences };
}

/**
 * The gateway hung up on the origin's answer while it was still arriving (its read timeout, a size
 * limit), and the client's answer ended early too: the gateway cut it, however slow the origin was.
 * The back flow cannot serve as the origin's copy (it is cut where the gateway left), so this is
 * the one difference; the front flow's own truncation findings follow from it.
 */
function gaveUp(back: PairSide, front: PairSide, gatewayBase: string): PairResult {
  const via = vantageOf(front.flow, front.payload, gatewayBase);
  const declared = back.flow.response!.declaredLength;
  const of = declared !== null ? ` of ${n(declared)}` : '';
  const ended = front.flow.outcome.message ?? front.flow.outcome.code ?? front.flow.outcome.kind;
  const consequences: Record<string, string> = {};
  for (const f of via.analysis.findings) if (f.consequenceOf === undefined && f.category === 'truncation') consequences[f.rule] = GATEWAY.bodyCut;
  return {
    findings: [
      {
        rule: GATEWAY.bodyCut,
        severity: 'error',
        category: 'truncation',
        blame: 'gateway',
        message: `via gave up on the origin's answer after ${n(back.flow.response!.body.bytesSeen)}${of} bytes (it closed its connection to the origin mid-body) and passed on a body cut at ${n(front.flow.response!.body.bytesSeen)} bytes (${ended})`,
        evidence: { backFlow: back.flow.id, gaveUp: true, originBytesSeen: back.flow.response!.body.bytesSeen, viaBytes: front.flow.response!.body.bytesSeen, frontOutcome: front.flow.outcome.kind },
      },
    ],
    consequences,
  };
}

