// litmus parity on six real servers: for Apache mod_dav, nginx (dav + dav-ext), lighttpd
// mod_webdav, `rclone serve webdav`, Radicale and Xandikos, each started here on a free loopback
// port in a temp dir, Debian's litmus runs direct (twice, to see the server's own instability), then
// through the built davtap in reverse mode (--upstream) and in forward mode (litmus --proxy=), and
// every test's result (pass, fail, warning = passed with warnings, skipped) is compared with the
// first direct run. On the CalDAV/CardDAV servers (Radicale, Xandikos) a client session follows
// through davtap in reverse mode: python3-caldav and vdirsyncer creating calendars and address
// books, putting real objects and reading them back with calendar-query, multiget and
// sync-collection (caldav-clients.ts). `npm run parity` (builds first) prints one line per server
// and mode, e.g.
//
//   parity apache reverse: 104 tests, 0 differ (direct 102 pass 2 warning; 222 flows for 221 requests; 0.2 s direct, 0.4 s reverse)
//   session radicale caldav: python3-caldav and vdirsyncer, 102 flows, REPORTs answered 207/sent: calendar-query 14/14, … (8.6 s)
//
// followed by each differing test with both results, and `parity: N/12 runs identical`,
// `sessions: N/2 CalDAV/CardDAV client sessions whole`; the exit status is 1 when any run differs
// or a session's client failed. Not counted against davtap, and said on the line instead:
// - forward mode's `http expect100`: litmus opens a socket straight to the origin for it, proxy or
//   not, so that test never crosses davtap;
// - a test whose result differs between the two direct runs (the server's own flakiness).
// Each run is checked to have really gone through davtap (litmus is C/neon and does proxy loopback
// addresses, but a run that bypassed the proxy would compare equal): the flows recorded in davtap's
// database are counted against the requests in litmus's debug.log. Tests with the same result but
// another FAIL or WARNING text are listed as notes.
//
// The same runs measure precision: every error or warning (root cause) davtap raised on them is
// either on the reviewed list of true findings below, with its reason, or a false alarm; the last
// line reads `precision: flows=N 207s=N false-alarms=0 unanalyzed=0` (`npm run precision`).
//
// Debian packages: apache2 nginx libnginx-mod-http-dav-ext lighttpd lighttpd-mod-webdav rclone
// radicale xandikos litmus python3-caldav vdirsyncer.
//
// PARITY_ONLY=apache,rclone runs only those servers; PARITY_KEEP=1 keeps the work dir (litmus's
// debug.log, output and davtap's database per run) and prints its path; PARITY_VERBOSE=1 prints
// each client step of the CalDAV sessions. PARITY_DAVTAP_ARGS adds arguments to each litmus run's
// davtap, e.g. '--inject truncate:responses=1' to see the harness catch a relay that changes what
// the client gets.
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, request, startApache } from '../../test/helpers/apache.js';
import { startDavtap, tiedToParent, waitForExit, type DavtapProcess } from '../../test/helpers/davtap-process.js';
import { runLitmus, type LitmusResult, type LitmusRun } from '../../test/interop/litmus.js';
import { rules } from '../../src/analysis/rules/index.js';
import { caldavSession, reportKinds } from './caldav-clients.js';

/** A finding stored without its own blame has its rule's. */
const RULE_BLAME = new Map(Object.values(rules).map((r) => [r.id, r.blame as string]));

const SERVERS = ['apache', 'nginx', 'lighttpd', 'rclone', 'radicale', 'xandikos'] as const;
type ServerName = (typeof SERVERS)[number];
const MODES = ['reverse', 'forward'] as const;
type Mode = (typeof MODES)[number];
/** The CalDAV/CardDAV servers, where a calendar client session runs too (through davtap in reverse mode). */
const CALDAV_SERVERS: readonly ServerName[] = ['radicale', 'xandikos'];

