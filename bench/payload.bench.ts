// Payload checking speed (MS651–MS656): a calendar-query 207 of 10,000 events (realistic objects:
// RRULE, ATTENDEEs, VALARM, a long description folded at 75 octets, CRLF) analyzed in 64 KiB
// writes, against the same bytes with calendar-data in a foreign namespace (no payload is checked:
// the difference is what the checks cost), and the checker alone on the same payload texts, the
// three interleaved round by round. Then the cost for a 207 without payloads: the tree just
// before the payload checks, the commit that added them (git archive of each) and the current
// tree analyze the same small Apache 207 and a 10,000-response listing, all three compiled by tsc
// and loaded into one child process, run in turns, so that the shared machine's drift hits them alike.
//
//   BENCH_ONLY=payload npm run bench          (BENCH_RUNS=5 for more rounds on a quiet machine)
//
// The same file is the child: `node --import tsx bench/payload.bench.ts --worker TREE MODE FILE`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as AnalyzerModule from '../src/analysis/analyzer.js';
import type * as PayloadModule from '../src/analysis/payload.js';
import { fixed, table } from './lib/table.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const CHUNK = 64 * 1024;
const EVENTS = 10_000;
const LISTING = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SMALL_FIXTURE = path.join(ROOT, 'test/fixtures/shared/apache-propfind-d0-allprop.http');
const FOREIGN = 'urn:example:not-caldav';

function fold(line: string): string {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += 74) out.push(line.slice(i, i + 74));
  return out.join('\r\n ');
}

