// Credentials through the whole of davtap: a real proxy run records them, and neither its --no-ui
// flow lines nor any export shows them, unless asked to (--show-secrets, --no-redact).
import test from 'ava';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { exportEveryFormat, leaks, recordThroughProxy, SECRETS, secretValues, startSecretOrigin } from '../helpers/redaction-probe.js';
import { tempDir } from '../store/temp.js';

test('--no-ui flow lines mask a ?token= and a ;jsessionid= in the path; --show-secrets shows them', async (t) => {
  const origin = await startSecretOrigin();
  t.teardown(() => origin.close());
  const masked = await recordThroughProxy(origin, tempDir(t));
  const lines = masked.lines.split('\n').filter(Boolean);
  t.is(lines.length, 2, masked.lines);
  t.regex(lines[0]!, /PROPFIND {2}207 {2}\/dav\/\?token=%5Bredacted%5D /);
  t.regex(lines[1]!, /GET {2}200 {2}\/dav\/file\.txt;jsessionid=%5Bredacted%5D /);
  t.deepEqual(leaks([['flow lines', masked.lines], ['stderr', masked.stderr]]), []);

  const shown = await recordThroughProxy(origin, tempDir(t), ['--show-secrets']);
  t.true(shown.lines.includes(`/dav/?token=${SECRETS.query}`), shown.lines);
  t.true(shown.lines.includes(`;jsessionid=${SECRETS.session}`), shown.lines);
});

test('exports of a real recording hold no credential in any file, findings included; --no-redact keeps every one', async (t) => {
  const origin = await startSecretOrigin();
  t.teardown(() => origin.close());
  const dir = tempDir(t);
  const { db } = await recordThroughProxy(origin, dir);
  const redacted = await exportEveryFormat(db, dir);
  t.true(redacted.size >= 8, [...redacted.keys()].join(' '));
  t.deepEqual(leaks(redacted), []);
  // The analyzer did quote the Location (MS210): the redaction above had a finding text to cover.
  const findings = redacted.get('flows.jsonl')!.split('\n').filter(Boolean).flatMap((l) => (JSON.parse(l) as { findings: { rule: string; message: string }[] }).findings);
  t.regex(findings.find((f) => f.rule === 'MS210')?.message ?? '', /Location header on a 207 \(http:\/\/files\.example\/dav\/\?token=%5Bredacted%5D\)/);

  const kept = await exportEveryFormat(db, dir, ['--no-redact']);
  const all = [...kept.values()].join('\n');
  for (const s of secretValues) t.true(all.includes(s), `${s} recorded and exported with --no-redact`);
});

test('proxy and ui document --show-secrets in their --help', async (t) => {
  for (const command of ['proxy', 'ui']) {
    let out = '';
    const sink = new Writable({ write(c, _e, cb) { out += String(c); cb(); } });
    t.is(await main([command, '--help'], { stdout: sink, stderr: sink, env: {}, cwd: process.cwd() }), 0);
    t.regex(out, /--show-secrets\s+show credentials as recorded/, command);
  }
});
