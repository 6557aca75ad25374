// The live pipeline: proxy hooks → streaming analysis → store writer (and the flow log).
// davtap runs it on the pipeline worker (pipeline-worker.ts), fed by the relay thread's batches
// (pipeline.ts); it also runs in-process as it is, for tests and the benchmark's "inline" case.
// Which flows are analyzed:
// - every 207, and every response with an XML body whatever its status (a multistatus under 424,
//   an error body under 423…), fed chunk by chunk as the bytes relay;
// - every other flow whose transfer failed, from its captured body when the capture is whole,
//   so that truncation is reported even for a GET of a file.
import { createAnalyzer, analyze } from '../analysis/analyzer.js';
import { firstHeader } from '../http/headers.js';
import { clientScheme } from '../analysis/request.js';
import { relayFailed } from '../analysis/rules/index.js';
import { INTERNAL_ERROR_CODE } from '../proxy/client-errors.js';
import type { ProxyHooks } from '../proxy/index.js';
import type { Analysis, Analyzer, Finding, Flow, FlowStart, Mode, Outcome, RequestContext, ResponseRecord, ResponseHead, TransportEnd } from '../types.js';

export interface LiveOptions {
  /** Receives each finished flow, with its analysis attached. */
  onFlow(flow: Flow): void;
  log(line: string): void;
}

export interface LivePipeline {
  hooks: ProxyHooks;
  /** Flows whose response is still streaming through an analyzer. */
  inFlight(): number;
  /** Stops a streaming flow's analysis where it is: it reports what it read, and MS703 says why. */
  halt(flowId: string, why: string): void;
  /** The flow's streaming analysis reads no more of its body (a limit stopped it): its chunks may stop. */
  doneReading(flowId: string): boolean;
}

function isXml(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'text/xml' || type === 'application/xml' || type.endsWith('+xml');
}

export function requestContextOf(request: FlowStart['request'], mode: Mode, clientTls: boolean): RequestContext {
  // The scheme the client used (reverse mode: https when it spoke TLS to davtap's listener).
  const scheme = clientScheme(mode, request.url, clientTls);
  // The client's own view of the authority: its Host header (reverse mode rewrites it upstream),
  // else the URL's (parsed only then: once per flow, it showed in profiles).
  let authority = firstHeader(request.rawHeaders, 'host');
  if (authority === undefined) {
    try {
      authority = new URL(request.url).host;
    } catch {
      /* a request Node could not parse has no URL to speak of */
    }
  }
  return {
    method: request.method,
    target: request.target,
    ...(scheme ? { scheme } : {}),
    ...(authority ? { authority } : {}),
    rawHeaders: request.rawHeaders,
    // A request body cut by --max-request-body is left out: a multiget's cut href list would
    // blame the answer for hrefs the prefix lacks (MS601); the analysis then goes without it.
    ...(request.body.bytes.length > 0 && request.body.captureComplete ? { body: request.body.bytes } : {}),
  };
}

export function transportEndOf(outcome: Outcome, surplus?: ResponseRecord['surplus'], payloadBytes?: number): TransportEnd {
  const closeKind =
    outcome.kind === 'timeout' ? 'timeout'
    : outcome.code === 'ECONNRESET' || outcome.code === 'EPIPE' ? 'rst'
    : outcome.kind === 'complete' ? undefined
    : 'fin';
  return {
    outcome: outcome.kind,
    ...(outcome.code ? { code: outcome.code } : {}),
    ...(outcome.message ? { message: outcome.message } : {}),
    ...(closeKind ? { closeKind } : {}),
    ...(surplus ? { surplus } : {}),
    ...(payloadBytes !== undefined ? { payloadBytes } : {}),
  };
}

