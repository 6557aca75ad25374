// A saved response to analyze offline (`davtap check`, the rule goldens): what the readers of
// `.http` captures and HAR files produce, and its analysis, including a body davtap's capture cap
// cut short. Pure: bytes in, findings out.
import { analyze } from '../analysis/analyzer.js';
import type { Analysis, Finding, RequestContext, ResponseHead, TransportEnd } from '../types.js';

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
