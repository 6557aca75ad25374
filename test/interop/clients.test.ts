// Real WebDAV clients against Debian's Apache mod_dav, direct and through davtap: cadaver (scripted
// on stdin) and rclone. Whatever a client sees, downloads and leaves on the server must be the same
// either way.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApache, type ApacheServer } from '../helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { CADAVER_SCRIPT, normaliseCadaver, readTree, runCadaver, runRclone, type ToolRun } from './clients.js';

let apache: ApacheServer | undefined;
let work = '';
let source = '';
const running: DavtapProcess[] = [];
let started = 0;

// A small tree with the cases clients get wrong: a binary file larger than one read, an empty file,
// and a name with spaces and non-ASCII characters (percent-encoded in hrefs).
test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-clients-'));
  source = path.join(work, 'source');
  await mkdir(path.join(source, 'sub dir'), { recursive: true });
  await writeFile(path.join(source, 'hello.txt'), 'hello, WebDAV\n');
  await writeFile(path.join(source, 'blob.bin'), randomBytes(1024 * 1024 + 17));
  await writeFile(path.join(source, 'empty.txt'), '');
  await writeFile(path.join(source, 'sub dir', 'ünïcödé €.txt'), 'unicode\n');
  apache = await startApache();
});

test.after.always(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function davtap(args: string[]): Promise<DavtapProcess> {
  const p = await startDavtap([...args, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, `davtap-${++started}.db`)]);
  running.push(p);
  return p;
}

async function assertDavtapHealthy(t: ExecutionContext, proc: DavtapProcess): Promise<void> {
  t.true(proc.stdout().split('\n').filter((l) => l.trim() !== '').length > 0, 'davtap printed its flows');
  t.notRegex(proc.stderr(), /internal error|uncaught|unhandled/i);
  t.false((await proc.stop()).killed, 'davtap stops on SIGTERM within the bound');
}

// ---- cadaver ---------------------------------------------------------------------------------


const CADAVER_BLOB = randomBytes(300_000);

interface CadaverSession {
  transcript: string;
  code: number | null;
  downloads: Map<string, Buffer>;
  server: Map<string, Buffer>;
}

async function cadaverSession(name: string, url: string, proxy?: string): Promise<CadaverSession> {
  await apache!.mkcol(`/${name}/`);
  const cwd = await mkdtemp(path.join(work, `${name}-`));
  await writeFile(path.join(cwd, 'hello.txt'), 'hello, WebDAV\n');
  await writeFile(path.join(cwd, 'blob.bin'), CADAVER_BLOB);
  const run = await runCadaver(url, CADAVER_SCRIPT, { cwd, proxy });
  const local = await readTree(cwd);
  const downloads = new Map([...local].filter(([k]) => k.startsWith('got-')));
  // What was downloaded must be what was uploaded.
  if (!downloads.get('got-a.txt')?.equals(local.get('hello.txt')!) || !downloads.get('got-blob.bin')?.equals(local.get('blob.bin')!)) {
    throw new Error(`cadaver via ${url}: downloads differ from uploads\n${run.stdout}\n${run.stderr}`);
  }
  return {
    transcript: normaliseCadaver(run.stdout + run.stderr, url),
    code: run.code,
    downloads,
    server: await readTree(path.join(apache!.dataDir, name)),
  };
}

let cadaverDirect: Promise<CadaverSession> | undefined;
const directCadaver = () => (cadaverDirect ??= cadaverSession('cadaver-direct', `${apache!.url}cadaver-direct/`));

test.serial('cadaver direct: every scripted command succeeds (the baseline is sound)', async (t) => {
  const direct = await directCadaver();
  t.is(direct.code, 0);
  t.notRegex(direct.transcript, /failed|error/i, direct.transcript);
  t.is(direct.transcript.match(/succeeded/g)?.length, 13, direct.transcript);
  t.regex(direct.transcript, /Value of color is: blue/);
  t.deepEqual([...direct.server.keys()], ['blob.bin', 'sub/', 'sub/c.txt']);
});

