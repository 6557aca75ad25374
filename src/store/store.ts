// A davtap database: opening it and reading flows back (the UI, exports, tests). Writing goes
// through `createFlowWriter` (writer.ts), which batches off the relay's hot path.
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { distinctMethodsSql, parseFilter, type FilterNode } from '../filter/index.js';
import type { Finding, Framing, InformationalResponse, Mode, OutcomeKind, RawHeaders, Resource, ResponseRecord, Severity } from '../types.js';
import { filterToSql } from './filter-sql.js';
import { openDatabase, type StoreOptions } from './open.js';
import { bodiesPerFlowVersion, laterFlowColumns } from './schema.js';
import { clientTlsOf, listColumns, toFinding, toFlowRow, toResource, type FlowRecord, type FlowRow, type StoredFlow } from './rows.js';

export type { StoreOptions } from './open.js';

export interface ListOptions {
  /** A filter expression (parsed here; a bad one throws FilterSyntaxError) or an already parsed tree. */
  filter?: string | FilterNode | null;
  offset?: number;
  /** At most this many rows (default 100, at most 10,000). */
  limit?: number;
  /** 'desc' (newest first, the default) or 'asc' (oldest first). */
  order?: 'asc' | 'desc';
  /** Only flows with seq greater than this: cheap tailing with `latestSeq()`. */
  afterSeq?: number;
}

type Stmt = Database.Statement<unknown[], FlowRecord>;

/** How a proxy run that recorded into the file was started. */
export interface RunInfo {
  id: number;
  /** Epoch ms. */
  started: number;
  mode: Mode;
  /** The addresses it listened on, as URLs (`http://127.0.0.1:8080/`). */
  listen: string[];
  /** Reverse mode: where it relayed to. */
  upstream?: string;
  /** Reverse mode behind a TLS terminator: the address clients used. */
  publicUrl?: string;
}

export class Store {
  /** The better-sqlite3 connection. Owned by the store; only store/ code should touch it. */
  readonly db: Database.Database;
  readonly file: string;
  readonly readonly: boolean;
  readonly maxDbSize: number | null;
  /** The file's schema version: below `schemaVersion` only for a reader of an older file (or a test building one). */
  readonly version: number;
  private readonly statements: {
    latestSeq: Stmt;
    countAll: Stmt;
    flowById: Stmt;
    findings: Stmt;
    resources: Stmt;
    methods: Stmt;
  };
  // Where the file keeps whole bodies (SqlContext.bodies) and the statement reading a flow's.
  private bodyTables: { perFlow: boolean; perKind: boolean };
  private bodiesStatement: Stmt;
  // Filtered queries differ by filter shape only: prepared once per distinct SQL text.
  private readonly dynamic = new Map<string, Stmt>();
  // The flow list's columns; a reader of an older file reads the ones it lacks as their defaults.
  private readonly listCols: string;
  // The flows columns this file lacks (a reader of an older file) and what they read as: filters need them too.
  private readonly absentColumns: ReadonlyMap<string, string>;
  // A reader's connection for the one thing it may write, marks (opened on first use, see setMarked).
  private markConnection: Database.Database | null = null;
  private closed = false;
  // Run by close() before the connection goes: a writer flushes its queue and stops its checkpointer.
  private readonly closeHooks = new Set<() => void>();

  constructor(file: string, options: StoreOptions = {}, targetVersion?: number) {
    // Checked before the file is touched.
    if (options.maxDbSize !== undefined && !(options.maxDbSize > 0)) {
      throw new StoreError(`--max-db-size must be a positive number of bytes (got ${options.maxDbSize})`);
    }
    const opened = openDatabase(file, options, targetVersion);
    this.db = opened.db;
    this.file = opened.file;
    this.readonly = opened.readonly;
    this.maxDbSize = options.maxDbSize ?? null;
    this.version = opened.version;
    const absent = new Map(laterFlowColumns.filter((c) => c.version > opened.version).map((c) => [c.column, c.absent]));
    this.absentColumns = absent;
    this.listCols = listColumns
      .split(', ')
      .map((c) => (absent.has(c) ? `${absent.get(c)} AS ${c}` : `f.${c}`))
      .join(', ');
    const prep = (sql: string) => this.db.prepare(sql) as Stmt;
    this.statements = {
      latestSeq: prep('SELECT coalesce(max(seq), 0) AS n FROM flows'),
      countAll: prep('SELECT count(*) AS n FROM flows'),
      flowById: prep('SELECT * FROM flows WHERE id = ?'),
      findings: prep('SELECT * FROM findings WHERE flow_seq = ? ORDER BY idx'),
      resources: prep('SELECT * FROM resources WHERE flow_seq = ? ORDER BY idx'),
      methods: prep(distinctMethodsSql),
    };
    // Whole bodies: a row per flow in flow_bodies from schema 12 on; bodies (a row per body) holds
    // all of them in an older file, and those of the flows recorded before the upgrade in an
    // upgraded one (none in a file created at 12 or later: its queries skip the table).
    const perFlow = opened.version >= bodiesPerFlowVersion;
    this.bodyTables = { perFlow, perKind: !perFlow || (this.db.prepare('SELECT EXISTS (SELECT 1 FROM bodies) AS n').get() as { n: number }).n === 1 };
    this.bodiesStatement = this.bodiesQuery();
  }

