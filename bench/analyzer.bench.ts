// Analyzer throughput and memory: synthetic Apache-style multistatus bodies of 1,000 and 100,000
// responses (≈0.5 MB and ≈50 MB) fed to createAnalyzer in 64 KiB writes, each run in a child
// process so that its peak RSS is its own, compared in the same run with `xmllint --stream
// --noout` on the same file. Targets: ≥ 60 MB/s, within 3x of xmllint's time, peak RSS < 250 MB
// on the 50 MB body. Also the fixed cost per response: a small Apache PROPFIND 207 (858 bytes)
// analyzed again and again, as a proxy does for every small answer it relays.
//
// The same file is the child: `node --import tsx bench/analyzer.bench.ts --worker FILE`.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixed, mib, table } from './lib/table.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const CHUNK = 64 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = [1_000, 100_000];
const TARGET_MBPS = 60;
const TARGET_RATIO = 3;
const TARGET_RSS_KIB = 250 * 1024;
const SMALL_FIXTURE = path.join(ROOT, 'test/fixtures/shared/apache-propfind-d0-allprop.http');
const SMALL_WARMUP = 3000;
const SMALL_ROUNDS = 7;
const SMALL_PER_ROUND = 5000;
const ALLPROP_BODY = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n';

interface SmallResult {
  bodyBytes: number;
  /** Median of the rounds, microseconds per analysis (createAnalyzer, write, end). */
  analysisUs: number;
  /** The same with the request's body (an allprop PROPFIND, as clients send it) to read too. */
  withRequestBodyUs: number;
  /** Median of the rounds, microseconds per createAnalyzer alone (analyzers never ended). */
  setupUs: number;
  findings: string[];
}

interface WorkerResult {
  ms: number;
  bytes: number;
  resources: number;
  findings: string[];
  maxRssKiB: number;
}

/** About 500 bytes per response, shaped like Apache mod_dav's allprop answer. */
function syntheticBody(responses: number): string {
  const parts: string[] = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">\n'];
  for (let i = 0; i < responses; i++) {
    const href = i === 0 ? '/dav/big/' : `/dav/big/file-${String(i).padStart(6, '0')}.txt`;
    parts.push(
      `<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">\n<D:href>${href}</D:href>\n<D:propstat>\n<D:prop>\n` +
        (i === 0 ? '<lp1:resourcetype><D:collection/></lp1:resourcetype>\n' : `<lp1:resourcetype/>\n<lp1:getcontentlength>${(i * 37) % 9000}</lp1:getcontentlength>\n`) +
        `<lp1:creationdate>2026-11-21T05:02:49Z</lp1:creationdate>\n<lp1:getlastmodified>Sat, 21 Nov 2026 05:02:49 GMT</lp1:getlastmodified>\n` +
        `<lp1:getetag>"${(i * 7919).toString(16)}-660c2620c6273"</lp1:getetag>\n<D:getcontenttype>text/plain</D:getcontenttype>\n` +
        `<D:lockdiscovery/>\n</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n`,
    );
  }
  parts.push('</D:multistatus>\n');
  return parts.join('');
}

/** The child: feed FILE in 64 KiB writes from one reused buffer, report time and peak RSS. */
async function worker(file: string): Promise<void> {
  const { createAnalyzer } = await import('../src/analysis/analyzer.js');
  const req = { method: 'PROPFIND', target: '/dav/big/', rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '1'] };
  const head = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml; charset=utf-8'], bodyForm: 'payload' as const };
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const a = createAnalyzer(req, head);
  for (let guard = 0; guard < 1e7; guard++) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) break;
    bytes += n;
    a.write(buf.subarray(0, n));
  }
  const result = a.end({ outcome: 'complete', closeKind: 'fin' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(fd);
  const out: WorkerResult = { ms, bytes, resources: result.resources.length, findings: result.findings.map((f) => `${f.rule}:${f.severity}`), maxRssKiB: process.resourceUsage().maxRSS };
  process.stdout.write(JSON.stringify(out));
}

/** The small case: one captured 207 analyzed SMALL_ROUNDS x SMALL_PER_ROUND times after a warm-up. */
async function smallWorker(file: string): Promise<void> {
  const { createAnalyzer } = await import('../src/analysis/analyzer.js');
  const raw = readFileSync(file);
  const sep = raw.indexOf('\r\n\r\n');
  const lines = raw.subarray(0, sep).toString('latin1').split('\r\n');
  const rawHeaders = lines.slice(1).flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
  const body = raw.subarray(sep + 4);
  const req = { method: 'PROPFIND', target: '/dav/cap/', rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '0'] };
  const head = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders, bodyForm: 'payload' as const };
  const reqWithBody = { ...req, rawHeaders: [...req.rawHeaders, 'Content-Type', 'application/xml; charset=utf-8'], body: Buffer.from(ALLPROP_BODY) };
  const once = (r: typeof req = req) => {
    const a = createAnalyzer(r, head);
    a.write(body);
    return a.end({ outcome: 'complete', closeKind: 'fin' });
  };
  const findings = once().findings.map((f) => `${f.rule}:${f.severity}`);
  for (let i = 0; i < SMALL_WARMUP; i++) once();
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  const timeRounds = (fn: () => unknown): number =>
    median(
      Array.from({ length: SMALL_ROUNDS }, () => {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < SMALL_PER_ROUND; i++) fn();
        return Number(process.hrtime.bigint() - t0) / 1e3 / SMALL_PER_ROUND;
      }),
    );
  const analysisUs = timeRounds(once);
  for (let i = 0; i < SMALL_WARMUP; i++) once(reqWithBody);
  const withRequestBodyUs = timeRounds(() => once(reqWithBody));
  const setupUs = timeRounds(() => createAnalyzer(req, head));
  const out: SmallResult = { bodyBytes: body.length, analysisUs, withRequestBodyUs, setupUs, findings };
  process.stdout.write(JSON.stringify(out));
}

