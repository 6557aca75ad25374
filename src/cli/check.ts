// `davtap check`: offline analysis of saved responses (raw `.http` wire captures, bare `.xml`
// bodies, or every 207 of a `.har`), with the same analyzer the proxy runs live.
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { rules } from '../analysis/analyzer.js';
import { DavtapError, UsageError } from '../errors.js';
import { harInputs } from '../readers/har.js';
import { parseRawRequest, parseRawResponse } from '../readers/raw.js';
import { checkOne, checkStreamed, type CheckInput, type StreamedInput, type StreamedResult } from '../readers/saved.js';
import type { AnalysisSummary, Category, Finding, RequestContext, Resource, ResponseHead, Severity } from '../types.js';
import { EVIDENCE_ITEMS, JsonResults, paint, renderHuman, ResourceTable } from './check-output.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap check [--json] [--request REQ] [--fail-on LEVEL] FILE…

Analyzes saved responses offline with the rules davtap applies to every 207 it relays
(rule ids MS001–MS703, see README "Rules").

FILE is one of:
  *.har    every entry whose response status is 207, with that entry's request as context;
           a body davtap's capture cap cut (export of a --max-body run) is analyzed up to
           the cap and reported as MS703, not as truncation
  *.xml    a bare response body, checked as a 207 with Content-Type application/xml
  other    a raw HTTP response exactly as on the wire (status line, headers, blank line, body
           with its chunked framing and content coding), e.g. saved with 'curl --raw -i'

Options:
  --request REQ      raw HTTP request (request line, headers, blank line, body) behind the
                     responses: enables the request-aware rules (Depth, requested properties,
                     multiget hrefs, sync-token, Prefer, href scope). Applies to every FILE that
                     is not a HAR; without it those rules are skipped.
  --fail-on LEVEL    exit 1 when a finding reaches LEVEL: a severity (error, warning, info) or a
                     category (truncation, stripped, malformed, semantic, partial-failure,
                     security: any warning or error of it). Default: error.
  --json             print {"results":[{input, status, resources, findings, summary}]}, written
                     as the analysis goes: every resource of the ledger, one per line; evidence
                     arrays cut to their first ${EVIDENCE_ITEMS} items, evidenceCount giving the full lengths
  -h, --help         this help

