// One wrk measurement of a relay: a warm-up, then the measured window, with the relay process's
// CPU per thread over the window and until it is idle again (its recording included).
import { waitIdle } from './idle.js';
import { cpuDelta, threadCpu, type ThreadCpu } from './threads.js';
import { runWrk, type WrkRequest, type WrkResult } from './wrk.js';

/** The small PROPFIND (Depth 0, five properties) the perf bench and the relay A/B load a relay with. */
export const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>' +
  '<D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop></D:propfind>\n';
export const HEADERS = { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' };

export interface MeasuredWrk {
  wrk: WrkResult;
  /** The relay's CPU over the window, when its pid is known. */
  cpu?: ThreadCpu;
}

export async function measuredWrk(req: WrkRequest, pid: number | undefined, opts: { connections: number; warmupS: number; durationS: number }): Promise<MeasuredWrk> {
  const shape = { connections: opts.connections, threads: opts.connections > 1 ? 2 : 1 };
  await runWrk(req, { ...shape, durationSeconds: opts.warmupS });
  // What the warm-up left (davtap: its recording) must not run during the measured window.
  if (pid !== undefined) await waitIdle(pid, 60_000);
  const before = pid !== undefined ? threadCpu(pid) : undefined;
  const wrk = await runWrk(req, { ...shape, durationSeconds: opts.durationS });
  // The flows' analysis and recording may end after the last response: counted until it is idle.
  if (pid !== undefined) await waitIdle(pid, 120_000);
  const after = pid !== undefined ? threadCpu(pid) : undefined;
  return { wrk, ...(before && after ? { cpu: cpuDelta(after, before) } : {}) };
}
