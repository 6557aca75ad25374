// Real clients over https to davtap's own listener (reverse mode: davtap is the server they talk
// to), relaying to Debian's Apache mod_dav over plain http: rclone given davtap's CA with
// --ca-cert, cadaver (neon with GnuTLS, which reads only the system store: it runs in a mount
// namespace whose /etc/ssl/certs holds davtap's CA alone, so the machine's store is untouched), and
// litmus, compared test by test with litmus direct over http. Without the CA, rclone and cadaver
// must refuse davtap's certificate.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApache, type ApacheServer } from '../helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { CADAVER_BIN, CADAVER_SCRIPT, normaliseCadaver, readTree, runRclone, runTool, type ToolRun } from './clients.js';
import { runLitmus } from './litmus.js';
import { compareLitmusTls, counts } from './litmus-tls.js';

const UNSHARE = '/usr/bin/unshare';

let apache: ApacheServer;
let davtap: DavtapProcess;
let work = '';
let source = '';
let caPem = '';

/** davtap's https address for a collection, by name as clients would write it. */
const viaTls = (collection: string) => `https://localhost:${davtap.port}/${collection}/`;

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-tls-clients-'));
  source = path.join(work, 'source');
  await mkdir(path.join(source, 'sub dir'), { recursive: true });
  await writeFile(path.join(source, 'hello.txt'), 'hello over https\n');
  await writeFile(path.join(source, 'blob.bin'), randomBytes(512 * 1024 + 3));
  await writeFile(path.join(source, 'empty.txt'), '');
  await writeFile(path.join(source, 'sub dir', 'ünïcödé €.txt'), 'unicode\n');
  apache = await startApache();
  const caDir = path.join(work, 'ca');
  davtap = await startDavtap(['--upstream', apache.url, '--ca-dir', caDir, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, 'davtap.db')]);
  caPem = path.join(caDir, 'davtap-ca.pem');
});

