// Waits until a process stops using CPU: davtap analyses and stores flows on its own threads after
// their responses are relayed, so a backlog left by one load run must drain before the next target
// is measured on the same cores.
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system, all threads) used so far by `pid`, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the seconds it took until `pid` used less than `threshold` of one core over a
 * 500 ms window, or undefined if it was still busy after `maxMs`.
 */
export async function waitIdle(pid: number, maxMs: number, threshold = 0.05): Promise<number | undefined> {
  const started = Date.now();
  let before = cpuSeconds(pid);
  for (let i = 0; Date.now() - started < maxMs && i < 10_000; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpuSeconds(pid);
    if (now === undefined || before === undefined) return (Date.now() - started) / 1000;
    if (now - before < threshold * 0.5) return (Date.now() - started) / 1000;
    before = now;
  }
  return undefined;
}
