// UI benchmark on a 100,000-flow database: (1) how long the UI takes to open its data (read-only
// reader, count, first screen of rows turned into cells); (2) how long one keypress takes to
// re-render the list (cursor moves, page moves, jumps to either end, filters, opening a flow), on
// the same path the blessed app takes minus the terminal write; (3) in a real terminal (tmux), how
// long `davtap ui --db` takes to show the first screen and to answer a key.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseFilter } from '../src/filter/index.js';
import { schemaVersion } from '../src/store/index.js';
import type { Flow } from '../src/types.js';
import { runUi } from '../ui/app.js';
import { renderTab, tabs } from '../ui/detail-model.js';
import { FlowWindow } from '../ui/flow-window.js';
import { openStoreSource } from '../ui/flow-source.js';
import { cellsMarkup } from '../ui/panels/markup.js';
import { headerCells, layoutColumns, rowCells } from '../ui/view-model.js';
import { writeFlows } from '../test/ui/db.js';
import { deleteLocked, plainGet, propfindWithFailures, refusedUpstream, truncatedPropfind } from '../test/ui/flows.js';
import { Tmux, sh } from '../test/ui/tmux.js';
import { formatSize } from '../ui/format.js';
import { fixed, table } from './lib/table.js';

const FLOWS = Number(process.env.BENCH_UI_FLOWS ?? 100_000);
const WIDTH = 160;
const HEIGHT = 48;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const start = Date.UTC(2026, 10, 21, 6, 0, 0);

/** The flow mix: mostly GETs and PROPFINDs with a few failures, some locked DELETEs, 1% truncated 207s, a few refused. */
function* flowMix(count: number): Generator<Flow> {
  const pool: Flow[] = [];
  for (let i = 0; i < 200; i++) {
    const t = start + i;
    pool.push(i % 100 === 0 ? truncatedPropfind(t) : i % 10 === 1 ? deleteLocked(t) : i % 50 === 7 ? refusedUpstream(t) : i % 3 === 0 ? propfindWithFailures(t, 5) : plainGet(t, `/dav/docs/file-${i}.txt`));
  }
  for (let i = 0; i < count; i++) {
    const f = pool[i % pool.length]!;
    yield { ...f, id: `bench-${i}`, timings: { start: start + i * 10, firstByte: start + i * 10 + 5, end: start + i * 10 + 20 } };
  }
}

