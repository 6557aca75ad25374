// Hostile probe: do credentials leak out of davtap?
//
//   node --import tsx bench/hostile/redaction.ts
//
// Runs the real CLI (`davtap proxy --no-ui`, reverse mode) in front of an origin whose 207 carries a
// pre-signed `Location` (the analyzer's MS210 then quotes it in a finding), sends requests with an
// Authorization, an X-Api-Key, a `?token=`, a `;jsessionid=` and a cookie, then exports the
// recording with `davtap export` as HAR, report bundle and JSON lines.
//
// Prints `redaction=ok` (exit 0) when no secret appears in the --no-ui flow lines, the proxy's
// stderr, or any exported file, while the controls show the probe saw them: --show-secrets lines
// and a --no-redact export do carry them, and the MS210 finding was recorded.
// Otherwise prints `redaction=FAIL` and the reasons on stderr, and exits 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportEveryFormat, leaks, recordThroughProxy, SECRETS, secretValues, startSecretOrigin } from '../../test/helpers/redaction-probe.js';

const failures: string[] = [];
const expect = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

async function probe(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-redaction-'));
  const origin = await startSecretOrigin();
  try {
    const masked = await recordThroughProxy(origin, dir);
    expect(masked.lines.split('\n').filter(Boolean).length === 2, `expected 2 flow lines, got: ${JSON.stringify(masked.lines)}`);
    for (const leak of leaks([['--no-ui flow lines', masked.lines], ['proxy stderr', masked.stderr]])) failures.push(`leak in ${leak}`);

    const exported = await exportEveryFormat(masked.db, dir);
    for (const name of ['trace.har', 'flows.jsonl', 'bundle/report.md', 'bundle/findings.json']) expect(exported.has(name), `export wrote no ${name}`);
    for (const leak of leaks(exported)) failures.push(`leak in export ${leak}`);
    expect(/"rule":"MS210"[^}]*token=%5Bredacted%5D/.test(exported.get('flows.jsonl') ?? ''), 'no redacted MS210 finding in the JSON lines (the probe expects the analyzer to quote the Location)');

    // Controls: the secrets were there to leak.
    const kept = [...(await exportEveryFormat(masked.db, dir, ['--no-redact'])).values()].join('\n');
    for (const s of secretValues) expect(kept.includes(s), `control: ${s} missing from the --no-redact export (not recorded?)`);
    const shown = await recordThroughProxy(origin, fs.mkdtempSync(path.join(dir, 'shown-')), ['--show-secrets']);
    expect(shown.lines.includes(SECRETS.query), 'control: --show-secrets flow lines do not show the ?token= value');
  } finally {
    await origin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await probe();
} catch (err) {
  failures.push(`probe failed: ${err instanceof Error ? err.message : String(err)}`);
}
if (failures.length === 0) {
  process.stdout.write('redaction=ok\n');
} else {
  for (const f of failures) process.stderr.write(`${f}\n`);
  process.stdout.write('redaction=FAIL\n');
  process.exitCode = 1;
}
