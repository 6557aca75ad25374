// The store's public surface. Only this directory imports better-sqlite3.
export { openStore, openReader, Store, type ListOptions, type RunInfo, type StoreOptions } from './store.js';
export { createFlowWriter, type FlowWriter, type WriterOptions, type WriterStats } from './writer.js';
export type { BodyStorage, FlowRow, StoredFlow } from './rows.js';
export { schemaVersion } from './schema.js';
export { createSpooler, type BodySpool, type Spooler, type SpoolKind } from './spool.js';
