// The flow list with the exchanges the intercept holds now. A held exchange is not in the store
// yet (a flow is recorded once it ends), so the list asks the one interface the UI may ask of the
// relay (UiIntercept, given by the composition root) and shows each held exchange after the
// recorded flows, as a row of its own: selectable, openable (its request, and the response when
// that is what waits), matched by the list's filter like any flow. Once decided it leaves these
// rows and comes back from the store with its true outcome.
import { matchFlow, type FilterNode } from '../src/filter/index.js';
import type { Flow } from '../src/types.js';
import type { UiHeld, UiIntercept } from './app.js';
import type { FlowSource } from './flow-window.js';
import type { FlowListRow } from './view-model.js';

/** A held exchange as a list row (`now`: for how long its client has waited). */
export function heldRow(held: UiHeld, flow: Flow | null, now: number, mask: (url: string) => string = (u) => u): FlowListRow {
  let path = held.url;
  let host: string | undefined;
  try {
    const url = new URL(held.url);
    path = url.pathname + url.search;
    host = url.host;
  } catch {
    // Not a URL: shown as it is.
  }
  return {
    seq: -1,
    id: held.id,
    start: held.waitingSince,
    method: held.method,
    path: mask(path),
    ...(flow ? { mode: flow.mode } : {}),
    ...(host !== undefined ? { host } : {}),
    status: held.what === 'response' ? (held.status ?? null) : null,
    size: held.what === 'response' ? (flow?.response?.body.bytesSeen ?? null) : null,
    durationMs: Math.max(0, now - held.waitingSince),
    resources: null,
    failed: null,
    errors: 0,
    warnings: 0,
    infos: 0,
    outcome: 'complete',
    clientTls: flow?.client.tls !== undefined,
    held: { what: held.what, clientGone: held.clientGone, pastPatience: held.pastPatience },
  };
}

/** A held exchange's flow as the flow view shows it: the snapshot, with what is held. */
export function heldFlow(held: UiHeld, flow: Flow, patienceMs: number): Flow {
  return { ...flow, held: { what: held.what, since: held.since, waitingSince: held.waitingSince, clientGone: held.clientGone, pastPatience: held.pastPatience, patienceMs } };
}

export interface HeldRowsOptions {
  /** Masks credentials in a held flow before the UI shows it (as the store's rows are masked). */
  maskFlow: (flow: Flow) => Flow;
  maskUrl: (url: string) => string;
  now?: () => number;
}

/**
 * `source` with the held exchanges after its rows. The store's count for a filter is kept and
 * brought up to date with the new flows only, so that asking again while something is held costs
 * no full count.
 */
export function withHeldRows(source: FlowSource, intercept: UiIntercept, options: HeldRowsOptions): FlowSource {
  const now = options.now ?? Date.now;
  let counted: { filter: FilterNode | null; seq: number; n: number } | null = null;
  const storeCount = (filter: FilterNode | null): number => {
    const seq = source.latestSeq();
    if (counted && counted.filter === filter && counted.seq === seq) return counted.n;
    const n = counted && counted.filter === filter && seq > counted.seq ? counted.n + source.countNew(filter, counted.seq, seq) : source.count(filter);
    counted = { filter, seq, n };
    return n;
  };
  const heldMatching = (filter: FilterNode | null): { held: UiHeld; flow: Flow | null }[] =>
    intercept
      .held()
      .map((held) => ({ held, flow: intercept.flow(held.id) }))
      .filter(({ flow }) => filter === null || (flow !== null && matchFlow(filter, flow)));
  return {
    ...source,
    latestSeq: () => source.latestSeq(),
    count: (filter) => storeCount(filter) + heldMatching(filter).length,
    countNew: (filter, afterSeq, uptoSeq) => source.countNew(filter, afterSeq, uptoSeq),
    // The held rows come after every stored one: where they start takes the whole count.
    countsInSteps: false,
    list: (filter, offset, limit) => {
      const n = storeCount(filter);
      const rows = offset < n ? source.list(filter, offset, Math.min(limit, n - offset)) : [];
      if (rows.length < limit) {
        const at = now();
        const held = heldMatching(filter).slice(Math.max(0, offset - n), Math.max(0, offset - n) + limit - rows.length);
        for (const h of held) rows.push(heldRow(h.held, h.flow, at, options.maskUrl));
      }
      return rows;
    },
    getFlow: (id) => {
      const held = intercept.held().find((h) => h.id === id);
      const flow = held ? intercept.flow(id) : null;
      if (held && flow) return options.maskFlow(heldFlow(held, flow, intercept.patienceMs));
      return source.getFlow(id);
    },
    close: () => source.close(),
  };
}
