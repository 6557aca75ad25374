// Default caps of one analysis. Generous enough for real listings (a 100,000-entry PROPFIND is
// about 50 MB), small enough that a hostile body cannot exhaust the proxy's memory.
import type { AnalyzerLimits } from '../types.js';

export const defaultLimits: Readonly<AnalyzerLimits> = Object.freeze({
  maxBodyBytes: 512 * 1024 * 1024,
  maxDepth: 256,
  // A ledger entry costs about 650 bytes of heap (for a 186-byte <response>): 100,000 of them
  // are about 65 MiB. Measured with bench/hostile/infinite-207.ts (three endless 207s in a row):
  // 1,000,000 let the proxy peak at 1.4 GB, 200,000 at 500–550 MB, 100,000 at 318 MB.
  maxResponses: 100_000,
  maxTokenLength: 16 * 1024 * 1024,
  maxParseErrors: 250_000,
});

export function resolveLimits(partial?: Partial<AnalyzerLimits>): AnalyzerLimits {
  const out: AnalyzerLimits = { ...defaultLimits };
  for (const key of Object.keys(defaultLimits) as (keyof AnalyzerLimits)[]) {
    const v = partial?.[key];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[key] = Math.floor(v);
  }
  return out;
}
