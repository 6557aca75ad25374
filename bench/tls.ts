// The TLS acceptance run: each check against the built CLI (`./bin/davtap` as a child process),
// Debian's Apache mod_dav, nginx, curl and litmus, all on loopback, the CA and the databases in a
// temp dir that is removed at the end. On a fresh clone: `npm ci && npm run tls` (builds first).
// Prints one line, and exits 1 when any check fails:
//
//   tls: https=ok same-port-http=ok copy=ok litmus=P/F upstream-ca=ok hint=ok public-url=ok certs=ok
//
// - https: curl --cacert <davtap's CA> PROPFIND on https://localhost:PORT/… through davtap's
//   listener gets the same 207 body as direct from Apache;
// - same-port-http: plain http on the same port, at the same time as https requests;
// - copy: COPY and MOVE over https with `Destination: https://localhost:PORT/…` succeed on Apache
//   (which refuses a Destination with another scheme or port: davtap maps it);
// - litmus: litmus over https through davtap, P passed and F failed, test by test the same as litmus
//   direct over http (litmus skips `http expect100` over https, "skipping for SSL server": left out
//   of both); both counts are printed when they differ;
// - upstream-ca: davtap in front of nginx serving https with a certificate of a CA minted here,
//   relaying to Apache, gets the same 207 as direct with `--upstream-ca <that CA>`;
// - hint: without `--upstream-ca`, davtap's stderr names --upstream-ca and --insecure-upstream,
//   and so does the 502 body of a request;
// - public-url: nginx terminating TLS in front of davtap started with
//   `--public-url https://localhost:NGINXPORT/`; MOVE with an https Destination on nginx's
//   address succeeds;
// - certs: certs/README.md names each platform, `davtap ca --export F --format der` writes a DER
//   that node:crypto reads as the CA, and in forward mode `curl -x` to
//   http://davtap.ca/davtap-ca.pem returns the CA's PEM.
// A check whose option is not in the CLI's --help prints FAIL(option missing).
// TLS_VERBOSE=1 prints each check's details on stderr.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startApache, type ApacheServer } from '../test/helpers/apache.js';
import { curl } from '../test/helpers/curl.js';
import { DAVTAP_BIN, startDavtap, type DavtapProcess } from '../test/helpers/davtap-process.js';
import { mintPrivatePki, type PrivatePki } from '../test/helpers/private-ca.js';
import { runLitmus } from '../test/interop/litmus.js';
import { compareLitmusTls, counts } from '../test/interop/litmus-tls.js';
import { startNginx, type NginxGateway } from '../test/interop/nginx/nginx.js';

const REPO = path.join(import.meta.dirname, '..');
const verbose = process.env.TLS_VERBOSE === '1';
const note = (s: string) => {
  if (verbose) process.stderr.write(`tls: ${s}\n`);
};

class CheckFailed extends Error {}
const fail = (why: string): never => {
  throw new CheckFailed(why);
};
const expect = (cond: boolean, why: string) => {
  if (!cond) fail(why);
};

// ---- the CLI's options -----------------------------------------------------------------------

function helpOf(args: string[]): string {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}
const proxyHelp = helpOf(['--help']);
const caHelp = helpOf(['ca', '--help']);
const hasOption = (help: string, option: string) => new RegExp(`(^|\\s)${option}(\\s|=|$)`, 'm').test(help);

// ---- one request with curl -------------------------------------------------------------------

interface Sent {
  status: number;
  head: string;
  body: string;
}

/** curl -i; the final response (after any 1xx), or a failed check naming curl's error. */
async function send(method: string, url: string, opts: { cacert?: string; proxy?: string; headers?: string[]; body?: string } = {}): Promise<Sent> {
  const args = ['-i', '-X', method, ...(opts.cacert ? ['--cacert', opts.cacert] : []), ...(opts.proxy ? ['-x', opts.proxy] : [])];
  for (const h of opts.headers ?? []) args.push('-H', h);
  if (opts.body !== undefined) args.push('--data-binary', opts.body);
  const r = await curl([...args, url]);
  let text = r.stdout.toString('latin1');
  if (r.code !== 0 && text === '') fail(`${method} ${url}: curl exit ${r.code}: ${r.stderr.trim()}`);
  for (;;) {
    const end = text.indexOf('\r\n\r\n');
    const m = /^HTTP\/[\d.]+ (\d{3})/.exec(text);
    if (!m || end < 0) fail(`${method} ${url}: no response (curl exit ${r.code}): ${r.stderr.trim()}`);
    const status = Number(m![1]);
    if (status >= 100 && status < 200) {
      text = text.slice(end + 4);
      continue;
    }
    return { status, head: text.slice(0, end), body: Buffer.from(text.slice(end + 4), 'latin1').toString('utf8') };
  }
}

