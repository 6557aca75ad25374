// The terminal UI: a live flow list over the store, a detail view with tabs, a filter bar.
// blessed owns the screen; everything it shows comes from the pure view-models, and everything it
// reads comes through a FlowSource (a read-only store connection of its own, polled).
import blessed from 'blessed';
import { exportReportBundle } from '../src/export/index.js';
import { FilterSyntaxError, parseFilter, type FilterNode } from '../src/filter/index.js';
import type { Flow } from '../src/types.js';
import { editedRequest, EditTextError, type EditableRequest } from '../src/replay/edit-text.js';
import { captureConsole, type CapturedLine } from './console-capture.js';
import { editInTerminal } from './editor.js';
import { bodyModeLabel, nextBodyMode, renderTab, resourceSorts, tabLabels, tabs, wrapLines, type BodyMode, type ResourceSort, type Tab } from './detail-model.js';
import { formatCount } from './format.js';
import { FlowWindow, type FlowSource } from './flow-window.js';
import { masksFor, openStoreSource } from './flow-source.js';
import { withHeldRows } from './held-rows.js';
import { renderPair, type PairInput } from './pair-model.js';
import { helpLines } from './panels/help.js';
import { createMarkup, escapeTags, highlightedLineMarkup, type Markup } from './panels/markup.js';
import { findMatches, firstMatchFrom, matchCount, scrollToLine, stepMatch, type SearchMatch } from './search.js';
import { headerCells, headerText, layoutColumns, rowCells, type HeaderInfo, type StyledLine } from './view-model.js';

export interface UiScreenOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** terminfo name; blessed reads $TERM by default. */
  terminal?: string;
  title?: string;
}

export interface UiOptions {
  /** The SQLite file to show; opened read-only on a connection of the UI's own. */
  dbPath: string;
  /** Poll for new flows (default true). False shows the database as it is when opened. */
  live?: boolean;
  /** How often to check for new flows (default 250 ms). */
  pollMs?: number;
  /**
   * Flows the caller has captured but not yet committed. While it is above 0, `q` asks for
   * confirmation (the proxy passes its writer's queue length).
   */
  pendingWrites?: () => number;
  /**
   * The caller's latest warning (the proxy's: "recording failed…"), checked on every poll; a new
   * one is shown in the status bar as an error, so that problems are seen while the UI owns the
   * terminal rather than after it closes.
   */
  notice?: () => string | null;
  /** A line for the status bar at start (`davtap demo`: where its server is). */
  status?: string;
  /**
   * A proxy runs in this process and stops when the UI quits: `q` then asks "Quit davtap? (y/n)",
   * as mitmproxy does. A UI attached to a database (`davtap ui`) quits at once.
   */
  proxyRunning?: boolean;
  /** How the proxy in this process was started; without it the newest run recorded in the database is shown. */
  run?: HeaderInfo['run'];
  /** Colours (default true); false draws severities by their letters and words alone (NO_COLOR). */
  color?: boolean;
  /** Start with this filter expression. */
  filter?: string;
  /** Start in follow mode (the cursor stays on the newest flow). Default: true when live. */
  follow?: boolean;
  /** Show times in UTC rather than local time. */
  utc?: boolean;
  screen?: UiScreenOptions;
  /** Closes the UI from outside (the proxy shutting down). */
  signal?: AbortSignal;
  /** Where the flows come from; defaults to a read-only reader on `dbPath`. */
  source?: FlowSource;
  /** Show credentials as recorded (`--show-secrets`) in the default source; masked otherwise. */
  showSecrets?: boolean;
  /** What the UI may ask of davtap besides reading the store; given by the composition root (src/cli/). */
  actions?: UiActions;
}

/** The one interface through which the UI asks davtap to act (it never talks to the proxy otherwise). */
export interface UiActions {
  /** Sends these flows again, in their recorded order (each recorded as a new flow), and returns the lines that say what changed. */
  replay(ids: readonly string[]): Promise<string[]>;
  /** Intercept, where a proxy runs in this process (absent for `davtap ui --db`). */
  intercept?: UiIntercept;
  /** Editing a recorded request and sending it (`e`, `D`). */
  edit?: UiEdit;
}

/** A request as the editor shows it, or why it cannot be edited (one line). */
export type EditableText = { text: string; label: string } | { error: string };

/** mitmproxy's e and D on recorded flows: the request as text for $EDITOR, and sending what comes back. */
export interface UiEdit {
  /** The editor's command line ($VISUAL, $EDITOR, vi). */
  editor: string;
  /** The recorded request of a flow in the text form of src/replay/edit-text.ts (credentials as recorded). */
  requestText(id: string): EditableText;
  /**
   * Sends `request` to the flow's server through the replay engine, recorded as a new flow:
   * `linked`, as a replay of the flow (the lines say what changed, as for r); else a flow of its own.
   */
  send(id: string, request: EditableRequest, linked: boolean): Promise<{ flowId: string; status: number | null; lines: string[] }>;
}

/** One exchange the relay holds (a request not sent yet, or a response not delivered yet). */
export interface UiHeld {
  id: string;
  what: 'request' | 'response';
  method: string;
  url: string;
  /** When it was held, and when its client sent the request (epoch ms). */
  since: number;
  waitingSince: number;
  /** A held response's status. */
  status?: number;
  /** The client's connection has gone: deciding sends nothing. */
  clientGone: boolean;
  /** Its client has waited longer than the patience (--intercept-patience). */
  pastPatience: boolean;
}

/** Holding requests and responses in the relay: mitmproxy's i, a, A and X. */
export interface UiIntercept {
  /** Holds exchanges matching this filter from now on ('' stops); the error when it does not parse. */
  setFilter(text: string): string | null;
  filter(): string | null;
  /** What is held now, oldest first. */
  held(): UiHeld[];
  /** A held exchange as it stands (its request; the response too when that is what is held). */
  flow(id: string): Flow | null;
  /** How long a client is taken to wait (--intercept-patience), in ms. */
  patienceMs: number;
  /** Sends one held exchange on (all without an id); how many. */
  resume(id?: string): number;
  /** Kills one held exchange (all without an id): a request is answered 502 unsent, a response's client connection is closed; how many. */
  kill(id?: string): number;
  /** A held request in the text form once its body arrived whole (the relay reads it while holding), or why not. */
  requestText?(id: string): Promise<EditableText>;
  /** Sends `request` upstream in place of the held one and releases it; false when it is no longer held. */
  sendEdited?(id: string, request: EditableRequest): boolean;
}

