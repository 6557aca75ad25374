// The flow list as data: light rows in, fixed-width cells out. PURE (no blessed, no store, no clock),
// so that what the screen shows is unit-tested and benchmarked without a terminal.
import type { Mode, OutcomeKind } from '../src/types.js';
import { fit, fitMiddle, formatClock, formatDuration, formatSize } from './format.js';

/**
 * What the list needs of one flow. Deliberately small: the list never loads bodies, findings or
 * the ledger; `flow-source.ts` maps the store's row type onto this.
 */
export interface FlowListRow {
  seq: number;
  id: string;
  /** Epoch ms when the request head arrived. */
  start: number;
  method: string;
  /** Path and query as requested. */
  path: string;
  /** In forward mode one proxy serves many servers: the list then shows the host too. */
  mode?: Mode;
  host?: string;
  /** Null when no response head arrived. */
  status: number | null;
  /** Response body bytes seen on the wire, when known. */
  size: number | null;
  durationMs: number | null;
  /** `<response>` elements in the analyzed 207, null when the body was not analyzed. */
  resources: number | null;
  failed: number | null;
  errors: number;
  warnings: number;
  infos: number;
  outcome: OutcomeKind;
  outcomeCode?: string | null;
  injected?: string | null;
  /** The client's connection to davtap was TLS (davtap's TLS listener, or an intercepted CONNECT tunnel). */
  clientTls?: boolean;
  /** Which REPORT (`calendar-multiget`, `sync-collection`, …), named when the flow was recorded. */
  report?: string | null;
  /** Sandwich mode: the leg, and on a front flow its back flow's id (null: the gateway answered itself). */
  leg?: 'front' | 'back' | null;
  pairedWith?: string | null;
  /** Marked by the user (`m` in the list; the filter `~marked`). */
  marked?: boolean;
  /** An exchange the intercept holds now (not recorded yet): what waits, and whether its client still does. */
  held?: { what: 'request' | 'response'; clientGone: boolean; pastPatience: boolean };
}

export type CellStyle = 'normal' | 'ok' | 'redirect' | 'client-error' | 'server-error' | 'error' | 'warning' | 'info' | 'dim' | 'injected' | 'held';

export interface Cell {
  text: string;
  style: CellStyle;
}

export interface Column {
  key: 'marker' | 'time' | 'tls' | 'method' | 'status' | 'path' | 'size' | 'duration' | 'multistatus' | 'badges';
  title: string;
  /** Fixed width; the path column takes what is left. */
  width: number;
  align: 'left' | 'right';
}

const columnOrder: Column[] = [
  { key: 'marker', title: '', width: 2, align: 'left' },
  { key: 'time', title: 'time', width: 12, align: 'left' },
  // "T" when the client spoke TLS to davtap: one column, where mitmproxy's table shows the scheme.
  { key: 'tls', title: '', width: 1, align: 'left' },
  // MKCALENDAR, PROPPATCH, MKACTIVITY fit; a longer method on screen widens the column (never cut).
  { key: 'method', title: 'method', width: 10, align: 'left' },
  { key: 'status', title: 'code', width: 4, align: 'left' },
  { key: 'path', title: 'path', width: 0, align: 'left' },
  { key: 'size', title: 'size', width: 6, align: 'right' },
  { key: 'duration', title: 'time', width: 7, align: 'right' },
  { key: 'multistatus', title: '207', width: 6, align: 'left' },
  { key: 'badges', title: 'findings', width: 8, align: 'left' },
];

/** Below this the path gives way: narrow terminals drop the least telling columns first. */
const minPathWidth = 20;
/** Columns that grow with what is on screen stop here (the path keeps the rest). */
const maxGrownWidth = 24;

/**
 * Columns laid out for a terminal `width` columns wide, one space between columns. The method,
 * 207 and findings columns are as wide as the `rows` on screen need (never cut); the path takes
 * every column that is left.
 */
