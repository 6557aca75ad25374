// `davtap check` streams: its memory does not grow with the input. A 20 MB listing (about 37,000
// responses) is checked by the built CLI in a child whose V8 heap is capped at 32 MB, well under
// what holding the ledger and the whole --json document would take (the ledger alone is ~650
// bytes of heap per resource, the document twice the input). The output must still be valid JSON
// listing every resource, with the evidence arrays capped and their full lengths counted.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBig207 } from '../../bench/lib/big-207.js';
import { DAVTAP_BIN } from '../helpers/davtap-process.js';

interface CheckJson {
  results: { resources: { href: string }[]; findings: { rule: string; evidence: Record<string, unknown> & { evidenceCount?: Record<string, number> } }[]; summary: { resources: number } }[];
}

test('check --json on a 20 MB 207 runs in a 32 MB heap, lists every resource and caps evidence arrays with their counts', async (t) => {
  t.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'davtap-check-bounded-'));
  try {
    const file = join(dir, 'listing.http');
    const made = await writeBig207(file, { bytes: 20 * 1024 * 1024 });
    t.true(made.responses > 30_000);
    const child = spawn(process.execPath, ['--max-old-space-size=32', DAVTAP_BIN, 'check', '--json', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += String(c)));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    t.is(code, 0, err.slice(0, 2000));
    const doc = JSON.parse(Buffer.concat(out).toString('utf8')) as CheckJson;
    const r = doc.results[0]!;
    t.is(r.resources.length, made.responses);
    t.is(r.summary.resources, made.responses);
    t.is(r.resources.at(-1)!.href, `/dav/big/file-${String(made.responses - 1).padStart(7, '0')}.txt`);
    const ms502 = r.findings.find((f) => f.rule === 'MS502');
    t.truthy(ms502);
    t.is((ms502!.evidence.matrix as unknown[]).length, 20, 'the matrix is cut to its first 20 cells');
    t.deepEqual(ms502!.evidence.evidenceCount, { matrix: 50 }, 'and says how many the finding carried');
    t.true(r.findings.some((f) => f.rule === 'MS501'), 'every 1,000th resource is a 403');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
