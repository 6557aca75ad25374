// `davtap flows`: the flow list of a database without the UI, one line per flow with its findings
// (as `mitmdump -nr` prints a capture), or one JSON object per line, for scripts and a quick look.
import path from 'node:path';
import { UsageError } from '../errors.js';
import { exportJsonl } from '../export/index.js';
import { filterHelp, parseFilter } from '../filter/index.js';
import { factsLine, type FlowLineFacts } from '../pipeline/flow-line.js';
import { createRedactor } from '../redact/index.js';
import { openReader, type FlowRow, type Store } from '../store/index.js';
import type { Finding } from '../types.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

const help = (): string => `Usage: davtap flows [--db FILE] [--filter EXPR] [--json] [--show-secrets]

Prints the flows recorded in FILE, oldest first, one line per flow: time, method, status, path,
response size, duration, outcome, the 207's failed resources and finding counts, the injection
and the client's TLS, then the rule ids of its findings. The database is only read.

Options:
  --db FILE        the database to read (default ./davtap.db)
  --filter EXPR    only the flows this filter matches (see below)
  --json           one JSON object per flow instead (as 'davtap export --jsonl': summary fields
                   and findings)
  --show-secrets   show credentials as recorded (Authorization, cookies, token-like URL
                   parameters); masked as [redacted] by default
  -h, --help       this help

${filterHelp()}

Exit status: 0 done (also when no flow matches), 2 bad filter, missing or unreadable database.
`;

interface FlowsFlags {
  db?: string;
  filter?: string;
  json?: boolean;
  'show-secrets'?: boolean;
}

const PAGE = 500;

/** What the line shows, from the light row and the flow's findings. */
function rowFacts(row: FlowRow, findings: readonly Finding[]): FlowLineFacts {
  return {
    start: row.start,
    end: row.end,
    mode: row.mode,
    method: row.method,
    url: row.url,
    status: row.status,
    responseBytes: row.responseBytes ?? 0,
    outcome: row.outcome,
    analysis: row.analyzed ? { findings, failed: row.failed ?? 0, resources: row.resources ?? 0, counts: row.findings } : null,
    injected: row.injected,
    clientTls: row.clientTls,
  };
}

/** The rule ids of a flow's findings, most severe first, each once (`MS001 MS601`). */
function ruleIds(findings: readonly Finding[]): string {
  const rank = { error: 0, warning: 1, info: 2 } as const;
  const ids = [...findings].sort((a, b) => rank[a.severity] - rank[b.severity]).map((f) => f.rule);
  return [...new Set(ids)].join(' ');
}

/**
 * Every row matching `filter`, oldest first, page after page. Pages continue after the last seq
 * seen (not at an offset), so a filter no index answers (a body search) scans the flows once.
 */
function* rowsOf(store: Store, filter: string | null): Generator<FlowRow> {
  let after = 0;
  for (;;) {
    const rows = store.listFlows({ filter, order: 'asc', afterSeq: after, limit: PAGE });
    yield* rows;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export const command: Command = {
  summary: 'print the recorded flows, one line each (or JSON lines)',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<FlowsFlags>('flows', args, {
      db: { type: 'string' },
      filter: { type: 'string' },
      json: { type: 'boolean' },
      'show-secrets': { type: 'boolean' },
    });
    if (wantsHelp) {
      io.stdout.write(help());
      return 0;
    }
    const filter = values.filter !== undefined && values.filter.trim() !== '' ? values.filter : null;
    if (filter !== null) {
      try {
        parseFilter(filter);
      } catch (err) {
        throw new UsageError(`flows: --filter: ${err instanceof Error ? err.message.replace(/^filter: /, '') : String(err)}`);
      }
    }
    const showSecrets = values['show-secrets'] === true;
    // A snapshot, as an export: a database on read-only media works, and nothing is left beside it.
    const store = openReader(path.resolve(io.cwd, values.db ?? 'davtap.db'), { snapshot: true });
    try {
      if (values.json === true) {
        exportJsonl(store, filter === null ? {} : { filter, command: 'flows' }, (line) => io.stdout.write(line), { enabled: !showSecrets, names: [] });
        return 0;
      }
      const redactor = createRedactor(showSecrets ? { enabled: false } : {});
      for (const row of rowsOf(store, filter)) {
        const findings = row.analyzed ? store.findingsFor(row.id) : [];
        const rules = ruleIds(findings);
        io.stdout.write(`${factsLine(rowFacts(row, findings), redactor)}${rules ? `  ${rules}` : ''}\n`);
      }
    } finally {
      store.close();
    }
    return 0;
  },
};
