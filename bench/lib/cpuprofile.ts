// Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`) into the functions with the most
// self time, so that a missed target comes with the hot spots that explain it.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface Profile {
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

/** Self time per function, summed over one or several profiles (one per thread of a process). */
export function hotSpots(profiles: Profile | Profile[], top = 15): HotSpot[] {
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  for (const profile of Array.isArray(profiles) ? profiles : [profiles]) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
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
  }
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, percent: totalUs ? (100 * e.us) / totalUs : 0 }));
}

/** Which part of the program a frame belongs to: a package, a davtap layer, Node itself, or native. */
export function component(where: string): string {
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (pkg) return pkg[1]!;
  const layer = /^(?:dist\/)?src\/([^/:]+)/.exec(where);
  if (layer) return `davtap ${layer[1]!.replace(/\.js$/, '')}`;
  if (where.startsWith('node:')) return 'node (JS)';
  return where ? 'other' : 'native, GC, idle';
}

/** Self time summed per component, largest first. */
export function byComponent(profiles: Profile | Profile[]): Array<{ component: string; selfMs: number; percent: number }> {
  const all = hotSpots(profiles, Number.MAX_SAFE_INTEGER);
  const sums = new Map<string, number>();
  for (const s of all) sums.set(component(s.where), (sums.get(component(s.where)) ?? 0) + s.selfMs);
  const total = [...sums.values()].reduce((a, b) => a + b, 0);
  return [...sums.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([c, ms]) => ({ component: c, selfMs: ms, percent: total ? (100 * ms) / total : 0 }));
}

/** Every `.cpuprofile` in `dir` (node --cpu-prof writes one per thread: main and workers). */
export async function profilesIn(dir: string): Promise<Profile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(path.join(dir, f), 'utf8')) as Profile));
}
