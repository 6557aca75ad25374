// The UI's view of the store: a read-only connection of its own, mapped onto the list's row type.
// Credentials are masked here, before anything reaches a panel (unless `--show-secrets`): the list's
// paths and every header, URL and finding text of an opened flow. Filters still match what was
// recorded, so `~u token=` finds the flows that sent one.
import type { FilterNode } from '../src/filter/index.js';
import type { Flow } from '../src/types.js';
import { createRedactor, redactFlow, type Redactor } from '../src/redact/index.js';
import { openReader, type FlowRow, type Store } from '../src/store/index.js';
import type { FlowSource } from './flow-window.js';
import type { FlowListRow } from './view-model.js';

export function toListRow(row: FlowRow, redactor: Redactor = masking): FlowListRow {
  return {
    seq: row.seq,
    id: row.id,
    start: row.start,
    method: row.method,
    path: redactor.url(row.path),
    mode: row.mode,
    host: row.host,
    status: row.status,
    size: row.responseBytes,
    durationMs: row.durationMs,
    resources: row.analyzed ? row.resources : null,
    failed: row.analyzed ? row.failed : null,
    errors: row.findings.error,
    warnings: row.findings.warning,
    infos: row.findings.info,
    outcome: row.outcome.kind,
    outcomeCode: row.outcome.code,
    injected: row.injected,
    clientTls: row.clientTls !== null,
    report: row.report,
    leg: row.leg,
    pairedWith: row.pairedWith,
    marked: row.marked,
  };
}

const masking = createRedactor();

export interface SourceOptions {
  /** Show credentials as recorded (`--show-secrets`); masked by default. */
  showSecrets?: boolean;
}

const redactorFor = (options: SourceOptions): Redactor => (options.showSecrets === true ? createRedactor({ enabled: false }) : masking);

/** The masks the list and the flow view apply (none with `--show-secrets`), for flows that come from elsewhere than the store. */
export function masksFor(options: SourceOptions): { maskFlow: (flow: Flow) => Flow; maskUrl: (url: string) => string } {
  const redactor = redactorFor(options);
  return { maskFlow: (flow) => redactFlow(flow, redactor), maskUrl: (url) => redactor.url(url) };
}

/** A FlowSource over an open store (the caller keeps ownership unless `owned`). */
export function storeSource(store: Store, owned = false, options: SourceOptions = {}): FlowSource {
  const redactor = redactorFor(options);
  return {
    latestSeq: () => store.latestSeq(),
    count: (filter: FilterNode | null) => store.countFlows(filter),
    countNew: (filter: FilterNode | null, afterSeq: number, uptoSeq: number) => store.countFlows(filter, afterSeq, uptoSeq),
    // A million flows: the list shows before a filter's count is done.
    countsInSteps: true,
    list: (filter: FilterNode | null, offset: number, limit: number, afterSeq?: number) =>
      store.listFlows({ filter, offset, limit, order: 'asc', ...(afterSeq !== undefined ? { afterSeq } : {}) }).map((row) => toListRow(row, redactor)),
    getFlow: (id: string) => {
      const flow = store.getFlow(id);
      return flow && redactFlow(flow, redactor);
    },
    runInfo: () => store.latestRun(),
    toggleMark: (id: string) => store.toggleMarked(id),
    frontFlowOf: (backId: string) => store.frontFlowOf(backId),
    close: () => {
      if (owned) store.close();
    },
  };
}

/** Opens `dbPath` read-only (a StoreError with a clear message when it cannot). */
export function openStoreSource(dbPath: string, options: SourceOptions = {}): FlowSource {
  return storeSource(openReader(dbPath), true, options);
}