  private bodiesQuery(): Stmt {
    const { perFlow, perKind } = this.bodyTables;
    const selects: string[] = [];
    if (perKind) selects.push('SELECT kind, bytes FROM bodies WHERE flow_seq = :seq');
    if (perFlow) {
      for (const kind of ['request', 'response', 'decoded']) selects.push(`SELECT '${kind}' AS kind, ${kind} AS bytes FROM flow_bodies WHERE flow_seq = :seq AND ${kind} IS NOT NULL`);
    }
    return this.db.prepare(selects.join(' UNION ALL ')) as Stmt;
  }

  /**
   * Where whole bodies are. A reader of a file from before schema 12 looks again each time: a
   * writer may upgrade the file under it, and the flows recorded from then on keep theirs in flow_bodies.
   */
  private bodiesNow(): { tables: { perFlow: boolean; perKind: boolean }; statement: Stmt } {
    if (!this.bodyTables.perFlow && this.readonly && (this.db.pragma('user_version', { simple: true }) as number) >= bodiesPerFlowVersion) {
      this.bodyTables = { perFlow: true, perKind: true };
      this.bodiesStatement = this.bodiesQuery();
    }
    return { tables: this.bodyTables, statement: this.bodiesStatement };
  }

  private prepared(sql: string): Stmt {
    let stmt = this.dynamic.get(sql);
    if (!stmt) {
      if (this.dynamic.size >= 64) this.dynamic.clear();
      stmt = this.db.prepare(sql) as Stmt;
      this.dynamic.set(sql, stmt);
    }
    return stmt;
  }

  // Read again for every query (a few index look-ups): a method first recorded a moment ago counts.
  private readonly distinct = (column: 'method'): readonly string[] =>
    column === 'method' ? this.statements.methods.all().map((r) => String(r.m)) : [];

  private where(filter: string | FilterNode | null | undefined, afterSeq?: number, uptoSeq?: number): { where: string; params: (string | number)[] } {
    const clauses: string[] = [];
    const params: (string | number)[] = [];
    if (filter !== undefined && filter !== null && !(typeof filter === 'string' && filter.trim() === '')) {
      const sql = filterToSql(typeof filter === 'string' ? parseFilter(filter) : filter, {
        absent: this.absentColumns,
        distinct: this.distinct,
        bodies: this.bodiesNow().tables,
        ...(afterSeq !== undefined ? { afterSeq } : {}),
        ...(uptoSeq !== undefined ? { uptoSeq } : {}),
      });
      clauses.push(sql.where);
      params.push(...sql.params);
    }
    if (afterSeq !== undefined) {
      clauses.push('f.seq > ?');
      params.push(afterSeq);
    }
    if (uptoSeq !== undefined) {
      clauses.push('f.seq <= ?');
      params.push(uptoSeq);
    }
    return { where: clauses.length > 0 ? `WHERE ${clauses.map((c) => `(${c})`).join(' AND ')}` : '', params };
  }

  /** The highest seq in the database (0 when empty). Cheap: poll it to notice new flows. */
  latestSeq(): number {
    return Number(this.statements.latestSeq.get()!.n);
  }

  /**
   * How many flows match `filter` (all flows without one). With `afterSeq`, only flows newer than
   * that seq are counted: a UI that knows the count up to `latestSeq()` adds the new ones cheaply;
   * with `uptoSeq` too, only those up to it: a count of a million flows taken a range at a time,
   * each range a bounded piece of work (a regex filter cannot use an index).
   */
  countFlows(filter?: string | FilterNode | null, afterSeq?: number, uptoSeq?: number): number {
    if ((filter === undefined || filter === null || (typeof filter === 'string' && filter.trim() === '')) && afterSeq === undefined && uptoSeq === undefined) {
      return Number(this.statements.countAll.get()!.n);
    }
    const { where, params } = this.where(filter, afterSeq, uptoSeq);
    return Number(this.prepared(`SELECT count(*) AS n FROM flows f ${where}`).get(...params)!.n);
  }

