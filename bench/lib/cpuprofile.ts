// Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`) into the functions with the most
// self time, so that a missed target comes with the hot spots that explain it.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  selfMs: number;
  percent: number;
}

export function hotSpots(profile: Profile, top = 15): HotSpot[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    totalUs += dt;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(node_modules|dist|src)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const e = selfUs.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    selfUs.set(key, e);
  });
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, percent: totalUs ? (100 * e.us) / totalUs : 0 }));
}

/** Reads the newest `.cpuprofile` in `dir` and returns its hot spots (empty if there is none). */
export async function hotSpotsIn(dir: string, top = 15): Promise<HotSpot[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const last = files.at(-1);
  if (!last) return [];
  return hotSpots(JSON.parse(await readFile(path.join(dir, last), 'utf8')) as Profile, top);
}
