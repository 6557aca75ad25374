// `davtap flows`: the recorded flow list without the UI. A real davtap records real WebDAV traffic
// (one PROPFIND cut by the inject engine, so that it has findings); `davtap flows` then prints the
// same lines the proxy's --no-ui log printed, with the findings' rule ids, filtered and as JSON.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openReader } from '../../src/store/index.js';
import { curl } from '../helpers/curl.js';
import { DAVTAP_BIN, startDavtap, testConfigHome, withoutProxyEnv } from '../helpers/davtap-process.js';
import { startDavServer } from '../helpers/webdav.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

function flows(cwd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DAVTAP_BIN, 'flows', ...args],
      { cwd, env: { ...withoutProxyEnv(), XDG_CONFIG_HOME: testConfigHome() }, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, out, errText) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, out: String(out), err: String(errText) });
      },
    );
  });
}

interface Recorded {
  dir: string;
  db: string;
  /** What the proxy's --no-ui log printed, one line per flow. */
  liveLines: string[];
}

// One recording shared by the tests of this file (a proxy run costs seconds on a busy machine).
let recording: Promise<Recorded> | undefined;

async function record(): Promise<Recorded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-flows-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const dav = await startDavServer();
  try {
    const davtap = await startDavtap(
      ['--upstream', `${dav.url}/`, '--listen', '127.0.0.1:0', '--no-ui', '--db', 'flows.db', '--inject', 'truncate:bytes=120', '--inject-filter', '~m PROPFIND & ~u /dav/cut/'],
      { cwd: dir },
    );
    try {
      const requests = [
        ['-X', 'MKCOL', `${davtap.url}/dav/cal/`],
        ['-X', 'PUT', '--data-binary', 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', '-H', 'Content-Type: text/calendar', `${davtap.url}/dav/cal/event.ics`],
        ['-X', 'PROPFIND', '-H', 'Depth: 1', `${davtap.url}/dav/cal/`],
        ['-X', 'MKCOL', `${davtap.url}/dav/cut/`],
        ['-X', 'PUT', '--data-binary', 'x', `${davtap.url}/dav/cut/a.txt`],
        ['-X', 'PROPFIND', '-H', 'Depth: 1', `${davtap.url}/dav/cut/`],
        [`${davtap.url}/dav/missing.txt`],
      ];
      // One at a time: the log's order is then the database's.
      for (const args of requests) await curl(args);
      for (let i = 0; i < 400 && davtap.stdout().trim().split('\n').length < requests.length; i++) await new Promise((r) => setTimeout(r, 25));
    } finally {
      await davtap.stop();
    }
    return { dir, db: path.join(dir, 'flows.db'), liveLines: davtap.stdout().trim().split('\n') };
  } finally {
    await dav.close();
  }
}

const recorded = (t: ExecutionContext): Promise<Recorded> => {
  t.timeout(90_000);
  return (recording ??= record());
};

test('one line per recorded flow, oldest first: the --no-ui log line and the rule ids of its findings', async (t) => {
  const { dir, db, liveLines } = await recorded(t);
  t.is(liveLines.length, 7, liveLines.join('\n'));
  const r = await flows(dir, ['--db', db]);
  t.is(r.code, 0, r.err);
  t.is(r.err, '');
  const lines = r.out.trimEnd().split('\n');
  t.is(lines.length, 7, r.out);
  const store = openReader(db);
  t.teardown(() => store.close());
  const rows = store.listFlows({ order: 'asc' });
  lines.forEach((line, i) => {
    // The stored flow reads as the live one did, then the rule ids of its findings, each once.
    t.true(line.startsWith(liveLines[i]!), `flow ${i}:\n${line}\n${liveLines[i]}`);
    const suffix = line.slice(liveLines[i]!.length).trim();
    const rules = new Set(store.findingsFor(rows[i]!.id).map((f) => f.rule));
    t.deepEqual(suffix === '' ? [] : suffix.split(' ').sort(), [...rules].sort(), `flow ${i}`);
  });
  const cut = lines.find((l) => l.includes('/dav/cut/') && l.includes('PROPFIND'))!;
  t.regex(cut, /\{injected: truncate:bytes=120\}/);
  t.regex(cut, /\[\d+\/\d+ failed; E\d+[^\]]*\] {2}\{injected: truncate:bytes=120\} {2}MS001\b/);
  t.regex(lines.find((l) => l.includes('missing.txt'))!, /GET {2}404 /);
});

