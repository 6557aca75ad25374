// The precision run (bench/interop/litmus-parity.ts, `npm run precision`): litmus direct and
// through davtap on six real servers, and a python3-caldav + vdirsyncer session through davtap
// against Radicale and Xandikos. Every error or warning davtap raised must be on the run's reviewed
// list of true findings; every 207 must have been analyzed; every litmus test must end the same way
// through davtap as direct, and both client sessions must have got their objects back.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { runTool } from './clients.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../bench/interop/litmus-parity.ts', import.meta.url));

test('precision: litmus on six servers and a CalDAV/CardDAV client session raise no false alarm', async (t) => {
  t.timeout(15 * 60_000);
  const started = Date.now();
  const run = await runTool(process.execPath, ['--import', 'tsx', SCRIPT], { cwd: ROOT, timeoutMs: 14 * 60_000 });
  t.log(`precision run: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const out = run.stdout;
  const line = /^precision: flows=(\d+) 207s=(\d+) false-alarms=(\d+) unanalyzed=(\d+)$/m.exec(out);
  t.truthy(line, `no precision line in:\n${out}\n${run.stderr}`);
  if (!line) return;
  t.log(line[0]);
  const detail = out.split('\n').filter((l) => /false alarm|problem|differs|not run/.test(l)).join('\n');
  t.is(Number(line[3]), 0, detail);
  t.is(Number(line[4]), 0);
  // Litmus alone sends more than 1,500 requests over the six servers; the sessions add about 200.
  t.true(Number(line[1]) > 1_500, line[0]);
  t.true(Number(line[2]) > 200, line[0]);
  t.regex(out, /^parity: 12\/12 runs identical/m, detail);
  t.regex(out, /^sessions: 2\/2 CalDAV\/CardDAV client sessions whole$/m, detail);
  for (const server of ['radicale', 'xandikos']) {
    const session = new RegExp(`^session ${server} caldav: .*calendar-query [1-9]\\d*/.*calendar-multiget [1-9].*sync-collection [1-9].*addressbook-multiget [1-9]`, 'm');
    t.regex(out, session, `${server}'s session did not exercise the CalDAV/CardDAV reports`);
  }
  t.is(run.code, 0, detail);
});