const PROPFIND = ['Depth: 1', 'Content-Type: application/xml'];
const ALLPROP = '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><allprop/></propfind>';

/** A PROPFIND Depth 1 that must answer 207; its body. */
async function propfind(url: string, opts: { cacert?: string } = {}): Promise<string> {
  const r = await send('PROPFIND', url, { ...opts, headers: PROPFIND, body: ALLPROP });
  expect(r.status === 207, `PROPFIND ${url} answered ${r.status}`);
  return r.body;
}

// ---- the run ---------------------------------------------------------------------------------

const work = mkdtempSync(path.join(tmpdir(), 'davtap-tls-'));
const caDir = path.join(work, 'ca');
const caPem = path.join(caDir, 'davtap-ca.pem');
const running: Array<{ stop(): Promise<unknown> }> = [];
let dbs = 0;

async function davtap(args: string[], listen = '127.0.0.1:0'): Promise<DavtapProcess> {
  const p = await startDavtap([...args, '--listen', listen, '--no-ui', '--db', path.join(work, `davtap-${++dbs}.db`)], { stdout: 'ignore' });
  running.push(p);
  return p;
}

let apache: ApacheServer;
/** davtap in reverse mode in front of Apache, serving https from its CA and http on one port. */
let main: DavtapProcess | undefined;
let mainError = '';

async function setUp(): Promise<void> {
  apache = await startApache({ accessLog: false });
  running.push(apache);
  await apache.mkcol('/tls/');
  await apache.put('/tls/a.txt', 'served over https\n');
  await apache.put('/tls/b.txt', 'and over http\n');
  try {
    main = await davtap(['--upstream', apache.url, '--ca-dir', caDir]);
    note(main.stderr().trim());
    if (!existsSync(caPem)) mainError = `no CA at ${caPem} after start-up (listener serves no https?)`;
  } catch (err) {
    mainError = `davtap did not start: ${(err as Error).message.split('\n')[0]}`;
  }
}

const httpsOrigin = () => `https://localhost:${main!.port}`;
const httpOrigin = () => `http://127.0.0.1:${main!.port}`;

function needMain(): void {
  if (!main || mainError) fail(mainError || 'davtap did not start');
}

async function checkHttps(): Promise<void> {
  needMain();
  const direct = await propfind(`${apache.url}tls/`);
  const via = await propfind(`${httpsOrigin()}/tls/`, { cacert: caPem });
  expect(via === direct, `207 body over https differs from direct (${via.length} vs ${direct.length} bytes)`);
  const get = await send('GET', `${httpsOrigin()}/tls/a.txt`, { cacert: caPem });
  expect(get.status === 200 && get.body === 'served over https\n', `GET over https answered ${get.status}`);
}

async function checkSamePortHttp(): Promise<void> {
  needMain();
  const direct = await propfind(`${apache.url}tls/`);
  // https and http on the one port, interleaved: each client gets its own answer.
  const rounds = await Promise.all(
    Array.from({ length: 4 }, () => Promise.all([propfind(`${httpsOrigin()}/tls/`, { cacert: caPem }), propfind(`${httpOrigin()}/tls/`)])),
  );
  for (const [viaHttps, viaHttp] of rounds) {
    expect(viaHttp === direct, 'a 207 over http on the https port differs from direct');
    expect(viaHttps === direct, 'a 207 over https next to http differs from direct');
  }
  const get = await send('GET', `${httpOrigin()}/tls/b.txt`);
  expect(get.status === 200 && get.body === 'and over http\n', `GET over http answered ${get.status}`);
}

async function checkCopy(): Promise<void> {
  needMain();
  const base = `${httpsOrigin()}/tls`;
  const put = await send('PUT', `${base}/copy-me.txt`, { cacert: caPem, body: 'copied, then moved\n' });
  expect(put.status === 201, `PUT over https answered ${put.status}`);
  const copy = await send('COPY', `${base}/copy-me.txt`, { cacert: caPem, headers: [`Destination: ${base}/copied.txt`] });
  expect(copy.status === 201 || copy.status === 204, `COPY answered ${copy.status}: ${copy.body.slice(0, 120)}`);
  const move = await send('MOVE', `${base}/copied.txt`, { cacert: caPem, headers: [`Destination: ${base}/moved%20here.txt`] });
  expect(move.status === 201 || move.status === 204, `MOVE answered ${move.status}: ${move.body.slice(0, 120)}`);
  const dir = path.join(apache.dataDir, 'tls');
  expect(existsSync(path.join(dir, 'copy-me.txt')), 'the COPY source is gone');
  expect(!existsSync(path.join(dir, 'copied.txt')), 'the MOVE source is still there');
  expect(existsSync(path.join(dir, 'moved here.txt')) && readFileSync(path.join(dir, 'moved here.txt'), 'utf8') === 'copied, then moved\n', 'the moved file is not on Apache');
}

