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
  /**
   * Rows in capture order (oldest first): the `offset`-th match on, counting only flows with seq
   * greater than `afterSeq` (all flows without it).
   */
  list(filter: FilterNode | null, offset: number, limit: number, afterSeq?: number): FlowListRow[];
  /**
   * Counting a filter may read every flow (a regex over a million of them takes seconds): the
   * window counts in steps instead, a range of seqs at a time through `countNew`, showing the rows
   * counted so far while the rest is counted. Absent: `count` answers at once (a source that adds
   * rows of its own after the stored ones counts them itself).
   */
  countsInSteps?: boolean;
  getFlow(id: string): Flow | null;
  /** How the newest proxy run recording into the database was started, when one was recorded. */
  runInfo?(): RunInfo | null;
  /** Sandwich mode: the id of the front flow paired with this back flow, or null. */
  frontFlowOf?(backId: string): string | null;
  /** Flips a flow's mark (`m`); returns the new state. Absent where marks cannot be written. */
  toggleMark?(id: string): boolean;
  close(): void;
}

/** A point the stepped count passed: `before` flows match with seq ≤ `seq`. */
interface CountMark {
  seq: number;
  before: number;
}

export interface CountSteps {
  /** How long the first step of a count may take inside `refresh` (the rest runs in `countStep`). */
  firstStepMs: number;
  /** Seqs per range at first; doubled while a range is quick to count, halved when it is slow. */
  firstChunk: number;
}

const defaultSteps: CountSteps = { firstStepMs: 100, firstChunk: 5000 };

export class FlowWindow {
  private filter: FilterNode | null = null;
  private totalRows = 0;
  /**
   * A count in steps (`countsInSteps`): the flows with seq ≤ `countedTo` are counted (`totalRows`
   * of them match), those up to `countUpto` are still to count. `marks` remember where the count
   * passed, so that a row deep in the list is read from the nearest mark before it, not from the
   * first flow.
   */
  private countedTo = 0;
  private countUpto = 0;
  private marks: CountMark[] = [];
  private chunk: number;
  private cursorIndex = 0;
  private topIndex = 0;
  private viewHeight = 20;
  private cache: { offset: number; rows: FlowListRow[] } | null = null;
  /** Follow mode: the cursor sticks to the newest flow as flows arrive. */
  follow = false;

  constructor(
    private readonly source: FlowSource,
    private readonly steps: CountSteps = defaultSteps,
  ) {
    this.chunk = steps.firstChunk;
  }

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
  /** The count is still being taken: `total` is how many match so far (a lower bound). */
  get counting(): boolean {
    return this.countedTo < this.countUpto;
  }

  /**
   * Re-counts and drops cached rows. Returns the sequence number the count is exact for (once
   * done, see `counting`), so that later polls add only flows past it: the count is retried until
   * no flow landed while it ran, or (in steps) takes every flow up to it.
   */
  refresh(): number {
    this.cache = null;
    if (this.source.countsInSteps === true) {
      const seq = this.source.latestSeq();
      this.totalRows = 0;
      this.countedTo = 0;
      this.countUpto = seq;
      this.marks = [{ seq: 0, before: 0 }];
      this.chunk = this.steps.firstChunk;
      this.countStep(this.steps.firstStepMs);
      return seq;
    }
    this.marks = [];
    this.countedTo = this.countUpto = 0;
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

  /**
   * Counts on for up to `budgetMs` (at least one range of seqs); returns whether there is more to
   * count. The caller runs it between key presses until it returns false.
   */
  countStep(budgetMs: number): boolean {
    const started = performance.now();
    while (this.countedTo < this.countUpto) {
      const to = Math.min(this.countUpto, this.countedTo + this.chunk);
      const t0 = performance.now();
      this.totalRows += this.source.countNew(this.filter, this.countedTo, to);
      const ms = performance.now() - t0;
      this.countedTo = to;
      this.marks.push({ seq: to, before: this.totalRows });
      // Each range sized to take a fraction of the budget: a regex filter reads every flow of its
      // range, an index-backed one only its matches.
      if (ms < budgetMs / 4) this.chunk = Math.min(this.chunk * 2, 1 << 22);
      else if (ms > budgetMs) this.chunk = Math.max(Math.min(500, this.steps.firstChunk), Math.floor(this.chunk / 2));
      if (performance.now() - started >= budgetMs) break;
    }
    if (this.follow) this.cursorIndex = Math.max(0, this.totalRows - 1);
    this.clamp();
    return this.counting;
  }

  /** New flows arrived (the sequence moved from `fromSeq` to `toSeq`): add the ones that match. */
  appended(fromSeq: number, toSeq: number): void {
    // Still counting: the count takes them in turn.
    if (this.counting) {
      this.countUpto = Math.max(this.countUpto, toSeq);
      return;
    }
    if (this.source.countsInSteps === true) this.countedTo = this.countUpto = Math.max(this.countUpto, toSeq);
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
      // Without a filter the store finds any offset at once (seqs run without gaps): no mark needed.
      const mark = this.filter === null ? null : this.markBefore(offset);
      this.cache = {
        offset,
        rows: mark ? this.source.list(this.filter, offset - mark.before, this.viewHeight * 3, mark.seq) : this.source.list(this.filter, offset, this.viewHeight * 3),
      };
    }
    const cache = this.cache!;
    return cache.rows.slice(from - cache.offset, to - cache.offset);
  }

  selected(): FlowListRow | null {
    if (this.totalRows === 0) return null;
    const rows = this.visible();
    return rows[this.cursorIndex - this.topIndex] ?? null;
  }

  /** The last mark with at most `offset` matches up to it: the `offset`-th match comes after its seq. */
  private markBefore(offset: number): CountMark | null {
    const marks = this.marks;
    if (marks.length === 0) return null;
    let lo = 0;
    let hi = marks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (marks[mid]!.before <= offset) lo = mid;
      else hi = mid - 1;
    }
    return marks[lo]!.seq === 0 ? null : marks[lo]!;
  }

  private clamp(): void {
    this.cursorIndex = Math.min(Math.max(this.cursorIndex, 0), Math.max(this.totalRows - 1, 0));
    if (this.cursorIndex < this.topIndex) this.topIndex = this.cursorIndex;
    if (this.cursorIndex >= this.topIndex + this.viewHeight) this.topIndex = this.cursorIndex - this.viewHeight + 1;
    // No empty space below the last row when the list is longer than the screen (after a resize).
    this.topIndex = Math.max(0, Math.min(this.topIndex, this.totalRows - this.viewHeight));
  }
}
