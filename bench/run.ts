// Runs every bench/*.bench.ts (each exports `run(): Promise<string>`, a Markdown section), prints
// the sections and rewrites bench/RESULTS.md. `BENCH_ONLY=proxy,store` runs only those; sections of
// benches not run this time are kept from the previous RESULTS.md with their own date and command.
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(BENCH_DIR, 'RESULTS.md');
const SUFFIX = '.bench.ts';
const MARKER = /^<!-- bench:([\w-]+) -->$/m;

interface Section {
  name: string;
  text: string;
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, Linux ${release()}`;
}

function command(): string {
  const only = process.env.BENCH_ONLY;
  return `${only ? `BENCH_ONLY=${only} ` : ''}npm run bench`;
}

/** The sections of an existing RESULTS.md, keyed by bench name. */
function parseResults(text: string): Section[] {
  const parts = text.split(/^(?=<!-- bench:[\w-]+ -->$)/m);
  const sections: Section[] = [];
  for (const part of parts) {
    const m = MARKER.exec(part);
    if (m && part.startsWith('<!-- bench:')) sections.push({ name: m[1]!, text: part.trimEnd() });
  }
  return sections;
}

function renderResults(sections: Section[], now: Date): string {
  return [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (bench/run.ts); last updated ${now.toISOString()}. Each section says when,`,
    'on what and by which command it was measured. The machine is shared: figures vary from run to run.',
    '',
    ...sections.map((s) => `${s.text}\n`),
  ].join('\n');
}

async function main(): Promise<number> {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const names = (await readdir(BENCH_DIR))
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort();
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length) {
    process.stderr.write(`bench: no such bench: ${unknown.join(', ')} (available: ${names.join(', ')})\n`);
    return 2;
  }
  const selected = only.length ? names.filter((n) => only.includes(n)) : names;
  const fresh: Section[] = [];
  let failed = 0;
  for (const name of selected) {
    process.stderr.write(`bench: running ${name}…\n`);
    const started = new Date();
    let body: string;
    try {
      const mod = (await import(pathToFileURL(path.join(BENCH_DIR, `${name}${SUFFIX}`)).href)) as { run?: () => Promise<string> };
      if (typeof mod.run !== 'function') throw new Error(`${name}${SUFFIX} exports no run()`);
      body = (await mod.run()).trimEnd();
    } catch (err) {
      failed++;
      body = `**Failed:** ${err instanceof Error ? err.message : String(err)}`;
    }
    const seconds = ((Date.now() - started.getTime()) / 1000).toFixed(0);
    const text = [
      `<!-- bench:${name} -->`,
      `## ${name}`,
      '',
      `_Measured ${started.toISOString()} in ${seconds} s on ${machine()}; command: \`${command()}\`._`,
      '',
      body,
    ].join('\n');
    process.stdout.write(`${text}\n\n`);
    fresh.push({ name, text });
  }
  const previous = existsSync(RESULTS) ? parseResults(await readFile(RESULTS, 'utf8')) : [];
  const merged = names.flatMap((n) => fresh.find((s) => s.name === n) ?? previous.find((s) => s.name === n) ?? []);
  // Sections that no bench writes (`npm run fuzz`'s, written by hand) stay as they are, after these.
  merged.push(...previous.filter((s) => !names.includes(s.name)));
  await writeFile(RESULTS, renderResults(merged, new Date()));
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), RESULTS)}${failed ? ` (${failed} failed)` : ''}\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
