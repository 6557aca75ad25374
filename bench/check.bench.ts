// `davtap check` at scale, through the built CLI as a child process: a 100,000-response 207
// (about 54 MB) and a 1 GB one (about 2 million responses), both raw chunked captures from
// bench/lib/big-207.ts written into the temp directory and deleted after. Wall time from spawn
// to exit (Node's start-up included), peak RSS from GNU time. --json writes the whole document
// (every resource of the ledger) to a file; the 100k one is parsed back to prove it valid. The
// human report (no ledger printed) runs interleaved with it, as the peer that shows what the JSON
// ledger costs, and so does the analyzer alone (a child feeding the same file to createAnalyzer
// with the ledger discarded, Node's start-up included): check/core is the ratio to read on a
// loaded machine. BENCH_CHECK_GB sets the large input's size (default 1), BENCH_CHECK_ROUNDS the
// rounds on the 100k input (default 3, best kept). `xmllint --stream --noout` on the same 100k
// document (dechunked) runs interleaved too, as this machine's yardstick: a streaming C parser
// that checks well-formedness only, so the MB/s target can be read against what the cores give.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBig207 } from './lib/big-207.js';
import { fixed, table } from './lib/table.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'davtap');
const GB = Number(process.env.BENCH_CHECK_GB ?? 1);
const ROUNDS = Number(process.env.BENCH_CHECK_ROUNDS ?? 3);
const TARGET_MBS = 80;
const TARGET_RSS_MB = 150;

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakMB: number;
  exit: number;
}

/**
 * The peer child: the built analyzer alone over FILE in 64 KiB writes, ledger discarded (ES module
 * text run with `node --input-type=module -e`, importing dist/ like bin/davtap does).
 */
const CORE = `
import { openSync, readSync } from 'node:fs';
import { createAnalyzer } from './dist/src/analysis/analyzer.js';
import { parseRawResponse } from './dist/src/readers/raw.js';
const file = process.argv[1];
const fd = openSync(file, 'r');
const buf = Buffer.allocUnsafe(1024 * 1024);
let at = readSync(fd, buf, 0, buf.length, 0);
const { body, ...head } = parseRawResponse(buf.subarray(0, at), file);
const a = createAnalyzer({ method: '', target: '', rawHeaders: [] }, head, { maxResponses: Number.MAX_SAFE_INTEGER, maxBodyBytes: Number.MAX_SAFE_INTEGER }, { onResource() {} });
for (let i = 0; i < body.length; i += 65536) a.write(body.subarray(i, Math.min(body.length, i + 65536)));
for (let n; (n = readSync(fd, buf, 0, buf.length, at)) > 0; at += n) for (let i = 0; i < n; i += 65536) a.write(buf.subarray(i, Math.min(n, i + 65536)));
process.stdout.write(a.end({ outcome: 'complete' }).summary.text + '\\n');
`;