test.after.always(async () => {
  await davtap?.stop();
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test.serial('davtap serves https from its CA on the listener', (t) => {
  t.true(existsSync(caPem), `no CA at ${caPem}; davtap said: ${davtap.stderr()}`);
  t.regex(davtap.stderr(), /https with CA .*davtap-ca\.pem(?: \([^)]*\))? and http on this port/);
});

// ---- rclone ----------------------------------------------------------------------------------

const rclone = (args: string[], url: string, cwd: string, ca = true): Promise<ToolRun> => runRclone([...args, ...(ca ? ['--ca-cert', caPem] : [])], url, { cwd });

test.serial('rclone without the CA refuses davtap\'s certificate', async (t) => {
  await apache.mkcol('/rclone-untrusted/');
  const cwd = await mkdtemp(path.join(work, 'rclone-untrusted-'));
  const r = await rclone(['copy', source, ':webdav:tree'], viaTls('rclone-untrusted'), cwd, false);
  t.not(r.code, 0);
  t.regex(r.stderr, /x509: certificate signed by unknown authority/);
  t.deepEqual([...(await readTree(path.join(apache.dataDir, 'rclone-untrusted'))).keys()], []);
});

test.serial('rclone with --ca-cert copies a tree up and back over https through davtap', async (t) => {
  await apache.mkcol('/rclone-tls/');
  const cwd = await mkdtemp(path.join(work, 'rclone-tls-'));
  const url = viaTls('rclone-tls');
  const up = await rclone(['copy', source, ':webdav:tree'], url, cwd);
  t.is(up.code, 0, up.stderr);
  const back = path.join(cwd, 'back');
  const down = await rclone(['copy', ':webdav:tree', back], url, cwd);
  t.is(down.code, 0, down.stderr);
  const sent = await readTree(source);
  t.deepEqual(await readTree(back), sent, 'the tree came back byte for byte');
  t.deepEqual(await readTree(path.join(apache.dataDir, 'rclone-tls', 'tree')), sent, 'Apache holds the tree');
  const listing = await rclone(['lsf', '-R', ':webdav:tree'], url, cwd);
  t.is(listing.code, 0, listing.stderr);
  t.deepEqual(listing.stdout.trim().split('\n').sort(), ['blob.bin', 'empty.txt', 'hello.txt', 'sub dir/', 'sub dir/ünïcödé €.txt']);
  // The flows were recorded as https clients of davtap's listener.
  t.regex(davtap.stdout(), /PROPFIND .*rclone-tls.*\{tls: localhost\}/);
});

// ---- cadaver ---------------------------------------------------------------------------------

const CADAVER_BLOB = randomBytes(300_000);

/**
 * cadaver on `url` with the script on stdin, HOME in its own dir. With `trust`, in a mount
 * namespace whose /etc/ssl/certs/ca-certificates.crt (the bundle GnuTLS reads as the system
 * store) is that file alone.
 */
async function cadaver(name: string, url: string, trust?: string): Promise<{ run: ToolRun; cwd: string }> {
  const cwd = await mkdtemp(path.join(work, `${name}-`));
  await writeFile(path.join(cwd, 'hello.txt'), 'hello, WebDAV\n');
  await writeFile(path.join(cwd, 'blob.bin'), CADAVER_BLOB);
  const input = `${CADAVER_SCRIPT.join('\n')}\nquit\n`;
  const opts = { cwd, input, env: { HOME: cwd }, timeoutMs: 30_000 };
  const run = trust
    ? await runTool(UNSHARE, ['--mount', '--', 'sh', '-c', 'mount -t tmpfs davtap-ca /etc/ssl/certs && cat "$0" > /etc/ssl/certs/ca-certificates.crt && exec "$@"', trust, CADAVER_BIN, url], opts)
    : await runTool(CADAVER_BIN, [url], opts);
  return { run, cwd };
}

/** Whether this process may make a mount namespace (root with CAP_SYS_ADMIN, as in CI). */
function canUnshareMount(): string | undefined {
  try {
    execFileSync(UNSHARE, ['--mount', '--', 'sh', '-c', 'mount -t tmpfs probe /mnt'], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `${UNSHARE} --mount failed (cadaver's trust needs a mount namespace, as root): ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`;
  }
}

test.serial('cadaver without the CA, non-interactive: rejects davtap\'s certificate and changes nothing', async (t) => {
  await apache.mkcol('/cadaver-untrusted/');
  const { run } = await cadaver('cadaver-untrusted', viaTls('cadaver-untrusted'));
  const out = run.stdout + run.stderr;
  // neon asks whether to accept the certificate; the script's next line is not "y".
  t.regex(out, /Untrusted server certificate presented/);
  t.regex(out, /Certificate rejected/);
  t.regex(out, /issuer is not trusted/);
  t.notRegex(out, /succeeded/);
  t.deepEqual([...(await readTree(path.join(apache.dataDir, 'cadaver-untrusted'))).keys()], []);
});

test.serial('cadaver trusting davtap\'s CA runs the same session over https as direct over http', async (t) => {
  const cannot = canUnshareMount();
  if (cannot) return t.fail(cannot);
  await apache.mkcol('/cadaver-direct/');
  await apache.mkcol('/cadaver-tls/');
  const directUrl = `${apache.url}cadaver-direct/`;
  const tlsUrl = viaTls('cadaver-tls');
  const direct = await cadaver('cadaver-direct', directUrl);
  const via = await cadaver('cadaver-tls', tlsUrl, caPem);
  const transcript = (run: ToolRun, url: string) => normaliseCadaver(run.stdout + run.stderr, url).replaceAll(`\`${new URL(url).hostname}'`, '`HOST\'');
  const directText = transcript(direct.run, directUrl);
  const viaText = transcript(via.run, tlsUrl);
  t.is(via.run.code, 0);
  t.notRegex(viaText, /failed|error|certificate/i, viaText);
  t.is(viaText.match(/succeeded/g)?.length, 13, viaText);
  t.regex(viaText, /Value of color is: blue/);
  t.is(viaText, directText);
  const downloads = async (cwd: string) => new Map([...(await readTree(cwd))].filter(([k]) => k.startsWith('got-')));
  t.deepEqual(await downloads(via.cwd), await downloads(direct.cwd));
  t.deepEqual(await readTree(path.join(apache.dataDir, 'cadaver-tls')), await readTree(path.join(apache.dataDir, 'cadaver-direct')));
});

// ---- litmus ----------------------------------------------------------------------------------

test.serial('litmus over https through davtap: the same results as litmus direct over http', async (t) => {
  await apache.mkcol('/litmus-direct/');
  await apache.mkcol('/litmus-tls/');
  const directBase = `${apache.url}litmus-direct/`;
  const tlsBase = viaTls('litmus-tls');
  const cwd = async (name: string) => {
    const d = path.join(work, name);
    await mkdir(d);
    return d;
  };
  const direct = await runLitmus(directBase, { cwd: await cwd('litmus-direct') });
  const https = await runLitmus(tlsBase, { cwd: await cwd('litmus-tls') });
  t.true(direct.results.length >= 100, direct.output);
  t.regex(https.debugLog, /Negotiating SSL connection/, 'litmus spoke TLS');
  const c = compareLitmusTls(direct, directBase, https, tlsBase);
  t.deepEqual(c.differ, []);
  t.is(counts(c.https), counts(c.direct));
  // litmus skips expect100 on any https server; nothing else may be left out.
  t.deepEqual(c.sslSkipped, ['http 2 expect100']);
  t.is(c.compared, direct.results.length - 1);
  t.log(`litmus over https ${counts(c.https)}, direct ${counts(c.direct)} (${c.compared} tests compared)`);
});