/** A running server: `collection(name)` creates a fresh collection for one litmus run and returns its URL. */
interface Server {
  /** Origin with a trailing slash, e.g. `http://127.0.0.1:40123/`. */
  origin: string;
  /** The login the CalDAV session uses (its principal), on CalDAV servers. */
  user?: string;
  collection(name: string): Promise<string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Spawns a server tied to this process, waits until its port accepts, returns its stop(). */
async function spawnServer(name: string, bin: string, args: string[], port: number, cwd: string): Promise<() => Promise<void>> {
  if (!existsSync(bin)) throw new Error(`${name}: ${bin} is not installed`);
  const child: ChildProcess = spawn(...tiedToParent(bin, args), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await connects(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not start on 127.0.0.1:${port}: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return stop;
}

/** MKCOL over HTTP (so that the server's own user owns it); `expect` the statuses that mean created. */
async function mkcol(url: string, expect: number[] = [201]): Promise<string> {
  const res = await request(url, 'MKCOL');
  if (!expect.includes(res.status)) throw new Error(`MKCOL ${url} answered ${res.status}`);
  return url;
}

/** The uid/gid of www-data when running as root (Apache, nginx and lighttpd drop to it), else undefined. */
async function wwwData(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const f = line.split(':');
    if (f[0] === 'www-data') return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error('running as root but user www-data does not exist');
}

async function tempRoot(name: string): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), `davtap-parity-${name}-`));
  await chmod(root, 0o755);
  return root;
}

