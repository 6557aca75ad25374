// Starts davtap's proxy in-process for a test and collects its flows.
import type { ExecutionContext } from 'ava';
import { startProxy, type ProxyHooks, type ProxyOptions, type RunningProxy } from '../../src/proxy/index.js';
import type { Flow } from '../../src/types.js';

export interface TestProxy extends RunningProxy {
  flows: Flow[];
  chunks: Map<string, Buffer[]>;
  /** Resolves once `n` flows have been recorded (bounded wait). */
  waitForFlows(n: number, timeoutMs?: number): Promise<Flow[]>;
}

/** Options as for startProxy; hooks given here are added to (or replace) the collecting ones. */
export type TestProxyOptions = Partial<Omit<ProxyOptions, 'hooks'>> & { hooks?: Partial<ProxyHooks> };

export async function startTestProxy(t: ExecutionContext, options: TestProxyOptions): Promise<TestProxy> {
  const flows: Flow[] = [];
  const chunks = new Map<string, Buffer[]>();
  const waiters: Array<() => void> = [];
  const logs: string[] = [];
  const proxy = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    maxBody: 64 * 1024 * 1024,
    maxRequestBody: 1024 * 1024,
    ...options,
    hooks: {
      onResponseChunk: (id, chunk) => {
        const list = chunks.get(id) ?? [];
        list.push(chunk);
        chunks.set(id, list);
      },
      onFlow: (flow) => {
        flows.push(flow);
        for (const w of waiters.splice(0)) w();
      },
      ...options.hooks,
    },
    log: (line) => logs.push(line),
  });
  t.teardown(() => proxy.close());
  return Object.assign(proxy, {
    flows,
    chunks,
    async waitForFlows(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (flows.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} flows, got ${flows.length}; log: ${logs.join(' | ')}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return flows;
    },
  });
}
