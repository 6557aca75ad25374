// The live pipeline (worker thread, real database) started for a test, with the hooks a proxy gets
// as davtap wires them (including takesResponseBodies), a count of the flows the relay finished,
// and a teardown that closes it unless the test did.
import type { ExecutionContext } from 'ava';
import { startPipeline, type Pipeline, type PipelineOptions, type PipelineStats } from '../../src/pipeline/pipeline.js';
import type { ProxyHooks } from '../../src/proxy/index.js';
import type { Flow } from '../../src/types.js';

export interface TestPipeline {
  pipeline: Pipeline;
  /** For startTestProxy: the pipeline's hooks, observed. */
  hooks: ProxyHooks;
  /** Flows the relay handed over so far. */
  flows(): number;
  /** Waits (bounded: 5 s) until the relay has handed over `n` flows. */
  waitForFlows(n: number): Promise<void>;
  /** Closes the pipeline (every flow analyzed and committed); the teardown then does nothing. */
  close(): Promise<PipelineStats>;
}

export interface Observers {
  onChunk?(flowId: string, chunk: Buffer): void;
  onFlow?(flow: Flow): void;
}

export async function startTestPipeline(t: ExecutionContext, options: PipelineOptions, observe: Observers = {}): Promise<TestPipeline> {
  const pipeline = await startPipeline(options);
  let closed = false;
  // Closing it in the test (directly or through close below) leaves the teardown nothing to do.
  const closeOnce = pipeline.close.bind(pipeline);
  const close = () => {
    closed = true;
    return closeOnce();
  };
  pipeline.close = close;
  t.teardown(async () => {
    if (!closed) await closeOnce();
  });
  let flows = 0;
  const hooks: ProxyHooks = {
    takesResponseBodies: pipeline.hooks.takesResponseBodies,
    ...(pipeline.hooks.pace ? { pace: pipeline.hooks.pace } : {}),
    ...(pipeline.hooks.bodyPace ? { bodyPace: pipeline.hooks.bodyPace } : {}),
    onRequestStart: (request) => pipeline.hooks.onRequestStart!(request),
    onResponseStart: (start) => pipeline.hooks.onResponseStart!(start),
    onResponseChunk: (id, chunk) => {
      observe.onChunk?.(id, chunk);
      pipeline.hooks.onResponseChunk!(id, chunk);
    },
    onFlow: (flow) => {
      flows++;
      observe.onFlow?.(flow);
      pipeline.hooks.onFlow(flow);
    },
  };
  const waitForFlows = async (n: number) => {
    for (let i = 0; i < 200 && flows < n; i++) await new Promise((r) => setTimeout(r, 25));
    if (flows < n) throw new Error(`expected ${n} flows, the relay finished ${flows}`);
  };
  return { pipeline, hooks, flows: () => flows, waitForFlows, close };
}
