// The live proxy's memory of recent collection listings, for MS403 across time (the pure rule is
// src/analysis/history.ts). It runs on the pipeline worker, which sees finished flows in the order
// the relay finished them, and keeps, bounded:
// - the last complete listing of each collection key (LRU: a cap on collections, on members kept
//   per listing and on members kept overall, and an age limit);
// - the DELETE/MOVE/COPY requests seen since (a capped log with the same age limit). When the cap
//   drops a removal newer than a listing, that listing is no longer compared: the dropped removal
//   might be the explanation;
// - the DELETE/MOVE/COPY requests still in flight (told by writeStarted() when their request goes
//   upstream, forgotten when their flow ends): the server may act on one before it answers, so a
//   listing that ends first may already miss what it removes.
// Timestamps are the flows' own, so the history behaves the same whatever the worker's pace.
import { compareListings, observe, type PreviousListing, type Removal } from '../analysis/history.js';
import type { RawHeaders } from '../types.js';
import type { Finding, Flow } from '../types.js';
import { clock } from './flow-line.js';

export interface ListingHistoryOptions {
  /** Collections remembered (least recently listed forgotten first). Default 512. */
  maxCollections?: number;
  /** Members kept of one listing (the first ones in document order). Default 20,000. */
  maxMembersPerListing?: number;
  /** Members kept over all listings. Default 100,000 (a few MB). */
  maxMembersTotal?: number;
  /** How long a listing or a removal is remembered, in ms. Default 10 minutes. */
  maxAgeMs?: number;
  /** Removals remembered. Default 20,000. */
  maxRemovals?: number;
  /** Formats a listing's time in the finding (default: local HH:MM:SS, as in the flow lines). */
  formatTime?: (ms: number) => string;
}

export interface ListingHistoryStats {
  collections: number;
  members: number;
  removals: number;
  /** Removing requests in flight. */
  inFlight: number;
}

/**
 * A remembered listing. Its members are kept as one joined string: hrefs taken from an analysis
 * may be slices of the body's text, and keeping the slices would keep the text they point into.
 * NUL separates them (XML cannot carry it, so no href contains it).
 */
interface Kept extends Omit<PreviousListing, 'members'> {
  joined: string;
  kept: number;
}

const SEP = '\0';

export class ListingHistory {
  private readonly listings = new Map<string, Kept>();
  private removals: Removal[] = [];
  /** Removing requests in flight, by flow id (their `at` is Infinity: not over yet). */
  private readonly inFlight = new Map<string, Removal[]>();
  private members = 0;
  /** The newest `at` of a removal the cap dropped (age-expired ones are older than any listing kept). */
  private droppedRemovalAt = -Infinity;
  private readonly maxCollections: number;
  private readonly maxMembersPerListing: number;
  private readonly maxMembersTotal: number;
  private readonly maxAgeMs: number;
  private readonly maxRemovals: number;
  private readonly formatTime: (ms: number) => string;

  constructor(options: ListingHistoryOptions = {}) {
    this.maxCollections = Math.max(1, options.maxCollections ?? 512);
    this.maxMembersPerListing = Math.max(0, options.maxMembersPerListing ?? 20_000);
    this.maxMembersTotal = Math.max(0, options.maxMembersTotal ?? 100_000);
    this.maxAgeMs = Math.max(0, options.maxAgeMs ?? 10 * 60 * 1000);
    this.maxRemovals = Math.max(1, options.maxRemovals ?? 20_000);
    this.formatTime = options.formatTime ?? ((ms) => clock(ms).slice(0, 8));
  }

