// Fills a davtap database the way the proxy does: through the store's own writer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFlowWriter, openStore } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';

export async function writeFlows(file: string, flows: Iterable<Flow>): Promise<void> {
  const store = openStore(file);
  const errors: string[] = [];
  const writer = createFlowWriter(store, { tickMs: 10, onError: (err) => errors.push(err.message) });
  try {
    let queued = 0;
    for (const flow of flows) {
      writer.enqueue(flow);
      // Large fills (the benchmark's 100,000 flows) commit as they go: the writer's queue is bounded.
      if (++queued % 2000 === 0) writer.flush();
    }
    await writer.close();
  } finally {
    store.close();
  }
  if (errors.length > 0) throw new Error(`writing flows failed: ${errors.join('; ')}`);
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'davtap-ui-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