const starters: Record<ServerName, () => Promise<Server>> = {
  async apache() {
    const a = await startApache({ accessLog: false });
    return { origin: a.url, collection: (n) => mkcol(`${a.url}${n}/`), stop: a.stop };
  },

  // nginx's own dav module plus dav-ext (PROPFIND, OPTIONS, LOCK, UNLOCK) under /dav/, as in
  // test/fixtures/servers/nginx.conf.
  async nginx() {
    const module = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';
    if (!existsSync(module)) throw new Error(`nginx dav-ext is not installed (${module}): apt-get install -y libnginx-mod-http-dav-ext`);
    const root = await tempRoot('nginx');
    for (const d of ['data/dav', 'tmp']) await mkdir(path.join(root, d), { recursive: true });
    const www = await wwwData();
    if (www) for (const d of ['data/dav', 'tmp']) await chown(path.join(root, d), www.uid, www.gid);
    const port = await freePort();
    const conf = [
      `load_module ${module};`,
      ...(www ? ['user www-data;'] : []),
      'worker_processes 1;',
      `pid ${root}/nginx.pid;`,
      `error_log ${root}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      '    access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${root}/tmp/${t};`),
      '    client_max_body_size 0;',
      '    dav_ext_lock_zone zone=paritydav:10m;',
      '    server {',
      `        listen 127.0.0.1:${port};`,
      `        root ${root}/data;`,
      '        location /dav/ {',
      '            dav_methods PUT DELETE MKCOL COPY MOVE;',
      '            dav_ext_methods PROPFIND OPTIONS LOCK UNLOCK;',
      '            dav_ext_lock zone=paritydav;',
      '            create_full_put_path on;',
      '            dav_access user:rw group:rw all:r;',
      '        }',
      '    }',
      '}',
      '',
    ].join('\n');
    await writeFile(path.join(root, 'nginx.conf'), conf);
    const args = ['-p', root, '-e', path.join(root, 'error.log'), '-c', path.join(root, 'nginx.conf'), '-g', 'daemon off;'];
    const stop = await spawnServer('nginx', '/usr/sbin/nginx', args, port, root);
    const origin = `http://127.0.0.1:${port}/`;
    return {
      origin,
      collection: (n) => mkcol(`${origin}dav/${n}/`),
      async stop() {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },

  async lighttpd() {
    const module = '/usr/lib/lighttpd/mod_webdav.so';
    if (!existsSync(module)) throw new Error(`lighttpd mod_webdav is not installed (${module}): apt-get install -y lighttpd lighttpd-mod-webdav`);
    const root = await tempRoot('lighttpd');
    const www = await wwwData();
    const user = www ? 'www-data' : '';
    for (const d of ['data/dav', 'logs', 'run']) await mkdir(path.join(root, d), { recursive: true });
    if (www) for (const d of ['data', 'data/dav', 'logs', 'run']) await chown(path.join(root, d), www.uid, www.gid);
    const port = await freePort();
    const conf = [
      'server.modules = ("mod_webdav")',
      'server.bind = "127.0.0.1"',
      `server.port = ${port}`,
      `server.document-root = "${root}/data"`,
      `server.errorlog = "${root}/logs/error.log"`,
      ...(user ? [`server.username = "${user}"`, `server.groupname = "${user}"`] : []),
      'mimetype.assign = (".txt" => "text/plain", ".xml" => "application/xml", "" => "application/octet-stream")',
      '$HTTP["url"] =~ "^/dav($|/)" {',
      '  webdav.activate = "enable"',
      '  webdav.is-readonly = "disable"',
      `  webdav.sqlite-db-name = "${root}/run/webdav.sqlite"`,
      '}',
      '',
    ].join('\n');
    await writeFile(path.join(root, 'lighttpd.conf'), conf);
    const stop = await spawnServer('lighttpd', '/usr/sbin/lighttpd', ['-D', '-f', path.join(root, 'lighttpd.conf')], port, root);
    const origin = `http://127.0.0.1:${port}/`;
    return {
      origin,
      collection: (n) => mkcol(`${origin}dav/${n}/`),
      async stop() {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },

  async rclone() {
    const root = await tempRoot('rclone');
    await mkdir(path.join(root, 'data'));
    await writeFile(path.join(root, 'rclone.conf'), '');
    const port = await freePort();
    const args = ['serve', 'webdav', '--config', path.join(root, 'rclone.conf'), '--cache-dir', path.join(root, 'cache'), '--addr', `127.0.0.1:${port}`, path.join(root, 'data')];
    const stop = await spawnServer('rclone', '/usr/bin/rclone', args, port, root);
    const origin = `http://127.0.0.1:${port}/`;
    return {
      origin,
      collection: (n) => mkcol(`${origin}${n}/`),
      async stop() {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },

  // Radicale 3 with no authentication and rights that let the anonymous user do anything, so that
  // litmus (which sends no credentials) gets as far as Radicale's WebDAV goes.
  async radicale() {
    const root = await tempRoot('radicale');
    await mkdir(path.join(root, 'collections'));
    const port = await freePort();
    await writeFile(path.join(root, 'rights'), '[all]\nuser: .*\ncollection: .*\npermissions: RrWw\n');
    await writeFile(
      path.join(root, 'radicale.conf'),
      [
        '[server]',
        `hosts = 127.0.0.1:${port}`,
        // Below litmus's 30 s wait in expect100 (a PUT with Expect: 100-continue that Radicale never
        // answers with 100): Radicale's default socket timeout is 30 s too, and which one fires first
        // decided whether that test passed.
        'timeout = 5',
        '[auth]',
        'type = none',
        '[rights]',
        'type = from_file',
        `file = ${root}/rights`,
        '[storage]',
        `filesystem_folder = ${root}/collections`,
        '[web]',
        'type = none',
        '[logging]',
        'level = warning',
        '',
      ].join('\n'),
    );
    const stop = await spawnServer('radicale', '/usr/bin/radicale', ['--config', path.join(root, 'radicale.conf')], port, root);
    const origin = `http://127.0.0.1:${port}/`;
    return {
      origin,
      user: 'alice',
      collection: (n) => mkcol(`${origin}${n}/`),
      async stop() {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },

  // Xandikos (Debian's, git-backed) with its default principal /user/ and no authentication;
  // litmus runs in plain collections under the principal.
  async xandikos() {
    const root = await tempRoot('xandikos');
    const port = await freePort();
    const stop = await spawnServer('xandikos', '/usr/bin/xandikos', ['-d', path.join(root, 'data'), '--defaults', '-l', '127.0.0.1', '-p', String(port)], port, root);
    const origin = `http://127.0.0.1:${port}/`;
    return {
      origin,
      user: 'user',
      collection: (n) => mkcol(`${origin}user/${n}/`),
      async stop() {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
};

type Outcome = 'pass' | 'fail' | 'warning' | 'skipped';

function outcome(r: LitmusResult): Outcome {
  if (r.outcome === 'pass' && r.messages.some((m) => m.startsWith('WARNING:'))) return 'warning';
  return r.outcome;
}

const key = (r: LitmusResult) => `${r.suite} ${r.index} ${r.name}`;

function describe(r: LitmusResult | undefined): string {
  if (!r) return 'absent';
  const messages = r.messages.map((m) => m.replaceAll(/127\.0\.0\.1:\d+/g, 'HOST'));
  return `${outcome(r)}${messages.length ? ` (${messages.join(' | ')})` : ''}`;
}

function counts(run: LitmusRun): string {
  const n: Record<Outcome, number> = { pass: 0, fail: 0, warning: 0, skipped: 0 };
  for (const r of run.results) n[outcome(r)]++;
  return (['pass', 'fail', 'warning', 'skipped'] as const)
    .filter((o) => n[o] > 0 || o === 'pass')
    .map((o) => `${n[o]} ${o}`)
    .join(' ');
}

/** Requests litmus sent, from its debug.log (neon logs one line per request sent). */
const requestsSent = (run: LitmusRun) => run.debugLog.split('\n').filter((l) => l.startsWith('Sending request-line and headers:')).length;

interface Comparison {
  tests: number;
  differ: string[];
  notes: string[];
}

/** The FAIL reason and WARNING texts with the run-specific parts (address, collection name) replaced. */
function messages(r: LitmusResult, collection: string): string {
  return r.messages.map((m) => m.replaceAll(/127\.0\.0\.1:\d+/g, 'HOST').replaceAll(`/${collection}/`, '/RUN/')).join(' | ');
}

function compare(direct: LitmusRun, again: LitmusRun, via: LitmusRun, mode: Mode): Comparison {
  const viaByKey = new Map(via.results.map((r) => [key(r), r]));
  const againByKey = new Map(again.results.map((r) => [key(r), r]));
  const differ: string[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const d of direct.results) {
    const k = key(d);
    seen.add(k);
    const v = viaByKey.get(k);
    const a = againByKey.get(k);
    const stable = a !== undefined && outcome(a) === outcome(d);
    if (v && outcome(v) === outcome(d)) {
      // Same result; a different FAIL reason or WARNING text is shown, not counted.
      if (messages(v, mode) !== messages(d, 'direct') && (!a || messages(a, 'direct-again') === messages(d, 'direct'))) {
        notes.push(`${k}: same result, other text: direct ${describe(d)}, ${mode} ${describe(v)}`);
      }
      continue;
    }
    const line = `${k}: direct ${describe(d)}, ${mode} ${describe(v)}`;
    if (mode === 'forward' && d.suite === 'http' && d.name === 'expect100') {
      notes.push(`${line} [not counted: litmus connects straight to the origin for expect100]`);
    } else if (!stable) {
      notes.push(`${line} [not counted: direct again gave ${describe(a)}]`);
    } else {
      differ.push(line);
    }
  }
  for (const v of via.results) if (!seen.has(key(v))) differ.push(`${key(v)}: direct absent, ${mode} ${describe(v)}`);
  return { tests: direct.results.length, differ, notes };
}

/** Tests whose result differs between the two direct runs: the server's own instability. */
function unstable(direct: LitmusRun, again: LitmusRun): string[] {
  const againByKey = new Map(again.results.map((r) => [key(r), r]));
  return direct.results
    .filter((d) => { const a = againByKey.get(key(d)); return !a || outcome(a) !== outcome(d); })
    .map((d) => `${key(d)}: direct ${describe(d)}, direct again ${describe(againByKey.get(key(d)))}`);
}

async function flowCount(db: string): Promise<number> {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (d.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

/**
 * True findings of the clean runs, reviewed: an error or warning that is the root cause and not on
 * this list is a false alarm. `server` undefined: on any server; `run`: only in litmus runs or only
 * in the CalDAV client session; `message`: the finding's text must say this (so that another
 * finding of the same rule is not taken for the reviewed one); `blame`: whom it must blame.
 */
const REVIEWED: readonly { rule: string; server?: ServerName; run?: 'litmus' | 'caldav'; message?: RegExp; blame?: string; why: string }[] = [
  { rule: 'MS501', server: 'lighttpd', run: 'litmus', why: 'lighttpd answers litmus\'s COPY/MOVE/DELETE with 409/412 members inside a 207: real resource failures' },
  { rule: 'MS110', run: 'litmus', blame: 'client', why: 'litmus\'s props propfind_invalid2 declares xmlns:bar="" on purpose: the client\'s malformed request, on servers that answer it with a 207' },
  {
    rule: 'MS604',
    run: 'caldav',
    message: /client sent the sync-collection REPORT with Depth: 1/,
    blame: 'client',
    why: 'python3-caldav 0.11 sends sync-collection with Depth: 1 (RFC 6578 §3.2: Depth: 0 only): the client\'s fault, and the server is not blamed',
  },
  {
    rule: 'MS602',
    server: 'xandikos',
    run: 'caldav',
    message: /sync-token "[0-9a-f]{40}" is not an absolute URI/,
    why: 'Xandikos 0.2.8 sends its sync-token as a bare git commit id; RFC 6578 §6.2 requires a URI',
  },
  {
    rule: 'MS303',
    server: 'xandikos',
    message: /href outside the request URI \S+: http%3A\/\/127\.0\.0\.1%3A\d+\//,
    why: 'Xandikos 0.2.8 answers PROPPATCH with its own absolute URL percent-encoded as the href (http%3A//host/...), a relative path outside the request URI (litmus\'s propset fails on the same href)',
  },
];

/** What the precision line adds up over every run through davtap. */
const precision = { flows: 0, multistatus: 0, unanalyzed: 0, falseAlarms: [] as string[], reviewed: new Map<string, number>() };

async function tallyPrecision(name: ServerName, mode: Mode | 'caldav', db: string): Promise<void> {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const count = (sql: string) => (d.prepare(sql).get() as { n: number }).n;
    precision.flows += count('SELECT count(*) AS n FROM flows');
    precision.multistatus += count('SELECT count(*) AS n FROM flows WHERE status = 207');
    precision.unanalyzed += count('SELECT count(*) AS n FROM flows WHERE status = 207 AND analyzed = 0');
    const rows = d
      .prepare(`SELECT f.rule, f.severity, f.message, f.blame, fl.method, fl.path FROM findings f JOIN flows fl ON fl.seq = f.flow_seq WHERE f.severity IN ('error', 'warning') AND f.consequence_of IS NULL`)
      .all() as { rule: string; severity: string; message: string; blame: string | null; method: string; path: string }[];
    const run = mode === 'caldav' ? 'caldav' : 'litmus';
    for (const r of rows) {
      const blame = r.blame ?? RULE_BLAME.get(r.rule);
      const known = REVIEWED.find(
        (x) => x.rule === r.rule && (x.server === undefined || x.server === name) && (x.run === undefined || x.run === run) && (x.message === undefined || x.message.test(r.message)) && (x.blame === undefined || x.blame === blame),
      );
      if (known) precision.reviewed.set(`${r.rule} ${name}: ${known.why}`, (precision.reviewed.get(`${r.rule} ${name}: ${known.why}`) ?? 0) + 1);
      else precision.falseAlarms.push(`${name} ${mode}: ${r.severity} ${r.rule} on ${r.method} ${r.path}: ${r.message}`);
    }
  } finally {
    d.close();
  }
}

interface RunLine {
  server: ServerName;
  mode: Mode | 'caldav';
  identical: boolean;
  text: string;
}

async function parityFor(name: ServerName, work: string): Promise<RunLine[]> {
  const dir = path.join(work, name);
  await mkdir(dir);
  const server = await starters[name]();
  const running: DavtapProcess[] = [];
  try {
    const litmus = async (run: string, url: string, proxy?: string) => {
      const cwd = path.join(dir, run);
      await mkdir(cwd);
      const t0 = Date.now();
      const result = await runLitmus(url, { cwd, proxy, timeoutMs: 120_000 });
      if (process.env.PARITY_KEEP) await writeFile(path.join(cwd, 'output.txt'), result.output);
      return { ...result, seconds: (Date.now() - t0) / 1000 };
    };
    const direct = await litmus('direct', await server.collection('direct'));
    const again = await litmus('direct-again', await server.collection('direct-again'));
    const lines: RunLine[] = [];
    const serverNotes = unstable(direct, again).map((u) => `  note: server unstable: ${u}`);
    for (const mode of MODES) {
      const db = path.join(dir, `${mode}.db`);
      const args = mode === 'reverse' ? ['--upstream', server.origin] : ['--ca-dir', path.join(dir, 'ca')];
      const extra = (process.env.PARITY_DAVTAP_ARGS ?? '').split(/\s+/).filter(Boolean);
      const proc = await startDavtap([...args, ...extra, '--listen', '127.0.0.1:0', '--no-ui', '--db', db]);
      running.push(proc);
      const collection = await server.collection(mode);
      const url = mode === 'reverse' ? `${proc.url}${new URL(collection).pathname}` : collection;
      const via = await litmus(mode, url, mode === 'forward' ? proc.url : undefined);
      const ended = await proc.stop();
      const c = compare(direct, again, via, mode);
      const problems: string[] = [];
      if (ended.killed || (ended.code !== 0 && ended.code !== null)) problems.push(`davtap ended with code ${ended.code}${ended.killed ? ' after SIGKILL' : ''}`);
      if (/internal error|uncaught|unhandled/i.test(proc.stderr())) problems.push(`davtap stderr: ${proc.stderr().trim().slice(-2_000)}`);
      // Every request neon sent crossed davtap. (expect100 writes its request on a socket of its own,
      // not through neon, so it is not in `sent`: in reverse mode it is one flow more, in forward
      // mode it goes straight to the origin.)
      const flows = await flowCount(db);
      await tallyPrecision(name, mode, db);
      const sent = requestsSent(via);
      if (flows < sent || sent === 0) problems.push(`${flows} flows recorded for ${sent} requests litmus sent`);
      const identical = c.differ.length === 0 && problems.length === 0;
      const head = `parity ${name} ${mode}: ${c.tests} tests, ${c.differ.length} differ (direct ${counts(direct)}; ${flows} flows for ${sent} requests; ${direct.seconds.toFixed(1)} s direct, ${via.seconds.toFixed(1)} s ${mode})`;
      const detail = [...(mode === MODES[0] ? serverNotes : []), ...c.differ.map((d) => `  differs: ${d}`), ...c.notes.map((n) => `  note: ${n}`), ...problems.map((p) => `  problem: ${p}`)];
      lines.push({ server: name, mode, identical, text: [head, ...detail].join('\n') });
    }
    if (CALDAV_SERVERS.includes(name)) lines.push(await sessionFor(name, server, dir, running));
    return lines;
  } finally {
    await Promise.all(running.map((p) => p.stop()));
    await server.stop();
  }
}

/** The CalDAV/CardDAV client session (python3-caldav, vdirsyncer) through davtap in reverse mode. */
async function sessionFor(name: ServerName, server: Server, dir: string, running: DavtapProcess[]): Promise<RunLine> {
  const db = path.join(dir, 'caldav.db');
  const cwd = path.join(dir, 'caldav');
  await mkdir(cwd);
  const proc = await startDavtap(['--upstream', server.origin, '--listen', '127.0.0.1:0', '--no-ui', '--db', db]);
  running.push(proc);
  const t0 = Date.now();
  const session = await caldavSession(proc.url, server.user ?? 'alice', cwd, 'precision');
  const seconds = (Date.now() - t0) / 1000;
  const ended = await proc.stop();
  const problems = [...session.problems];
  if (ended.killed || (ended.code !== 0 && ended.code !== null)) problems.push(`davtap ended with code ${ended.code}${ended.killed ? ' after SIGKILL' : ''}`);
  if (/internal error|uncaught|unhandled/i.test(proc.stderr())) problems.push(`davtap stderr: ${proc.stderr().trim().slice(-2_000)}`);
  const flows = await flowCount(db);
  await tallyPrecision(name, 'caldav', db);
  const kinds = reportKinds(db);
  // What the session must have exercised, whatever the server answered.
  for (const k of ['calendar-query', 'calendar-multiget', 'sync-collection', 'addressbook-multiget']) if ((kinds.get(k)?.multistatus ?? 0) === 0) problems.push(`no ${k} answered 207`);
  const reports = [...kinds].map(([k, v]) => `${k} ${v.multistatus}/${v.sent}`).join(', ');
  const head = `session ${name} caldav: python3-caldav and vdirsyncer, ${flows} flows, REPORTs answered 207/sent: ${reports} (${seconds.toFixed(1)} s)`;
  const detail = [...(process.env.PARITY_VERBOSE ? session.steps.map((st) => `  step: ${st}`) : []), ...problems.map((p) => `  problem: ${p}`)];
  return { server: name, mode: 'caldav', identical: problems.length === 0, text: [head, ...detail].join('\n') };
}

async function main(): Promise<number> {
  const only = (process.env.PARITY_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((s) => !(SERVERS as readonly string[]).includes(s));
  if (unknown.length) {
    process.stderr.write(`parity: no such server: ${unknown.join(', ')} (servers: ${SERVERS.join(', ')})\n`);
    return 2;
  }
  const selected = SERVERS.filter((s) => only.length === 0 || only.includes(s));
  const work = await mkdtemp(path.join(tmpdir(), 'davtap-parity-'));
  const started = Date.now();
  const lines: RunLine[] = [];
  let failures = 0;
  try {
    for (const name of selected) {
      try {
        for (const line of await parityFor(name, work)) {
          lines.push(line);
          process.stdout.write(`${line.text}\n`);
        }
      } catch (err) {
        failures++;
        for (const mode of MODES) {
          const text = `parity ${name} ${mode}: not run (${(err as Error).message.split('\n')[0]})`;
          lines.push({ server: name, mode, identical: false, text });
          process.stdout.write(`${text}\n`);
        }
      }
    }
  } finally {
    if (process.env.PARITY_KEEP) process.stderr.write(`parity: work dir kept: ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
  const parity = lines.filter((l) => l.mode !== 'caldav');
  const sessions = lines.filter((l) => l.mode === 'caldav');
  const identical = parity.filter((l) => l.identical).length;
  const whole = sessions.filter((l) => l.identical).length;
  process.stdout.write(`parity: ${identical}/${parity.length} runs identical (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  if (sessions.length > 0) process.stdout.write(`sessions: ${whole}/${sessions.length} CalDAV/CardDAV client sessions whole\n`);
  // Precision: every error or warning davtap raised on these clean runs is either on the reviewed
  // list (a true finding, with its reason) or a false alarm.
  for (const [what, n] of precision.reviewed) process.stdout.write(`  reviewed ×${n}: ${what}\n`);
  for (const alarm of precision.falseAlarms) process.stdout.write(`  false alarm: ${alarm}\n`);
  process.stdout.write(`precision: flows=${precision.flows} 207s=${precision.multistatus} false-alarms=${precision.falseAlarms.length} unanalyzed=${precision.unanalyzed}\n`);
  const precise = precision.falseAlarms.length === 0 && precision.unanalyzed === 0;
  return identical === parity.length && whole === sessions.length && failures === 0 && precise ? 0 : 1;
}

process.exitCode = await main();