export function layoutColumns(width: number, rows: readonly FlowListRow[] = []): Column[] {
  const need = (key: Column['key']): number => {
    let n = 0;
    for (const row of rows) n = Math.max(n, rawCell(row, key, true).text.length);
    return Math.min(n, maxGrownWidth);
  };
  let columns = columnOrder.map((c) => (c.key === 'method' || c.key === 'multistatus' || c.key === 'badges' ? { ...c, width: Math.max(c.width, need(c.key)) } : { ...c }));
  // Without rows (a header alone), room for a typical summary ("E 12/120 failed").
  if (rows.length === 0) columns = columns.map((c) => (c.key === 'multistatus' ? { ...c, width: 15 } : c));
  const pathWidth = () => width - columns.reduce((n, c) => n + (c.key === 'path' ? 0 : c.width), 0) - (columns.length - 1);
  // A report's name comes before its path: leave the path some of that room too.
  let reportRoom = 0;
  for (const row of rows) if (row.report) reportRoom = Math.max(reportRoom, Math.min(row.report.length + 1, 10));
  // The time of day goes before the size: a size says whether a 207 was cut.
  for (const drop of ['duration', 'time', 'size'] as const) {
    if (pathWidth() >= minPathWidth + reportRoom) break;
    columns = columns.filter((c) => c.key !== drop);
  }
  const rest = pathWidth();
  return columns.map((c) => (c.key === 'path' ? { ...c, width: Math.max(rest, 4) } : c));
}

const severityLetter = { error: 'E', warning: 'W', info: 'I' } as const;

/** The worst severity among a row's findings, or null when it has none. */
export function worstSeverity(row: Pick<FlowListRow, 'errors' | 'warnings' | 'infos'>): 'error' | 'warning' | 'info' | null {
  return row.errors > 0 ? 'error' : row.warnings > 0 ? 'warning' : row.infos > 0 ? 'info' : null;
}

/**
 * The 207 column: the worst severity first and in its colour, then what the resources answered:
 * "E 2/5 failed", "W 0/12 failed" (the body is wrong though every resource said 200), "I 1/5
 * failed", "120 ok". "ok" is said only when no finding is an error or a warning; nothing when the
 * body was not analyzed.
 */
export function multistatusSummary(row: Pick<FlowListRow, 'resources' | 'failed' | 'errors' | 'warnings' | 'infos'>): Cell {
  if (row.resources === null) return { text: '', style: 'normal' };
  const failed = row.failed ?? 0;
  const worst = worstSeverity(row);
  const letter = worst ? `${severityLetter[worst]} ` : '';
  const serious = worst === 'error' || worst === 'warning';
  const text = failed > 0 || serious ? `${letter}${failed}/${row.resources} failed` : `${letter}${row.resources} ok`;
  const style: CellStyle = worst ?? (failed > 0 ? 'warning' : 'ok');
  return { text, style };
}

/** Finding counts by severity, most severe first: "E2 W1", "I3", "" when none. */
export function findingBadges(row: Pick<FlowListRow, 'errors' | 'warnings' | 'infos'>): Cell {
  const parts: string[] = [];
  if (row.errors > 0) parts.push(`E${row.errors}`);
  if (row.warnings > 0) parts.push(`W${row.warnings}`);
  if (row.infos > 0) parts.push(`I${row.infos}`);
  return { text: parts.join(' '), style: worstSeverity(row) ?? 'normal' };
}

/**
 * A few characters in front of the row: "!" transport error, "*" fault injected; in sandwich mode
 * "f" a front flow paired with its back flow, "g" a front flow the gateway answered itself, "b" a
 * back flow (the gateway's request to the origin).
 */
