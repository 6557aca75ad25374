// Fault injection: davtap as a deliberately bad gateway. `createInjector` gives the proxy's
// `injectFor` hook: for each response head that matches the filter (default: every 207) it returns
// an injection that applies the faults, in the order given, to what the client receives.
import type { ClientHead, InjectionStep, ResponseInjection } from '../proxy/hooks.js';
import type { Flow, FlowStart } from '../types.js';
import { UsageError } from '../errors.js';
import { filterCode, filterCodes, matchFlow, parseFilter, type FilterNode } from '../filter/index.js';
import type { InjectSpec } from './spec.js';
import { stageFor, type Message, type StageContext } from './stages.js';

export { faultCatalogue, faultHelp, InjectSpecError, parseInjectSpec, parseInjectSpecs, specForms, type CutFraming, type FaultEntry, type FaultForm, type InjectSpec } from './spec.js';

/** Bodies larger than this pass through a rewrite unchanged (the flow's `injected` says so). */
export const defaultMaxRewriteBytes = 32 * 1024 * 1024;

export interface InjectorOptions {
  specs: InjectSpec[];
  /** Which flows are injected, judged at response-head time (method, URL, status, headers). Default: status 207. */
  filter?: FilterNode;
  maxRewriteBytes?: number;
}

/** The flow as known when the response head arrives, for the filter: no body, no analysis yet. */
function flowAtHead(start: FlowStart): Flow {
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

/** The filter codes `--inject-filter` accepts: those judged on the response head. */
export function headFilterCodes(): string {
  return filterCodes
    .filter((c) => c.atHead)
    .map((c) => `~${c.code}`)
    .join(' ');
}

/**
 * Refuses filters that cannot be judged at response-head time: bodies, findings, the outcome and
 * the injection itself are only known once the body has gone through.
 */
export function checkHeadFilter(node: FilterNode): void {
  if (node.kind === 'code' && !filterCode(node.code)!.atHead) {
    throw new UsageError(`--inject-filter: ~${node.code} is only known after the response; use ${headFilterCodes()}`);
  }
  if (node.kind === 'not') checkHeadFilter(node.operand);
  if (node.kind === 'and' || node.kind === 'or') {
    checkHeadFilter(node.left);
    checkHeadFilter(node.right);
  }
}

export function createInjector(options: InjectorOptions): (start: FlowStart) => ResponseInjection | undefined {
  const { specs, filter } = options;
  if (filter) checkHeadFilter(filter);
  const maxRewriteBytes = options.maxRewriteBytes ?? defaultMaxRewriteBytes;
  return (start) => {
    const applies = filter ? matchFlow(filter, flowAtHead(start)) : start.response.status === 207;
    return applies ? createInjection(specs, start.request.method, maxRewriteBytes) : undefined;
  };
}

/** Parses an --inject-filter expression; any problem is a one-line usage error naming the flag. */
export function parseHeadFilter(text: string): FilterNode {
  let node: FilterNode;
  try {
    node = parseFilter(text);
  } catch (err) {
    throw new UsageError(`--inject-filter: ${err instanceof Error ? err.message : String(err)}`);
  }
  checkHeadFilter(node);
  return node;
}

/** One flow's injection: the faults as stages, run over upstream's head and body. */
export function createInjection(specs: InjectSpec[], method: string, maxRewriteBytes = defaultMaxRewriteBytes): ResponseInjection {
  const label = specs.map((s) => s.text).join(',');
  const notes: string[] = [];
  const stages = specs.map(stageFor);
  return {
    get name() {
      return notes.length > 0 ? `${label} (${notes.join('; ')})` : label;
    },
    async *run(head: ClientHead, body: AsyncIterable<Buffer>, signal: AbortSignal): AsyncGenerator<InjectionStep> {
      const ctx: StageContext = { method, signal, maxRewriteBytes, note: (text) => notes.push(text) };
      let message: Message = { head, body };
      for (const stage of stages) message = await stage(message, ctx);
      if (!message.head) {
        yield { kind: 'cut', how: 'reset' };
        return;
      }
      yield { kind: 'head', head: message.head };
      for await (const piece of message.body) {
        if (!Buffer.isBuffer(piece)) {
          yield { kind: 'cut', how: piece.cut };
          return;
        }
        if (piece.length > 0) yield { kind: 'body', chunk: piece };
      }
    },
  };
}
