// The demo acceptance run, against the built CLI (`./bin/davtap demo` as child processes), on
// loopback, the databases in a temp dir removed at the end. On a fresh clone: `npm ci && npm run
// demo-check` (builds first). Prints one line, exits 1 when a check fails:
//
//   demo: no-ui=ok rules=N ui=ok own-client=ok readme=ok
//
// - no-ui: `davtap demo --no-ui` exits 0, every broken path of src/demo/faults.ts is flagged with
//   its rule, no flow the faults did not touch has a finding;
// - rules: N distinct rule ids in its findings summary (root causes and their consequences);
// - ui: `davtap demo` in a tmux terminal shows every broken path's row with an error badge, within
//   10 s of the UI showing;
// - own-client: while that UI is up, a PROPFIND Depth 1 of `/` on the address it shows gets a 207
//   listing the demo's tree, and its flow appears in the UI; q then ends the demo with exit 0;
// - readme: the README's quick start runs `npm ci`, then `./bin/davtap demo`, and the README
//   documents the demo.
// DEMO_VERBOSE=1 prints each check's details on stderr.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brokenPaths } from '../src/demo/faults.js';
import { DAVTAP_BIN, withoutProxyEnv } from '../test/helpers/davtap-process.js';
import { Tmux, sh } from '../test/ui/tmux.js';

const REPO = path.join(import.meta.dirname, '..');
const verbose = process.env.DEMO_VERBOSE === '1';
const note = (s: string) => {
  if (verbose) process.stderr.write(`demo-check: ${s}\n`);
};
const dir = mkdtempSync(path.join(tmpdir(), 'davtap-demo-check-'));
const results: Record<string, string> = { 'no-ui': 'FAIL', rules: '0', ui: 'FAIL', 'own-client': 'FAIL', readme: 'FAIL' };

function noUi(): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DAVTAP_BIN, 'demo', '--no-ui', '--db', path.join(dir, 'no-ui.db')], { encoding: 'utf8', timeout: 60_000, env: { ...withoutProxyEnv(), TMPDIR: dir } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, out: stdout, err: stderr });
    });
  });
}

async function checkNoUi(): Promise<void> {
  const run = await noUi();
  note(`--no-ui exited ${run.code}\n${run.out}${run.err}`);
  const lines = run.out.split('\n');
  const findings = lines.find((l) => l.startsWith('findings: ')) ?? '';
  const rules = new Set([...findings.matchAll(/\b(MS\d{3}) ×\d+/g)].map((m) => m[1]!));
  results.rules = String(rules.size);
  const flagged = brokenPaths.every((b) => {
    const line = lines.find((l) => l.startsWith(`broken: ${b.method} ${b.path}`)) ?? '';
    return rules.has(b.rule) && new RegExp(`; flagged .*\\b${b.rule}\\b`).test(line);
  });
  const clean = /^clean: \d+ flows without findings$/m.test(run.out);
  if (run.code === 0 && flagged && clean) results['no-ui'] = 'ok';
}

function propfind(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'PROPFIND', headers: { Depth: '1' }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

async function checkUi(): Promise<void> {
  const term = Tmux.start(`cd ${sh(dir)} && LANG=C.UTF-8 TMPDIR=${sh(dir)} ${sh(process.execPath)} ${sh(DAVTAP_BIN)} demo --db ${sh(path.join(dir, 'ui.db'))}; echo davtap-exit=$?; sleep 60`, { width: 140, height: 40 });
  try {
    const first = await term.waitFor(/demo: WebDAV\/CalDAV\/CardDAV at http:\/\/127\.0\.0\.1:\d+\//, 30_000);
    const shown = Date.now();
    const url = /demo: WebDAV\/CalDAV\/CardDAV at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(first)![1]!;
    const flaggedRow = (s: string, b: (typeof brokenPaths)[number]) =>
      s.split('\n').some((l) => new RegExp(`${b.method} +207 +(?:[a-z-]+ )?${b.path.replace(/\//g, '\\/')} .*E\\d`).test(l));
    try {
      const screen = await term.waitFor((s) => brokenPaths.every((b) => flaggedRow(s, b)), 10_000);
      note(`UI after ${Date.now() - shown} ms:\n${screen}`);
      results.ui = 'ok';
    } catch (err) {
      note(String(err));
    }
    // The scripted client lists the root twice (Depth 0 and 1); the own client's is a third row.
    const rootRows = (s: string) => s.split('\n').filter((l) => /PROPFIND +207 +\/ /.test(l)).length;
    await term.waitFor((s) => rootRows(s) >= 2, 5000).catch(() => '');
    const own = await propfind(url);
    note(`own client: PROPFIND ${url} → ${own.status}`);
    let ownOk = own.status === 207 && ['/files/', '/calendars/', '/contacts/'].every((h) => own.body.includes(`<D:href>${h}</D:href>`));
    ownOk &&= await term.waitFor((s) => rootRows(s) >= 3, 5000).then(() => true, () => false);
    term.send('q');
    let screen = await term.waitFor(/davtap-exit=\d+|y\/n/i, 10_000).catch(() => '');
    if (!/davtap-exit=/.test(screen)) term.send('y');
    screen = await term.waitFor(/davtap-exit=\d+/, 15_000).catch(() => '');
    note(`after q:\n${screen}`);
    if (ownOk && /davtap-exit=0/.test(screen)) results['own-client'] = 'ok';
  } finally {
    term.kill();
  }
}

function checkReadme(): void {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const quick = readme.slice(readme.indexOf('## Quick start'));
  const block = /```sh\n([\s\S]*?)```/.exec(quick)?.[1] ?? '';
  const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  if (commands[0] === 'npm ci' && commands[1] === './bin/davtap demo' && readme.includes('## The demo')) results.readme = 'ok';
}

try {
  await checkNoUi();
  await checkUi();
  checkReadme();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const line = `demo: no-ui=${results['no-ui']} rules=${results.rules} ui=${results.ui} own-client=${results['own-client']} readme=${results.readme}`;
process.stdout.write(`${line}\n`);
process.exitCode = Object.entries(results).every(([k, v]) => k === 'rules' || v === 'ok') ? 0 : 1;
