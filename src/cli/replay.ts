// `davtap replay`: sends recorded requests again, in their recorded order, and says what changed in
// the answers: the regression check a server developer runs after a fix, in CI too. The options
// live in one table (replayOptions): --help is generated from it and the README's table is tested
// against it (test/cli/replay-options.test.ts).
import fs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DavtapError, UsageError } from '../errors.js';
import { selectIds } from '../export/select.js';
import { createLivePipeline } from '../pipeline/live.js';
import { diffFlows, type FlowDiff } from '../replay/diff.js';
import { startReplayer, whyNotReplayable } from '../replay/engine.js';
import { flowLines, renderJson, renderJunit, renderText } from '../replay/report.js';
import { openStore, type StoredFlow } from '../store/index.js';
import { parseCommandArgs, type OptionSpec } from './args.js';
import type { CliIO, Command } from './io.js';

export interface ReplayOption {
  name: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The argument's name in --help and the README, for a 'string' option. */
  arg?: string;
  /** One line (or more, separated by \n) for --help. */
  help: string;
}

export const replayOptions: readonly ReplayOption[] = [
  { name: 'db', type: 'string', arg: 'FILE', help: 'the database to read flows from and record the replays in (default ./davtap.db)' },
  { name: 'flow', type: 'string', multiple: true, arg: 'ID', help: 'replay this flow (an id or a unique prefix); repeatable' },
  { name: 'filter', type: 'string', arg: 'EXPR', help: "replay the flows this filter expression selects, as in the UI; with --flow,\nnarrows those (default: every flow that is not itself a replay)" },
  { name: 'to', type: 'string', arg: 'URL', help: "send the requests to this server (http(s)://host:port[/prefix]) instead of\neach flow's original one; the path each client asked for goes under URL's path" },
  { name: 'values', type: 'boolean', help: 'also count changed property values (volatile ones such as getetag and\ngetlastmodified are listed, never counted)' },
  { name: 'json', type: 'boolean', help: 'print the differences as JSON' },
  { name: 'junit', type: 'string', arg: 'FILE', help: 'also write a JUnit XML file: one testcase per replayed flow' },
  { name: 'timeout', type: 'string', arg: 'SECONDS', help: 'give up on a server silent for this long (default 60)' },
  { name: 'insecure', type: 'boolean', help: "do not verify an https server's certificate" },
];

export const replayOptionSpec: OptionSpec = Object.fromEntries(replayOptions.map((o) => [o.name, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]));