function runSmall(): SmallResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--small', SMALL_FIXTURE], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`analyzer small worker failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as SmallResult;
}

/** The floor: saxes alone (namespaces and positions on, no handlers doing work) on the same file. */
async function bareWorker(file: string): Promise<void> {
  const { SaxesParser } = await import('saxes');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  const decoder = new TextDecoder();
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const p = new SaxesParser({ xmlns: true, position: true });
  let elements = 0;
  p.on('opentag', () => {
    elements++;
  });
  p.on('text', () => {});
  p.on('closetag', () => {});
  for (let guard = 0; guard < 1e7; guard++) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) break;
    bytes += n;
    p.write(decoder.decode(buf.subarray(0, n), { stream: true }));
  }
  p.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(fd);
  const out: WorkerResult = { ms, bytes, resources: elements, findings: [], maxRssKiB: process.resourceUsage().maxRSS };
  process.stdout.write(JSON.stringify(out));
}

/**
 * The analyzer's XML reader alone (its tokenizer; saxes only from a first doubt, none here) with
 * handlers that do nothing, on text decoded as for 'saxes alone': what the scan and rules add
 * on top of it is the rest of the davtap column.
 */
async function tokenizerWorker(file: string): Promise<void> {
  const { XmlReader } = await import('../src/analysis/xml-reader.js');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  const decoder = new TextDecoder();
  let bytes = 0;
  let elements = 0;
  const t0 = process.hrtime.bigint();
  const reader = new XmlReader({
    onOpen() {
      elements++;
    },
    onClose() {},
    onText() {},
    onDoctype() {},
    onPI() {},
    onError() {},
  });
  for (let guard = 0; guard < 1e7; guard++) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) break;
    const text = decoder.decode(buf.subarray(0, n), { stream: true });
    reader.write(text, bytes, text.length === n);
    bytes += n;
  }
  reader.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(fd);
  if (reader.handedOver) throw new Error('the tokenizer handed the synthetic body over to saxes');
  const out: WorkerResult = { ms, bytes, resources: elements, findings: [], maxRssKiB: process.resourceUsage().maxRSS };
  process.stdout.write(JSON.stringify(out));
}