export function rowMarker(row: Pick<FlowListRow, 'outcome' | 'injected' | 'leg' | 'pairedWith' | 'marked' | 'held'>): Cell {
  // H: held by the intercept filter, not over yet (nothing else about it is known).
  if (row.held) return { text: 'H', style: 'held' };
  const failedTransport = row.outcome !== 'complete';
  const injected = row.injected !== null && row.injected !== undefined && row.injected !== '';
  const leg = row.leg === 'back' ? 'b' : row.leg === 'front' ? (row.pairedWith ? 'f' : 'g') : '';
  // `#` first: a mark is the user's own note, and stays visible whatever else the row carries.
  const text = (row.marked === true ? '#' : '') + (failedTransport ? '!' : '') + (injected ? '*' : '') + leg;
  return { text, style: failedTransport ? 'error' : injected ? 'injected' : 'normal' };
}

/** "T" when the client's connection to davtap was TLS, nothing for plain HTTP. */
export function tlsCell(row: Pick<FlowListRow, 'clientTls'>): Cell {
  return row.clientTls === true ? { text: 'T', style: 'ok' } : { text: '', style: 'normal' };
}

/** Status code, or a short outcome word when no response head arrived. */
export function statusCell(row: Pick<FlowListRow, 'status' | 'outcome' | 'held'>): Cell {
  // A held request has no response yet; a held response shows its status.
  if (row.held) return { text: row.held.what === 'request' ? 'HOLD' : String(row.status ?? ''), style: 'held' };
  if (row.status === null) return { text: outcomeShort[row.outcome], style: 'error' };
  const s = row.status;
  const style: CellStyle = s >= 500 ? 'server-error' : s >= 400 ? 'client-error' : s >= 300 ? 'redirect' : 'ok';
  return { text: String(s), style };
}

const outcomeShort: Record<OutcomeKind, string> = {
  complete: '---',
  'upstream-aborted': 'ERR',
  'client-aborted': 'CLI',
  timeout: 'TMO',
  error: 'ERR',
};

/** The cells of one row, in the order of `columns`, each exactly its column's width. */
export function rowCells(row: FlowListRow, columns: readonly Column[], utc = false): Cell[] {
  return columns.map((col) => {
    const cell = rawCell(row, col.key, utc);
    const text = col.key === 'path' ? pathText(row, col.width) : fit(cell.text, col.width, col.align);
    return { text, style: cell.style };
  });
}

function rawCell(row: FlowListRow, key: Column['key'], utc: boolean): Cell {
  switch (key) {
    case 'marker':
      return rowMarker(row);
    case 'time':
      return { text: formatClock(row.start, utc), style: 'normal' };
    case 'tls':
      return tlsCell(row);
    case 'method':
      return { text: row.method, style: 'normal' };
    case 'status':
      return statusCell(row);
    case 'path':
      return { text: pathText(row), style: row.held ? heldPathStyle(row.held) : 'normal' };
    case 'size':
      return { text: row.status === null ? '' : formatSize(row.size), style: 'normal' };
    case 'duration':
      return { text: formatDuration(row.durationMs), style: 'normal' };
    case 'multistatus':
      return multistatusSummary(row);
    case 'badges':
      return findingBadges(row);
  }
}

/**
 * The path cell: the report's name first for a REPORT ("calendar-multiget /cal/user/"), then the
 * path (with the host in forward mode), elided in the middle to `width` so that both its start and
 * its last segment stay readable.
 */
export function pathText(row: Pick<FlowListRow, 'mode' | 'host' | 'path' | 'report' | 'held'>, width?: number): string {
  const path = row.mode === 'forward' && row.host ? `${row.host}${row.path}` : row.path;
  const report = (row.held ? `[${heldLabel(row.held)}] ` : '') + (row.report ? `${row.report} ` : '');
  if (width === undefined) return report + path;
  if (report.length + 8 > width) return fitMiddle(`${report}${path}`, width);
  return report + fitMiddle(path, width - report.length);
}

