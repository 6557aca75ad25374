// A saved response to analyze offline (`davtap check`, the rule goldens): what the readers of
// `.http` captures and HAR files produce, and its analysis, including a body davtap's capture cap
// cut short. Pure: bytes in, findings out.
import { analyze, createAnalyzer } from '../analysis/analyzer.js';
import type { Analysis, AnalyzerLimits, Finding, RequestContext, Resource, ResponseHead, TransportEnd } from '../types.js';

/** One response to analyze, with where it came from. */
export interface CheckInput {
  input: string;
  req: RequestContext;
  head: ResponseHead;
  body: Uint8Array;
  /** How the transfer ended, when the input says (davtap's HAR export); complete otherwise. */
  transport?: TransportEnd;
  /**
   * Set when the body is a prefix because davtap's capture cap (--max-body) stopped recording,
   * not because the server stopped sending: `captured` of `seen` bytes were kept.
   */
  capped?: CappedCapture;
}

export interface CappedCapture {
  captured: number;
  seen: number;
  /** Rule ids the live analysis recorded (it saw every byte), when the input carries them. */
  liveFindings?: string[];
}

export interface CheckResult {
  input: string;
  status: number;
  findings: Finding[];
  resources: Analysis['resources'];
  summary: Analysis['summary'];
}

/** A saved response whose body is read as it streams (a large file), not held whole. */
export interface StreamedInput {
  input: string;
  req: RequestContext;
  head: ResponseHead;
  body: AsyncIterable<Uint8Array>;
}

/** The result of a streamed check: its ledger went to the caller resource by resource. */
export type StreamedResult = Omit<CheckResult, 'resources'>;

/**
 * Limits of a streamed check. The analysis keeps no ledger of its own then (each resource goes to
 * the caller), so the proxy's caps on responses and body bytes, which bound the ledger it records,
 * are lifted: a saved listing is analyzed to its end whatever its size.
 */
const STREAMED_LIMITS: Partial<AnalyzerLimits> = { maxResponses: Number.MAX_SAFE_INTEGER, maxBodyBytes: Number.MAX_SAFE_INTEGER };

/** Largest slice written to the analyzer at once, as the proxy would (and `analyze` does). */
const SLICE = 64 * 1024;

/**
 * Analyzes a body as it streams. The resources of each slice are handed to `onResources` (awaited:
 * the caller writes them out) before the next slice is read, so memory stays that of one slice.
 */
export async function checkStreamed(input: StreamedInput, onResources: (resources: Resource[]) => Promise<void>): Promise<StreamedResult> {
  let pending: Resource[] = [];
  const a = createAnalyzer(input.req, input.head, STREAMED_LIMITS, { onResource: (r) => pending.push(r) });
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await onResources(batch);
  };
  for await (const chunk of input.body) {
    for (let i = 0; i < chunk.length; i += SLICE) a.write(chunk.subarray(i, i + SLICE));
    await flush();
  }
  const analysis = a.end({ outcome: 'complete', closeKind: 'fin' });
  await flush();
  return { input: input.input, status: input.head.status, findings: analysis.findings, summary: analysis.summary };
}

export function checkOne(input: CheckInput): CheckResult {
  const transport: TransportEnd = input.transport ?? { outcome: 'complete', closeKind: 'fin' };
  const a = input.capped ? analyzeCapped(input, input.capped, transport) : analyze(input.req, input.head, input.body, transport);
  return { input: input.input, status: input.head.status, findings: a.findings, resources: a.resources, summary: a.summary };
}

/**
 * A body the capture cap cut short (DESIGN.md: the tap's caps are never reported as server
 * truncation). The analyzer is told that its byte budget is exactly what was captured and that
 * more followed (one byte past the prefix, which it never parses): it then stops there as at any
 * of its own limits, with MS703 instead of MS006/MS101 for the missing end, and keeps the rules
 * that need the whole document quiet. MS703 is then worded for what happened: the capture cap.
 */
function analyzeCapped(input: CheckInput, capped: CappedCapture, transport: TransportEnd): Analysis {
  const body = input.body;
  const limitFinding = (offset: number): Finding => ({
    rule: 'MS703',
    severity: 'warning',
    category: 'security',
    blame: 'unknown',
    message:
      `capture capped at ${capped.captured.toLocaleString('en-US')} of ${capped.seen.toLocaleString('en-US')} bytes (davtap --max-body), not analyzed past it; ` +
      (capped.liveFindings !== undefined
        ? `the live analysis saw every byte and recorded ${capped.liveFindings.length === 0 ? 'no finding' : capped.liveFindings.join(', ')} (_davtap.findings)`
        : 'the cut is davtap\'s, not the server\'s'),
    evidence: { limit: 'capture', offset, captured: capped.captured, bytesSeen: capped.seen, ...(capped.liveFindings !== undefined ? { liveFindings: capped.liveFindings } : {}) },
  });
  if (body.length === 0) {
    const finding = limitFinding(0);
    return { findings: [finding], resources: [], summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 0, warning: 1, info: 0 }, text: 'not analyzed: the capture holds nothing to analyze' } };
  }
  const withMore = Buffer.concat([body, Buffer.alloc(1, 0x20)]);
  const a = analyze(input.req, input.head, withMore, transport, { maxBodyBytes: body.length });
  const at = a.findings.findIndex((f) => f.rule === 'MS703' && f.evidence['limit'] === 'maxBodyBytes');
  const offset = at >= 0 && typeof a.findings[at]!.evidence.offset === 'number' ? a.findings[at]!.evidence.offset : body.length;
  if (at >= 0) a.findings[at] = limitFinding(offset);
  else {
    a.findings.push(limitFinding(offset));
    a.summary.findings.warning++;
  }
  return a;
}
