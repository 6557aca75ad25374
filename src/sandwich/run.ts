// Sandwich mode: davtap on both sides of a gateway. Two reverse relays in one process, recording
// into one store: FRONT (clients → davtap → the gateway) and BACK (the gateway → davtap → the
// origin). Each leg is the one relay (startProxy), byte-transparent, mapping Host, Destination and
// If only for its own addresses. When a front flow ends, its back flow is found (pairing.ts) and
// the two answers are compared with verify's comparison (compare.ts): the back flow's answer is
// the origin's copy, the front flow's the gateway's. Differences are recorded on the front flow.
import { prefixMap, type PrefixMap } from '../analysis/compare.js';
import { startProxy, type ProxyHooks, type ProxyOptions, type RunningProxy } from '../proxy/index.js';
import type { Finding, Flow, FlowStart, Leg } from '../types.js';
import type { PairSide } from './compare-pair.js';
import { startComparer, type CompareOn } from './comparer.js';
import { answerDigest, bodyDigest, frontToBack, PairBook, relativeTarget, type LegMap, type LegRequest } from './pairing.js';

/** Options of both relays, as for the proxy in reverse mode. */
export type LegOptions = Omit<ProxyOptions, 'listenHost' | 'listenPort' | 'upstream' | 'publicUrl' | 'hooks' | 'clientAllowed'>;

export interface SandwichOptions {
  front: { host: string; port: number };
  back: { host: string; port: number };
  /** Where the front leg relays to: the gateway (with its path prefix, if any). */
  gateway: URL;
  /** Where the back leg relays to: the origin. */
  origin: URL;
  legs: LegOptions;
  /**
   * A gateway that changes the path prefix: the front listener's paths under `front` are the back
   * listener's under `back`. Pairing maps front targets through it, and the comparison maps the
   * origin's hrefs (so an honest gateway that maps them back is no difference).
   */
  map?: LegMap;
  /** The recorder's hooks (the live pipeline): every flow of both legs goes to it. */
  hooks: ProxyHooks;
  /** How long a front flow waits for its back flow after it ended, and a back flow for its front (default 5 s). */
  windowMs?: number;
  /** Response bytes kept per flow for the comparison (default 64 MiB); a larger answer is not compared. */
  maxCompareBytes?: number;
  /** Called for each front flow once it is decided: its back flow (undefined: the gateway answered itself) and the differences. */
  onPair?: (front: Flow, back: Flow | undefined, differences: Finding[]) => void;
  log?: (line: string) => void;
  /** Where pairs are compared: on a worker thread (the default), or inline on the relay thread. */
  compareOn?: CompareOn;
}

export interface Sandwich {
  front: RunningProxy;
  back: RunningProxy;
  /** Stops both listeners; front flows still waiting for a back flow are recorded as unmatched. */
  close(): Promise<void>;
  stats(): SandwichStats;
}

export interface SandwichStats {
  paired: number;
  /** Front flows with no back flow: the gateway answered itself (cache, authentication, an error page). */
  frontOnly: number;
  /** Back flows no front flow claimed (the gateway's own requests: health checks, retries). */
  backOnly: number;
  /** Pairs with at least one gateway difference that is no consequence of another. */
  differing: number;
}

interface Captured {
  chunks: Buffer[];
  size: number;
  overCap: boolean;
}

type Done = PairSide;

interface WaitingFront extends Done {
  request: LegRequest;
  end: number;
  timer: NodeJS.Timeout;
}

const EMPTY = Buffer.alloc(0);

/**
 * The prefix mapping between the gateway's hrefs and the origin's: the two base URLs' paths, each
 * extended by its side of `legMap` (front listener paths sit under the gateway's base path, back
 * listener paths under the origin's).
 */
