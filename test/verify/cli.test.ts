// `davtap verify` as a command: one-line usage errors with exit 2, exit 0/1 by --fail-on, the JSON
// and JUnit outputs, and credentials never printed.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { ensureCa, LeafIssuer } from '../../src/proxy/ca.js';
import type { CliIO } from '../../src/cli/io.js';
import { request } from '../helpers/apache.js';
import { startOrigin } from '../helpers/origin.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';

let dav: DavServer;
let base: string;
let scratch: string;

test.before(async () => {
  dav = await startDavServer();
  base = `${dav.url}/dav/`;
  await request(`${base}docs/`, 'MKCOL');
  for (let i = 0; i < 4; i++) await request(`${base}docs/f${i}.txt`, 'PUT', { body: `f${i}` });
  scratch = await mkdtemp(path.join(tmpdir(), 'davtap-verify-cli-'));
});

test.after.always(async () => {
  await dav?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function run(args: string[], stderrTty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(c, _e, cb) {
        f(String(c));
        cb();
      },
    });
  const stderr = Object.assign(sink((s) => (err += s)), stderrTty ? { isTTY: true, columns: 100 } : {});
  const io: CliIO = { stdout: sink((s) => (out += s)), stderr, env: {}, cwd: scratch };
  const code = await main(['verify', ...args], io);
  return { code, out, err };
}