async function assertCadaverSameAsDirect(t: ExecutionContext, via: CadaverSession, proc: DavtapProcess) {
  const direct = await directCadaver();
  if (via.transcript !== direct.transcript) t.log(`davtap stderr:\n${proc.stderr().slice(-4_000)}`);
  t.is(via.transcript, direct.transcript);
  t.is(via.code, direct.code);
  t.deepEqual(via.downloads, direct.downloads);
  t.deepEqual(via.server, direct.server);
  await assertDavtapHealthy(t, proc);
}

test.serial('cadaver through davtap in reverse mode sees and leaves the same as direct', async (t) => {
  const proc = await davtap(['--upstream', apache!.url]);
  await assertCadaverSameAsDirect(t, await cadaverSession('cadaver-reverse', `${proc.url}/cadaver-reverse/`), proc);
});

test.serial('cadaver through davtap as a forward proxy sees and leaves the same as direct', async (t) => {
  const proc = await davtap(['--ca-dir', path.join(work, 'ca')]);
  const session = await cadaverSession('cadaver-forward', `${apache!.url}cadaver-forward/`, `127.0.0.1:${proc.port}`);
  await assertCadaverSameAsDirect(t, session, proc);
});

// ---- rclone ----------------------------------------------------------------------------------

interface RcloneSession {
  steps: Array<{ step: string; code: number | null; out: string }>;
  listing: unknown[];
  back: Map<string, Buffer>;
  server: Map<string, Buffer>;
}

async function rcloneSession(name: string, url: string): Promise<RcloneSession> {
  await apache!.mkcol(`/${name}/`);
  const cwd = await mkdtemp(path.join(work, `${name}-`));
  const back = path.join(cwd, 'back');
  const steps: RcloneSession['steps'] = [];
  const step = async (label: string, args: string[], keepStdout = true): Promise<ToolRun> => {
    const r = await runRclone(args, url, { cwd });
    // stderr carries timestamps and, on failure, the error: keep only whether there was an ERROR.
    const out = (keepStdout ? r.stdout : '') + (/ERROR/.test(r.stderr) ? `\nstderr: ${r.stderr}` : '');
    steps.push({ step: label, code: r.code, out });
    return r;
  };
  await step('copy up', ['copy', source, ':webdav:rc']);
  await step('ls', ['ls', ':webdav:rc']);
  const lsjson = await step('lsjson', ['lsjson', '-R', ':webdav:rc'], false); // compared below, without times
  await step('copy down', ['copy', ':webdav:rc', back]);
  await step('deletefile', ['deletefile', ':webdav:rc/hello.txt']);
  await step('purge', ['purge', ':webdav:rc/sub dir']);
  await step('ls after', ['ls', ':webdav:rc']);
  // Modification times are the server's clock at upload: the one field that differs between runs.
  const listing = (JSON.parse(lsjson.stdout || '[]') as Array<Record<string, unknown>>)
    .map(({ ModTime: _m, ...rest }) => rest)
    .sort((a, b) => String(a.Path).localeCompare(String(b.Path)));
  return { steps, listing, back: await readTree(back), server: await readTree(path.join(apache!.dataDir, name)) };
}

let rcloneDirect: Promise<RcloneSession> | undefined;
const directRclone = () => (rcloneDirect ??= rcloneSession('rclone-direct', `${apache!.url}rclone-direct/`));

test.serial('rclone direct: every step succeeds and the tree comes back byte for byte', async (t) => {
  const direct = await directRclone();
  t.deepEqual(direct.steps.filter((s) => s.code !== 0), []);
  t.deepEqual(direct.back, await readTree(source));
  t.is(direct.listing.length, 5);
  t.deepEqual([...direct.server.keys()], ['rc/', 'rc/blob.bin', 'rc/empty.txt']);
});

test.serial('rclone through davtap in reverse mode sees and leaves the same as direct', async (t) => {
  const proc = await davtap(['--upstream', apache!.url]);
  const via = await rcloneSession('rclone-reverse', `${proc.url}/rclone-reverse/`);
  const direct = await directRclone();
  if (JSON.stringify(via.steps) !== JSON.stringify(direct.steps)) t.log(`davtap stderr:\n${proc.stderr().slice(-4_000)}`);
  t.deepEqual(via.steps, direct.steps);
  t.deepEqual(via.listing, direct.listing);
  t.deepEqual(via.back, direct.back);
  t.deepEqual(via.server, direct.server);
  await assertDavtapHealthy(t, proc);
});
