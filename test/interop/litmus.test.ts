// litmus against Debian's Apache mod_dav: direct, then through davtap in reverse mode, then through
// davtap as a forward proxy. DESIGN.md's transparency contract, point 9: every test must end the
// same way (pass, fail, skipped, and the same warnings) through davtap as direct.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApache, type ApacheServer } from '../helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { comparable, debugSection, recomputedSummaries, runLitmus, summaryCounts, type LitmusRun } from './litmus.js';

let apache: ApacheServer | undefined;
let work = '';
let direct: Promise<LitmusRun> | undefined;
const running: DavtapProcess[] = [];
let started = 0;

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-litmus-'));
  apache = await startApache();
});

test.after.always(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Each run gets its own collection on the server and its own working dir for litmus's logs. */
async function litmusRun(name: string, url: string, proxy?: string): Promise<LitmusRun> {
  await apache!.mkcol(`/${name}/`);
  const cwd = await mkdtemp(path.join(work, `${name}-`));
  return runLitmus(url, { cwd, proxy });
}

const directRun = () => (direct ??= litmusRun('direct', `${apache!.url}direct/`));

async function davtap(args: string[]): Promise<DavtapProcess> {
  const p = await startDavtap([...args, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, `davtap-${++started}.db`)]);
  running.push(p);
  return p;
}

/** Asserts that the run via davtap ended every test exactly as the direct run did. */
async function assertSameAsDirect(t: ExecutionContext, via: LitmusRun, viaBase: string, proc: DavtapProcess) {
  const base = await directRun();
  const expected = comparable(base, `${apache!.url}direct/`);
  const actual = comparable(via, viaBase);
  const missing = expected.filter((l) => !actual.includes(l));
  const extra = actual.filter((l) => !expected.includes(l));
  if (missing.length || extra.length) {
    t.log(`direct only:\n  ${missing.join('\n  ')}\nvia davtap only:\n  ${extra.join('\n  ')}`);
    // The request/response trace of each test that ended differently, both ways.
    const differing = new Set([...missing, ...extra].map((l) => l.split(':')[0]!));
    for (const key of [...differing].slice(0, 3)) {
      const [suite, index] = key.split(/\s+/);
      t.log(`${key}, direct:\n${debugSection(base.debugLog, suite!, Number(index))}`);
      t.log(`${key}, via davtap:\n${debugSection(via.debugLog, suite!, Number(index))}`);
    }
    t.log(`davtap stderr:\n${proc.stderr().slice(-4_000)}`);
  }
  t.deepEqual(actual, expected);
  t.deepEqual(via.summaries, base.summaries);
  t.is(via.exitCode, base.exitCode);
  // --no-ui prints one line per flow: litmus makes at least one request per test.
  const lines = proc.stdout().split('\n').filter((l) => l.trim() !== '');
  t.true(lines.length >= via.results.length, `${lines.length} flow lines for ${via.results.length} litmus tests`);
  t.notRegex(proc.stderr(), /internal error|uncaught|unhandled/i);
  const ended = await proc.stop();
  t.false(ended.killed, 'davtap stops on SIGTERM within the bound');
}

test.serial('litmus direct against Apache runs every suite and the parsed tests match its own summaries', async (t) => {
  const run = await directRun();
  t.deepEqual(Object.keys(run.summaries), ['basic', 'copymove', 'props', 'locks', 'http']);
  const recomputed = recomputedSummaries(run.results);
  for (const [suite, summary] of Object.entries(run.summaries)) t.deepEqual(recomputed[suite], summaryCounts(summary), suite);
  // Apache mod_dav passes litmus; a failure here means the harness, not davtap, is broken.
  const failed = run.results.filter((r) => r.outcome !== 'pass');
  t.deepEqual(failed, [], run.output);
  t.true(run.results.length >= 100);
});

test.serial('litmus through davtap in reverse mode ends every test as it does direct', async (t) => {
  const proc = await davtap(['--upstream', apache!.url]);
  const url = `${proc.url}/reverse/`;
  const via = await litmusRun('reverse', url);
  await assertSameAsDirect(t, via, url, proc);
});

test.serial('litmus through davtap as a forward proxy ends every test as it does direct', async (t) => {
  const proc = await davtap(['--ca-dir', path.join(work, 'ca')]);
  const url = `${apache!.url}forward/`;
  const via = await litmusRun('forward', url, proc.url);
  await assertSameAsDirect(t, via, url, proc);
});