const usageCases: [string, string[], RegExp][] = [
  ['no --origin', ['--via', 'http://127.0.0.1:1/'], /^davtap: verify: --origin URL is required/],
  ['no --via', ['--origin', 'http://127.0.0.1:1/'], /^davtap: verify: --via URL is required/],
  ['a bad URL', ['--origin', 'not a url', '--via', 'http://127.0.0.1:1/'], /^davtap: verify: --origin 'not a url' is not a URL/],
  ['another scheme', ['--origin', 'ftp://127.0.0.1/', '--via', 'http://127.0.0.1:1/'], /must be an http:\/\/ or https:\/\/ URL/],
  ['credentials in the URL', ['--origin', 'http://u:p@127.0.0.1/', '--via', 'http://127.0.0.1:1/'], /give credentials with --auth, not in the URL/],
  ['a bad --fail-on', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--fail-on', 'loud'], /--fail-on 'loud' is neither a severity/],
  ['a bad --map', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--map', 'dav=/'], /--map 'dav=\/' must be VIA_PREFIX=ORIGIN_PREFIX/],
  ['a bad --depth', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--depth', '0'], /--depth '0' must be a whole number from 1 to 32/],
  ['a relative --path', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--path', 'docs/'], /--path 'docs\/' must start with \//],
  ['--auth without a colon', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--auth', 'user'], /--auth must be USER:PASS/],
  ['a bad --accept-encoding', ['--origin', 'http://127.0.0.1:1/', '--via', 'http://127.0.0.1:2/', '--accept-encoding', 'gzip\r\nX: y'], /--accept-encoding "gzip\\r\\nX: y" is not a list of codings/],
  ['an unknown flag', ['--frobnicate'], /^davtap: verify: Unknown option '--frobnicate'/],
];

for (const [what, args, message] of usageCases) {
  test(`${what} is a one-line usage error with exit 2`, async (t) => {
    const r = await run(args);
    t.is(r.code, 2);
    t.regex(r.err, message);
    t.is(r.err.trim().split('\n').length, 1, r.err);
    t.is(r.out, '');
  });
}

test('--help describes every option and the exit statuses', async (t) => {
  const r = await run(['--help']);
  t.is(r.code, 0);
  for (const flag of ['--origin', '--via', '--path', '--depth', '--max-collections', '--concurrency', '--map', '--auth', '--insecure', '--accept-encoding', '--timeout', '--max-time', '--max-bytes', '--fail-on', '--json', '--junit']) t.true(r.out.includes(flag), flag);
  t.regex(r.out, /Exit status: 0 .*\n.*1 one did, 2 usage or network error/);
});

test('the origin compared with itself exits 0 and --json parses', async (t) => {
  const r = await run(['--origin', base, '--via', base, '--json']);
  t.is(r.code, 0, r.out + r.err);
  const doc = JSON.parse(r.out) as { passed: boolean; paths: { viaPath: string; exchanges: { origin: { status: number } }[] }[]; totals: { error: number } };
  t.true(doc.passed);
  t.deepEqual(doc.paths.map((p) => p.viaPath), ['/dav/', '/dav/docs/']);
  t.deepEqual(doc.paths.flatMap((p) => p.exchanges.map((e) => e.origin.status)), [207, 207, 207, 207, 207, 207]);
  t.is(doc.totals.error, 0);
});

test('--auth is sent to both sides as Basic credentials and printed nowhere', async (t) => {
  const seen: string[] = [];
  const server = await startOrigin((req, socket) => {
    seen.push(req.headers.authorization ?? '(none)');
    socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n');
  });
  t.teardown(() => server.close());
  const r = await run(['--origin', `${server.url}/`, '--via', `${server.url}/`, '--auth', 'alice:s3cret-pw', '--json']);
  const basic = `Basic ${Buffer.from('alice:s3cret-pw').toString('base64')}`;
  t.true(seen.length >= 4, `${seen.length} requests`);
  t.true(seen.every((h) => h === basic));
  t.false(r.out.includes('s3cret') || r.out.includes(basic.slice(6)) || r.err.includes('s3cret'));
  // Both sides refused: nothing differs, but the report says the origin did not answer 207.
  t.is(r.code, 0);
  const text = await run(['--origin', `${server.url}/`, '--via', `${server.url}/`, '--auth', 'alice:s3cret-pw']);
  t.regex(text.out, /origin answered 401 \(not 207\) to PROPFIND allprop, PROPFIND propname, PROPFIND named/);
});

test('--fail-on picks the level: a gateway re-framing the body fails only at info', async (t) => {
  // A relay that answers with the origin's bytes, chunked instead of Content-Length.
  const relay = await startOrigin(async (req, socket) => {
    const headers: Record<string, string> = {};
    for (const h of ['host', 'depth', 'content-type']) if (req.headers[h] !== undefined) headers[h] = req.headers[h]!;
    const res = await request(`${dav.url}${req.target}`, req.method, { headers, body: req.body });
    const head = `HTTP/1.1 ${res.status} Multi-Status\r\nContent-Type: ${res.headers['content-type']}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(res.body.length.toString(16) + '\r\n'), res.body, Buffer.from('\r\n0\r\n\r\n')]));
  });
  t.teardown(() => relay.close());
  const via = `${relay.url}/dav/`;
  const atError = await run(['--origin', base, '--via', via, '--path', '/docs/', '--depth', '1']);
  t.is(atError.code, 0, atError.out);
  t.regex(atError.out, /^PASS {2}\/dav\/docs\/ +3 exchanges/m);
  const atInfo = await run(['--origin', base, '--via', via, '--path', '/docs/', '--depth', '1', '--fail-on', 'info']);
  t.is(atInfo.code, 1, atInfo.out);
  t.regex(atInfo.out, /^FAIL {2}\/dav\/docs\/ +PROPFIND allprop: via re-framed the body: content-length → chunked \[MS810 info\]/m);
  const junit = path.join(scratch, 'info.xml');
  const byCategory = await run(['--origin', base, '--via', via, '--path', '/docs/', '--depth', '1', '--fail-on', 'stripped', '--junit', junit]);
  t.is(byCategory.code, 0, 'a category counts only its warnings and errors');
  t.regex(await readFile(junit, 'utf8'), /tests="1" failures="0"/);
});

test('an unwritable --junit file is an I/O error with exit 2', async (t) => {
  const r = await run(['--origin', base, '--via', base, '--path', '/docs/', '--depth', '1', '--junit', path.join(scratch, 'no-such-dir', 'out.xml')]);
  t.is(r.code, 2);
  t.regex(r.err, /^davtap: verify: cannot write --junit .*no-such-dir\/out\.xml: ENOENT/);
});

test('HTTPS: a certificate nobody trusts is a one-line error; --insecure accepts it', async (t) => {
  const ca = ensureCa(await mkdtemp(path.join(scratch, 'ca-')));
  const issuer = new LeafIssuer(ca);
  const leaf = issuer.issue('127.0.0.1');
  const xml = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n';
  const server = https.createServer({ key: (issuer as unknown as { leafKeyPem: string }).leafKeyPem, cert: leaf.cert }, (req, res) => {
    res.writeHead(req.method === 'PROPFIND' ? 207 : 200, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': req.method === 'PROPFIND' ? Buffer.byteLength(xml) : 0 });
    res.end(req.method === 'PROPFIND' ? xml : '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const strict = await run(['--origin', url, '--via', url]);
  t.is(strict.code, 2);
  t.regex(strict.err, /^davtap: verify: origin https:\/\/127\.0\.0\.1:\d+\/ did not answer OPTIONS \/: .*certificate/);
  t.is(strict.err.trim().split('\n').length, 1);
  const insecure = await run(['--origin', url, '--via', url, '--insecure']);
  t.is(insecure.code, 0, insecure.out + insecure.err);
  t.regex(insecure.out, /^PASS {2}\/ +3 exchanges, byte-identical$/m);
});

test('on a terminal, stderr shows one progress line per request, overwritten in place and cleared at the end', async (t) => {
  const tty = await run(['--origin', base, '--via', base, '--path', '/docs/', '--depth', '1'], true);
  t.is(tty.code, 0, tty.out + tty.err);
  const lines = tty.err.split('\r\x1b[K').filter((l) => l !== '');
  t.deepEqual(lines, ['verify: 0 compared; PROPFIND allprop /dav/docs/ …', 'verify: 1 compared; PROPFIND propname /dav/docs/ …', 'verify: 2 compared; PROPFIND named /dav/docs/ …']);
  t.true(tty.err.endsWith('\r\x1b[K'));
  t.false(tty.out.includes('\x1b'));
  const piped = await run(['--origin', base, '--via', base, '--path', '/docs/', '--depth', '1']);
  t.is(piped.err, '');
});

test('--concurrency takes a whole number from 1 to 64', async (t) => {
  const bad = await run(['--origin', base, '--via', base, '--concurrency', '0']);
  t.is(bad.code, 2);
  t.regex(bad.err, /^davtap: verify: --concurrency '0' must be a whole number from 1 to 64/);
  const ok = await run(['--origin', base, '--via', base, '--concurrency', '4', '--json']);
  t.is(ok.code, 0, ok.err);
  t.deepEqual((JSON.parse(ok.out) as { paths: { viaPath: string }[] }).paths.map((p) => p.viaPath).sort(), ['/dav/', '/dav/docs/']);
});
