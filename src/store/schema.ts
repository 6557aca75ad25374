// The database schema as a list of migrations. `PRAGMA user_version` holds the number of migrations
// applied; a file whose version is higher than `schemaVersion` was written by a newer davtap and is
// refused untouched. Released migrations never change: add a new one instead.

export const migrations: readonly string[] = [
  // 1: flows, their findings, the resource ledger and the captured bodies.
  `
  CREATE TABLE flows (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    client_address TEXT NOT NULL,
    client_port INTEGER NOT NULL,
    start INTEGER NOT NULL,
    first_byte INTEGER,
    "end" INTEGER,
    duration_ms INTEGER,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    target TEXT NOT NULL,
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    request_http_version TEXT NOT NULL,
    request_headers TEXT NOT NULL,
    request_bytes_seen INTEGER NOT NULL,
    request_capture_complete INTEGER NOT NULL,
    status INTEGER,
    reason TEXT,
    response_http_version TEXT,
    response_headers TEXT,
    content_type TEXT,
    framing TEXT,
    declared_length INTEGER,
    response_bytes_seen INTEGER,
    response_capture_complete INTEGER,
    decoded_bytes_seen INTEGER,
    decoded_capture_complete INTEGER,
    decode_error TEXT,
    informational TEXT,
    trailers TEXT,
    outcome_kind TEXT NOT NULL,
    outcome_code TEXT,
    outcome_message TEXT,
    analyzed INTEGER NOT NULL DEFAULT 0,
    resources_count INTEGER,
    failed_count INTEGER,
    by_status TEXT,
    summary_text TEXT,
    findings_error INTEGER NOT NULL DEFAULT 0,
    findings_warning INTEGER NOT NULL DEFAULT 0,
    findings_info INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE findings (
    flow_seq INTEGER NOT NULL REFERENCES flows(seq) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    category TEXT NOT NULL,
    message TEXT NOT NULL,
    evidence TEXT NOT NULL,
    consequence_of TEXT,
    injected TEXT,
    PRIMARY KEY (flow_seq, idx)
  ) WITHOUT ROWID;
  CREATE TABLE resources (
    flow_seq INTEGER NOT NULL REFERENCES flows(seq) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    href TEXT NOT NULL,
    href_normalized TEXT NOT NULL,
    status INTEGER,
    status_line TEXT,
    propstats TEXT NOT NULL,
    extra TEXT,
    span_start INTEGER NOT NULL,
    span_end INTEGER,
    complete INTEGER NOT NULL,
    PRIMARY KEY (flow_seq, idx)
  ) WITHOUT ROWID;
  CREATE TABLE bodies (
    flow_seq INTEGER NOT NULL REFERENCES flows(seq) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('request', 'response', 'decoded')),
    bytes BLOB NOT NULL,
    PRIMARY KEY (flow_seq, kind)
  );
  `,
  // 2: what the store itself dropped (its body cap and --max-db-size pruning), the fault injection
  // that was applied, and the indexes behind the UI's filters.
  `
  ALTER TABLE flows ADD COLUMN injected TEXT;
  ALTER TABLE flows ADD COLUMN request_body_stored INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE flows ADD COLUMN response_body_stored INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE flows ADD COLUMN decoded_body_stored INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE flows ADD COLUMN body_pruned INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE flows ADD COLUMN body_pruned_bytes INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX flows_method ON flows(method);
  CREATE INDEX flows_status ON flows(status);
  CREATE INDEX flows_outcome ON flows(outcome_kind);
  CREATE INDEX flows_path ON flows(path);
  CREATE INDEX flows_injected ON flows(injected) WHERE injected IS NOT NULL;
  CREATE INDEX findings_rule ON findings(rule, flow_seq);
  CREATE INDEX findings_category ON findings(category, flow_seq);
  `,
  // 3: large bodies in parts, written as they arrive rather than held until the flow ends, keyed
  // by the flow's id because the flow's row (and its seq) is written only when it is over. Parts
  // whose flow never got a row (davtap was killed mid-transfer) are removed when a writer opens.
  `
  CREATE TABLE body_parts (
    flow_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('response', 'decoded')),
    part INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (flow_id, kind, part)
  );
  `,
  // 4: whether the client's connection to davtap was TLS (`client_tls` 1, with the SNI name it
  // asked for in `client_sni`, NULL when it sent none). Flows recorded before have 0: no TLS known.
  // The upstream side's TLS is the scheme of `url`.
  `
  ALTER TABLE flows ADD COLUMN client_tls INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE flows ADD COLUMN client_sni TEXT;
  `,
  // 5: whose fault each finding most likely is (server, client, gateway, unknown). Findings recorded
  // before read back with their rule's default blame (the column is NULL for them).
  `
  ALTER TABLE findings ADD COLUMN blame TEXT;
  `,
  // 6: a replayed flow names the flow it re-sent (`replay_of`, its id; NULL for a flow a client sent).
  `
  ALTER TABLE flows ADD COLUMN replay_of TEXT;
  `,
  // 7: flows the user marked in the UI (mitmproxy's `~marked`), 1 when marked.
  `
  ALTER TABLE flows ADD COLUMN marked INTEGER NOT NULL DEFAULT 0;
  `,
  // 8: which REPORT a flow made (the local name of its request body's root element:
  // calendar-query, sync-collection, …), named once when the flow is recorded so that the flow
  // list never parses a body. Flows recorded before get it from their stored request body here.
  `
  ALTER TABLE flows ADD COLUMN report TEXT;
  UPDATE flows SET report = report_name((SELECT b.bytes FROM bodies b WHERE b.flow_seq = flows.seq AND b.kind = 'request'))
    WHERE method = 'REPORT';
  `,
  // 9: sandwich mode: the leg a flow was relayed on (`front`, `back`; NULL outside sandwich mode),
  // and on a front flow the id of the back flow it was paired with (NULL: the gateway answered itself).
  `
  ALTER TABLE flows ADD COLUMN leg TEXT;
  ALTER TABLE flows ADD COLUMN paired_with TEXT;
  `,
  // 10: how each proxy run that recorded into this file was started (mode, listen addresses,
  // upstream, public URL), so that a UI attached to the file says what it is looking at.
  `
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started INTEGER NOT NULL,
    mode TEXT NOT NULL,
    listen TEXT NOT NULL,
    upstream TEXT,
    public_url TEXT
  );
  `,
  // 11: indexes for the filters whose flows are usually few among many (`~e`: the exchanges that
  // did not end cleanly; `~marked`; `~sev`: flows with findings, the UI's findings view), holding
  // only those flows, in seq order: a filtered list of a million flows finds its first page and its
  // count there instead of reading every row. The writer adds entries only for such a flow, at the
  // end of each index (seqs grow). Their WHERE is the filter codes' SQL (codes.ts) to the letter,
  // which is how SQLite knows it may use them.
  `
  CREATE INDEX flows_unclean ON flows(seq) WHERE outcome_kind <> 'complete';
  CREATE INDEX flows_marked ON flows(seq) WHERE marked <> 0;
  CREATE INDEX flows_sev_info ON flows(seq) WHERE findings_info > 0 OR findings_warning > 0 OR findings_error > 0;
  CREATE INDEX flows_sev_warning ON flows(seq) WHERE findings_warning > 0 OR findings_error > 0;
  CREATE INDEX flows_sev_error ON flows(seq) WHERE findings_error > 0;
  `,
  // 12: the writer's cost per flow. Whole bodies go in one row per flow (`flow_bodies`: request,
  // response, decoded): a `bodies` row per body cost two b-tree inserts each (the table and its
  // key), which was a third of a small flow's write. `bodies` keeps the bodies of the flows recorded
  // before, as they are (nothing is copied: a large file upgrades at once); readers look in both.
  // The indexes on path and outcome go: no query uses them (`~u` matches the URL, `~e` has
  // flows_unclean), and every flow paid for them.
  `
  CREATE TABLE flow_bodies (
    flow_seq INTEGER PRIMARY KEY REFERENCES flows(seq) ON DELETE CASCADE,
    request BLOB,
    response BLOB,
    decoded BLOB
  );
  DROP INDEX flows_path;
  DROP INDEX flows_outcome;
  `,
];

/** The first version that keeps whole bodies in `flow_bodies` (one row per flow) rather than in `bodies`. */
export const bodiesPerFlowVersion = 12;

export const schemaVersion = migrations.length;

/**
 * The oldest version a read-only reader (the UI, exports) opens as it is, without the upgrade only
 * a writer may do: later migrations only add flows columns, which read back as their defaults
 * (`client_tls` 0: no TLS known), and the findings' `blame`, which findings are read with `SELECT *`
 * and without it take their rule's default. A migration that does more raises this to its own version.
 */
export const oldestReadableVersion = 3;

/** The flows columns each version added after `oldestReadableVersion`, and what they read as before it. */
export const laterFlowColumns: readonly { version: number; column: string; absent: string }[] = [
  { version: 4, column: 'client_tls', absent: '0' },
  { version: 4, column: 'client_sni', absent: 'NULL' },
  { version: 6, column: 'replay_of', absent: 'NULL' },
  { version: 7, column: 'marked', absent: '0' },
  { version: 8, column: 'report', absent: 'NULL' },
  { version: 9, column: 'leg', absent: 'NULL' },
  { version: 9, column: 'paired_with', absent: 'NULL' },
];