function runWorker(file: string, mode: '--worker' | '--bare' | '--tokenizer' = '--worker'): WorkerResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, mode, file], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`analyzer worker failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as WorkerResult;
}

function runXmllint(file: string): { ms: number; maxRssKiB: number } | undefined {
  // GNU time reports the child's peak RSS; the wall time is taken around it here.
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'xmllint', '--stream', '--noout', file], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0) return undefined;
  const rss = Number(/(\d+)\s*$/.exec(r.stderr.trim())?.[1]);
  return { ms, maxRssKiB: rss };
}

const best = <T extends { ms: number }>(xs: T[]): T => xs.reduce((a, b) => (b.ms < a.ms ? b : a));

export async function run(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-bench-analyzer-'));
  try {
    const rows: (string | number)[][] = [];
    const verdicts: string[] = [];
    for (const n of SIZES) {
      const file = path.join(dir, `multistatus-${n}.xml`);
      writeFileSync(file, syntheticBody(n));
      const size = statSync(file).size;
      const ours = best(Array.from({ length: RUNS }, () => runWorker(file)));
      const floor = best(Array.from({ length: RUNS }, () => runWorker(file, '--bare')));
      const reader = best(Array.from({ length: RUNS }, () => runWorker(file, '--tokenizer')));
      const lint = Array.from({ length: RUNS }, () => runXmllint(file)).filter((x): x is NonNullable<typeof x> => x !== undefined);
      const theirs = lint.length > 0 ? best(lint) : undefined;
      const mbps = size / 1e6 / (ours.ms / 1000);
      const ratio = theirs ? ours.ms / theirs.ms : NaN;
      if (ours.resources !== n) throw new Error(`analyzer saw ${ours.resources} of ${n} responses`);
      rows.push([
        `${n.toLocaleString('en-US')} responses`,
        `${fixed(size / 1e6, 1)} MB`,
        `${fixed(ours.ms, 0)} ms`,
        fixed(mbps, 1),
        `${fixed(reader.ms, 0)} ms (${fixed(size / 1e6 / (reader.ms / 1000), 1)} MB/s)`,
        `${fixed(floor.ms, 0)} ms (${fixed(size / 1e6 / (floor.ms / 1000), 1)} MB/s)`,
        mib(ours.maxRssKiB),
        theirs ? `${fixed(theirs.ms, 0)} ms` : 'n/a',
        theirs ? mib(theirs.maxRssKiB) : 'n/a',
        fixed(ratio, 2),
        ours.findings.join(' ') || 'none',
      ]);
      if (n === SIZES[SIZES.length - 1]) {
        verdicts.push(`- throughput ${fixed(mbps, 1)} MB/s (target ≥ ${TARGET_MBPS}): ${mbps >= TARGET_MBPS ? 'met' : 'NOT met'}`);
        verdicts.push(`- time ${fixed(ratio, 2)}x xmllint --stream (target ≤ ${TARGET_RATIO}x): ${ratio <= TARGET_RATIO ? 'met' : Number.isNaN(ratio) ? 'xmllint unavailable' : 'NOT met'}`);
        verdicts.push(`- peak RSS ${mib(ours.maxRssKiB)} (target < ${mib(TARGET_RSS_KIB)}): ${ours.maxRssKiB < TARGET_RSS_KIB ? 'met' : 'NOT met'}`);
      }
    }
    const small = Array.from({ length: RUNS }, runSmall).reduce((a, b) => (b.analysisUs < a.analysisUs ? b : a));
    return [
      '### Analyzer fixed cost per response',
      '',
      `\`${path.relative(ROOT, SMALL_FIXTURE)}\` (${small.bodyBytes}-byte body, payload form) analyzed`,
      `${SMALL_ROUNDS} x ${SMALL_PER_ROUND.toLocaleString('en-US')} times after ${SMALL_WARMUP.toLocaleString('en-US')} warm-up analyses, in a child process; median round, best of ${RUNS}.`,
      "The request is a PROPFIND Depth 0 without a body, then with an allprop body. 'setup' is createAnalyzer alone, the analyzers never ended.",
      '',
      table(
        ['body', 'analysis (create, write, end)', 'analyses/s', 'same, request body read too', 'setup', 'findings'],
        [
          [
            `${small.bodyBytes} bytes`,
            `${fixed(small.analysisUs, 1)} µs`,
            fixed(1e6 / small.analysisUs, 0),
            `${fixed(small.withRequestBodyUs, 1)} µs`,
            `${fixed(small.setupUs, 1)} µs`,
            small.findings.join(' ') || 'none',
          ],
        ],
      ),
      '',
      '### Analyzer throughput and memory',
      '',
      `Synthetic Apache-style multistatus bodies (allprop, ≈500 bytes per response) fed to \`createAnalyzer\` in`,
      `${CHUNK / 1024} KiB writes from one reused buffer, in a child process (\`node --import tsx\`, peak RSS of that`,
      `process, analyzer and ledger included); best of ${RUNS}. xmllint: \`xmllint --stream --noout\` on the same`,
      "file (wall time including its start-up; peak RSS from GNU time). 'tokenizer alone' is the analyzer's XML reader",
      '(src/analysis/xml-reader.ts: the tokenizer, handing over to saxes at a first doubt) with handlers that do nothing;',
      "'saxes alone' is the parser with no analysis (namespaces and positions on), the floor of the former saxes-based",
      'analyzer. Both read text decoded by a TextDecoder, each in its own child process.',
      '',
      table(['body', 'size', 'davtap', 'MB/s', 'tokenizer alone', 'saxes alone', 'davtap peak RSS', 'xmllint', 'xmllint peak RSS', 'davtap/xmllint', 'findings'], rows),
      '',
      'On the 50 MB body:',
      ...verdicts,
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[3] !== undefined && process.argv[1] !== undefined && path.resolve(process.argv[1]) === SELF) {
  if (process.argv[2] === '--worker') await worker(process.argv[3]);
  else if (process.argv[2] === '--bare') await bareWorker(process.argv[3]);
  else if (process.argv[2] === '--tokenizer') await tokenizerWorker(process.argv[3]);
  else if (process.argv[2] === '--small') await smallWorker(process.argv[3]);
}