/** The database is kept in bench/out/ between runs (it takes a while to build); rebuilt when the schema changes. */
async function database(): Promise<{ file: string; buildS: number | null }> {
  const dir = path.join(root, 'bench/out');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ui-${FLOWS}-v${schemaVersion}.db`);
  if (existsSync(file)) return { file, buildS: null };
  const partial = `${file}.building`;
  rmSync(partial, { force: true });
  for (const suffix of ['-wal', '-shm']) rmSync(partial + suffix, { force: true });
  const t0 = performance.now();
  await writeFlows(partial, flowMix(FLOWS));
  const buildS = (performance.now() - t0) / 1000;
  renameSync(partial, file);
  for (const suffix of ['-wal', '-shm']) rmSync(partial + suffix, { force: true });
  return { file, buildS };
}

const stats = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { median: q(0.5), p95: q(0.95), max: s.at(-1) ?? NaN, n: s.length };
};
const msCell = (ms: number) => `${fixed(ms, ms < 10 ? 2 : 1)} ms`;
const spread = (samples: number[]) => {
  const s = stats(samples);
  return `${msCell(s.median)} / ${msCell(s.p95)} / ${msCell(s.max)} (n=${s.n})`;
};

/** What one redraw of the list costs: the window's rows (a query when they are not loaded) and their cells. */
function renderList(w: FlowWindow): string {
  const rows = w.visible();
  const columns = layoutColumns(WIDTH, rows);
  const lines = [cellsMarkup(headerCells(columns))];
  for (const row of rows) lines.push(cellsMarkup(rowCells(row, columns)));
  return lines.join('\n');
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

function dataPath(file: string): { rows: string[][]; openMs: number; keyP95: number; slowestFilter: { text: string; ms: number } } {
  const rows: string[][] = [];
  const opens: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { ms, value } = time(() => {
      const source = openStoreSource(file);
      const w = new FlowWindow(source);
      w.follow = true;
      w.setHeight(HEIGHT - 3);
      w.refresh();
      renderList(w);
      return source;
    });
    opens.push(ms);
    value.close();
  }
  const openMs = opens[0]!;
  rows.push([`**open: reader + count + first screen (${HEIGHT - 3} rows, follow mode) → cells** (target < 1 s)`, `**${msCell(openMs)}** first, ${msCell(stats(opens).median)} median of 5`]);

  const source = openStoreSource(file);
  const w = new FlowWindow(source);
  w.setHeight(HEIGHT - 3);
  w.refresh();
  renderList(w);
  const keyTimes: number[] = [];
  let slowestFilter = { text: '', ms: 0 };
  const measure = (label: string, n: number, key: () => void) => {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) samples.push(time(() => (key(), renderList(w))).ms);
    keyTimes.push(...samples);
    rows.push([label, spread(samples)]);
  };
  measure('`j` (cursor down, window reloaded every screen)', 2000, () => w.move(1));
  measure('`k` (cursor up)', 500, () => w.move(-1));
  measure('`PgDn` (a query per screen)', 300, () => w.pageDown());
  w.home();
  measure('`G` then `g` (end / top of 100,000)', 40, () => (w.cursor === 0 ? w.end() : w.home()));
  measure('poll tick: `latestSeq()` (no change)', 200, () => source.latestSeq());
  for (const text of ['~m PROPFIND', '~c 207', '~f truncation', '~e', '~u /dav/shared', '~r MS504 & ~m DELETE', '~h "Depth: 1"']) {
    const node = parseFilter(text);
    const { ms } = time(() => (w.setFilter(node), renderList(w)));
    // A count that needs more than its first step goes on between key presses: the total is then what was counted so far.
    rows.push([`filter \`${text}\` applied (count ${w.total.toLocaleString('en')}${w.counting ? '+ so far, in steps' : ''} + first screen)`, msCell(ms)]);
    if (ms > slowestFilter.ms) slowestFilter = { text, ms };
  }
  // A poll while a proxy writes: 100 flows arrived since the last tick, under the slowest filter.
  const headerFilter = parseFilter('~h "Depth: 1"');
  const latest = source.latestSeq();
  const polls: number[] = [];
  for (let i = 0; i < 20; i++) polls.push(time(() => source.countNew(headerFilter, latest - 100, latest)).ms);
  rows.push(['poll tick with 100 new flows under `~h "Depth: 1"` (counts only the new ones)', spread(polls)]);
  keyTimes.push(...polls);
  w.setFilter(parseFilter('~f truncation'));
  const id = w.selected()!.id;
  const opened = time(() => source.getFlow(id)!);
  rows.push(['`Enter`: getFlow (truncated 207, 32 KiB body, 186 resources)', msCell(opened.ms)]);
  for (const tab of tabs) {
    const { ms } = time(() => renderTab(opened.value, tab, { width: WIDTH }));
    rows.push([`  tab ${tab} rendered`, msCell(ms)]);
  }
  // Large bodies: pretty-printing a well-formed 207 near the pretty limit, and a cut 16 MiB one shown raw.
  const big = propfindWithFailures(start, 8000);
  const bigBytes = big.response!.body.bytes.length;
  rows.push([`tab Response, well-formed 207 of ${formatSize(bigBytes)} (8,000 resources, pretty)`, msCell(time(() => renderTab(big, 'Response', { width: WIDTH })).ms)]);
  rows.push([`tab Resources, 8,000 resources (sorted failures first)`, msCell(time(() => renderTab(big, 'Resources', { width: WIDTH })).ms)]);
  const huge = propfindWithFailures(start, 65_000);
  const cut = huge.response!.body.bytes.subarray(0, 16 * 1024 * 1024 - 7);
  huge.response!.body = { bytes: cut, bytesSeen: cut.length, captureComplete: true };
  huge.analysis!.findings.push({ rule: 'MS001', severity: 'error', category: 'truncation', blame: 'server', message: 'body ended early', evidence: { offset: cut.length } });
  rows.push([`tab Response, 207 cut at ${formatSize(cut.length)} (raw, first lines + the mark at the end)`, msCell(time(() => renderTab(huge, 'Response', { width: WIDTH })).ms)]);
  // A 50 MB body opened in each of the body views `m` cycles (target: under 500 ms each).
  const fifty = propfindWithFailures(start, 240_000);
  const fiftyBytes = fifty.response!.body.bytes.length;
  for (const mode of ['pretty', 'text', 'hex'] as const) {
    rows.push([`tab Response, 207 of ${formatSize(fiftyBytes)} opened in the ${mode} view (target < 500 ms)`, msCell(time(() => renderTab(fifty, 'Response', { width: WIDTH, bodyMode: mode })).ms)]);
  }
  source.close();
  return { rows, openMs, keyP95: stats(keyTimes).p95, slowestFilter };
}

/**
 * The whole app in-process: blessed on an in-memory terminal (160×48), keys fed to its input. A
 * key is handled and the screen diff written synchronously, so the time around one input event is
 * the full keypress → terminal-bytes cost.
 */