async function checkLitmus(): Promise<string> {
  needMain();
  await apache.mkcol('/litmus-direct/');
  await apache.mkcol('/litmus-https/');
  const cwd = (name: string) => {
    const d = path.join(work, name);
    mkdirSync(d);
    return d;
  };
  const directBase = `${apache.url}litmus-direct/`;
  const httpsBase = `${httpsOrigin()}/litmus-https/`;
  const direct = await runLitmus(directBase, { cwd: cwd('litmus-direct') });
  const https = await runLitmus(httpsBase, { cwd: cwd('litmus-https') });
  expect(direct.results.length > 0, `litmus direct ran no tests: ${direct.output.slice(-300)}`);
  expect(https.results.length > 0, `litmus over https ran no tests: ${https.output.slice(-300)}`);
  const c = compareLitmusTls(direct, directBase, https, httpsBase);
  note(`litmus: ${c.compared} tests compared; skipped by litmus over https only: ${c.sslSkipped.join(', ') || 'none'}`);
  for (const d of c.differ) process.stderr.write(`tls: litmus differs: ${d}\n`);
  const p = counts(c.https);
  if (p !== counts(c.direct)) return `FAIL(https ${p} direct ${counts(c.direct)})`;
  if (c.differ.length > 0) return `FAIL(${p} but ${c.differ.length} tests differ from direct)`;
  return p;
}

/** nginx serving https with a private CA's certificate: in front of Apache, and in front of a davtap with --public-url. */
let pki: PrivatePki | undefined;
let nginx: NginxGateway | undefined;
let publicPort = 0;