function eventText(i: number): string {
  const day = String(1 + (i % 28)).padStart(2, '0');
  const month = String(1 + (i % 12)).padStart(2, '0');
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//davtap//bench//EN',
    'BEGIN:VEVENT',
    `UID:event-${i}@bench.davtap.test`,
    'DTSTAMP:20240105T080000Z',
    `DTSTART;TZID=Europe/Berlin:2024${month}${day}T100000`,
    `DTEND;TZID=Europe/Berlin:2024${month}${day}T110000`,
    'RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10',
    `SUMMARY:Réunion ${i}`,
    fold(`DESCRIPTION:${'Ordre du jour: budget, feuille de route et rétrospective. '.repeat(3)}`),
    'ORGANIZER;CN="Zoë Ångström":mailto:zoe@example.com',
    'ATTENDEE;CN="Ada Lovelace";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ada@example.com',
    'BEGIN:VALARM',
    'ACTION:DISPLAY',
    'DESCRIPTION:Rappel',
    'TRIGGER:-PT15M',
    'END:VALARM',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

/** A Radicale-shaped calendar-query answer; `foreign`: calendar-data in a namespace no rule reads. */
export function calendarQuery(foreign: boolean): { body: string; payloadBytes: number } {
  const ns = foreign ? FOREIGN : 'urn:ietf:params:xml:ns:caldav';
  const parts = [`<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns="DAV:" xmlns:C="${ns}">`];
  let payloadBytes = 0;
  for (let i = 0; i < EVENTS; i++) {
    const data = eventText(i);
    payloadBytes += Buffer.byteLength(data);
    parts.push(`<response><href>/cal/event-${i}.ics</href><propstat><prop><getetag>"${i.toString(16)}"</getetag><C:calendar-data>${data}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>`);
  }
  parts.push('</multistatus>\n');
  return { body: parts.join(''), payloadBytes };
}

/** An Apache-style allprop listing without payloads (as in the analyzer bench). */
function listing(): string {
  const parts: string[] = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n'];
  for (let i = 0; i < LISTING; i++) {
    parts.push(
      `<D:response xmlns:lp1="DAV:"><D:href>/dav/big/file-${String(i).padStart(6, '0')}.txt</D:href><D:propstat><D:prop>` +
        `<lp1:resourcetype/><lp1:getcontentlength>${(i * 37) % 9000}</lp1:getcontentlength><lp1:getlastmodified>Sat, 21 Nov 2026 05:02:49 GMT</lp1:getlastmodified>` +
        `<lp1:getetag>"${(i * 7919).toString(16)}"</lp1:getetag><D:getcontenttype>text/plain</D:getcontenttype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`,
    );
  }
  parts.push('</D:multistatus>\n');
  return parts.join('');
}

interface Out {
  ms: number;
  findings: string[];
}

/** The child: MODE is 'file' (FILE analyzed once in 64 KiB writes), 'checker', or 'pair' (TREE a list of trees, FILE the listing: see pairedWorker). */
async function worker(tree: string, mode: string, file: string): Promise<void> {
  if (mode === 'pair') {
    await pairedWorker(tree.split(path.delimiter), file);
    return;
  }
  const { createAnalyzer } = (await import(pathToFileURL(path.join(tree, 'src/analysis/analyzer.ts')).href)) as typeof AnalyzerModule;
  const head = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'text/xml; charset=utf-8'], bodyForm: 'payload' as const };
  if (mode === 'file') {
    const body = readFileSync(file);
    // The request names calendar-data in the namespace the answer uses: the foreign body then
    // carries what was asked for too, and both runs do the same work but the payload checks
    // (asking for the CalDAV element and getting a foreign one would add an MS401 per response).
    const ns = body.subarray(0, 400).toString('latin1').includes(FOREIGN) ? FOREIGN : 'urn:ietf:params:xml:ns:caldav';
    const req = { method: 'REPORT', target: '/cal/', rawHeaders: ['Host', '127.0.0.1', 'Depth', '1'], body: Buffer.from(`<C:calendar-query xmlns:D="DAV:" xmlns:C="${ns}"><D:prop><D:getetag/><C:calendar-data/></D:prop></C:calendar-query>`) };
    const once = () => {
      const a = createAnalyzer(req, head);
      for (let at = 0; at < body.length; at += CHUNK) a.write(body.subarray(at, at + CHUNK));
      return a.end({ outcome: 'complete', closeKind: 'fin' });
    };
    once(); // warm-up: the first pass compiles
    const t0 = process.hrtime.bigint();
    const result = once();
    const out: Out = { ms: Number(process.hrtime.bigint() - t0) / 1e6, findings: [...new Set(result.findings.map((f) => `${f.rule}:${f.severity}`))] };
    process.stdout.write(JSON.stringify(out));
    return;
  }
  if (mode === 'checker') {
    const { PayloadChecker } = (await import(pathToFileURL(path.join(tree, 'src/analysis/payload.ts')).href)) as typeof PayloadModule;
    const texts = Array.from({ length: EVENTS }, (_, i) => eventText(i));
    const pass = () => {
      let problems = 0;
      for (const t of texts) {
        const c = new PayloadChecker(false, 0, 1, false);
        c.write(t, 0, t.length, 0, Buffer.byteLength(t));
        problems += c.end().problems.length;
      }
      return problems;
    };
    pass();
    const t0 = process.hrtime.bigint();
    const problems = pass();
    const out: Out = { ms: Number(process.hrtime.bigint() - t0) / 1e6, findings: problems > 0 ? [`${problems} problems`] : [] };
    process.stdout.write(JSON.stringify(out));
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

interface Paired {
  /** Per tree: µs per analysis of the small 207 (medians of the rounds), ms per listing (median). */
  small: number[];
  list: number[];
  /** Per tree: the median over rounds of (this tree's time / the first tree's time in the same round), with its quartiles. */
  smallRatio: [number, number, number][];
  listRatio: [number, number, number][];
}

const SMALL_BATCH = 200;
const SMALL_ROUNDS = 300;
const LIST_ROUNDS = 30;

/**
 * Every tree's analyzer loaded into one process and run in turns, batch after batch, the order
 * rotating each round: the machine's drift (a shared machine's neighbours, CPU frequency) then
 * hits every tree alike, and the ratio of two trees within a round is steady where separate
 * processes' timings are not.
 */
async function pairedWorker(trees: string[], listFile: string): Promise<void> {
  const mods = await Promise.all(trees.map(async (t) => (await import(pathToFileURL(path.join(t, 'src/analysis/analyzer.js')).href)) as typeof AnalyzerModule));
  const raw = readFileSync(SMALL_FIXTURE);
  const sep = raw.indexOf('\r\n\r\n');
  const rawHeaders = raw
    .subarray(0, sep)
    .toString('latin1')
    .split('\r\n')
    .slice(1)
    .flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
  const small = raw.subarray(sep + 4);
  const listing = readFileSync(listFile);
  const smallReq = { method: 'PROPFIND', target: '/dav/cap/', rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '0'] };
  const listReq = { method: 'PROPFIND', target: '/dav/big/', rawHeaders: ['Host', '127.0.0.1', 'Depth', '1'] };
  const smallHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders, bodyForm: 'payload' as const };
  const listHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'text/xml; charset=utf-8'], bodyForm: 'payload' as const };
  const analyzeSmall = (m: typeof AnalyzerModule) => {
    const a = m.createAnalyzer(smallReq, smallHead);
    a.write(small);
    return a.end({ outcome: 'complete', closeKind: 'fin' });
  };
  const analyzeList = (m: typeof AnalyzerModule) => {
    const a = m.createAnalyzer(listReq, listHead);
    for (let at = 0; at < listing.length; at += CHUNK) a.write(listing.subarray(at, at + CHUNK));
    return a.end({ outcome: 'complete', closeKind: 'fin' });
  };
  const timed = (f: () => void) => {
    const t0 = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t0);
  };
  for (let i = 0; i < 2000; i++) for (const m of mods) analyzeSmall(m);
  for (const m of mods) analyzeList(m);
  const smallT = mods.map(() => [] as number[]);
  const listT = mods.map(() => [] as number[]);
  for (let r = 0; r < SMALL_ROUNDS; r++) {
    for (let j = 0; j < mods.length; j++) {
      const k = (r + j) % mods.length;
      smallT[k]!.push(timed(() => { for (let i = 0; i < SMALL_BATCH; i++) analyzeSmall(mods[k]!); }) / 1e3 / SMALL_BATCH);
    }
  }
  for (let r = 0; r < LIST_ROUNDS; r++) {
    for (let j = 0; j < mods.length; j++) {
      const k = (r + j) % mods.length;
      listT[k]!.push(timed(() => analyzeList(mods[k]!)) / 1e6);
    }
  }
  const quartiles = (xs: number[]): [number, number, number] => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (q: number) => s[Math.round(q * (s.length - 1))]!;
    return [at(0.25), at(0.5), at(0.75)];
  };
  const ratios = (t: number[][]) => t.map((xs) => quartiles(xs.map((x, i) => x / t[0]![i]!)));
  const out: Paired = { small: smallT.map((xs) => quartiles(xs)[1]), list: listT.map((xs) => quartiles(xs)[1]), smallRatio: ratios(smallT), listRatio: ratios(listT) };
  process.stdout.write(JSON.stringify(out));
}