function optionHelp(): string {
  const width = 20;
  const lines: string[] = [];
  for (const o of [...replayOptions, { name: 'help', type: 'boolean', help: 'show this help' } as ReplayOption]) {
    const flag = `  ${o.name === 'help' ? '-h, ' : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
    const [first, ...rest] = o.help.split('\n');
    lines.push(flag.length < width ? `${flag.padEnd(width)}${first}` : `${flag}\n${' '.repeat(width)}${first}`);
    for (const more of rest) lines.push(' '.repeat(width) + more);
  }
  return lines.join('\n');
}

const help = () => `Usage: davtap replay [--db FILE] [--flow ID]… [--filter EXPR] [--to URL] [--values] [--json]
                     [--junit FILE]

Sends recorded requests again, one after the other in their recorded order, exactly as recorded
(method, header fields in their order and case, credentials included, body bytes; Host and
Destination mapped to the server), and compares each answer with the recorded one: the status,
and for a 207 Multi-Status each resource by its href (added, missing, status changed, properties
added, removed or with another status; values with --values). Each replay is relayed, analyzed
and recorded like a proxied flow, as a new flow that names the one it replayed.

Options:
${optionHelp()}

A request whose body was not recorded whole (--max-request-body) is not sent: a one-line error.
Exit status: 0 every answer is the same, 1 one differs, 2 usage, database or network error.
`;

interface ReplayFlags {
  db?: string;
  flow?: string[];
  filter?: string;
  to?: string;
  values?: boolean;
  json?: boolean;
  junit?: string;
  timeout?: string;
  insecure?: boolean;
}

const shown = (v: string): string => ([...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) ? JSON.stringify(v) : `'${v}'`);

function parseTo(text: string | undefined): URL | undefined {
  if (text === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`replay: --to ${shown(text)} is not a URL (example: http://127.0.0.1:8081/)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`replay: --to ${shown(text)} must be an http:// or https:// URL`);
  if (u.username || u.password || u.search || u.hash) throw new UsageError(`replay: --to ${shown(text)} must be a server and path only (no credentials, query or fragment)`);
  return u;
}

export interface ReplayRequest {
  dbPath: string;
  /** Flow ids or unique prefixes; earlier replays are left out of a selection made without them. */
  ids?: readonly string[];
  filter?: string;
  to?: URL;
  values?: boolean;
  timeoutMs?: number;
  insecure?: boolean;
  log(line: string): void;
}

/**
 * Replays the selected flows in their recorded order and returns what changed in each: the
 * command's work, and what the terminal UI's `r` asks for. Every flow is checked before anything
 * is sent (a sequence is replayed whole or not at all).
 */
export async function replayFlows(request: ReplayRequest): Promise<FlowDiff[]> {
  const store = openStore(request.dbPath);
  const diffs: FlowDiff[] = [];
  try {
    const explicit = request.ids ?? [];
    let ids = selectIds(store, { ids: explicit, filter: request.filter ?? null, command: 'replay' });
    // Earlier replays are flows too; they are replayed only when named.
    if (explicit.length === 0) ids = ids.filter((id) => store.getRow(id)?.replayOf === null);
    if (ids.length === 0) throw new UsageError(`replay: no flow to replay in ${request.dbPath}${request.filter !== undefined ? ` matches ${shown(request.filter)}` : ''}`);

    const flows: StoredFlow[] = [];
    for (const id of ids) {
      const flow = store.getFlow(id)!;
      const why = whyNotReplayable(flow);
      if (why !== undefined) throw new DavtapError('USAGE', `replay: flow ${flow.id} (${flow.request.method} ${flow.request.url}) cannot be replayed: ${why}`);
      flows.push(flow);
    }

    const replayer = await startReplayer({
      store,
      analyzing: (onFlow) => createLivePipeline({ onFlow, log: request.log }).hooks,
      ...(request.to ? { to: request.to } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      insecureUpstream: request.insecure === true,
      log: request.log,
    });
    try {
      for (const flow of flows) {
        const { replay } = await replayer.replay(flow);
        diffs.push(diffFlows(flow, replay, { values: request.values === true }));
      }
    } catch (err) {
      throw new DavtapError('IO', `replay: ${(err as Error).message}`);
    } finally {
      await replayer.close();
    }
  } finally {
    store.close();
  }
  return diffs;
}

/** The terminal UI's `r`: replays flows of `dbPath` to their original servers, and says what changed in lines. */
export function replayForUi(dbPath: string, log: (line: string) => void): (ids: readonly string[]) => Promise<string[]> {
  return async (ids) => (await replayFlows({ dbPath, ids, log })).flatMap((d) => flowLines(d, false));
}

export const command: Command = {
  summary: 'send recorded requests again and compare the answers',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantHelp } = parseCommandArgs<ReplayFlags>('replay', args, replayOptionSpec);
    if (wantHelp) {
      io.stdout.write(help());
      return 0;
    }
    const to = parseTo(values.to);
    const timeout = values.timeout ?? '60';
    if (!/^\d+(\.\d+)?$/.test(timeout) || Number(timeout) <= 0) throw new UsageError(`replay: --timeout ${shown(timeout)} is not a number of seconds`);
    const dbPath = path.resolve(io.cwd, values.db ?? 'davtap.db');
    if (!fs.existsSync(dbPath)) throw new DavtapError('IO', `replay: no database at ${dbPath} (record flows with 'davtap proxy --db FILE' first)`);

    const log = (line: string) => io.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
    const diffs = await replayFlows({
      dbPath,
      ids: values.flow ?? [],
      ...(values.filter !== undefined ? { filter: values.filter } : {}),
      ...(to ? { to } : {}),
      values: values.values === true,
      timeoutMs: Math.round(Number(timeout) * 1000),
      insecure: values.insecure === true,
      log,
    });

    const report = { to: to?.href ?? null, values: values.values === true, flows: diffs };
    io.stdout.write(values.json ? renderJson(report) : renderText(report));
    if (values.junit !== undefined) {
      const file = path.resolve(io.cwd, values.junit);
      try {
        await writeFile(file, renderJunit(report));
      } catch (err) {
        throw new DavtapError('IO', `replay: cannot write --junit ${file}: ${(err as Error).message}`);
      }
    }
    return diffs.some((d) => d.counted > 0) ? 1 : 0;
  },
};