Exit status: 0 no finding reached --fail-on, 1 one did, 2 usage or I/O error.
`;

const severities: Severity[] = ['info', 'warning', 'error'];
const categories: Category[] = ['truncation', 'stripped', 'malformed', 'semantic', 'partial-failure', 'security'];

interface CheckFlags {
  json?: boolean;
  request?: string;
  'fail-on'?: string;
}

// ---------------------------------------------------------------------------------------------
// Exit status

type FailOn = { kind: 'severity'; at: Severity } | { kind: 'category'; category: Category };

export function parseFailOn(text: string | undefined): FailOn {
  const v = (text ?? 'error').trim().toLowerCase();
  if ((severities as string[]).includes(v)) return { kind: 'severity', at: v as Severity };
  if ((categories as string[]).includes(v)) return { kind: 'category', category: v as Category };
  throw new UsageError(`check: --fail-on '${text}' is neither a severity (${severities.join(', ')}) nor a category (${categories.join(', ')})`);
}

export function reaches(f: Finding, failOn: FailOn): boolean {
  if (failOn.kind === 'severity') return severities.indexOf(f.severity) >= severities.indexOf(failOn.at);
  return f.category === failOn.category && f.severity !== 'info';
}

// ---------------------------------------------------------------------------------------------
// Input

function ioError(file: string, err: unknown): DavtapError {
  const code = (err as NodeJS.ErrnoException).code;
  return new DavtapError('IO', `check: cannot read ${file}${code === 'ENOENT' ? ': no such file' : code !== undefined ? ` (${code})` : ''}`);
}

async function load(file: string, io: CliIO): Promise<Uint8Array> {
  try {
    return await readFile(path.resolve(io.cwd, file));
  } catch (err) {
    throw ioError(file, err);
  }
}

/** Bytes read from the start of a raw capture to find its head; its headers must fit. */
const HEAD_WINDOW = 1024 * 1024;
/** Read size of a streamed body (the analyzer gets it in 64 KiB slices). */
const READ_CHUNK = 256 * 1024;

/**
 * The file from `start` on, read in chunks into one reused buffer: a 1 GB capture is never held
 * whole, and no garbage buffer per read waits for a collection. The analyzer copies what it keeps
 * of a write (it is fed from a reused buffer in bench/analyzer.bench.ts too), and each chunk is
 * written out before the next read.
 */
async function* fileChunks(handle: FileHandle, start: number, first?: Uint8Array): AsyncGenerator<Uint8Array> {
  try {
    if (first !== undefined && first.length > 0) yield first;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (let at = start; ; ) {
      const { bytesRead } = await handle.read(buf, 0, READ_CHUNK, at);
      if (bytesRead === 0) return;
      at += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** One response to check: held whole (HAR entries) or streamed from its file. */
type Input = { kind: 'whole'; input: CheckInput } | { kind: 'streamed'; input: StreamedInput };

export async function inputsOf(file: string, req: RequestContext | undefined, io: CliIO): Promise<Input[]> {
  const lower = file.toLowerCase();
  if (lower.endsWith('.har')) return harInputs(Buffer.from(await load(file, io)).toString('utf8'), file).map((input) => ({ kind: 'whole', input }));
  const context: RequestContext = req ?? { method: '', target: '', rawHeaders: [] };
  let handle: FileHandle;
  try {
    handle = await open(path.resolve(io.cwd, file));
  } catch (err) {
    throw ioError(file, err);
  }
  try {
    if (lower.endsWith('.xml')) {
      const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' };
      return [{ kind: 'streamed', input: { input: file, req: context, head, body: fileChunks(handle, 0) } }];
    }
    const window = Buffer.allocUnsafe(HEAD_WINDOW);
    const { bytesRead } = await handle.read(window, 0, HEAD_WINDOW, 0);
    const prefix = window.subarray(0, bytesRead);
    const { body, ...head } = parseRawResponse(prefix, file);
    return [{ kind: 'streamed', input: { input: file, req: context, head, body: fileChunks(handle, bytesRead, body) } }];
  } catch (err) {
    await handle.close();
    if (err instanceof DavtapError) throw err;
    throw ioError(file, err);
  }
}

/** Where the results go as they are produced: the --json document or the human report. */
interface Report {
  begin(): Promise<void>;
  startResult(input: string, status: number): Promise<void>;
  resources(rs: readonly Resource[]): Promise<void>;
  endResult(input: string, status: number, findings: readonly Finding[], summary: AnalysisSummary): Promise<void>;
  end(results: number): Promise<void>;
}

function jsonReport(io: CliIO): Report {
  const json = new JsonResults(io.stdout);
  return {
    begin: () => json.begin(),
    startResult: (input, status) => json.startResult(input, status),
    resources: (rs) => json.resources(rs),
    endResult: (_input, _status, findings, summary) => json.endResult(findings, summary),
    end: () => json.end(),
  };
}

function humanReport(io: CliIO): Report {
  const p = paint(io.stdout.isTTY === true && io.env['NO_COLOR'] === undefined);
  let table = new ResourceTable();
  const write = (text: string) =>
    new Promise<void>((resolve) => {
      if (io.stdout.write(text)) resolve();
      else io.stdout.once('drain', () => resolve());
    });
  return {
    begin: async () => {},
    startResult: async () => {
      table = new ResourceTable();
    },
    resources: async (rs) => table.add(rs),
    endResult: (input, status, findings, summary) => write(renderHuman(input, summary, String(status), table, findings, p)),
    end: async (results) => {
      if (results === 0) await write('no 207 responses in the input\n');
    },
  };
}

export const command: Command = {
  summary: 'analyze saved 207 responses offline',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals, help: wantsHelp } = parseCommandArgs<CheckFlags>(
      'check',
      args,
      { json: { type: 'boolean' }, request: { type: 'string' }, 'fail-on': { type: 'string' } },
      true,
    );
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    const failOn = parseFailOn(values['fail-on']);
    if (positionals.length === 0) throw new UsageError("check: no FILE given (see 'davtap check --help')");
    const req = values.request !== undefined ? parseRawRequest(await load(values.request, io), values.request) : undefined;
    const report = values.json === true ? jsonReport(io) : humanReport(io);
    let results = 0;
    let failing = false;
    await report.begin();
    for (const file of positionals) {
      for (const item of await inputsOf(file, req, io)) {
        const status = item.input.head.status;
        results++;
        await report.startResult(item.input.input, status);
        let r: StreamedResult;
        if (item.kind === 'whole') {
          const whole = checkOne(item.input);
          await report.resources(whole.resources);
          r = whole;
        } else {
          r = await checkStreamed(item.input, (rs) => report.resources(rs));
        }
        await report.endResult(r.input, r.status, r.findings, r.summary);
        failing ||= r.findings.some((f) => reaches(f, failOn));
      }
    }
    await report.end(results);
    return failing ? 1 : 0;
  },
};

/** Rule ids known to the catalogue (for help texts and tests). */
export const knownRules = Object.keys(rules);
