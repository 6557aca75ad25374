// Which flows an export holds: the ones named by id (or a unique id prefix), those matching a
// filter expression, or all of them; always oldest first, as they happened.
import { DavtapError } from '../errors.js';
import type { Store, StoredFlow } from '../store/index.js';

export interface Selection {
  /** Flow ids or unique id prefixes (`--flow`). */
  ids?: readonly string[];
  /** A filter expression (`--filter`); with ids, narrows them. A bad one throws FilterSyntaxError (exit 2). */
  filter?: string | null;
  /** The command named in errors (default export). */
  command?: string;
}

const PAGE = 1000;

/** Every id matching a prefix, by scanning the light rows (the store has no prefix query). */
function idsWithPrefix(store: Store, prefix: string): string[] {
  const out: string[] = [];
  // Bounded: at most count/PAGE + 1 pages.
  const pages = Math.ceil(store.countFlows() / PAGE) + 1;
  for (let page = 0; page < pages; page++) {
    const rows = store.listFlows({ order: 'asc', offset: page * PAGE, limit: PAGE });
    for (const r of rows) if (r.id.startsWith(prefix)) out.push(r.id);
    if (rows.length < PAGE || out.length > 1) break;
  }
  return out;
}

/** Resolves `--flow` values to full ids; an unknown or ambiguous one is a one-line error. */
export function resolveIds(store: Store, ids: readonly string[], command = 'export'): string[] {
  const out: string[] = [];
  for (const given of ids) {
    const id = given.trim();
    if (id === '') throw new DavtapError('USAGE', `${command}: --flow needs a flow id`);
    if (store.getRow(id)) {
      out.push(id);
      continue;
    }
    const matches = idsWithPrefix(store, id);
    if (matches.length === 0) throw new DavtapError('USAGE', `${command}: no flow with id '${id}' in ${store.file}`);
    if (matches.length > 1) throw new DavtapError('USAGE', `${command}: flow id prefix '${id}' is ambiguous (${matches.slice(0, 3).join(', ')}…)`);
    out.push(matches[0]!);
  }
  return out;
}

/**
 * Every id matching `filter` (all without one), oldest first. Pages continue after the last seq
 * seen rather than at an offset: a filter SQLite cannot answer from an index (a body search) then
 * scans the flows once, not once per page.
 */
function idsInOrder(store: Store, filter: string | null): string[] {
  const ids: string[] = [];
  let after = 0;
  for (;;) {
    const rows = store.listFlows({ filter, order: 'asc', afterSeq: after, limit: PAGE });
    for (const r of rows) ids.push(r.id);
    if (rows.length < PAGE) return ids;
    after = rows[rows.length - 1]!.seq;
  }
}

/** The ids selected, oldest first, without duplicates. Validates the filter before anything is written. */
export function selectIds(store: Store, selection: Selection): string[] {
  const filter = selection.filter !== undefined && selection.filter !== null && selection.filter.trim() !== '' ? selection.filter : null;
  // Parse (and so validate) the filter even when no flow would reach it.
  const matching = (): Set<string> | null => (filter === null ? null : new Set(idsInOrder(store, filter)));
  const filtered = matching();
  if (selection.ids !== undefined && selection.ids.length > 0) {
    const resolved = resolveIds(store, selection.ids, selection.command);
    const seqs = new Map<string, number>();
    for (const id of resolved) seqs.set(id, store.getRow(id)!.seq);
    return [...seqs.entries()]
      .filter(([id]) => filtered === null || filtered.has(id))
      .sort((a, b) => a[1] - b[1])
      .map(([id]) => id);
  }
  if (filtered !== null) return [...filtered];
  return idsInOrder(store, null);
}

/** Reads the selected flows one at a time, so that an export of many flows stays small in memory. */
export function* selectedFlows(store: Store, ids: readonly string[]): Generator<StoredFlow> {
  for (const id of ids) {
    const flow = store.getFlow(id);
    if (flow) yield flow;
  }
}
