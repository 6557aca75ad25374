// CPU time per thread of a davtap process, from /proc (Linux), grouped by what the thread does:
// the relay (the main thread), the pipeline's threads (the analysis and recording worker names
// itself davtap-pipeline, see src/pipeline/pipeline-worker.ts; threads it starts, such as the WAL
// checkpointer, inherit the name), and the rest (V8's GC helpers, libuv's pool). Clock ticks of 10 ms: read over seconds, not milliseconds.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ = 100 on Linux

export interface ThreadCpu {
  relayMs: number;
  pipelineMs: number;
  otherMs: number;
}

export function threadCpu(pid: number): ThreadCpu | undefined {
  const out: ThreadCpu = { relayMs: 0, pipelineMs: 0, otherMs: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    // Fields after the command name (which may hold spaces) start after the last ')'; field 3 is index 0.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(f[11]) + Number(f[12])) * TICK_MS;
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (tid === String(pid)) out.relayMs += ms;
    else if (name === 'davtap-pipeline') out.pipelineMs += ms;
    else out.otherMs += ms;
  }
  return out;
}

export function cpuDelta(after: ThreadCpu, before: ThreadCpu): ThreadCpu {
  return { relayMs: after.relayMs - before.relayMs, pipelineMs: after.pipelineMs - before.pipelineMs, otherMs: after.otherMs - before.otherMs };
}