test('--filter takes the filter language: body search, content type, status, findings; no match is no output and exit 0', async (t) => {
  const { dir, db } = await recorded(t);
  const paths = async (filter: string) => {
    const r = await flows(dir, ['--db', db, '--filter', filter]);
    t.is(r.code, 0, r.err);
    return r.out
      .trimEnd()
      .split('\n')
      .filter(Boolean)
      .map((l) => `${l.split('  ')[1]} ${l.split('  ')[3]}`);
  };
  t.deepEqual(await paths('~bs event\\.ics'), ['PROPFIND /dav/cal/']);
  t.deepEqual(await paths('~bq BEGIN:VCALENDAR'), ['PUT /dav/cal/event.ics']);
  t.deepEqual(await paths('~tq calendar'), ['PUT /dav/cal/event.ics']);
  t.deepEqual(await paths('~c 207 & ~f truncation'), ['PROPFIND /dav/cut/']);
  t.deepEqual(await paths('~r MS001'), ['PROPFIND /dav/cut/']);
  t.deepEqual(await paths('~sev info & ~u /dav/c'), ['PROPFIND /dav/cal/', 'PROPFIND /dav/cut/']);
  t.deepEqual(await paths('~c 4xx'), ['GET /dav/missing.txt']);
  t.deepEqual(await paths('~i'), ['PROPFIND /dav/cut/']);
  t.deepEqual(await paths('~m MKCOL & !~u cut'), ['MKCOL /dav/cal/']);
  t.deepEqual(await paths('~bs no-such-text'), []);
});

test('--json prints one JSON object per flow, as export --jsonl, with its findings', async (t) => {
  const { dir, db } = await recorded(t);
  const r = await flows(dir, ['--db', db, '--json', '--filter', '~m PROPFIND']);
  t.is(r.code, 0, r.err);
  const records = r.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; method: string; status: number; findings: { rule: string }[] });
  t.is(records.length, 2);
  t.true(records.every((x) => x.method === 'PROPFIND' && x.status === 207));
  const store = openReader(db);
  t.teardown(() => store.close());
  t.deepEqual(
    records.map((x) => x.id),
    store.listFlows({ filter: '~m PROPFIND', order: 'asc' }).map((row) => row.id),
  );
  t.true(records[1]!.findings.some((f) => f.rule === 'MS001'));
});

test('a bad filter and a missing database are one line on stderr and exit 2; the database is left as it was', async (t) => {
  const { dir, db } = await recorded(t);
  const before = fs.readFileSync(db);
  for (const [args, pattern] of [
    [['--filter', '~r MS999'], /^davtap: flows: --filter: unknown rule 'MS999' .* at position 4$/],
    [['--filter', '~s 207'], /^davtap: flows: --filter: '~s' takes no argument .*'~c 207' at position 4$/],
    [['--filter', '~bs (unclosed'], /^davtap: flows: --filter: /],
    [['--filter', '~f nonsense'], /unknown category 'nonsense'/],
  ] as const) {
    const r = await flows(dir, ['--db', db, ...args]);
    t.is(r.code, 2, r.err);
    t.is(r.out, '');
    t.is(r.err.trimEnd().split('\n').length, 1, r.err);
    t.regex(r.err.trimEnd(), pattern);
  }
  const missing = await flows(dir, ['--db', 'nope.db']);
  t.is(missing.code, 2);
  t.regex(missing.err.trimEnd(), /^davtap: .*nope\.db: no such database$/);
  t.false(fs.existsSync(path.join(dir, 'nope.db')));
  const unknown = await flows(dir, ['--db', db, '--bogus']);
  t.is(unknown.code, 2);
  t.is(unknown.err.trimEnd().split('\n').length, 1);
  t.deepEqual(fs.readFileSync(db), before);
});

test('--help lists the options and every filter code; the main usage names the command', async (t) => {
  const r = await flows(os.tmpdir(), ['--help']);
  t.is(r.code, 0);
  for (const flag of ['--db FILE', '--filter EXPR', '--json', '--show-secrets']) t.true(r.out.includes(flag), flag);
  t.regex(r.out, /~bs REGEX +response body/);
  t.regex(r.out, /~sev SEVERITY/);
  const usage = await new Promise<string>((resolve) =>
    execFile(process.execPath, [DAVTAP_BIN, '--help'], { env: { ...withoutProxyEnv(), XDG_CONFIG_HOME: testConfigHome() } }, (_e, out) => resolve(String(out))),
  );
  t.regex(usage, /^ {2}flows {4}print the recorded flows/m);
});