async function blessedPath(file: string): Promise<string[][]> {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  let written = 0;
  const output = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb();
      },
    }),
    { isTTY: true, columns: WIDTH, rows: HEIGHT },
  );
  const t0 = performance.now();
  const done = runUi({ dbPath: file, screen: { input, output, terminal: 'xterm-256color' } });
  // The first screen is drawn before runUi yields.
  const firstScreen = performance.now() - t0;
  const rows: string[][] = [['runUi: open the database and draw the first screen', msCell(firstScreen)]];
  // blessed buffers its output until the next tick: a key's cost runs until its bytes are written.
  const press = async (keys: string) => {
    const before = written;
    const k = performance.now();
    input.emit('data', Buffer.from(keys));
    await new Promise((r) => setImmediate(r));
    return { ms: performance.now() - k, bytes: written - before };
  };
  const series = async (label: string, n: number, keys: (i: number) => string, after?: string) => {
    const samples: number[] = [];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const r = await press(keys(i));
      samples.push(r.ms);
      bytes += r.bytes;
      if (after) await press(after);
    }
    rows.push([label, `${spread(samples)}, ${formatSize(Math.round(bytes / n))}/key`]);
  };
  await series('`k` / `j` (cursor up and down the newest flows)', 400, (i) => (i % 200 < 100 ? 'k' : 'j'));
  await series('`PgUp` / `PgDn`', 100, (i) => (i % 50 < 25 ? '\x1b[5~' : '\x1b[6~'));
  await series('`g` / `G` (first / last of 100,000)', 20, (i) => (i % 2 === 0 ? 'g' : 'G'));
  await series('`Enter` (read the whole flow, draw its Summary)', 10, () => '\r', 'q');
  await press('\r');
  await series('`Tab` (next detail tab, each drawn for the first time once)', 12, () => '\t');
  await press('q');
  await press('q');
  await done;
  return rows;
}

/** `davtap ui --db` in tmux: first screen, and one keypress until the screen shows its effect. */
async function terminal(file: string): Promise<string[][]> {
  try {
    execFileSync('tmux', ['-V']);
  } catch {
    return [['tmux', 'not installed: skipped']];
  }
  const rows: string[][] = [];
  const cli = path.join(root, 'src/cli/main.ts');
  const t0 = performance.now();
  const term = Tmux.start(`cd ${sh(root)} && LANG=C.UTF-8 node --import tsx ${sh(cli)} ui --db ${sh(file)}; sleep 30`, { width: WIDTH, height: HEIGHT });
  try {
    const last = FLOWS.toLocaleString('en');
    await term.waitFor(new RegExp(`${last}/${last}`), 30_000);
    rows.push(['process start (node + tsx) to first screen of the newest flows', msCell(performance.now() - t0)]);
    const keySamples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const target = i % 2 === 0 ? ' 1/' : `${last}/${last}`;
      const k = performance.now();
      term.send(i % 2 === 0 ? 'g' : 'G');
      await term.waitFor((s) => s.split('\n')[0]!.includes(target), 10_000, 2);
      keySamples.push(performance.now() - k);
    }
    rows.push(['`g`/`G` keypress to updated screen (send-keys + capture-pane polled every 2 ms)', spread(keySamples)]);
  } finally {
    term.kill();
  }
  return rows;
}

export async function run(): Promise<string> {
  const { file, buildS } = await database();
  const size = statSync(file).size;
  const data = dataPath(file);
  const app = await blessedPath(file);
  const term = await terminal(file);
  return [
    `### Terminal UI on a ${FLOWS.toLocaleString('en')}-flow database`,
    '',
    `Database: ${FLOWS.toLocaleString('en')} flows (GET, PROPFIND 207 with failures, DELETE 207 423/424, 1% truncated 207 with 32 KiB bodies, refused upstreams), ${fixed(size / 1024 / 1024, 0)} MiB, ${buildS === null ? 'reused from bench/out/' : `built in ${fixed(buildS, 1)} s`}. Screen ${WIDTH}×${HEIGHT}.`,
    '',
    '#### View-model + reader path (what one redraw costs, minus the terminal write)',
    '',
    table(['operation', 'time (median / p95 / max)'], data.rows),
    '',
    '#### The whole app in-process (blessed writing to an in-memory 160×48 terminal)',
    '',
    table(['keys', 'time per key (median / p95 / max), screen bytes written'], app),
    '',
    '#### In a real terminal (tmux)',
    '',
    table(['measure', 'time'], term),
    '',
    `Targets: open ${data.openMs < 1000 ? 'met' : '**missed**'} (${msCell(data.openMs)} < 1 s); keypress re-render ${data.keyP95 < 50 ? 'met' : '**missed**'} (p95 over navigation keys and poll ticks ${msCell(data.keyP95)} < 50 ms). ` +
      `Applying a filter runs it over every flow once: the slowest here, \`${data.slowestFilter.text}\`, took ${msCell(data.slowestFilter.ms)}; polls afterwards only count new flows.`,
  ].join('\n');
}

// Runnable alone: node --import tsx bench/ui.bench.ts
if (process.argv[1]?.endsWith('ui.bench.ts')) process.stdout.write(`${await run()}\n`);
