// `davtap export`: recorded flows as HAR, a bug-report bundle or JSON lines, credentials redacted.
import path from 'node:path';
import { DavtapError, UsageError } from '../errors.js';
import { defaultSecretNames, exportHar, exportJsonl, exportReport, PrivateFile, type RedactOptions, type Selection } from '../export/index.js';
import { openReader } from '../store/index.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

/** `text` broken at spaces into lines of at most `width` characters, each after `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + w.length > width) {
      lines.push(indent + line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

const help = `Usage: davtap export --har FILE | --report DIR | --jsonl [FILE|-]
                     [--db FILE] [--flow ID]… [--filter EXPR] [--no-redact] [--redact NAME]…

Exports recorded flows for a bug report or a script. Flows are exported oldest first.

Formats (exactly one):
  --har FILE       HAR 1.2 with bodies (decoded copy of gzip/br responses), timings, and davtap's
                   findings and resource ledger in "_davtap" fields; opens in browser devtools and
                   HAR viewers, and 'davtap check FILE' analyzes it again
  --report DIR     a bug-report bundle in a new or empty directory: report.md, NNN-request.http
                   and NNN-response.http (raw bytes), findings.json, replay.sh and NNN-replay.sh
                   (curl commands that send each request again)
  --jsonl [FILE]   one JSON object per flow (summary fields and findings), to FILE or, without
                   one or with '-', to standard output
  --bodies         with --jsonl: include request and response bodies (text or base64)

Selection (default: every flow):
  --flow ID        a flow id or a unique prefix of one; repeatable
  --filter EXPR    a filter expression as in the UI (~m PROPFIND, ~c 207, ~u /dav, ~f truncation,
                   ~bs REGEX, !, &, |; 'davtap ui --help' lists them); with --flow, narrows
                   those flows

Redaction (on by default): the values of headers and of query, fragment and path parameters
(;jsessionid=…) whose names are in the list below become [redacted], in headers, URLs, finding
messages and evidence, raw files and curl commands; names stay, bodies are kept as recorded.
A name also matches a longer one ending in it after -, _ or . (api_key, X-Amz-Signature); *part*
matches any name containing part; !name is never redacted. The list:
${wrap(defaultSecretNames.join(', '), 98, '  ')}
  --redact NAME    also redact this name or *pattern*, or keep one with !NAME; repeatable
  --no-redact      keep every value as recorded

  --db FILE        the database to read (default ./davtap.db)
  -h, --help       this help

Files are written readable by their owner only (0600). Exit status: 0 done, 2 usage or I/O error.
`;

interface ExportFlags {
  har?: string;
  report?: string;
  jsonl?: string;
  bodies?: boolean;
  db?: string;
  flow?: string[];
  filter?: string;
  'no-redact'?: boolean;
  redact?: string[];
}

/**
 * `--jsonl` takes an optional value: given last or before another option, it means standard
 * output. parseArgs has no optional values, so the bare flag becomes `--jsonl=-` first.
 */
function optionalJsonlValue(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (a === '--jsonl' && (next === undefined || (next.startsWith('-') && next !== '-'))) out.push('--jsonl=-');
    else out.push(a);
  }
  return out;
}

export const command: Command = {
  summary: 'export flows as HAR, a report bundle or JSON lines',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<ExportFlags>('export', optionalJsonlValue(args), {
      har: { type: 'string' },
      report: { type: 'string' },
      jsonl: { type: 'string' },
      bodies: { type: 'boolean' },
      db: { type: 'string' },
      flow: { type: 'string', multiple: true },
      filter: { type: 'string' },
      'no-redact': { type: 'boolean' },
      redact: { type: 'string', multiple: true },
    });
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    const formats = (['har', 'report', 'jsonl'] as const).filter((f) => values[f] !== undefined);
    if (formats.length !== 1) {
      throw new UsageError(`export: give exactly one of --har FILE, --report DIR, --jsonl [FILE] (see 'davtap export --help')`);
    }
    if (values.bodies === true && values.jsonl === undefined) throw new UsageError('export: --bodies goes with --jsonl (HAR and reports always carry bodies)');
    if (values['no-redact'] === true && (values.redact ?? []).length > 0) throw new UsageError('export: --redact NAME and --no-redact contradict each other');
    for (const f of [values.har, values.report]) if (f !== undefined && f.trim() === '') throw new UsageError('export: the output path is empty');

    const redact: RedactOptions = { enabled: values['no-redact'] !== true, names: values.redact ?? [] };
    const selection: Selection = { ...(values.flow !== undefined ? { ids: values.flow } : {}), ...(values.filter !== undefined ? { filter: values.filter } : {}) };
    const dbPath = path.resolve(io.cwd, values.db ?? 'davtap.db');
    // A snapshot: an export from a database on read-only media works, and leaves no -wal or -shm.
    const store = openReader(dbPath, { snapshot: true });
    try {
      if (values.har !== undefined) {
        const file = path.resolve(io.cwd, values.har);
        const r = exportHar(store, selection, file, redact);
        io.stderr.write(`davtap export: ${r.flows} flow${r.flows === 1 ? '' : 's'} written to ${values.har}${redact.enabled === false ? ' (not redacted)' : ''}\n`);
      } else if (values.report !== undefined) {
        const r = exportReport(store, selection, path.resolve(io.cwd, values.report), redact);
        io.stderr.write(`davtap export: report of ${r.flows} flow${r.flows === 1 ? '' : 's'} written to ${values.report}${path.sep}report.md (${r.files.length} files)\n`);
      } else {
        const target = values.jsonl!;
        if (target === '-' || target === '') {
          exportJsonl(store, selection, (line) => io.stdout.write(line), redact, { bodies: values.bodies === true });
        } else {
          const file = path.resolve(io.cwd, target);
          let out: PrivateFile;
          try {
            out = new PrivateFile(file, 0o600, true);
          } catch (err) {
            throw new DavtapError('IO', `export: cannot write ${target} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
          let n: number;
          try {
            n = exportJsonl(store, selection, (line) => out.write(line), redact, { bodies: values.bodies === true });
          } catch (err) {
            out.abort();
            throw err;
          }
          out.close();
          io.stderr.write(`davtap export: ${n} flow${n === 1 ? '' : 's'} written to ${target}\n`);
        }
      }
    } finally {
      store.close();
    }
    return 0;
  },
};