function child(tree: string, mode: string, file: string): Out {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--worker', tree, mode, file], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`payload bench worker (${mode}, ${tree}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Out;
}

/**
 * The analyzer of `tree` compiled by the project's tsc with the build's settings into `out`, as
 * davtap runs it: under tsx the same source ran up to 15% slower, and not by the same amount for
 * every tree. Returns `out`, where src/analysis/analyzer.js then is.
 */
function compileAnalyzer(tree: string, out: string): string {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const options = ['--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--lib', 'ES2023', '--types', 'node', '--skipLibCheck', '--esModuleInterop', '--resolveJsonModule'];
  // Type errors do not matter here (an older tree against newer type packages): tsc emits anyway.
  spawnSync(process.execPath, [tsc, ...options, '--rootDir', tree, '--outDir', out, path.join(tree, 'src', 'analysis', 'analyzer.ts')], { cwd: tree, encoding: 'utf8' });
  if (!existsSync(path.join(out, 'src', 'analysis', 'analyzer.js'))) throw new Error(`could not compile the analyzer of ${tree}`);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'));
  writeFileSync(path.join(out, 'package.json'), readFileSync(path.join(ROOT, 'package.json')));
  return out;
}

/** `src/` of a commit, extracted next to the bench's temp files, runnable by the worker. */
function extract(dir: string, name: string, commit: string): string {
  const tree = path.join(dir, name);
  execFileSync('sh', ['-c', `mkdir -p "${tree}" && git -C "${ROOT}" archive "${commit}" src | tar -x -C "${tree}"`]);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  writeFileSync(path.join(tree, 'package.json'), readFileSync(path.join(ROOT, 'package.json')));
  return tree;
}