  /** A page of light rows (no headers, bodies, findings or resources), newest first by default. */
  listFlows(options: ListOptions = {}): FlowRow[] {
    const limit = Math.max(0, Math.min(10_000, Math.floor(options.limit ?? 100)));
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    const order = options.order === 'asc' ? 'ASC' : 'DESC';
    const cols = this.listCols;
    const unfiltered = options.filter === undefined || options.filter === null || (typeof options.filter === 'string' && options.filter.trim() === '');
    if (unfiltered && options.afterSeq === undefined && offset > 0) {
      // Flows are never deleted and a rolled-back insert does not use up its seq, so seqs normally
      // run 1..N without gaps: then page k starts at a known seq and scrolling to the end of
      // 100,000 flows costs what the first page does, not a scan of every row before it.
      const count = Number(this.statements.countAll.get()!.n);
      if (this.latestSeq() === count) {
        const sql =
          order === 'ASC'
            ? `SELECT ${cols} FROM flows f WHERE f.seq > ? ORDER BY f.seq ASC LIMIT ?`
            : `SELECT ${cols} FROM flows f WHERE f.seq <= ? ORDER BY f.seq DESC LIMIT ?`;
        return this.prepared(sql)
          .all(order === 'ASC' ? offset : count - offset, limit)
          .map(toFlowRow);
      }
    }
    const { where, params } = this.where(options.filter, options.afterSeq);
    // The page's seqs first, then its rows: when an index answers the filter, only integers get
    // sorted, not whole rows (10-15x faster for `~c 4xx` on 100,000 flows).
    const rows = this.prepared(
      `SELECT ${cols} FROM flows f WHERE f.seq IN (SELECT f.seq FROM flows f ${where} ORDER BY f.seq ${order} LIMIT ? OFFSET ?) ORDER BY f.seq ${order}`,
    ).all(...params, limit, offset);
    return rows.map(toFlowRow);
  }

  /** The light row of one flow, or null. */
  getRow(id: string): FlowRow | null {
    const r = this.statements.flowById.get(id);
    return r ? toFlowRow(r) : null;
  }

  private seqOf(id: string): number | null {
    const r = this.statements.flowById.get(id);
    return r ? Number(r.seq) : null;
  }

  findingsFor(id: string): Finding[] {
    const seq = this.seqOf(id);
    return seq === null ? [] : this.statements.findings.all(seq).map(toFinding);
  }

  resourcesFor(id: string): Resource[] {
    const seq = this.seqOf(id);
    return seq === null ? [] : this.statements.resources.all(seq).map(toResource);
  }

  /** The whole flow: request, response, stored bodies and (when analyzed) findings and resources. */
  getFlow(id: string): StoredFlow | null {
    const read = this.db.transaction(() => {
      const r = this.statements.flowById.get(id);
      if (!r) return null;
      const seq = Number(r.seq);
      const bodies = new Map<string, Buffer>();
      for (const b of this.bodiesNow().statement.all({ seq }) as unknown as { kind: string; bytes: Buffer }[]) bodies.set(b.kind, b.bytes);
      for (const [kind, bytes] of this.bodyParts(id)) bodies.set(kind, bytes);
      const findings = r.analyzed === 1 ? this.statements.findings.all(seq).map(toFinding) : [];
      const resources = r.analyzed === 1 ? this.statements.resources.all(seq).map(toResource) : [];
      return { r, bodies, findings, resources };
    });
    const got = read.deferred();
    if (!got) return null;
    return toStoredFlow(got.r, got.bodies, got.findings, got.resources);
  }

  /** A body the writer stored in parts (spool.ts), joined; empty when there is none. */
  spooledBody(flowId: string, kind: 'response' | 'decoded'): Buffer {
    return this.bodyParts(flowId).get(kind) ?? Buffer.alloc(0);
  }

  private partsStatement: Stmt | null = null;