export function createLivePipeline(options: LiveOptions): LivePipeline {
  const analyzers = new Map<string, Analyzer>();

  const finish = (flow: Flow) => {
    const analyzer = analyzers.get(flow.id);
    analyzers.delete(flow.id);
    try {
      if (analyzer) {
        flow.analysis = analyzer.end(transportEndOf(flow.outcome, flow.response?.surplus, flow.response?.body.bytesSeen));
      } else if (flow.response && flow.outcome.kind !== 'complete' && flow.response.body.captureComplete) {
        const head: ResponseHead = { ...flow.response, bodyForm: 'payload' };
        flow.analysis = analyze(requestContextOf(flow.request, flow.mode, flow.client.tls !== undefined), head, flow.response.body.bytes, transportEndOf(flow.outcome, flow.response.surplus));
      }
    } catch (err) {
      // analyze() does not throw by contract; if it ever did, the flow is still recorded.
      options.log(`davtap: analysis failed for ${flow.request.method} ${flow.request.url}: ${(err as Error).message}`);
    }
    if (flow.outcome.code === INTERNAL_ERROR_CODE) flow.analysis = withRelayFailure(flow.analysis, flow.outcome.message ?? 'davtap failed internally');
    // The relay names the injection on an injected flow (it analyzed what the client was sent):
    // its findings describe davtap's own fault, not the server's.
    if (flow.injected !== undefined && flow.analysis) for (const f of flow.analysis.findings) f.injected = flow.injected;
    options.onFlow(flow);
  };

  return {
    inFlight: () => analyzers.size,
    halt: (flowId, why) => analyzers.get(flowId)?.halt(why),
    doneReading: (flowId) => analyzers.get(flowId)?.done === true,
    hooks: {
      onResponseStart(start: FlowStart) {
        const { response } = start;
        if (!isAnalyzable(response)) return;
        const head: ResponseHead = {
          status: response.status,
          reason: response.reason,
          httpVersion: response.httpVersion,
          rawHeaders: response.rawHeaders,
          bodyForm: 'payload',
        };
        analyzers.set(start.id, createAnalyzer(requestContextOf(start.request, start.mode, start.clientTls === true), head));
      },
      onResponseChunk(flowId: string, chunk: Buffer) {
        analyzers.get(flowId)?.write(chunk);
      },
      onFlow: finish,
    },
  };
}

/** Whether a response is analyzed as it streams (see the top of this file). */
export function isAnalyzable(response: Pick<ResponseHead, 'status' | 'rawHeaders'>): boolean {
  return response.status === 207 || isXml(firstHeader(response.rawHeaders, 'content-type'));
}

/** The flow's analysis with MS902 added: davtap's own relay failed on it (outcome EDAVTAP). */
function withRelayFailure(analysis: Analysis | undefined, message: string): Analysis {
  const finding: Finding = { rule: relayFailed.id, severity: relayFailed.severity, category: relayFailed.category, blame: relayFailed.blame, message, evidence: { code: INTERNAL_ERROR_CODE } };
  if (!analysis) {
    return {
      findings: [finding],
      resources: [],
      summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 1, warning: 0, info: 0 }, text: 'davtap failed internally on this flow' },
    };
  }
  analysis.findings.push(finding);
  analysis.summary.findings.error++;
  return analysis;
}

export function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The analysis recorded on a flow whose analysis was skipped because the pipeline was behind: a
 * finding (MS703, a davtap resource limit), so that the list and the UI show it was not checked.
 */
export function skippedAnalysis(what: 'analysis' | 'bodies', queuedBytes: number, queuedFlows: number): Analysis {
  const message =
    what === 'analysis'
      ? `not analyzed: davtap's analysis was behind (${mib(queuedBytes)} and ${queuedFlows} flows queued); the flow is recorded without its analysis`
      : `not analyzed and bodies not kept: davtap's analysis was far behind (${mib(queuedBytes)} and ${queuedFlows} flows queued)`;
  const finding: Finding = {
    rule: 'MS703',
    severity: 'warning',
    category: 'security',
    blame: 'unknown',
    message,
    evidence: { limit: 'pipeline-queue', skipped: what, queuedBytes, queuedFlows },
  };
  return {
    findings: [finding],
    resources: [],
    summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 0, warning: 1, info: 0 }, text: 'not analyzed: the analysis was behind' },
  };
}