/**
 * The trees just before and just after the payload checks landed: the one change between them is
 * the checks, so the two isolate their cost on a 207 without payloads (the current tree also
 * carries everything that landed since).
 */
function treesAround(dir: string): { before: { tree: string; commit: string }; landed: { tree: string; commit: string } } | undefined {
  try {
    const landed = execFileSync('git', ['-C', ROOT, 'log', '--format=%H', '-1', '--grep=^Payload checks inside 207s'], { encoding: 'utf8' }).trim();
    if (landed === '') return undefined;
    const parent = execFileSync('git', ['-C', ROOT, 'rev-parse', `${landed}^`], { encoding: 'utf8' }).trim();
    return {
      before: { tree: extract(dir, 'before', parent), commit: parent.slice(0, 7) },
      landed: { tree: extract(dir, 'landed', landed), commit: landed.slice(0, 7) },
    };
  } catch {
    return undefined;
  }
}

const best = (xs: number[]): number => Math.min(...xs);

export async function run(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-payload-bench-'));
  try {
    const checked = calendarQuery(false);
    const foreign = calendarQuery(true);
    const calFile = path.join(dir, 'calendar-query.xml');
    const foreignFile = path.join(dir, 'calendar-query-foreign.xml');
    const listFile = path.join(dir, 'listing.xml');
    writeFileSync(calFile, checked.body);
    writeFileSync(foreignFile, foreign.body);
    writeFileSync(listFile, listing());
    const bodyMB = Buffer.byteLength(checked.body) / 1e6;
    const payloadMB = checked.payloadBytes / 1e6;

    const withChecks: number[] = [];
    const without: number[] = [];
    const alone: number[] = [];
    let findings: string[] = [];
    for (let r = 0; r < RUNS; r++) {
      const w = child(ROOT, 'file', calFile);
      findings = w.findings;
      withChecks.push(w.ms);
      without.push(child(ROOT, 'file', foreignFile).ms);
      alone.push(child(ROOT, 'checker', calFile).ms);
    }
    const tWith = best(withChecks);
    const tWithout = best(without);
    const tAlone = best(alone);
    const added = Math.max(tWith - tWithout, 0.001);

    const around = treesAround(dir);
    const ab: { label: string; tree: string }[] = [
      ...(around
        ? [
            { label: `before the checks (${around.before.commit})`, tree: around.before.tree },
            { label: `the checks landed (${around.landed.commit})`, tree: around.landed.tree },
          ]
        : []),
      { label: 'current tree', tree: ROOT },
    ];
    const compiled = ab.map((side, k) => compileAnalyzer(side.tree, path.join(dir, `compiled-${k}`)));
    const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--worker', compiled.join(path.delimiter), 'pair', listFile], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`payload bench paired worker failed: ${r.stderr}`);
    const paired = JSON.parse(r.stdout) as Paired;
    const listMB = Buffer.byteLength(readFileSync(listFile)) / 1e6;

    const load = loadavg().map((x) => x.toFixed(1)).join(', ');
    const lines = [
      `A calendar-query 207 of ${EVENTS.toLocaleString('en')} events (${fixed(bodyMB, 1)} MB, of which ${fixed(payloadMB, 1)} MB calendar-data: RRULE, ORGANIZER/ATTENDEE, VALARM,`,
      'a description folded at 75 octets, CRLF) analyzed once after a warm-up pass, in 64 KiB writes, in a child process; best of',
      `${RUNS}. 'no payload read' is the same body with calendar-data in a foreign namespace (no payload is checked): the difference`,
      "is the payload checks' cost, and calendar-data MB / that difference their throughput. 'checker alone' runs",
      'src/analysis/payload.ts on the same payload texts, outside the XML pass.',
      `Load average at the end of the run: ${load} (on a shared machine, compare the columns of one run, not runs).`,
      '',
      table(
        ['body', 'with payload checks', 'no payload read', 'added by the checks', 'calendar-data through the checks', 'checker alone', 'findings'],
        [
          [
            `${EVENTS.toLocaleString('en')} events`,
            `${fixed(tWith, 0)} ms (${fixed(bodyMB / (tWith / 1000), 1)} MB/s)`,
            `${fixed(tWithout, 0)} ms`,
            `${fixed(added, 0)} ms (${fixed((added / tWithout) * 100, 0)} %)`,
            `${fixed(payloadMB / (added / 1000), 0)} MB/s`,
            `${fixed(tAlone, 0)} ms (${fixed(payloadMB / (tAlone / 1000), 0)} MB/s)`,
            findings.length > 0 ? findings.join(' ') : 'none',
          ],
        ],
      ),
      '',
      '### A 207 without payloads: before and after the payload checks',
      '',
      around
        ? `The tree just before the payload checks (${around.before.commit}), the commit that added them (${around.landed.commit}; the difference between these two is the checks alone) and the current tree, each its src/ from \`git archive\`.`
        : 'The trees around the payload checks could not be extracted (no git history): the current tree only.',
      `All trees' analyzers, compiled by tsc with the build's settings, are loaded into one child process and run in turns, the order rotating each round, so that the shared machine's drift hits them alike; the ratio column compares each tree with the first one within the same round (median over rounds, quartiles in brackets).`,
      `'small' is the analyzer bench's fixed-cost case (${path.relative(ROOT, SMALL_FIXTURE)}): ${SMALL_ROUNDS} rounds of ${SMALL_BATCH} analyses per tree after 2,000 warm-up; µs per analysis, median of the rounds.`,
      `'listing' a ${LISTING.toLocaleString('en')}-response Apache-style PROPFIND answer (${fixed(listMB, 1)} MB) analyzed ${LIST_ROUNDS} times per tree after a warm-up pass, median.`,
      '',
      table(
        ['tree', 'small 207', 'small / first tree', 'listing', 'listing MB/s', 'listing / first tree'],
        ab.map((side, k) => {
          const q = (x: [number, number, number]) => `${fixed(x[1], 3)} (${fixed(x[0], 2)}–${fixed(x[2], 2)})`;
          return [side.label, `${fixed(paired.small[k]!, 1)} µs`, q(paired.smallRatio[k]!), `${fixed(paired.list[k]!, 0)} ms`, fixed(listMB / (paired.list[k]! / 1000), 1), q(paired.listRatio[k]!)];
        }),
      ),
      '',
      `\`payload: small 207 current/before=${fixed(paired.smallRatio[ab.length - 1]![1], 3)} listing current/before=${fixed(paired.listRatio[ab.length - 1]![1], 3)} (target: none measurable)\``,
    ];
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--worker') {
  await worker(process.argv[3]!, process.argv[4]!, process.argv[5]!);
}