/** The body of a chunked raw response (as bench/lib/big-207.ts writes it), as a plain XML file. */
function dechunk(raw: string, xml: string): void {
  const bytes = readFileSync(raw);
  const parts: Buffer[] = [];
  let at = bytes.indexOf('\r\n\r\n') + 4;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    const size = parseInt(bytes.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  writeFileSync(xml, Buffer.concat(parts));
}

/** One `davtap check` child (or, with `json` 'core', the analyzer alone; 'xmllint', xmllint on an XML file) under GNU time; stdout goes to `out`. */
function checkOnce(file: string, json: boolean | 'core' | 'xmllint', out: string): Run {
  const command =
    json === 'core' ? [process.execPath, '--input-type=module', '-e', CORE, file] : json === 'xmllint' ? ['xmllint', '--stream', '--noout', file] : [process.execPath, BIN, 'check', ...(json ? ['--json'] : []), file];
  const args = ['-f', '%e %U %S %M', '-o', `${out}.time`, 'sh', '-c', `exec "$0" "$@" > "${out}"`, ...command];
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', cwd: ROOT });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  const [, user, sys, kib] = readFileSync(`${out}.time`, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  // Exit 1 is a finding at --fail-on (none at the default 'error' here); 2 would be a failure.
  if (r.status !== 0 && r.status !== 1) throw new Error(`${command[0] === 'xmllint' ? 'xmllint' : 'davtap check'} exited ${r.status}: ${r.stderr.slice(0, 400)}`);
  return { seconds, cpuSeconds: user! + sys!, peakMB: kib! / 1024, exit: r.status };
}

const mbps = (bytes: number, s: number) => bytes / 1e6 / s;
const best = (runs: Run[]) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

export async function run(): Promise<string> {
  if (!statSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), { throwIfNoEntry: false })) throw new Error('run `npm run build` first: the bench runs bin/davtap');
  const dir = mkdtempSync(path.join(tmpdir(), 'davtap-check-bench-'));
  try {
    const small = path.join(dir, 'listing-100k.http');
    const s = await writeBig207(small, { responses: 100_000 });
    const json100k: Run[] = [];
    const text100k: Run[] = [];
    const core100k: Run[] = [];
    const xmllint100k: Run[] = [];
    const smallXml = path.join(dir, 'listing-100k.xml');
    dechunk(small, smallXml);
    const haveXmllint = spawnSync('xmllint', ['--version']).status === 0;
    for (let i = 0; i < ROUNDS; i++) {
      json100k.push(checkOnce(small, true, path.join(dir, 'out.json')));
      text100k.push(checkOnce(small, false, path.join(dir, 'out.txt')));
      core100k.push(checkOnce(small, 'core', path.join(dir, 'out.core')));
      if (haveXmllint) xmllint100k.push(checkOnce(smallXml, 'xmllint', path.join(dir, 'out.xmllint')));
    }
    const xmlBytes = statSync(smallXml).size;
    rmSync(smallXml);
    // The document must be valid JSON, with the whole ledger and capped evidence.
    const doc = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')) as { results: { resources: unknown[]; findings: { evidence: { evidenceCount?: Record<string, number> } }[] }[] };
    const result = doc.results[0]!;
    if (result.resources.length !== s.responses) throw new Error(`--json listed ${result.resources.length} of ${s.responses} resources`);
    const capped = result.findings.filter((f) => f.evidence.evidenceCount !== undefined).length;
    rmSync(path.join(dir, 'out.json'));

    const large = path.join(dir, 'listing-1g.http');
    const l = await writeBig207(large, { bytes: GB * 1024 ** 3 });
    const jsonLarge = checkOnce(large, true, '/dev/null');
    rmSync(large);
    const load = loadavg()[0] ?? NaN;

    const j = best(json100k);
    const t = best(text100k);
    const c = best(core100k);
    const peak = Math.max(...json100k.map((r) => r.peakMB), ...text100k.map((r) => r.peakMB), jsonLarge.peakMB);
    const rows = [
      [`100k responses (${fixed(s.bytes / 1e6, 1)} MB), --json`, `${fixed(j.seconds, 2)} s`, fixed(mbps(s.bytes, j.seconds), 1), fixed(mbps(s.bytes, j.cpuSeconds), 1), `${fixed(j.peakMB, 1)} MB`],
      [`100k responses, human report (peer)`, `${fixed(t.seconds, 2)} s`, fixed(mbps(s.bytes, t.seconds), 1), fixed(mbps(s.bytes, t.cpuSeconds), 1), `${fixed(t.peakMB, 1)} MB`],
      [`100k responses, analyzer alone (peer)`, `${fixed(c.seconds, 2)} s`, fixed(mbps(s.bytes, c.seconds), 1), fixed(mbps(s.bytes, c.cpuSeconds), 1), `${fixed(c.peakMB, 1)} MB`],
      ...(xmllint100k.length > 0
        ? [[`100k responses, xmllint --stream --noout (yardstick; ${fixed(xmlBytes / 1e6, 1)} MB of XML)`, `${fixed(best(xmllint100k).seconds, 2)} s`, fixed(mbps(xmlBytes, best(xmllint100k).seconds), 1), fixed(mbps(xmlBytes, best(xmllint100k).cpuSeconds), 1), `${fixed(best(xmllint100k).peakMB, 1)} MB`]]
        : []),
      [`${fixed(l.responses / 1e6, 2)}M responses (${fixed(l.bytes / 1e6, 0)} MB), --json`, `${fixed(jsonLarge.seconds, 1)} s`, fixed(mbps(l.bytes, jsonLarge.seconds), 1), fixed(mbps(l.bytes, jsonLarge.cpuSeconds), 1), `${fixed(jsonLarge.peakMB, 1)} MB`],
    ];
    const line = `analyzer: 100k=${fixed(mbps(s.bytes, j.seconds), 0)} MB/s 1GB=${fixed(mbps(l.bytes, jsonLarge.seconds), 0)} MB/s, peak ${fixed(peak, 0)} MB (target ≥ ${TARGET_MBS} MB/s, ≤ ${TARGET_RSS_MB} MB); check/core=${fixed(c.seconds / j.seconds, 2)}${xmllint100k.length > 0 ? ` check/xmllint=${fixed(best(xmllint100k).seconds / j.seconds, 2)}` : ''}`;
    process.stderr.write(`${line}\n`);
    return [
      '`davtap check` through the built CLI (child process, Node start-up included) on raw chunked 207s from',
      'bench/lib/big-207.ts (Apache-style allprop, ≈540 bytes per response, a 404 propstat on every 10th resource,',
      `a 403 on every 1,000th). Best of ${ROUNDS} interleaved rounds on the 100k input (its --json output parsed back:`,
      `${s.responses} resources listed, ${capped} findings with capped evidence); one run on the large input (--json to /dev/null).`,
      "MB/s (CPU) divides by the child's user + system time: on a shared machine the wall clock depends on the neighbours.",
      '',
      table(['input', 'wall', 'MB/s', 'MB/s (CPU)', 'peak RSS'], rows),
      '',
      `\`${line}\``,
      '',
      `1-minute load average at the end: ${fixed(load, 1)}.`,
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
