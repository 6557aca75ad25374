// A window of list rows around the cursor, so that 100,000 flows cost one small query per screen
// rather than one big load. PURE logic over a FlowSource (the store reader behind an adapter).
import type { Flow } from '../src/types.js';
import type { FilterNode } from '../src/filter/ast.js';
import type { RunInfo } from '../src/store/index.js';
import type { FlowListRow } from './view-model.js';

/** What the UI needs from the store. `flow-source.ts` implements it over the store's reader. */
export interface FlowSource {
  /** Highest flow sequence number stored; changes whenever a flow is added. */
  latestSeq(): number;
  count(filter: FilterNode | null): number;
  /**
   * How many flows with afterSeq < seq <= uptoSeq match: flows are only ever appended, so a poll
   * that saw the sequence move counts just the new ones (a regex or header filter over 100,000
   * flows would otherwise be re-run 4 times a second while a proxy writes).
   */
  countNew(filter: FilterNode | null, afterSeq: number, uptoSeq: number): number;
  /** Rows in capture order (oldest first). */
  list(filter: FilterNode | null, offset: number, limit: number): FlowListRow[];
  getFlow(id: string): Flow | null;
  /** How the newest proxy run recording into the database was started, when one was recorded. */
  runInfo?(): RunInfo | null;
  /** Sandwich mode: the id of the front flow paired with this back flow, or null. */
  frontFlowOf?(backId: string): string | null;
  /** Flips a flow's mark (`m`); returns the new state. Absent where marks cannot be written. */
  toggleMark?(id: string): boolean;
  close(): void;
}

export class FlowWindow {
  private filter: FilterNode | null = null;
  private totalRows = 0;
  private cursorIndex = 0;
  private topIndex = 0;
  private viewHeight = 20;
  private cache: { offset: number; rows: FlowListRow[] } | null = null;
  /** Follow mode: the cursor sticks to the newest flow as flows arrive. */
  follow = false;

  constructor(private readonly source: FlowSource) {}

  get total(): number {
    return this.totalRows;
  }
  get cursor(): number {
    return this.cursorIndex;
  }
  get top(): number {
    return this.topIndex;
  }
  get height(): number {
    return this.viewHeight;
  }
  get activeFilter(): FilterNode | null {
    return this.filter;
  }

  /**
   * Re-counts and drops cached rows. Returns the sequence number the count is exact for, so that
   * later polls add only flows past it: the count is retried until no flow landed while it ran.
   */
  refresh(): number {
    let seq = this.source.latestSeq();
    for (let attempt = 0; attempt < 5; attempt++) {
      this.totalRows = this.source.count(this.filter);
      const after = this.source.latestSeq();
      if (after === seq) break;
      seq = after;
    }
    this.cache = null;
    if (this.follow) this.cursorIndex = Math.max(0, this.totalRows - 1);
    this.clamp();
    return seq;
  }

  /** Rows changed in place (a mark): read them again, keeping count and cursor. */
  reloadRows(): void {
    this.cache = null;
  }

  /** New flows arrived (the sequence moved from `fromSeq` to `toSeq`): add the ones that match. */
  appended(fromSeq: number, toSeq: number): void {
    const added = this.source.countNew(this.filter, fromSeq, toSeq);
    if (added === 0) return;
    this.totalRows += added;
    // Only the rows past the old end changed: a cache that stops short of it is still right.
    if (this.cache && this.cache.offset + this.cache.rows.length >= this.totalRows - added) this.cache = null;
    if (this.follow) this.cursorIndex = Math.max(0, this.totalRows - 1);
    this.clamp();
  }

  /** Applies a filter; returns the sequence number the new count is exact for (see `refresh`). */
  setFilter(filter: FilterNode | null): number {
    this.filter = filter;
    this.cursorIndex = 0;
    this.topIndex = 0;
    const seq = this.refresh();
    if (this.follow) this.end();
    return seq;
  }

  setHeight(height: number): void {
    this.viewHeight = Math.max(1, height);
    this.clamp();
  }

  move(delta: number): void {
    this.cursorIndex += delta;
    this.clamp();
  }
  pageDown(): void {
    this.move(this.viewHeight);
  }
  pageUp(): void {
    this.move(-this.viewHeight);
  }
  home(): void {
    this.cursorIndex = 0;
    this.clamp();
  }
  end(): void {
    this.cursorIndex = Math.max(0, this.totalRows - 1);
    this.clamp();
  }

  /** Rows on screen, top to bottom; fetched in one query that also covers a screen above and below. */
  visible(): FlowListRow[] {
    const from = this.topIndex;
    const to = Math.min(this.topIndex + this.viewHeight, this.totalRows);
    if (to <= from) return [];
    const c = this.cache;
    if (!c || from < c.offset || to > c.offset + c.rows.length) {
      const offset = Math.max(0, from - this.viewHeight);
      this.cache = { offset, rows: this.source.list(this.filter, offset, this.viewHeight * 3) };
    }
    const cache = this.cache!;
    return cache.rows.slice(from - cache.offset, to - cache.offset);
  }

  selected(): FlowListRow | null {
    if (this.totalRows === 0) return null;
    const rows = this.visible();
    return rows[this.cursorIndex - this.topIndex] ?? null;
  }

  private clamp(): void {
    this.cursorIndex = Math.min(Math.max(this.cursorIndex, 0), Math.max(this.totalRows - 1, 0));
    if (this.cursorIndex < this.topIndex) this.topIndex = this.cursorIndex;
    if (this.cursorIndex >= this.topIndex + this.viewHeight) this.topIndex = this.cursorIndex - this.viewHeight + 1;
    // No empty space below the last row when the list is longer than the screen (after a resize).
    this.topIndex = Math.max(0, Math.min(this.topIndex, this.totalRows - this.viewHeight));
  }
}
