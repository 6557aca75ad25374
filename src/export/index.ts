// Exports of recorded flows for bug reports and scripts: HAR 1.2, a Markdown report bundle with
// raw bytes and replay commands, JSON lines. Every format redacts credentials unless told not to.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DavtapError } from '../errors.js';
import { openReader, type Store } from '../store/index.js';
import { writeHar } from './har.js';
import { jsonlLine, type JsonlOptions } from './jsonl.js';
import { createRedactor, type RedactOptions } from '../redact/index.js';
import { writeReport, type ReportOptions, type ReportResult } from './report.js';
import { selectedFlows, selectIds, type Selection } from './select.js';

export { buildHar, harEntry, writeHar, type HarEntry, type HarLog } from './har.js';
export { jsonlLine, jsonlRecord, type JsonlOptions, type JsonlRecord } from './jsonl.js';
export { createRedactor, defaultSecretNames, REDACTED, redactFlow, secretNames, type RedactOptions, type Redactor } from '../redact/index.js';
export { fingerprintHeaders, writeReport, type ReportOptions, type ReportResult } from './report.js';
export { curlCommand, shellQuote, type CurlOptions } from './curl.js';
export { rawRequest, rawResponse } from './raw.js';
export { resolveIds, selectIds, type Selection } from './select.js';
export { PrivateFile, writePrivateFile, davtapVersion } from './common.js';

function ioError(what: string, target: string, err: unknown): DavtapError {
  if (err instanceof DavtapError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new DavtapError('IO', `export: cannot write ${what} ${target} (${code ?? (err as Error).message})`, { cause: err });
}

/** Writes the selected flows as HAR 1.2 into `file` (0600). */
export function exportHar(store: Store, selection: Selection, file: string, redact: RedactOptions = {}): { file: string; flows: number } {
  const ids = selectIds(store, selection);
  try {
    return { file, flows: writeHar(file, selectedFlows(store, ids), createRedactor(redact)) };
  } catch (err) {
    throw ioError('HAR', file, err);
  }
}

/** Writes the report bundle of the selected flows into `dir` (created; must be empty). */
export function exportReport(store: Store, selection: Selection, dir: string, redact: RedactOptions = {}, options: ReportOptions = {}): ReportResult {
  const ids = selectIds(store, selection);
  try {
    return writeReport(dir, selectedFlows(store, ids), createRedactor(redact), { source: store.file, ...options });
  } catch (err) {
    throw ioError('report into', dir, err);
  }
}

/** Hands one JSON line per selected flow to `write`; returns how many. */
export function exportJsonl(store: Store, selection: Selection, write: (line: string) => void, redact: RedactOptions = {}, options: JsonlOptions = {}): number {
  const redactor = createRedactor(redact);
  let n = 0;
  for (const flow of selectedFlows(store, selectIds(store, selection))) {
    write(jsonlLine(flow, redactor, options));
    n++;
  }
  return n;
}

/** `davtap-export-20261121-064512` (UTC), the directory name the UI exports into. */
export function defaultExportDir(now: Date = new Date()): string {
  const iso = now.toISOString();
  return `davtap-export-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

export interface BundleRequest {
  /** The database to read (opened read-only for the export, closed after). */
  dbPath: string;
  /** Flows to export (a selected flow); without them, `filter` or everything. */
  ids?: readonly string[];
  filter?: string | null;
  /** Target directory; default `./davtap-export-<time>/` under `cwd`. */
  dir?: string;
  cwd?: string;
  redact?: RedactOptions;
  now?: Date;
}

/** The terminal UI's `e` key: a report bundle of the selected flow (or the filtered list). */
export function exportReportBundle(request: BundleRequest): ReportResult {
  const now = request.now ?? new Date();
  const cwd = request.cwd ?? process.cwd();
  let dir = path.resolve(cwd, request.dir ?? defaultExportDir(now));
  // Two exports in the same second get davtap-export-…-2, -3…: a key pressed twice never fails.
  for (let n = 2; request.dir === undefined && existsSync(dir) && n < 100; n++) dir = path.resolve(cwd, `${defaultExportDir(now)}-${n}`);
  const store = openReader(request.dbPath);
  try {
    const selection: Selection = { ...(request.ids !== undefined ? { ids: request.ids } : {}), ...(request.filter !== undefined ? { filter: request.filter } : {}) };
    return exportReport(store, selection, dir, request.redact ?? {}, { now });
  } finally {
    store.close();
  }
}