  /** The bodies the writer stored in parts (large captures), joined, by kind. */
  private bodyParts(flowId: string): Map<string, Buffer> {
    // Prepared on first use: a store opened at an older schema version (tests) has no such table.
    this.partsStatement ??= this.db.prepare('SELECT kind, bytes FROM body_parts WHERE flow_id = ? ORDER BY kind, part') as Stmt;
    const parts = new Map<string, Buffer[]>();
    for (const p of this.partsStatement.all(flowId) as unknown as { kind: string; bytes: Buffer }[]) {
      const list = parts.get(p.kind);
      if (list) list.push(p.bytes);
      else parts.set(p.kind, [p.bytes]);
    }
    return new Map([...parts].map(([kind, list]) => [kind, list.length === 1 ? list[0]! : Buffer.concat(list)]));
  }

  /**
   * Marks or unmarks a flow (the UI's mark, mitmproxy's `~marked`); false when there is no such
   * flow. Marks are the user's notes about the capture: a reader (the UI) writes them through a
   * connection of its own, which touches only the `marked` column. A file written before marks
   * existed must be opened once by a writer first.
   */
  setMarked(id: string, marked: boolean): boolean {
    if (this.absentColumns.has('marked')) {
      throw new StoreError(`${this.file} predates marks; open it once with 'davtap proxy --db' to upgrade it`);
    }
    const db = this.readonly ? this.markWriter() : this.db;
    try {
      return db.prepare('UPDATE flows SET marked = ? WHERE id = ?').run(marked ? 1 : 0, id).changes > 0;
    } catch (err) {
      throw new StoreError(`cannot mark the flow in ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Sandwich mode: the front flow paired with this back flow (the pair view opened on a back flow),
   * or null (none claims it, or a file from before the sandwich). Scans the flows: one look-up per key press.
   */
  frontFlowOf(backId: string): string | null {
    if (this.absentColumns.has('paired_with')) return null;
    const r = this.prepared('SELECT f.id AS id FROM flows f WHERE f.paired_with = ? LIMIT 1').get(backId);
    return r ? String(r.id) : null;
  }

  /** Flips a flow's mark; returns the new state (false for an unknown flow). */
  toggleMarked(id: string): boolean {
    const row = this.statements.flowById.get(id);
    if (!row) return false;
    const marked = Number(row.marked ?? 0) === 0;
    this.setMarked(id, marked);
    return marked;
  }

  private markWriter(): Database.Database {
    if (!this.markConnection) {
      try {
        this.markConnection = new Database(this.file, { fileMustExist: true });
        // A proxy writing the same file holds its lock for one tick at most.
        this.markConnection.pragma('busy_timeout = 2000');
      } catch (err) {
        throw new StoreError(`cannot mark flows in ${this.file}: ${(err as Error).message}`, { cause: err });
      }
    }
    return this.markConnection;
  }

  /**
   * Records how a proxy run was started (the composition root does, once it listens); returns the
   * run's id. Only a writer records runs.
   */
  recordRun(run: Omit<RunInfo, 'id'>): number {
    try {
      return Number(
        this.db
          .prepare('INSERT INTO runs (started, mode, listen, upstream, public_url) VALUES (?, ?, ?, ?, ?)')
          .run(run.started, run.mode, JSON.stringify(run.listen), run.upstream ?? null, run.publicUrl ?? null).lastInsertRowid,
      );
    } catch (err) {
      throw new StoreError(`cannot record the run in ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private runStatement: Stmt | null | undefined;

  /** The newest run recorded in the file, or null (none yet, or a file from before runs were recorded). */
  latestRun(): RunInfo | null {
    if (this.runStatement === undefined) {
      const exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get() !== undefined;
      this.runStatement = exists ? (this.db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT 1') as Stmt) : null;
    }
    // A reader opened before the proxy created the table looks again next time.
    if (this.runStatement === null) {
      this.runStatement = undefined;
      return null;
    }
    const r = this.runStatement.get();
    if (!r) return null;
    return {
      id: Number(r.id),
      started: Number(r.started),
      mode: String(r.mode) as Mode,
      listen: JSON.parse(String(r.listen)) as string[],
      ...(r.upstream !== null ? { upstream: String(r.upstream) } : {}),
      ...(r.public_url !== null ? { publicUrl: String(r.public_url) } : {}),
    };
  }

  /** Registers work to do when the store closes (used by the writer); returns the unregistration. */
  onClose(hook: () => void): () => void {
    this.closeHooks.add(hook);
    return () => this.closeHooks.delete(hook);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Closes the connection; a writer still attached writes what it has queued first. */
  close(): void {
    if (this.closed) return;
    for (const hook of [...this.closeHooks]) hook();
    this.closeHooks.clear();
    this.closed = true;
    this.markConnection?.close();
    this.db.close();
  }
}

const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;

function clientOf(r: FlowRecord): StoredFlow['client'] {
  const tls = clientTlsOf(r);
  return { address: String(r.client_address), port: Number(r.client_port), ...(tls ? { tls } : {}) };
}
const orNull = (v: unknown): number | null => (v === null ? null : Number(v));

function toStoredFlow(r: FlowRecord, bodies: Map<string, Buffer>, findings: Finding[], resources: Resource[]): StoredFlow {
  const pruned = r.body_pruned === 1;
  const body = (kind: string, seen: number, complete: boolean, stored: number) => ({
    bytes: bodies.get(kind) ?? Buffer.alloc(0),
    bytesSeen: seen,
    // Complete only if every byte seen is here: the tap kept them all, the store did not cut and pruning did not remove them.
    captureComplete: complete && !pruned && stored >= seen,
  });
  let response: ResponseRecord | null = null;
  if (r.status !== null) {
    response = {
      status: Number(r.status),
      reason: String(r.reason ?? ''),
      httpVersion: String(r.response_http_version ?? '1.1'),
      rawHeaders: json<RawHeaders>(r.response_headers ?? '[]'),
      framing: r.framing as Framing,
      declaredLength: orNull(r.declared_length),
      body: body('response', Number(r.response_bytes_seen ?? 0), r.response_capture_complete === 1, Number(r.response_body_stored)),
      decoded:
        r.decoded_bytes_seen === null
          ? null
          : body('decoded', Number(r.decoded_bytes_seen), r.decoded_capture_complete === 1, Number(r.decoded_body_stored)),
      informational: r.informational === null ? [] : json<InformationalResponse[]>(r.informational),
      rawTrailers: r.trailers === null ? [] : json<RawHeaders>(r.trailers),
    };
    if (r.decode_error !== null) response.decodeError = String(r.decode_error);
  }
  const flow: StoredFlow = {
    seq: Number(r.seq),
    id: String(r.id),
    mode: r.mode as Mode,
    client: clientOf(r),
    timings: { start: Number(r.start), firstByte: orNull(r.first_byte), end: orNull(r.end) },
    request: {
      method: String(r.method),
      url: String(r.url),
      target: String(r.target),
      httpVersion: String(r.request_http_version),
      rawHeaders: json<RawHeaders>(r.request_headers),
      body: body('request', Number(r.request_bytes_seen), r.request_capture_complete === 1, Number(r.request_body_stored)),
    },
    response,
    outcome: { kind: r.outcome_kind as OutcomeKind },
    storage: {
      requestStored: Number(r.request_body_stored),
      responseStored: Number(r.response_body_stored),
      decodedStored: Number(r.decoded_body_stored),
      pruned,
      prunedBytes: Number(r.body_pruned_bytes),
    },
    marked: Number(r.marked ?? 0) !== 0,
  };
  if (r.outcome_code !== null) flow.outcome.code = String(r.outcome_code);
  if (r.outcome_message !== null) flow.outcome.message = String(r.outcome_message);
  if (r.injected !== null) flow.injected = String(r.injected);
  if (r.replay_of !== null && r.replay_of !== undefined) flow.replayOf = String(r.replay_of);
  if (r.leg === 'front' || r.leg === 'back') flow.leg = r.leg;
  if (r.paired_with !== null && r.paired_with !== undefined) flow.pairedWith = String(r.paired_with);
  if (r.analyzed === 1) {
    const counts: Record<Severity, number> = { error: Number(r.findings_error), warning: Number(r.findings_warning), info: Number(r.findings_info) };
    flow.analysis = {
      findings,
      resources,
      summary: {
        resources: Number(r.resources_count),
        failedResources: Number(r.failed_count),
        byStatus: json<Record<string, number>>(r.by_status ?? '{}'),
        findings: counts,
        text: String(r.summary_text ?? ''),
      },
    };
  }
  return flow;
}

/** Opens (creating and migrating when needed) a davtap database. */
export function openStore(file: string, options: StoreOptions = {}): Store {
  return new Store(file, options);
}

/**
 * Opens a database read-only: for the UI and exports, possibly while a proxy writes it.
 * `snapshot` (exports) leaves nothing beside a database no proxy has open (see StoreOptions).
 */
export function openReader(file: string, options: Pick<StoreOptions, 'snapshot'> = {}): Store {
  return new Store(file, { ...options, readonly: true });
}