async function setUpNginx(): Promise<void> {
  const pkiDir = path.join(work, 'pki');
  mkdirSync(pkiDir);
  pki = mintPrivatePki(pkiDir);
  publicPort = await freePort();
  const tls = `ssl_certificate ${pki.serverCertFile};\nssl_certificate_key ${pki.serverKeyFile};\nclient_max_body_size 0;`;
  const pass = (origin: string) => `location / {\n    proxy_pass ${origin};\n    proxy_request_buffering off;\n}`;
  nginx = await startNginx([
    { name: 'upstream', tls: true, config: `${tls}\n${pass(`http://127.0.0.1:${apache.port}`)}` },
    { name: 'front', tls: true, config: `${tls}\n${pass(`http://127.0.0.1:${publicPort}`)}` },
  ]);
  running.push(nginx);
}

async function checkUpstreamCa(): Promise<void> {
  if (!hasOption(proxyHelp, '--upstream-ca')) fail('option missing');
  if (!nginx) fail('nginx did not start');
  const upstream = nginx!.urls.upstream!;
  const p = await davtap(['--upstream', upstream, '--upstream-ca', pki!.caFile, '--ca-dir', caDir]);
  const direct = await propfind(`${apache.url}tls/`);
  const via = await propfind(`${p.url}/tls/`);
  expect(via === direct, 'the 207 through davtap from the https upstream differs from direct');
  expect(!/--insecure-upstream/.test(p.stderr()), `davtap complained although the upstream's CA was given: ${p.stderr().trim()}`);
}

async function checkHint(): Promise<void> {
  if (!hasOption(proxyHelp, '--upstream-ca') || !hasOption(proxyHelp, '--insecure-upstream')) fail('option missing');
  if (!nginx) fail('nginx did not start');
  const p = await davtap(['--upstream', nginx!.urls.upstream!, '--ca-dir', caDir]);
  // The start-up check makes one handshake within 5 s of listening.
  const deadline = Date.now() + 7_000;
  const named = () => /--upstream-ca/.test(p.stderr()) && /--insecure-upstream/.test(p.stderr());
  while (!named() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  note(`hint: ${p.stderr().trim()}`);
  expect(named(), 'stderr does not name --upstream-ca and --insecure-upstream');
  const r = await send('PROPFIND', `${p.url}/tls/`, { headers: PROPFIND });
  expect(r.status === 502, `a request answered ${r.status}, not 502`);
  expect(/--upstream-ca/.test(r.body) && /--insecure-upstream/.test(r.body), `the 502 body does not name both options: ${r.body.slice(0, 200)}`);
}

async function checkPublicUrl(): Promise<void> {
  if (!hasOption(proxyHelp, '--public-url')) fail('option missing');
  if (!nginx) fail('nginx did not start');
  const frontPort = new URL(nginx!.urls.front!).port;
  const front = `https://localhost:${frontPort}`;
  const p = await davtap(['--upstream', apache.url, '--public-url', `${front}/`, '--ca-dir', caDir], `127.0.0.1:${publicPort}`);
  note(`public-url: ${p.stderr().trim()}`);
  await apache.put('/tls/public.txt', 'moved through nginx\n');
  const move = await send('MOVE', `${front}/tls/public.txt`, { cacert: pki!.caFile, headers: [`Destination: ${front}/tls/public-moved.txt`] });
  expect(move.status === 201 || move.status === 204, `MOVE through nginx answered ${move.status}: ${move.body.slice(0, 160)}`);
  const dir = path.join(apache.dataDir, 'tls');
  expect(!existsSync(path.join(dir, 'public.txt')) && existsSync(path.join(dir, 'public-moved.txt')), 'the file was not moved on Apache');
  const location = /^Location: (.*)$/im.exec(move.head)?.[1]?.trim();
  expect(location === undefined || location.startsWith(`${front}/`), `Location names another address: ${location}`);
}

const PLATFORMS = ['Debian', 'Ubuntu', 'Fedora', 'Firefox', 'macOS', 'Windows', 'Android', 'iOS'];

async function checkCerts(): Promise<void> {
  const readme = path.join(REPO, 'certs', 'README.md');
  expect(existsSync(readme), 'certs/README.md is missing');
  const text = readFileSync(readme, 'utf8');
  const missing = PLATFORMS.filter((p) => !text.includes(p));
  expect(missing.length === 0, `certs/README.md does not name ${missing.join(', ')}`);

  if (!hasOption(caHelp, '--export') || !hasOption(caHelp, '--format')) fail('option missing');
  const certsCa = path.join(work, 'certs-ca');
  const der = path.join(work, 'davtap-ca.der');
  const r = spawnSync(process.execPath, [DAVTAP_BIN, 'ca', '--ca-dir', certsCa, '--export', der, '--format', 'der'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status === 0, `davtap ca --export exited ${r.status}: ${(r.stderr ?? '').trim()}`);
  const pem = readFileSync(path.join(certsCa, 'davtap-ca.pem'), 'utf8');
  const derBytes = readFileSync(der);
  expect(derBytes[0] === 0x30, 'the export is not DER (does not start with a SEQUENCE)');
  const fromDer = new X509Certificate(derBytes);
  expect(fromDer.ca, 'the DER certificate is not a CA');
  expect(fromDer.fingerprint256 === new X509Certificate(pem).fingerprint256, 'the DER is not the CA of that --ca-dir');

  const forward = await davtap(['--ca-dir', certsCa]);
  const page = await send('GET', 'http://davtap.ca/davtap-ca.pem', { proxy: forward.url });
  expect(page.status === 200, `http://davtap.ca/davtap-ca.pem answered ${page.status}`);
  expect(page.body.trim() === pem.trim(), 'http://davtap.ca/davtap-ca.pem is not the CA PEM');
}

type Check = () => Promise<string | void>;
const checks: Array<[string, Check]> = [
  ['https', checkHttps],
  ['same-port-http', checkSamePortHttp],
  ['copy', checkCopy],
  ['litmus', checkLitmus],
  ['upstream-ca', checkUpstreamCa],
  ['hint', checkHint],
  ['public-url', checkPublicUrl],
  ['certs', checkCerts],
];

const results: string[] = [];
let failed = false;
const why = (err: unknown) => (err instanceof Error ? err.message : String(err)).replaceAll(/\s+/g, ' ').trim().slice(0, 200);
try {
  let setupError = '';
  try {
    await setUp();
  } catch (err) {
    setupError = `set-up: ${why(err)}`;
  }
  let nginxError = '';
  if (!setupError) {
    try {
      await setUpNginx();
    } catch (err) {
      nginxError = `nginx: ${why(err)}`;
    }
  }
  for (const [name, check] of checks) {
    let value: string;
    try {
      if (setupError) fail(setupError);
      if (nginxError && ['upstream-ca', 'hint', 'public-url'].includes(name)) fail(nginxError);
      value = (await check()) ?? 'ok';
    } catch (err) {
      if (!(err instanceof CheckFailed)) process.stderr.write(`tls: ${name}: ${err instanceof Error ? err.stack : String(err)}\n`);
      value = `FAIL(${why(err)})`;
    }
    if (value.startsWith('FAIL')) failed = true;
    results.push(`${name}=${value}`);
  }
} finally {
  for (const r of running.reverse()) await r.stop().catch(() => {});
  if (process.env.TLS_KEEP === '1') process.stderr.write(`tls: kept ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`tls: ${results.join(' ')}\n`);
process.exitCode = failed ? 1 : 0;
