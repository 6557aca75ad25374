// Runs Debian's litmus (the WebDAV compliance suite) and turns its console output into one entry
// per test, so that a run through davtap can be compared with a run direct, test by test.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { withoutProxyEnv } from '../helpers/davtap-process.js';

export const LITMUS_BIN = '/usr/bin/litmus';

export type LitmusOutcome = 'pass' | 'fail' | 'skipped';

export interface LitmusResult {
  suite: string;
  index: number;
  name: string;
  outcome: LitmusOutcome;
  /** The WARNING texts and the FAIL reason, in order, as litmus printed them. */
  messages: string[];
}

export interface LitmusRun {
  results: LitmusResult[];
  /** `suite -> "of N tests run: P passed, F failed"` from litmus's own summary lines. */
  summaries: Record<string, string>;
  exitCode: number | null;
  output: string;
  /** litmus's debug.log (every request and response, a few hundred KB), for diagnosing a difference. */
  debugLog: string;
}

/**
 * Parses litmus output. Without a terminal litmus prints each test name twice on one line, separated
 * by carriage returns, then the outcome; a WARNING breaks the line and the outcome follows on a
 * continuation line starting with dots.
 */
export function parseLitmus(output: string): { results: LitmusResult[]; summaries: Record<string, string> } {
  type Parsing = Omit<LitmusResult, 'outcome'> & { outcome?: LitmusOutcome };
  const parsed: Parsing[] = [];
  const summaries: Record<string, string> = {};
  let suite = '';
  let current: Parsing | undefined;

  const consume = (rest: string): void => {
    const text = rest.trim();
    if (!current || text === '') return;
    // After a test that warned, litmus prints dots instead of the next test's name: a new outcome
    // or warning once the current test is done belongs to the next test, whose name is unknown.
    if (current.outcome !== undefined && /^(WARNING:|pass\b|FAIL\b|SKIPPED\b)/.test(text)) {
      current = { suite: current.suite, index: current.index + 1, name: '?', messages: [] };
      parsed.push(current);
    }
    const warning = /^WARNING:\s*(.*)$/.exec(text);
    if (warning) {
      current.messages.push(`WARNING: ${warning[1]}`);
      return;
    }
    if (/^pass\b/.test(text)) {
      current.outcome = 'pass';
    } else if (/^FAIL\b/.test(text)) {
      current.outcome = 'fail';
      current.messages.push(text);
    } else if (/^SKIPPED\b/.test(text)) {
      current.outcome = 'skipped';
    }
  };

  for (const line of output.split('\n')) {
    const running = /^-> running `([^']+)'/.exec(line);
    if (running) {
      suite = running[1]!;
      current = undefined;
      continue;
    }
    const summary = /^<- summary for `([^']+)': (.*)$/.exec(line);
    if (summary) {
      summaries[summary[1]!] = summary[2]!.trim();
      current = undefined;
      continue;
    }
    for (const segment of line.split('\r')) {
      const head = /^\s*(\d+)\.\s*([^.\s]+)\.*\s?(.*)$/.exec(segment);
      if (head && suite) {
        const index = Number(head[1]);
        if (!current || current.suite !== suite || current.index !== index) {
          current = { suite, index, name: head[2]!, messages: [] };
          parsed.push(current);
        } else if (current.name === '?') {
          current.name = head[2]!;
        }
        consume(head[3]!);
        continue;
      }
      const continuation = /^\s+\.{3,}\s*(.*)$/.exec(segment);
      if (continuation) consume(continuation[1]!);
    }
  }
  // A test whose outcome never appeared (litmus crashed mid-test) counts as failed, visibly.
  const results = parsed.map((r): LitmusResult =>
    r.outcome === undefined ? { ...r, outcome: 'fail', messages: [...r.messages, 'no outcome printed'] } : { ...r, outcome: r.outcome },
  );
  return { results, summaries };
}

/**
 * Runs litmus against `url` (optionally through a forward `proxy`), in `cwd` (litmus writes
 * debug.log and child.log there). Bounded by `timeoutMs`.
 */
export async function runLitmus(url: string, opts: { cwd: string; proxy?: string; timeoutMs?: number }): Promise<LitmusRun> {
  if (!existsSync(LITMUS_BIN)) throw new Error(`litmus is not installed (${LITMUS_BIN} missing): apt-get install -y litmus`);
  // `-p URL` makes Debian's litmus 0.13 run nothing; only the `--proxy=URL` spelling works.
  const args = ['--keep-going', ...(opts.proxy ? [`--proxy=${opts.proxy}`] : []), url];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = spawn(LITMUS_BIN, args, { cwd: opts.cwd, env: withoutProxyEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`litmus ${args.join(' ')} still running after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const debugFile = path.join(opts.cwd, 'debug.log');
  const debugLog = existsSync(debugFile) ? await readFile(debugFile, 'utf8') : '';
  return { ...parseLitmus(output), exitCode, output, debugLog };
}

/**
 * One comparable line per test: suite, index, name, outcome and messages, with the run-specific
 * parts (the server's address, the collection the run used) replaced by placeholders.
 */
export function comparable(run: LitmusRun, base: string): string[] {
  const basePath = new URL(base).pathname;
  const normalise = (s: string) => s.replaceAll(/127\.0\.0\.1:\d+/g, 'HOST').replaceAll(basePath, '/BASE/');
  return run.results.map(
    (r) => `${r.suite} ${String(r.index).padStart(2)} ${r.name}: ${r.outcome}${r.messages.length ? ` [${r.messages.map(normalise).join(' | ')}]` : ''}`,
  );
}

/**
 * Litmus's own per-suite summary ("of N tests run: P passed, F failed") recomputed from the parsed
 * tests, for checking the parser against litmus itself. Skipped tests are not "run".
 */
export function recomputedSummaries(results: LitmusResult[]): Record<string, { run: number; passed: number; failed: number }> {
  const out: Record<string, { run: number; passed: number; failed: number }> = {};
  for (const r of results) {
    const s = (out[r.suite] ??= { run: 0, passed: 0, failed: 0 });
    if (r.outcome === 'skipped') continue;
    s.run++;
    if (r.outcome === 'pass') s.passed++;
    else s.failed++;
  }
  return out;
}

/** `"of 16 tests run: 9 passed, 7 failed. 56.2%"` -> its three numbers. */
export function summaryCounts(summary: string): { run: number; passed: number; failed: number } | undefined {
  const m = /of (\d+) tests? run: (\d+) passed, (\d+) failed/.exec(summary);
  return m ? { run: Number(m[1]), passed: Number(m[2]), failed: Number(m[3]) } : undefined;
}

/**
 * The part of litmus's debug.log that belongs to one test: the log is cut at its "Running test"
 * markers and litmus tags every request with `X-Litmus: SUITE: INDEX (NAME)`.
 */
export function debugSection(debugLog: string, suite: string, index: number, maxChars = 6_000): string {
  const tag = `X-Litmus: ${suite}: ${index} (`;
  const part = debugLog.split(/^(?=\*{7} Running test )/m).find((p) => p.includes(tag));
  if (!part) return `(no request tagged '${tag}' in debug.log)`;
  return part.length > maxChars ? `${part.slice(0, maxChars)}\n…(${part.length - maxChars} more characters)` : part;
}