export function comparisonMap(gateway: URL, origin: URL, legMap: LegMap | undefined): PrefixMap {
  const under = (base: URL, p: string): string => (base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`) + p.replace(/^\//, '');
  return prefixMap(under(gateway, legMap?.front ?? '/'), under(origin, legMap?.back ?? '/'));
}

export async function startSandwich(opts: SandwichOptions): Promise<Sandwich> {
  const windowMs = opts.windowMs ?? 5_000;
  const maxCompare = opts.maxCompareBytes ?? 64 * 1024 * 1024;
  const context = { map: comparisonMap(opts.gateway, opts.origin, opts.map), gatewayBase: opts.gateway.origin, originBase: opts.origin.origin };
  const comparer = startComparer(opts.compareOn ?? 'worker', opts.log);
  /** Comparisons under way: close() waits for them. */
  const comparing = new Set<Promise<void>>();
  const stats: SandwichStats = { paired: 0, frontOnly: 0, backOnly: 0, differing: 0 };
  const book = new PairBook({ windowMs });
  const captured = new Map<string, Captured>();
  /** Back flows that ended and wait in the book, by id. */
  const backs = new Map<string, Done>();
  const fronts = new Set<WaitingFront>();
  let closing = false;

  const requestOf = (flow: Flow, base: URL, leg: Leg, done: Done): LegRequest => {
    const target = relativeTarget(flow.request.url, base);
    let answer: string | undefined;
    return {
      id: flow.id,
      method: flow.request.method,
      // Front targets in the back leg's terms, so that a prefix-changing gateway's pairs share a key.
      target: target === null ? flow.request.url : leg === 'front' ? frontToBack(target, opts.map) : target,
      bodyDigest: bodyDigest(flow.request.body.bytes, flow.request.body.bytesSeen, flow.request.body.captureComplete),
      start: flow.timings.start,
      // Worked out only when the same request was sent more than once at a time, then kept.
      answer: () => (answer ??= answerDigest(flow.response?.status ?? null, done.payload, !done.overCap && flow.outcome.kind === 'complete')),
    };
  };

  const doneOf = (flow: Flow): Done => {
    const c = captured.get(flow.id);
    captured.delete(flow.id);
    const payload = c ? Buffer.concat(c.chunks) : flow.response?.body.bytes ?? EMPTY;
    return { flow, payload, overCap: c?.overCap ?? false };
  };

  const expireBacks = (): void => {
    for (const b of book.expire(Date.now())) {
      backs.delete(b.id);
      stats.backOnly++;
    }
  };

  const settleFront = (w: WaitingFront, back: Done | undefined): void => {
    clearTimeout(w.timer);
    fronts.delete(w);
    const flow: Flow = { ...w.flow, leg: 'front' };
    if (!back) {
      stats.frontOnly++;
      opts.hooks.onFlow(flow);
      opts.onPair?.(flow, undefined, []);
      return;
    }
    stats.paired++;
    flow.pairedWith = back.flow.id;
    let differences: Finding[] = [];
    // Compared off the relay thread; the front flow is handed on with its differences once known.
    const compared = comparer
      .compare(back, w, context)
      .then(
        (pair) => {
          differences = pair.findings;
          if (pair.findings.length > 0) flow.pairFindings = pair;
          if (pair.findings.some((d) => d.consequenceOf === undefined && d.severity !== 'info')) stats.differing++;
        },
        (err: unknown) => {
          // A comparison that fails must not cost the record: the flow is kept without it.
          opts.log?.(`davtap: sandwich: comparing flow ${flow.id} with ${back.flow.id} failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      )
      .then(() => {
        opts.hooks.onFlow(flow);
        opts.onPair?.(flow, back.flow, differences);
      })
      .finally(() => comparing.delete(compared));
    comparing.add(compared);
  };

  const tryFront = (w: WaitingFront): boolean => {
    const match = book.takeFor(w.request, w.end);
    if (!match) return false;
    const back = backs.get(match.id)!;
    backs.delete(match.id);
    settleFront(w, back);
    return true;
  };

  const legHooks = (leg: Leg, base: URL): ProxyHooks => ({
    ...opts.hooks,
    onResponseStart(start: FlowStart) {
      captured.set(start.id, { chunks: [], size: 0, overCap: false });
      opts.hooks.onResponseStart?.(start);
    },
    onResponseChunk(id: string, chunk: Buffer) {
      const c = captured.get(id);
      if (c && !c.overCap) {
        if (c.size + chunk.length > maxCompare) {
          c.overCap = true;
          c.chunks = [];
        } else {
          // A copy: the relay's buffer is reused once this call returns.
          c.chunks.push(Buffer.from(chunk));
          c.size += chunk.length;
        }
      }
      opts.hooks.onResponseChunk?.(id, chunk);
    },
    onFlow(relayed: Flow) {
      const flow: Flow = leg === 'back' ? { ...relayed, leg: 'back' } : relayed;
      const done = doneOf(flow);
      expireBacks();
      if (leg === 'back') {
        opts.hooks.onFlow(flow);
        if (closing) return;
        const request = requestOf(flow, base, 'back', done);
        backs.set(flow.id, done);
        book.addBack(request, flow.timings.end ?? Date.now());
        for (const w of [...fronts]) if (tryFront(w)) break;
        return;
      }
      const end = flow.timings.end ?? Date.now();
      const w: WaitingFront = { ...done, request: requestOf(flow, base, 'front', done), end, timer: setTimeout(() => settleFront(w, undefined), closing ? 0 : windowMs) };
      fronts.add(w);
      tryFront(w);
    },
  });

  const common = { ...opts.legs, ...(opts.log ? { log: opts.log } : {}) };
  let back: RunningProxy;
  try {
    back = await startProxy({ ...common, listenHost: opts.back.host, listenPort: opts.back.port, upstream: opts.origin, hooks: legHooks('back', opts.origin) });
  } catch (err) {
    await comparer.close();
    throw err;
  }
  let front: RunningProxy;
  try {
    front = await startProxy({ ...common, listenHost: opts.front.host, listenPort: opts.front.port, upstream: opts.gateway, hooks: legHooks('front', opts.gateway) });
  } catch (err) {
    await back.close();
    await comparer.close();
    throw err;
  }
  return {
    front,
    back,
    stats: () => ({ ...stats, backOnly: stats.backOnly + (closing ? backs.size : 0) }),
    async close() {
      await front.close();
      await back.close();
      closing = true;
      // Last chances: a front flow whose back flow arrived meanwhile is paired, the others are unmatched.
      for (const w of [...fronts]) if (!tryFront(w)) settleFront(w, undefined);
      expireBacks();
      while (comparing.size > 0) await Promise.all([...comparing]);
      await comparer.close();
    },
  };
}