/** What a held row says in front of its path: "held request", "held response, client gone", "held request, past patience". */
export function heldLabel(held: NonNullable<FlowListRow['held']>): string {
  const state = held.clientGone ? ', client gone' : held.pastPatience ? ', past patience' : '';
  return `held ${held.what}${state}`;
}

function heldPathStyle(held: NonNullable<FlowListRow['held']>): CellStyle {
  return held.clientGone ? 'error' : held.pastPatience ? 'warning' : 'held';
}

/** The header line of the list, aligned like the rows. */
export function headerCells(columns: readonly Column[]): Cell[] {
  return columns.map((c) => ({ text: fit(c.title, c.width, c.align), style: 'dim' as const }));
}

/** Plain text of a row (tests, and terminals without colour). */
export function rowText(row: FlowListRow, columns: readonly Column[], utc = false): string {
  return rowCells(row, columns, utc)
    .map((c) => c.text)
    .join(' ');
}

/** One line of a detail tab: plain text plus a style the blessed layer turns into colour. */
export interface StyledLine {
  text: string;
  style?: CellStyle | 'heading' | 'mark';
}

/** `davtap sandwich`: clients → front → gateway, and the gateway → back → origin. */
export interface SandwichRun {
  mode: 'sandwich';
  front: string;
  gateway: string;
  back: string;
  origin: string;
}

/** What the title bar says: how the proxy was started (as recorded in the store) and where the list is. */
export interface HeaderInfo {
  /** The proxy run recorded in the database; null when none was (an older file, or no proxy yet). */
  run: { mode: Mode; listen: readonly string[]; upstream?: string; publicUrl?: string } | SandwichRun | null;
  dbPath: string;
  total: number;
  /** The count is still being taken: `total` is how many match so far. */
  counting?: boolean;
  /** 0-based cursor position in the list. */
  cursor: number;
  filterText: string;
  findingsView: boolean;
  follow: boolean;
  pending: number;
  snapshot: boolean;
  /** Requests held by the intercept filter, said before the database ("2 held"); empty when none. */
  held?: string;
}

/**
 * The title bar: "davtap  reverse http://127.0.0.1:8080/ → http://dav:8081/   5 flows   3/5
 * [follow]   db ./davtap.db". The database comes last, so a narrow terminal cuts its path first.
 */
export function headerText(h: HeaderInfo): string {
  const parts: string[] = [];
  if (h.run?.mode === 'sandwich') {
    parts.push(`davtap  sandwich ${h.run.front} → gateway ${h.run.gateway} → ${h.run.back} → origin ${h.run.origin}`);
  } else if (h.run) {
    const listen = h.run.listen.join(', ');
    if (h.run.mode === 'reverse') {
      parts.push(`davtap  reverse ${listen} → ${h.run.upstream ?? '?'}${h.run.publicUrl ? ` (clients use ${h.run.publicUrl})` : ''}`);
    } else parts.push(`davtap  forward proxy ${listen}`);
  } else parts.push('davtap  no proxy run recorded');
  // While a count is being taken the total is a lower bound, and says so ("1,234+"; a terminal's
  // line-drawing set would turn a "≥" into a "z").
  const atLeast = h.counting === true ? '+' : '';
  parts.push(
    `${formatCountText(h.total)}${atLeast} ${h.total === 1 && atLeast === '' ? 'flow' : 'flows'}${h.findingsView ? ' with findings' : ''}${h.filterText ? ` matching ${h.filterText}` : ''}${h.counting === true ? ' (counting…)' : ''}`,
  );
  if (h.total > 0) parts.push(`${formatCountText(h.cursor + 1)}/${formatCountText(h.total)}${atLeast}`);
  if (h.follow) parts.push('[follow]');
  if (h.pending > 0) parts.push(`[${formatCountText(h.pending)} being written]`);
  if (h.snapshot) parts.push('[snapshot]');
  if (h.held) parts.push(h.held);
  parts.push(`db ${h.dbPath}`);
  return parts.join('   ');
}

const formatCountText = (n: number): string => String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