  /**
   * Takes one finished flow (in the order flows finished): remembers it if it is a complete
   * listing or a removal, and returns the MS403 finding when it is a listing that lost members.
   */
  /**
   * A request went upstream (told for every flow, before it ends): a DELETE, MOVE or COPY may
   * remove members from then on, until its flow ends and observe() takes it.
   */
  writeStarted(write: { id: string; method: string; url: string; target: string; requestHeaders: RawHeaders; at: number }): void {
    const seen = observe({ method: write.method, url: write.url, target: write.target, requestHeaders: write.requestHeaders, status: null, responseHeaders: [], outcome: 'complete', injected: false });
    if (seen.kind !== 'removal') return;
    if (this.inFlight.size >= this.maxRemovals) {
      // Too many at once: the oldest is dropped, and listings before it are no longer compared.
      const [oldest] = this.inFlight.keys();
      this.inFlight.delete(oldest!);
      this.droppedRemovalAt = Math.max(this.droppedRemovalAt, write.at);
    }
    this.inFlight.set(write.id, seen.paths.map((path) => ({ upstream: seen.upstream, path, method: seen.method, at: Infinity })));
  }

  observe(flow: Flow): Finding | undefined {
    const start = flow.timings.start;
    const end = flow.timings.end ?? start;
    this.inFlight.delete(flow.id);
    this.expire(start);
    const seen = observe({
      method: flow.request.method,
      url: flow.request.url,
      target: flow.request.target,
      requestHeaders: flow.request.rawHeaders,
      status: flow.response?.status ?? null,
      responseHeaders: flow.response?.rawHeaders ?? [],
      outcome: flow.outcome.kind,
      injected: flow.injected !== undefined,
      ...(flow.analysis ? { analysis: flow.analysis } : {}),
    });
    if (seen.kind === 'removal') {
      for (const path of seen.paths) this.removals.push({ upstream: seen.upstream, path, method: seen.method, at: end });
      this.capRemovals();
      return undefined;
    }
    if (seen.kind !== 'listing') return undefined;
    const previous = this.listings.get(seen.key);
    let finding: Finding | undefined;
    if (previous && start - previous.start <= this.maxAgeMs) {
      const { joined, kept, ...rest } = previous;
      const removals = this.inFlight.size === 0 ? this.removals : [...this.removals, ...[...this.inFlight.values()].flat()];
      finding = compareListings({ ...rest, members: kept === 0 ? [] : joined.split(SEP) }, { start, listing: seen }, removals, {
        removalsComplete: this.droppedRemovalAt < previous.start,
        formatTime: this.formatTime,
      });
    }
    // A listing that started before the one kept is older news: the newer one stays the reference.
    if (!previous || start >= previous.start) {
      const n = Math.min(seen.members.length, this.maxMembersPerListing);
      this.forget(seen.key);
      this.listings.set(seen.key, {
        start,
        end,
        joined: (n < seen.members.length ? seen.members.slice(0, n) : seen.members).join(SEP),
        kept: n,
        total: seen.members.length,
        flowId: flow.id,
        ...(seen.marker !== undefined ? { marker: seen.marker } : {}),
      });
      this.members += n;
      this.capListings();
    }
    return finding;
  }

  stats(): ListingHistoryStats {
    return { collections: this.listings.size, members: this.members, removals: this.removals.length, inFlight: this.inFlight.size };
  }

  private forget(key: string): void {
    const old = this.listings.get(key);
    if (!old) return;
    this.members -= old.kept;
    this.listings.delete(key);
  }

  private capListings(): void {
    // Map iteration order is insertion order, and a listing is re-inserted when it is renewed:
    // the first key is the least recently listed collection.
    while (this.listings.size > this.maxCollections || (this.members > this.maxMembersTotal && this.listings.size > 0)) {
      this.forget(this.listings.keys().next().value!);
    }
  }

  private capRemovals(): void {
    if (this.removals.length <= this.maxRemovals) return;
    const drop = this.removals.length - this.maxRemovals;
    for (let i = 0; i < drop; i++) this.droppedRemovalAt = Math.max(this.droppedRemovalAt, this.removals[i]!.at);
    this.removals = this.removals.slice(drop);
  }

  /** Drops what is older than the age limit, as of `now` (the flow's own time). */
  private expire(now: number): void {
    const horizon = now - this.maxAgeMs;
    for (const [key, l] of this.listings) {
      if (l.start >= horizon) break;
      this.forget(key);
    }
    let old = 0;
    while (old < this.removals.length && this.removals[old]!.at < horizon) old++;
    if (old > 0) this.removals = this.removals.slice(old);
  }
}