/** "1 request", "2 responses", "1 request and 2 responses". */
function heldWords(held: readonly UiHeld[]): string {
  const count = (what: UiHeld['what']) => held.filter((h) => h.what === what).length;
  const words = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const requests = count('request');
  const responses = count('response');
  return [requests > 0 ? words(requests, 'request') : '', responses > 0 ? words(responses, 'response') : ''].filter(Boolean).join(' and ');
}

type Mode = 'list' | 'detail' | 'pair' | 'filter' | 'search' | 'help' | 'confirm-quit' | 'intercept' | 'confirm-held';

/** The findings view (`!`): flows with at least one finding, whatever its category or severity. */
const withFindings = '~sev info';
/** How long a step of a count may hold the keys (see FlowWindow.countStep). */
const countStepMs = 40;

interface StatusMessage {
  text: string;
  style: 'error' | 'info' | 'dim';
}

/** Runs the UI until the user quits (or `signal` aborts). Never leaves the terminal in raw mode. */
export async function runUi(options: UiOptions): Promise<void> {
  const store = options.source ?? openStoreSource(options.dbPath, { showSecrets: options.showSecrets === true });
  // Where a proxy runs here, what its intercept holds joins the list as rows of its own.
  const intercept = options.actions?.intercept;
  const source = intercept ? withHeldRows(store, intercept, masksFor({ showSecrets: options.showSecrets === true })) : store;
  const ui = new UiApp(source, options);
  try {
    await ui.run();
  } finally {
    if (!options.source) source.close();
  }
}

class UiApp {
  private readonly window: FlowWindow;
  private readonly markup: Markup;
  private screen!: blessed.Widgets.Screen;
  private titleBar!: blessed.Widgets.BoxElement;
  private body!: blessed.Widgets.BoxElement;
  private statusBar!: blessed.Widgets.BoxElement;
  private helpBox!: blessed.Widgets.BoxElement;
  /** What a replay changed (`r`), over the list until a key is pressed. */
  private replayBox!: blessed.Widgets.BoxElement;
  private replaying = false;
  private interceptDraft = '';
  /** What the title last showed of the held requests: a change re-renders on the next poll. */
  private heldShown = '';
  private mode: Mode = 'list';
  private previousMode: Mode = 'list';
  private filterText = '';
  private filterDraft = '';
  private status: StatusMessage | null = null;
  private lastLog: CapturedLine | null = null;
  private lastSeq = -1;
  private detail: { flow: Flow; tab: number; scroll: number; sort: ResourceSort; bodyMode?: BodyMode; cache: { key: string; lines: StyledLine[] } | null } | null = null;
  /** `/` in the flow view: the query, its matches in the tab shown (for the lines cached under `key`) and the current one. */
  private search: { query: string; key: string; matches: SearchMatch[]; current: number } | null = null;
  private searchDraft = '';
  /** The pair view (`c`, sandwich mode): both legs of a flow, and the view it was opened from. */
  private pair: { input: PairInput; from: 'list' | 'detail'; scroll: number; cache: { width: number; lines: StyledLine[] } | null } | null = null;
  private done!: () => void;
  private resumeFollow = false;
  /** `!`: only flows with findings, on top of the filter. */
  private findingsView = false;

