// The flow list as data: light rows in, fixed-width cells out. PURE (no blessed, no store, no clock),
// so that what the screen shows is unit-tested and benchmarked without a terminal.
import type { Mode, OutcomeKind } from '../src/types.js';
import { fit, fitTail, formatClock, formatDuration, formatSize } from './format.js';

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
}

export type CellStyle = 'normal' | 'ok' | 'redirect' | 'client-error' | 'server-error' | 'error' | 'warning' | 'info' | 'dim' | 'injected';

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

const fixedColumns: Column[] = [
  { key: 'marker', title: '', width: 2, align: 'left' },
  { key: 'time', title: 'time', width: 12, align: 'left' },
  // "T" when the client spoke TLS to davtap: one column, where mitmproxy's table shows the scheme.
  { key: 'tls', title: '', width: 1, align: 'left' },
  { key: 'method', title: 'method', width: 9, align: 'left' },
  { key: 'status', title: 'code', width: 4, align: 'left' },
  { key: 'path', title: 'path', width: 0, align: 'left' },
  { key: 'size', title: 'size', width: 6, align: 'right' },
  { key: 'duration', title: 'time', width: 7, align: 'right' },
  { key: 'multistatus', title: '207', width: 15, align: 'right' },
  { key: 'badges', title: 'findings', width: 12, align: 'left' },
];

const minPathWidth = 12;

/** Columns laid out for a terminal `width` columns wide: one space between columns. */
export function layoutColumns(width: number): Column[] {
  const fixed = fixedColumns.filter((c) => c.key !== 'path');
  const used = fixed.reduce((n, c) => n + c.width, 0) + fixedColumns.length - 1;
  let pathWidth = width - used;
  let columns = fixedColumns.map((c) => ({ ...c }));
  // Narrow terminals drop the least telling columns first rather than squeezing the path away.
  for (const drop of ['duration', 'size', 'time'] as const) {
    if (pathWidth >= minPathWidth) break;
    const col = columns.find((c) => c.key === drop)!;
    pathWidth += col.width + 1;
    columns = columns.filter((c) => c.key !== drop);
  }
  return columns.map((c) => (c.key === 'path' ? { ...c, width: Math.max(pathWidth, 4) } : c));
}

/** "3/120 failed", "120 ok", or nothing when the body was not analyzed. */
export function multistatusSummary(row: Pick<FlowListRow, 'resources' | 'failed'>): Cell {
  if (row.resources === null) return { text: '', style: 'normal' };
  const failed = row.failed ?? 0;
  if (failed > 0) return { text: `${failed}/${row.resources} failed`, style: 'error' };
  return { text: `${row.resources} ok`, style: 'ok' };
}

/** Finding counts by severity, most severe first: "E2 W1", "I3", "" when none. */
export function findingBadges(row: Pick<FlowListRow, 'errors' | 'warnings' | 'infos'>): Cell {
  const parts: string[] = [];
  if (row.errors > 0) parts.push(`E${row.errors}`);
  if (row.warnings > 0) parts.push(`W${row.warnings}`);
  if (row.infos > 0) parts.push(`I${row.infos}`);
  const style: CellStyle = row.errors > 0 ? 'error' : row.warnings > 0 ? 'warning' : row.infos > 0 ? 'info' : 'normal';
  return { text: parts.join(' '), style };
}

/** One or two characters in front of the row: "!" transport error, "*" fault injected. */
export function rowMarker(row: Pick<FlowListRow, 'outcome' | 'injected'>): Cell {
  const failedTransport = row.outcome !== 'complete';
  const injected = row.injected !== null && row.injected !== undefined && row.injected !== '';
  const text = (failedTransport ? '!' : '') + (injected ? '*' : '');
  return { text, style: failedTransport ? 'error' : injected ? 'injected' : 'normal' };
}

/** "T" when the client's connection to davtap was TLS, nothing for plain HTTP. */
export function tlsCell(row: Pick<FlowListRow, 'clientTls'>): Cell {
  return row.clientTls === true ? { text: 'T', style: 'ok' } : { text: '', style: 'normal' };
}

/** Status code, or a short outcome word when no response head arrived. */
export function statusCell(row: Pick<FlowListRow, 'status' | 'outcome'>): Cell {
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
    const text = col.key === 'path' ? fitTail(cell.text, col.width) : fit(cell.text, col.width, col.align);
    return { text, style: cell.style };
  });
}

function rawCell(row: FlowListRow, key: Column['key'], utc: boolean): Cell {
  switch (key) {
    case 'marker':
      return rowMarker(row);
    case 'time':
      return { text: formatClock(row.start, utc), style: 'dim' };
    case 'tls':
      return tlsCell(row);
    case 'method':
      return { text: row.method, style: 'normal' };
    case 'status':
      return statusCell(row);
    case 'path':
      return { text: row.mode === 'forward' && row.host ? `${row.host}${row.path}` : row.path, style: 'normal' };
    case 'size':
      return { text: row.status === null ? '' : formatSize(row.size), style: 'normal' };
    case 'duration':
      return { text: formatDuration(row.durationMs), style: 'dim' };
    case 'multistatus':
      return multistatusSummary(row);
    case 'badges':
      return findingBadges(row);
  }
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