  constructor(
    private readonly source: FlowSource,
    private readonly options: UiOptions,
  ) {
    this.window = new FlowWindow(source);
    this.markup = createMarkup(options.color !== false);
    this.window.follow = options.follow ?? options.live !== false;
    if (options.status) this.status = { text: options.status, style: 'info' };
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let restoreConsole: (() => void) | null = null;
      let poll: NodeJS.Timeout | null = null;
      // The caller is shutting down (and commits what is pending itself): close without asking.
      const onAbort = () => this.done();
      const finish = (err?: unknown) => {
        if (poll) clearInterval(poll);
        if (this.countTask) clearImmediate(this.countTask);
        this.options.signal?.removeEventListener('abort', onAbort);
        try {
          this.screen?.destroy();
        } finally {
          restoreConsole?.();
        }
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve();
      };
      this.done = () => finish();
      try {
        if (this.options.filter) this.applyFilter(this.options.filter, true);
        this.lastSeq = this.window.refresh();
        this.createScreen();
        this.continueCount();
        restoreConsole = captureConsole((line) => {
          this.lastLog = line;
          this.requestRender();
        });
        if (this.options.live !== false) {
          poll = setInterval(() => this.poll(), this.options.pollMs ?? 250);
          poll.unref?.();
        }
        if (this.options.signal?.aborted) return this.done();
        this.options.signal?.addEventListener('abort', onAbort, { once: true });
        this.render();
      } catch (err) {
        finish(err);
      }
    });
  }

  private createScreen(): void {
    const s = this.options.screen ?? {};
    this.screen = blessed.screen({
      ...(s.input ? { input: s.input } : {}),
      ...(s.output ? { output: s.output } : {}),
      ...(s.terminal ? { terminal: s.terminal } : {}),
      title: s.title ?? 'davtap',
      smartCSR: true,
      fullUnicode: true,
      autoPadding: false,
      warnings: false,
    } as unknown as blessed.Widgets.IScreenOptions);
    this.titleBar = blessed.box({ parent: this.screen, top: 0, left: 0, width: '100%', height: 1, tags: true, style: { inverse: true } });
    this.body = blessed.box({ parent: this.screen, top: 1, left: 0, width: '100%', height: '100%-2', tags: true, wrap: false } as blessed.Widgets.BoxOptions);
    this.statusBar = blessed.box({ parent: this.screen, bottom: 0, left: 0, width: '100%', height: 1, tags: true });
    this.helpBox = blessed.box({
      parent: this.screen,
      top: 'center',
      left: 'center',
      width: Math.max(...helpLines.map((l) => l.length)) + 4,
      // Taller than most terminals: it scrolls (j/k) within the screen.
      height: '100%-2',
      scrollable: true,
      border: { type: 'line' },
      tags: true,
      hidden: true,
      content: helpLines.map((l) => escapeTags(l)).join('\n'),
    });
    this.replayBox = blessed.box({ parent: this.screen, top: 'center', left: 'center', width: '90%', height: '70%', border: { type: 'line' }, tags: true, hidden: true, label: ' replay ', scrollable: true });
    this.screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => {
      try {
        this.onKey(ch, key);
      } catch (err) {
        this.setStatus(`error: ${err instanceof Error ? err.message : String(err)}`, 'error');
      }
    });
    this.screen.on('resize', () => this.render());
    // Mouse: a click selects a flow (a click on the selected one opens it), the wheel scrolls.
    this.screen.enableMouse();
    this.screen.on('mouse', (data: { action: string; x: number; y: number; button?: string }) => {
      try {
        this.onMouse(data);
      } catch (err) {
        this.setStatus(`error: ${err instanceof Error ? err.message : String(err)}`, 'error');
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Data

  private lastNotice: string | null = null;

  private poll(): void {
    this.continueCount();
    const held = this.heldSummary();
    if (held !== this.heldShown) {
      this.heldShown = held;
      this.requestRender();
    }
    const notice = this.options.notice?.() ?? null;
    if (notice !== null && notice !== this.lastNotice) {
      this.lastNotice = notice;
      this.setStatus(notice, 'error');
    }
    try {
      const heldNow = this.options.actions?.intercept?.held().length ?? 0;
      if (heldNow > 0 || this.heldRows > 0) {
        // Held rows sit after the recorded ones and change as they wait (and leave when decided):
        // counted and read again (the store's count is kept, only new flows are counted).
        this.heldRows = heldNow;
        this.lastSeq = this.window.refresh();
        this.refreshHeldDetail();
        this.render();
        return;
      }
      const seq = this.source.latestSeq();
      if (seq === this.lastSeq) return;
      // A lower sequence means the file was replaced (a new capture): start over.
      if (seq < this.lastSeq) this.lastSeq = this.window.refresh();
      else {
        this.window.appended(this.lastSeq, seq);
        this.lastSeq = seq;
      }
      this.render();
    } catch (err) {
      this.setStatus(`cannot read the database: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  /** Held rows in the list at the last poll. */
  private heldRows = 0;

  /** An open held exchange follows its state (client gone, patience), and once decided becomes the recorded flow. */
  private refreshHeldDetail(): void {
    const d = this.detail;
    if (!d?.flow.held) return;
    const flow = this.source.getFlow(d.flow.id);
    if (!flow) return;
    d.flow = flow;
  }

  /** The expression the list shows: the filter, and the findings view's condition when it is on. */
  private listExpression(filterText: string, findingsView: boolean): string {
    const parts = [filterText, findingsView ? withFindings : ''].filter((p) => p !== '');
    return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' & ');
  }

  /** Applies a filter expression; a bad one leaves everything as it was and says why. */
  private applyFilter(text: string, initial = false, findingsView = this.findingsView): boolean {
    const trimmed = text.trim();
    let node: FilterNode | null = null;
    try {
      // The filter alone first, so that an error points into the text the user typed.
      if (trimmed !== '') parseFilter(trimmed);
      const expression = this.listExpression(trimmed, findingsView);
      node = expression === '' ? null : parseFilter(expression);
    } catch (err) {
      const message = err instanceof FilterSyntaxError ? err.message : `filter: ${err instanceof Error ? err.message : String(err)}`;
      if (initial) throw err;
      this.setStatus(message, 'error');
      return false;
    }
    const previous = this.window.activeFilter;
    try {
      this.lastSeq = this.window.setFilter(node);
    } catch (err) {
      this.lastSeq = this.window.setFilter(previous);
      if (initial) throw err;
      this.setStatus(`filter: ${err instanceof Error ? err.message : String(err)}`, 'error');
      return false;
    }
    this.filterText = trimmed;
    this.findingsView = findingsView;
    this.countingStatus = null;
    this.continueCount();
    if (!initial) this.setStatus(trimmed === '' ? 'filter cleared' : this.countStatus(trimmed, (n) => `${n} flows match ${trimmed}`), 'info');
    return true;
  }

  /**
   * A count in steps (a filter over a large capture) goes on between key presses, the list and its
   * header drawn as it grows; the keys work all the while.
   */
  private countTask: NodeJS.Immediate | null = null;
  /** The status line saying a count is under way, and what replaces it when the count is done. */
  private countingStatus: { text: string; done: () => string } | null = null;

  private continueCount(): void {
    if (this.countTask || !this.window.counting) return;
    this.countTask = setImmediate(() => {
      this.countTask = null;
      try {
        this.window.countStep(countStepMs);
      } catch (err) {
        this.setStatus(`cannot read the database: ${err instanceof Error ? err.message : String(err)}`, 'error');
        return;
      }
      if (!this.window.counting && this.countingStatus) {
        if (this.status?.text === this.countingStatus.text) this.setStatus(this.countingStatus.done(), 'info');
        this.countingStatus = null;
      }
      this.requestRender();
      this.continueCount();
    });
  }

  /** `done(count)` when the count is known; while it is being taken, a line that says so. */
  private countStatus(what: string, done: (count: string) => string): string {
    if (!this.window.counting) return done(formatCount(this.window.total));
    const text = `counting the flows: ${what}…`;
    this.countingStatus = { text, done: () => done(formatCount(this.window.total)) };
    return text;
  }

  /** `m` in the list: marks or unmarks the selected flow (mitmproxy's key; `~marked` finds them). */
  private toggleMark(): void {
    const row = this.window.selected();
    if (!row) return this.setStatus('no flow to mark', 'dim');
    if (row.held) return this.setStatus('a held exchange is not recorded yet: mark it once it is over', 'dim');
    if (!this.source.toggleMark) return this.setStatus('marks cannot be written here', 'error');
    try {
      const marked = this.source.toggleMark(row.id);
      this.window.reloadRows();
      this.setStatus(marked ? `marked ${row.method} ${row.path} (~marked lists the marked flows)` : `unmarked ${row.method} ${row.path}`, 'info');
    } catch (err) {
      this.setStatus(err instanceof Error ? err.message : String(err), 'error');
    }
  }

  /** `!`: the findings view on or off, keeping the filter. */
  private toggleFindingsView(): void {
    if (!this.applyFilter(this.filterText, false, !this.findingsView)) return;
    this.setStatus(
      this.findingsView ? this.countStatus('findings view', (n) => `findings view: ${n} flows with findings (! shows every flow)`) : 'every flow shown',
      'info',
    );
  }

  private openDetail(): void {
    const row = this.window.selected();
    if (!row) return;
    const flow = this.source.getFlow(row.id);
    if (!flow) {
      this.setStatus(`flow ${row.id} is no longer in the database`, 'error');
      return;
    }
    const tab = this.detail?.tab ?? 0;
    const sort = this.detail?.sort ?? 'failures';
    const bodyMode = this.detail?.bodyMode;
    this.detail = { flow, tab, scroll: 0, sort, ...(bodyMode ? { bodyMode } : {}), cache: null };
    // While a flow is open the cursor stays on it (n/p move from there); follow resumes on return.
    if (this.mode === 'list' && this.window.follow) {
      this.window.follow = false;
      this.resumeFollow = true;
    }
    this.mode = 'detail';
  }

  // -------------------------------------------------------------------------------------------
  // Keys

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): void {
    const name = key?.name ?? '';
    const full = key?.full ?? name;
    // '\r' arrives twice from blessed (as 'return' and as 'enter'); act on 'enter' only.
    if (name === 'return') return;
    const enter = name === 'enter' || name === 'linefeed';
    if (full === 'C-c') {
      if (this.mode === 'confirm-quit') return this.done();
      return this.quit();
    }
    // A message stays until the next key, so that an error is read before it goes.
    if (this.mode === 'list' || this.mode === 'detail' || this.mode === 'pair') this.status = null;
    switch (this.mode) {
      case 'help': {
        const box = this.replayBox.visible ? this.replayBox : this.helpBox;
        const page = Math.max(1, (box.height as number) - 3);
        const scroll = ch === 'j' || name === 'down' ? 1 : ch === 'k' || name === 'up' ? -1 : name === 'pagedown' || ch === ' ' ? page : name === 'pageup' ? -page : 0;
        if (scroll !== 0) {
          box.scroll(scroll);
          return this.screen.render();
        }
        this.mode = this.previousMode;
        this.helpBox.hide();
        this.replayBox.hide();
        return this.render();
      }
      case 'intercept':
        return this.onInterceptKey(ch, name, enter);
      case 'confirm-held': {
        const intercept = this.options.actions?.intercept;
        this.mode = this.previousMode;
        if (ch === 'k' || ch === 'X') {
          intercept?.kill();
          // "kill and quit" already answers the quit question.
          return this.quit(true);
        }
        if (ch === 'r' || ch === 'A') {
          const held = intercept?.held() ?? [];
          intercept?.resume();
          // Released exchanges go on; quitting now would cut them: q again when they are done.
          return this.setStatus(`released ${heldWords(held)}; q again to quit`, 'info');
        }
        return this.setStatus('still running', 'dim');
      }
      case 'confirm-quit':
        if (ch === 'y' || ch === 'Y' || ch === 'q') return this.done();
        this.mode = this.previousMode;
        this.setStatus('still running', 'dim');
        return;
      case 'filter':
        return this.onFilterKey(ch, name, enter);
      case 'search':
        return this.onSearchKey(ch, name, enter);
      case 'detail':
        return this.onDetailKey(ch, name, enter, key?.shift === true);
      case 'pair':
        return this.onPairKey(ch, name);
      case 'list':
        return this.onListKey(ch, name, enter);
    }
  }

  private onMouse(data: { action: string; x: number; y: number; button?: string }): void {
    const wheel = data.action === 'wheelup' ? -3 : data.action === 'wheeldown' ? 3 : 0;
    if (this.mode === 'detail' && this.detail) {
      if (wheel === 0) return;
      this.detail.scroll = Math.max(0, this.detail.scroll + wheel);
      return this.render();
    }
    if (this.mode !== 'list') return;
    const w = this.window;
    if (wheel !== 0) {
      w.follow = false;
      w.move(wheel);
      return this.render();
    }
    if (data.action !== 'mousedown' || (data.button !== undefined && data.button !== 'left')) return;
    // Row 0 is the title bar, row 1 the column titles: flows start on row 2.
    const index = w.top + data.y - 2;
    if (data.y < 2 || index >= w.total) return;
    if (index === w.cursor) this.openDetail();
    else {
      w.follow = false;
      w.move(index - w.cursor);
    }
    this.render();
  }

  private onListKey(ch: string | undefined, name: string, enter: boolean): void {
    const w = this.window;
    if (enter) this.openDetail();
    else if (ch === 'j' || name === 'down') w.move(1);
    else if (ch === 'k' || name === 'up') w.move(-1);
    else if (name === 'pagedown' || ch === ' ') w.pageDown();
    else if (name === 'pageup') w.pageUp();
    else if (ch === 'g' || name === 'home') w.home();
    else if (ch === 'G' || name === 'end') w.end();
    else if (ch === 'F') {
      w.follow = !w.follow;
      if (w.follow) w.end();
      this.setStatus(w.follow ? 'follow mode on: the newest flow stays selected' : 'follow mode off', 'info');
    } else if (ch === '/') {
      // A fresh prompt every time: the filter in force is in the title bar, an error in the status bar.
      this.filterDraft = '';
      this.mode = 'filter';
    } else if (ch === '!') this.toggleFindingsView();
    else if (ch === 'm') this.toggleMark();
    else if (ch === '?') this.showHelp();
    else if (ch === 'c') return this.openPair();
    else if (ch === 'r') return this.replaySelected();
    else if (ch === 'e' || ch === 'D') return this.editSelected(ch === 'e');
    else if (ch === 'i' || ch === 'a' || ch === 'A' || ch === 'X') return this.interceptKey(ch);
    else if (ch === 'w' || ch === 'W') this.exportBundle(ch === 'W');
    else if (ch === 'q') return this.quit();
    else return;
    // Moving by hand leaves follow mode, as in mitmproxy.
    if (ch === 'k' || name === 'up' || name === 'pageup' || ch === 'g' || name === 'home') w.follow = false;
    this.render();
  }

  private onFilterKey(ch: string | undefined, name: string, enter: boolean): void {
    if (enter) {
      // Either way back to the list: it shows the filter that applies, the status bar says why a
      // bad one did not; `/` then reopens the bad text for correcting.
      this.mode = 'list';
      const draft = this.filterDraft.trim();
      if (draft !== '' && draft !== this.filterText) {
        // A regex or header filter runs over every flow once (up to a few hundred ms on 100,000):
        // say so on screen before the work starts.
        this.status = { text: `filtering ${formatCount(this.window.total)} flows…`, style: 'dim' };
        this.render();
        setImmediate(() => {
          this.applyFilter(draft);
          this.render();
        });
        return;
      }
      this.applyFilter(draft);
    } else if (name === 'escape') {
      this.mode = 'list';
      this.setStatus('filter unchanged', 'dim');
    } else if (name === 'backspace') {
      this.filterDraft = this.filterDraft.slice(0, -1);
    } else if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f') {
      this.filterDraft += ch;
    } else return;
    this.render();
  }

  private onDetailKey(ch: string | undefined, name: string, enter: boolean, shift: boolean): void {
    const d = this.detail;
    if (!d) {
      this.mode = 'list';
      return this.render();
    }
    const page = Math.max(1, this.bodyHeight() - 1);
    if (name === 'tab') {
      d.tab = (d.tab + (shift ? tabs.length - 1 : 1)) % tabs.length;
      d.scroll = 0;
    } else if (ch && ch >= '1' && ch <= String(tabs.length)) {
      d.tab = Number(ch) - 1;
      d.scroll = 0;
    } else if (ch === 'j' || name === 'down') d.scroll += 1;
    else if (ch === 'k' || name === 'up') d.scroll -= 1;
    else if (name === 'pagedown' || ch === ' ') d.scroll += page;
    else if (name === 'pageup') d.scroll -= page;
    else if (ch === 'g' || name === 'home') d.scroll = 0;
    else if (ch === 'G' || name === 'end') d.scroll = Number.MAX_SAFE_INTEGER;
    else if (ch === 's' && tabs[d.tab] === 'Resources') {
      d.sort = resourceSorts[(resourceSorts.indexOf(d.sort) + 1) % resourceSorts.length]!;
      d.scroll = 0;
    } else if (ch === 'm') {
      const next = nextBodyMode(d.flow, tabs[d.tab]!, d.bodyMode);
      if (next === null) this.setStatus('m: body views (pretty, text, hex, wire) are in the Request, Response and Raw tabs', 'dim');
      else {
        d.bodyMode = next;
        d.scroll = 0;
        this.setStatus(`body view: ${bodyModeLabel(d.flow, tabs[d.tab]!, next) ?? next}`, 'info');
      }
    } else if (ch === '/') {
      this.searchDraft = '';
      this.mode = 'search';
    } else if (this.search && (ch === 'n' || ch === 'N')) {
      this.moveToMatch(ch === 'n' ? 1 : -1);
    } else if (ch === 'n' || ch === 'p') {
      this.window.move(ch === 'n' ? 1 : -1);
      this.resumeFollow = false;
      this.openDetail();
    } else if (name === 'escape' && this.search) {
      this.search = null;
      this.setStatus('search cleared', 'dim');
    } else if (ch === 'q' || name === 'escape' || name === 'backspace' || name === 'left' || ch === 'h') {
      this.mode = 'list';
      this.search = null;
      if (this.resumeFollow) {
        this.resumeFollow = false;
        this.window.follow = true;
        this.window.end();
      }
    } else if (ch === '?') return this.showHelp();
    else if (ch === 'c') return this.openPair();
    else if (ch === 'r') return this.replaySelected();
    else if (ch === 'e' || ch === 'D') return this.editSelected(ch === 'e');
    else if (ch === 'w') return this.exportBundle(false);
    else if (enter) return;
    else return;
    this.render();
  }

  /**
   * `c`: the pair view of the open (or selected) flow: in sandwich mode, its front leg (client →
   * gateway) beside its back leg (gateway → origin), both read from the store.
   */
  private openPair(): void {
    const from: 'list' | 'detail' = this.mode === 'detail' ? 'detail' : 'list';
    const id = from === 'detail' ? this.detail?.flow.id : this.window.selected()?.id;
    if (id === undefined) return this.setStatus('no flow to compare', 'dim');
    const flow = from === 'detail' && this.detail ? this.detail.flow : this.source.getFlow(id);
    if (!flow) return this.setStatus(`flow ${id} is no longer in the database`, 'error');
    if (flow.leg === undefined) return this.setStatus('c compares the two legs of a flow recorded by davtap sandwich; this flow has one leg', 'dim');
    let other: Flow | null | undefined = null;
    try {
      const otherId = flow.leg === 'front' ? (flow.pairedWith ?? null) : (this.source.frontFlowOf?.(flow.id) ?? null);
      if (otherId !== null) other = this.source.getFlow(otherId) ?? undefined;
    } catch (err) {
      return this.setStatus(`cannot read the other leg: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
    this.pair = { input: { opened: flow, other }, from, scroll: 0, cache: null };
    if (from === 'list' && this.window.follow) {
      // As for an open flow: the cursor stays on it while the pair is shown.
      this.window.follow = false;
      this.resumeFollow = true;
    }
    this.mode = 'pair';
    this.render();
  }

  private onPairKey(ch: string | undefined, name: string): void {
    const p = this.pair;
    if (!p) {
      this.mode = 'list';
      return this.render();
    }
    const page = Math.max(1, this.bodyHeight() - 1);
    if (ch === 'j' || name === 'down') p.scroll += 1;
    else if (ch === 'k' || name === 'up') p.scroll -= 1;
    else if (name === 'pagedown' || ch === ' ') p.scroll += page;
    else if (name === 'pageup') p.scroll -= page;
    else if (ch === 'g' || name === 'home') p.scroll = 0;
    else if (ch === 'G' || name === 'end') p.scroll = Number.MAX_SAFE_INTEGER;
    else if (ch === '?') return this.showHelp();
    else if (ch === 'c' || ch === 'q' || name === 'escape' || name === 'backspace' || name === 'left' || ch === 'h') {
      this.mode = p.from;
      this.pair = null;
      if (this.mode === 'list' && this.resumeFollow) {
        this.resumeFollow = false;
        this.window.follow = true;
        this.window.end();
      }
    } else return;
    this.render();
  }

  private pairMarkup(width: number): string {
    const p = this.pair!;
    if (!p.cache || p.cache.width !== width) p.cache = { width, lines: wrapLines(renderPair(p.input), width - 1) };
    const height = this.bodyHeight();
    const lines = p.cache.lines;
    p.scroll = Math.max(0, Math.min(p.scroll, Math.max(0, lines.length - height)));
    return lines
      .slice(p.scroll, p.scroll + height)
      .map((l) => this.markup.lineMarkup(l, width))
      .join('\n');
  }

  private onSearchKey(ch: string | undefined, name: string, enter: boolean): void {
    if (enter) {
      this.mode = 'detail';
      const query = this.searchDraft;
      this.search = query === '' ? null : { query, key: '', matches: [], current: -1 };
      if (!this.search) this.setStatus('search cleared', 'dim');
      else {
        // Matches are found when the tab is drawn; the first one from the top of the screen is current.
        this.render();
        this.moveToMatch(0);
      }
    } else if (name === 'escape') {
      this.mode = 'detail';
    } else if (name === 'backspace') {
      this.searchDraft = this.searchDraft.slice(0, -1);
    } else if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f') {
      this.searchDraft += ch;
    } else return;
    this.render();
  }

  /** n (+1) / N (-1), or 0 for the first match from the top of the screen: makes it current and scrolls to it. */
  private moveToMatch(direction: 1 | -1 | 0): void {
    const d = this.detail;
    const search = this.search;
    if (!d || !search) return;
    this.refreshMatches();
    search.current = direction === 0 ? firstMatchFrom(search.matches, d.scroll) : stepMatch(search.matches.length, search.current, direction);
    const match = search.matches[search.current];
    if (!match) {
      this.setStatus(`no match for ${search.query} in this tab`, 'error');
      return;
    }
    d.scroll = scrollToLine(d.scroll, this.bodyHeight() - 1, match.line);
    this.render();
  }

  /** Finds the query again when the tab's lines changed (another tab, sort, width or flow). */
  private refreshMatches(): void {
    const d = this.detail;
    const search = this.search;
    if (!d?.cache || !search || search.key === d.cache.key) return;
    search.key = d.cache.key;
    search.matches = findMatches(d.cache.lines.map((l) => l.text.replace(/\t/g, '    ')), search.query);
    search.current = -1;
  }

  /**
   * `w` (mitmproxy's save key): a report bundle of the open (or selected) flow; `W` in the list: of every flow the filter
   * shows. Written into ./davtap-export-<time>/ by src/export; the status bar says where.
   */
  private exportBundle(filtered: boolean): void {
    const id = this.mode === 'detail' ? this.detail?.flow.id : this.window.selected()?.id;
    if (!filtered && id === undefined) return this.setStatus('no flow to export', 'error');
    try {
      const r = exportReportBundle({ dbPath: this.options.dbPath, ...(filtered ? { filter: this.listExpression(this.filterText, this.findingsView) } : { ids: [id!] }) });
      this.setStatus(`exported ${formatCount(r.flows)} ${r.flows === 1 ? 'flow' : 'flows'} to ${r.dir}/report.md`, 'info');
    } catch (err) {
      this.setStatus(`export failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  /**
   * `r`: the open (or selected) flow sent again through davtap (src/replay/, via `actions`); the
   * new flow joins the list, and what changed is shown until a key is pressed.
   */
  private replaySelected(): void {
    const id = this.mode === 'detail' ? this.detail?.flow.id : this.window.selected()?.id;
    if (id === undefined) return this.setStatus('no flow to replay', 'error');
    const replay = this.options.actions?.replay;
    if (!replay) return this.setStatus('replay is not available here', 'error');
    if (this.replaying) return this.setStatus('a replay is already running', 'dim');
    this.replaying = true;
    this.setStatus(`replaying ${id}…`, 'dim');
    replay([id])
      .then((lines) => this.showReplay(lines))
      .catch((err: unknown) => this.setStatus(`replay failed: ${err instanceof Error ? err.message.replace(/^replay: /, '') : String(err)}`, 'error'))
      .finally(() => (this.replaying = false));
  }

  /** The text the user last saved that did not parse, by what it edits: `e` again reopens it rather than the original. */
  private editDraft: { key: string; text: string } | null = null;
  private editing = false;

  /**
   * `e`: edit a request in $EDITOR and send it. A held request (its row, or its open view) is
   * changed and released; a recorded flow is sent edited as a replay of it (recorded, linked, what
   * changed shown as for r). `D`: a duplicate of the flow, edited and sent as a new flow of its own.
   */
  private editSelected(linked: boolean): void {
    if (this.editing || this.replaying) return this.setStatus('a request is already being edited or sent', 'dim');
    const key = linked ? 'e' : 'D';
    const id = this.mode === 'detail' ? this.detail?.flow.id : this.window.selected()?.id;
    if (id === undefined) return this.setStatus(`${key}: no flow to edit`, 'error');
    // A held row (or its open view): the held request itself is edited.
    const held = this.options.actions?.intercept?.held().find((h) => h.id === id);
    if (held) {
      if (!linked) return this.setStatus('D: a held exchange is not recorded yet: e edits a held request, a resumes it', 'error');
      if (held.what !== 'request') return this.setStatus('e: a held response cannot be edited (a resumes it, X kills it)', 'error');
      return void this.editHeld(id);
    }
    const edit = this.options.actions?.edit;
    if (!edit) return this.setStatus(`${key}: editing is not available here`, 'error');
    const prepared = edit.requestText(id);
    if ('error' in prepared) return this.setStatus(`${key}: not sent: ${prepared.error}`, 'error');
    void this.editThenSend(`${key}:${id}`, prepared.text, edit.editor, async (request, notes) => {
      this.replaying = true;
      this.setStatus(`sending the edited ${prepared.label}${notes}…`, 'dim');
      try {
        const sent = await edit.send(id, request, linked);
        if (!linked) return this.setStatus(`sent a copy of ${prepared.label} as flow ${sent.flowId.slice(0, 8)}: ${sent.status ?? 'no answer'}${notes}`, 'info');
        this.showReplay([...sent.lines, ...(notes ? [`(${notes.slice(2)})`] : [])]);
      } finally {
        this.replaying = false;
      }
    });
  }

  /** `e` on a held request: the relay first reads its body whole, then the edited request replaces it and goes on. */
  private async editHeld(id: string): Promise<void> {
    const intercept = this.options.actions?.intercept;
    const edit = this.options.actions?.edit;
    if (!intercept?.requestText || !intercept.sendEdited || !edit) return this.setStatus('e: held requests cannot be edited here', 'error');
    this.editing = true;
    this.setStatus('e: reading the held request…', 'dim');
    let prepared: EditableText;
    try {
      prepared = await intercept.requestText(id);
    } finally {
      this.editing = false;
    }
    if ('error' in prepared) return this.setStatus(`e: ${prepared.error}`, 'error');
    await this.editThenSend(`held:${id}`, prepared.text, edit.editor, (request, notes) => {
      if (!intercept.sendEdited!(id, request)) return this.setStatus(`not sent: ${prepared.label} is no longer held`, 'error');
      this.setStatus(`sent the edited ${prepared.label} in place of the held one${notes}`, 'info');
    });
  }

  /** Runs the editor on `text` (or the draft that failed for `key`), parses what comes back, and sends it. */
  private async editThenSend(key: string, text: string, editor: string, send: (request: EditableRequest, notes: string) => void | Promise<void>): Promise<void> {
    const draft = this.editDraft?.key === key ? this.editDraft.text : text;
    this.editDraft = null;
    this.editing = true;
    let result;
    try {
      result = await editInTerminal(this.screen, editor, draft, 'request.http');
    } finally {
      this.editing = false;
      this.render();
    }
    if (result.kind === 'failed') return this.setStatus(`not sent: ${result.why}`, 'error');
    if (result.kind === 'unchanged') return this.setStatus('not sent: the request was not changed', 'dim');
    let outcome;
    try {
      outcome = editedRequest(result.text);
    } catch (err) {
      if (!(err instanceof EditTextError)) throw err;
      this.editDraft = { key, text: result.text };
      return this.setStatus(`not sent: ${err.message} (${key.startsWith('D') ? 'D' : 'e'} again edits your text)`, 'error');
    }
    const notes = outcome.notes.length > 0 ? `; ${outcome.notes.join(', ')}` : '';
    try {
      await send(outcome.request, notes);
    } catch (err) {
      this.setStatus(`not sent: ${err instanceof Error ? err.message.replace(/^replay: /, '') : String(err)}`, 'error');
    }
  }

  /** The lines a replay (r, e) produced, over the list until a key is pressed. */
  private showReplay(lines: string[]): void {
    this.status = null;
    this.previousMode = this.mode;
    this.mode = 'help';
    this.replayBox.setContent([...lines, '', 'Press any key to close.'].map((l) => escapeTags(l)).join('\n'));
    this.replayBox.show();
    this.replayBox.setFront();
    this.render();
  }

  /**
   * i: the intercept filter prompt; a / X: resume / kill the held exchange selected (or open), else
   * the oldest; A: resume all.
   */
  private interceptKey(ch: string): void {
    const intercept = this.options.actions?.intercept;
    if (!intercept) return this.setStatus('no proxy to intercept in: davtap ui only reads the database (i, a, A, X work in the davtap that runs the proxy)', 'error');
    if (ch === 'i') {
      this.interceptDraft = intercept.filter() ?? '';
      this.previousMode = 'list';
      this.mode = 'intercept';
      return this.render();
    }
    const held = intercept.held();
    if (held.length === 0) return this.setStatus('nothing is held', 'dim');
    if (ch === 'A') {
      const gone = held.filter((h) => h.clientGone).length;
      intercept.resume();
      return this.setStatus(`resumed ${heldWords(held)}${gone > 0 ? ` (${gone} past ${gone === 1 ? 'its client' : 'their clients'}: not sent)` : ''}`, 'info');
    }
    const id = this.mode === 'detail' ? this.detail?.flow.id : this.window.selected()?.id;
    const target = held.find((h) => h.id === id) ?? held[0]!;
    const done = ch === 'a' ? intercept.resume(target.id) : intercept.kill(target.id);
    if (done === 0) return this.setStatus('no longer held', 'dim');
    const what = `held ${target.what} ${target.method} ${target.url}${target.what === 'response' ? ` (${target.status ?? '?'})` : ''}`;
    if (target.clientGone) return this.setStatus(`${ch === 'a' ? 'resumed' : 'killed'} ${what}: its client had gone, nothing was sent`, 'error');
    const how = ch === 'a' ? 'resumed' : target.what === 'request' ? 'killed (answered 502, not sent)' : 'killed (the client connection closed without it)';
    this.setStatus(`${how} ${what}`, 'info');
  }

  private onInterceptKey(ch: string | undefined, name: string, enter: boolean): void {
    if (enter) {
      this.mode = 'list';
      const error = this.options.actions?.intercept?.setFilter(this.interceptDraft) ?? null;
      const text = this.interceptDraft.trim();
      if (error !== null) this.setStatus(`intercept filter not set: ${error}`, 'error');
      else this.setStatus(text === '' ? 'intercept off (what is held stays held)' : `intercepting ${text}: matching requests are held, and responses when it names a response code (a resume, A all, X kill)`, 'info');
    } else if (name === 'escape') {
      this.mode = 'list';
      this.setStatus('intercept filter unchanged', 'dim');
    } else if (name === 'backspace') this.interceptDraft = this.interceptDraft.slice(0, -1);
    else if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f') this.interceptDraft += ch;
    else return;
    this.render();
  }

  /** The title's word on intercept: its filter and the requests held, oldest first. */
  private heldSummary(): string {
    const intercept = this.options.actions?.intercept;
    if (!intercept) return '';
    const filter = intercept.filter();
    const held = intercept.held();
    const parts: string[] = [];
    if (filter !== null) parts.push(`[intercept ${filter}]`);
    if (held.length > 0) {
      const first = held[0]!;
      const status = first.what === 'response' ? ` → ${first.status ?? '?'}` : '';
      parts.push(`[${held.length} held: ${first.method} ${first.url}${status}${held.length > 1 ? ' …' : ''}]`);
    }
    return parts.join(' ');
  }

  private showHelp(): void {
    this.previousMode = this.mode;
    this.mode = 'help';
    this.helpBox.setScroll(0);
    this.helpBox.show();
    this.helpBox.setFront();
    this.render();
  }

  /** `q`: asks first while requests are held, flows are being written, or the proxy runs here (unless `confirmed`). */
  private quit(confirmed = false): void {
    const held = this.options.actions?.intercept?.held() ?? [];
    if (held.length > 0 && this.mode !== 'confirm-held') {
      this.previousMode = this.mode === 'help' ? 'list' : this.mode;
      this.mode = 'confirm-held';
      this.setStatus(`${heldWords(held)} ${held.length === 1 ? 'is' : 'are'} held by intercept: r release, k kill and quit, any other key stays`, 'error');
      return;
    }
    const pending = this.options.pendingWrites?.() ?? 0;
    const running = this.options.proxyRunning === true && !confirmed;
    if ((pending > 0 || running) && this.mode !== 'confirm-quit') {
      this.previousMode = this.mode === 'help' ? 'list' : this.mode;
      this.mode = 'confirm-quit';
      const writing = pending > 0 ? `${formatCount(pending)} flows are still being written. ` : '';
      this.setStatus(running ? `${writing}Quit davtap? (y/n)` : `${writing}Quit anyway? (y/n)`, 'error');
      return;
    }
    this.done();
  }

  // -------------------------------------------------------------------------------------------
  // Drawing

  private setStatus(text: string, style: StatusMessage['style']): void {
    this.status = { text, style };
    this.requestRender();
  }

  private renderQueued = false;
  private requestRender(): void {
    if (this.renderQueued || !this.screen) return;
    this.renderQueued = true;
    setImmediate(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private bodyHeight(): number {
    return Math.max(1, (this.screen.height as number) - 2);
  }

  render(): void {
    if (!this.screen) return;
    const width = this.screen.width as number;
    this.titleBar.setContent(escapeTags(this.titleText()));
    if (this.pair && (this.mode === 'pair' || (this.mode !== 'list' && this.mode !== 'filter' && this.previousMode === 'pair'))) {
      this.body.setContent(this.pairMarkup(width));
    } else if (this.mode === 'detail' || this.mode === 'search' || (this.mode !== 'list' && this.mode !== 'filter' && this.previousMode === 'detail' && this.detail)) {
      this.body.setContent(this.detailMarkup(width));
    } else {
      this.body.setContent(this.listMarkup(width));
    }
    this.statusBar.setContent(this.statusMarkup(width));
    this.screen.render();
  }

  private runInfo: HeaderInfo['run'] = null;
  private runCheckedAt = 0;

  /** The proxy run the header names: the caller's, or the newest one recorded (looked up at most once a second). */
  private currentRun(): HeaderInfo['run'] {
    if (this.options.run) return this.options.run;
    const now = Date.now();
    if (now - this.runCheckedAt >= 1000) {
      this.runCheckedAt = now;
      try {
        this.runInfo = this.source.runInfo?.() ?? null;
      } catch {
        // The header goes without it; the list says what is wrong with the database.
      }
    }
    return this.runInfo;
  }

  private titleText(): string {
    const w = this.window;
    return headerText({
      run: this.currentRun(),
      dbPath: this.options.dbPath,
      total: w.total,
      counting: w.counting,
      cursor: w.cursor,
      filterText: this.filterText,
      findingsView: this.findingsView,
      follow: w.follow,
      pending: this.options.pendingWrites?.() ?? 0,
      snapshot: this.options.live === false,
      held: this.heldSummary(),
    });
  }

  /** The list view; the window fetches only the rows on screen (and a screen either side). */
  listMarkup(width: number): string {
    const w = this.window;
    w.setHeight(this.bodyHeight() - 1);
    const rows = w.visible();
    const columns = layoutColumns(width, rows);
    const lines = [this.markup.cellsMarkup(headerCells(columns))];
    if (w.total === 0 && w.counting) {
      lines.push(this.markup.styled(`Counting the flows that match ${this.listExpression(this.filterText, this.findingsView)}…`, 'dim'));
      return lines.join('\n');
    }
    if (w.total === 0) {
      const why = this.findingsView ? `No flow with findings${this.filterText ? ` matches ${this.filterText}` : ''}. Press ! to show every flow.` : null;
      lines.push(this.markup.styled(why ?? (this.filterText ? `No flow matches ${this.filterText}. Press / to change the filter.` : 'No flows yet. Waiting for traffic…'), 'dim'));
      return lines.join('\n');
    }
    rows.forEach((row, i) => {
      const markup = this.markup.cellsMarkup(rowCells(row, columns, this.options.utc));
      lines.push(w.top + i === w.cursor ? `{inverse}${markup}{/inverse}` : markup);
    });
    return lines.join('\n');
  }

  private detailMarkup(width: number): string {
    const d = this.detail!;
    const tab: Tab = tabs[d.tab]!;
    const now = Date.now();
    // A held exchange is drawn again as its state changes and, for its wait, every second.
    const held = d.flow.held;
    const heldKey = held ? `|held:${held.what}:${held.clientGone}:${held.pastPatience}:${Math.floor(now / 1000)}` : d.flow.outcome.kind;
    const key = `${d.flow.id}|${tab}|${d.sort}|${d.bodyMode ?? ''}|${width}${heldKey}`;
    if (!d.cache || d.cache.key !== key) {
      d.cache = { key, lines: wrapLines(renderTab(d.flow, tab, { utc: this.options.utc, width, resourceSort: d.sort, now, ...(d.bodyMode ? { bodyMode: d.bodyMode } : {}) }), width - 1) };
    }
    const labels = tabLabels(d.flow, { tab, ...(d.bodyMode ? { bodyMode: d.bodyMode } : {}) });
    const bar = tabs.map((t, i) => (i === d.tab ? `{inverse} ${escapeTags(labels[t])} {/inverse}` : ` ${escapeTags(labels[t])} `)).join('');
    const height = this.bodyHeight() - 1;
    const lines = d.cache.lines;
    d.scroll = Math.max(0, Math.min(d.scroll, Math.max(0, lines.length - height)));
    this.refreshMatches();
    const search = this.search;
    const shown = lines.slice(d.scroll, d.scroll + height).map((l, i) => {
      if (!search) return this.markup.lineMarkup(l, width);
      const at = d.scroll + i;
      const ranges = search.matches.flatMap((m, index) => (m.line === at ? [{ start: m.start, end: m.end, current: index === search.current }] : []));
      return highlightedLineMarkup(this.markup, l, width, ranges);
    });
    const barWidth = tabs.reduce((n, t) => n + labels[t].length + 2, 0);
    const found = search ? `/${search.query} ${matchCount(search.matches, search.current)}  ` : '';
    const position = found + (lines.length > height ? `lines ${d.scroll + 1}-${Math.min(d.scroll + height, lines.length)} of ${formatCount(lines.length)}` : '');
    const gap = width - 1 - barWidth - position.length;
    return [gap > 1 ? `${bar}${' '.repeat(gap)}${this.markup.styled(position, 'dim')}` : bar, ...shown].join('\n');
  }

  private statusMarkup(screenWidth: number): string {
    // The terminal's bottom-right cell is never written (it would scroll some terminals).
    const width = screenWidth - 1;
    if (this.mode === 'intercept') {
      return `{bold}intercept:{/bold} ${escapeTags(this.interceptDraft)}{inverse} {/inverse}  ${this.markup.styled('Enter apply  Esc cancel  empty stops', 'dim')}`;
    }
    if (this.mode === 'search') {
      return `{bold}/{/bold}${escapeTags(this.searchDraft)}{inverse} {/inverse}  ${this.markup.styled('search this tab (plain text, any case)  Enter find  Esc cancel', 'dim')}`;
    }
    if (this.mode === 'filter') {
      return `{bold}/{/bold}${escapeTags(this.filterDraft)}{inverse} {/inverse}  ${this.markup.styled('Enter apply  Esc cancel  empty clears', 'dim')}`;
    }
    const hints =
      this.mode === 'pair'
        ? 'front vs back  j/k scroll  g/G top/bottom  c/q back  ? help'
        : this.mode === 'detail'
        ? this.search
          ? 'n/N next/prev match  / new search  Esc clear search  Tab next tab  q back  ? help'
          : 'Tab next tab  j/k scroll  / search  m body view  n/p next/prev flow  q back  ? help'
        : 'Enter open  / filter  ! findings  F follow  g/G top/bottom  ? help  q quit';
    let text = '';
    let style: StatusMessage['style'] = 'dim';
    if (this.status) ({ text, style } = this.status);
    else if (this.lastLog) text = `[${this.lastLog.level}] ${this.lastLog.text.trim().split('\n')[0] ?? ''}`;
    text = text.length > width - 1 ? text.slice(0, Math.max(width - 2, 0)) + '~' : text;
    const room = width - text.length - 2;
    if (room > hints.length) return `${this.markup.styled(text, style)}${' '.repeat(room - hints.length)}  ${this.markup.styled(hints, 'dim')}`;
    return text ? this.markup.styled(text, style) : this.markup.styled(hints.slice(0, width - 1), 'dim');
  }
}
