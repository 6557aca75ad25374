// davtap verify against a real gateway: Debian's nginx as a reverse proxy in front of Debian's
// Apache mod_dav, both on 127.0.0.1. A transparent configuration must pass; each classic
// misconfiguration must fail with the words that name it.
import test from 'ava';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { freePort, startApache, type ApacheServer } from '../helpers/apache.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';
import { RADICALE_AUTH, startRadicale, type RadicaleServer } from './nginx/radicale.js';

const BIG_FILES = 400;
let apache: ApacheServer;
let radicale: RadicaleServer;
let nginx: NginxGateway;
let scratch: string;

function capture(): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(c, _e, cb) {
        f(String(c));
        cb();
      },
    });
  return { io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd: scratch }, out: () => out, err: () => err };
}

async function verify(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await main(['verify', '--timeout', '5', '--max-time', '10', ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

/** Sets the times of a directory tree into the past. */
async function ageTree(dir: string, when: Date): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await ageTree(p, when);
    await utimes(p, when, when);
  }
  await utimes(dir, when, when);
}

test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'davtap-verify-'));
  apache = await startApache({ accessLog: false });
  await apache.mkcol('/docs/');
  await apache.mkcol('/docs/sub/');
  await apache.mkcol('/big/');
  for (const name of ['a.txt', 'hello world.txt', 'café ü.txt']) await apache.put(`/docs/${name}`, `content of ${name}\n`);
  await apache.put('/docs/sub/inner.txt', 'inner\n');
  // The big collection is filled on disk directly: 400 PUTs would only slow the suite down.
  for (let i = 0; i < BIG_FILES; i++) await writeFile(path.join(apache.dataDir, 'big', `file-${String(i).padStart(4, '0')}.txt`), `file ${i}\n`);
  // Apache's ETags are weak (W/"…") for a second after a write: age everything, or the origin's
  // answer and the gateway's a moment later would differ by that W/ alone.
  await ageTree(apache.dataDir, new Date(Date.now() - 60_000));
  radicale = await startRadicale();
  const upstream = `proxy_pass http://127.0.0.1:${apache.port};`;
  const caldav = `proxy_pass http://127.0.0.1:${radicale.port};`;
  nginx = await startNginx([
    { name: 'transparent', config: `location / {\n    ${upstream}\n}` },
    // A gateway publishing the origin under /dav/ and stripping the prefix; the origin does not know it.
    { name: 'prefix-strip', config: `location /dav/ {\n    rewrite ^/dav/(.*)$ /$1 break;\n    ${upstream}\n}` },
    // Body rewriting meant for HTML pages, applied to XML: hrefs end up on the backend's address.
    {
      name: 'sub-href',
      config: `location / {\n    ${upstream}\n    proxy_set_header Accept-Encoding "";\n    sub_filter_types text/xml;\n    sub_filter_once off;\n    sub_filter '<D:href>/' '<D:href>http://10.1.2.3:8080/';\n}`,
    },
    {
      name: 'sub-namespace',
      config: `location / {\n    ${upstream}\n    proxy_set_header Accept-Encoding "";\n    sub_filter_types text/xml;\n    sub_filter_once off;\n    sub_filter ' xmlns:D="DAV:"' '';\n}`,
    },
    // nginx's own gzip filter skips 207; the origin compresses when asked, and the gateway hides the header.
    { name: 'gzip-hidden', config: `location / {\n    ${upstream}\n    proxy_set_header Accept-Encoding gzip;\n    proxy_hide_header Content-Encoding;\n}` },
    { name: 'gzip-unasked', config: `location / {\n    ${upstream}\n    proxy_set_header Accept-Encoding gzip;\n}` },
    // A slow link: after 16 KiB the rate drops so far that the client's deadline cuts the body.
    { name: 'rate-cut', config: `location / {\n    ${upstream}\n    limit_rate_after 16k;\n    limit_rate 1k;\n}` },
    // Radicale builds hrefs from the request path (and X-Script-Name): nginx passes them unchanged.
    { name: 'caldav', config: `location / {\n    ${caldav}\n}` },
    // A text filter that touches calendar data inside the REPORT answers.
    {
      name: 'caldav-sub',
      config: `location / {\n    ${caldav}\n    proxy_set_header Accept-Encoding "";\n    sub_filter_types text/xml;\n    sub_filter_once off;\n    sub_filter 'SUMMARY:' 'SUMMARY:[gw] ';\n}`,
    },
  ]);
});

test.after.always(async () => {
  await nginx?.stop();
  await apache?.stop();
  await radicale?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('a transparent nginx passes: every path PASS, exit 0', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls.transparent!, '--path', '/docs/', '--depth', '2']);
  t.is(r.code, 0, r.out + r.err);
  t.regex(r.out, /^PASS {2}\/docs\/ /m);
  t.regex(r.out, /^PASS {2}\/docs\/sub\/ /m);
  t.notRegex(r.out, /^FAIL/m);
  t.regex(r.out, /Crawled 2 collections to depth 2/);
  t.regex(r.out, /the gateway passes every Multi-Status through intact/);
});

test('a transparent nginx passes with --json and a JUnit file of passing testcases', async (t) => {
  const junit = path.join(scratch, 'transparent.xml');
  const r = await verify(['--origin', apache.url, '--via', nginx.urls.transparent!, '--path', '/docs/', '--json', '--junit', junit]);
  t.is(r.code, 0, r.out);
  const doc = JSON.parse(r.out) as { passed: boolean; paths: { viaPath: string; passed: boolean; exchanges: { probe: string; origin: { status: number }; via: { status: number } }[] }[] };
  t.true(doc.passed);
  t.deepEqual(doc.paths.map((p) => p.viaPath), ['/docs/', '/docs/sub/']);
  t.deepEqual(doc.paths[0]!.exchanges.map((e) => e.probe), ['PROPFIND allprop', 'PROPFIND propname', 'PROPFIND named']);
  for (const e of doc.paths[0]!.exchanges) t.deepEqual([e.origin.status, e.via.status], [207, 207]);
  const xml = await readFile(junit, 'utf8');
  t.regex(xml, /<testsuites name="davtap verify" tests="2" failures="0">/);
  t.regex(xml, /<testcase classname="davtap.verify" name="\/docs\/sub\/"\/>/);
});

test('with --accept-encoding gzip both sides compress, and a transparent nginx still passes', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls.transparent!, '--path', '/docs/', '--depth', '1', '--accept-encoding', 'gzip', '--json']);
  t.is(r.code, 0, r.out);
  const doc = JSON.parse(r.out) as { paths: { exchanges: { origin: { contentEncoding?: string }; via: { contentEncoding?: string } }[] }[] };
  for (const e of doc.paths[0]!.exchanges) t.deepEqual([e.origin.contentEncoding, e.via.contentEncoding], ['gzip', 'gzip']);
  // The gateway that hides Content-Encoding fails the same way when the client asked for gzip.
  const hidden = await verify(['--origin', apache.url, '--via', nginx.urls['gzip-hidden']!, '--path', '/docs/', '--depth', '1', '--accept-encoding', 'gzip']);
  t.is(hidden.code, 1);
  t.regex(hidden.out, /via added gzip without Content-Encoding: the body is a gzip stream that clients will read as XML \[MS807 error\]/);
});

test('a prefix-stripping rewrite fails: the hrefs are not mapped back under /dav/', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', `${nginx.urls['prefix-strip']!}dav/`, '--path', '/docs/', '--depth', '1']);
  t.is(r.code, 1, r.out + r.err);
  t.regex(r.out, /origin .* via .*\/dav\/ \(\/dav\/ = origin \/, from the two URLs\)/);
  t.regex(r.out, /^FAIL {2}\/dav\/docs\/ +PROPFIND allprop: via passes the origin's hrefs unchanged: 5 of 5 are outside \/dav\/ \(e\.g\. \/docs\/ should be \/dav\/docs\/\).*\[MS804 error\]/m);
  // The missing Request-URI response follows from the unmapped hrefs: named once, as the cause.
  t.notRegex(r.out, /MS402/);
});

test('an explicit --map is used as given and named in the report', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls.transparent!, '--map', '/=/', '--path', '/docs/', '--depth', '1']);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /\(no prefix mapping\)\n/);
});

test('sub_filter rewriting hrefs to the backend address fails with the address in words', async (t) => {
  const junit = path.join(scratch, 'sub-href.xml');
  const r = await verify(['--origin', apache.url, '--via', nginx.urls['sub-href']!, '--path', '/docs/', '--depth', '1', '--junit', junit]);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /via rewrote hrefs to http:\/\/10\.1\.2\.3:8080\/: 5 of 5 hrefs, e\.g\. http:\/\/10\.1\.2\.3:8080\/docs\/ \[MS804 error\]/);
  const xml = await readFile(junit, 'utf8');
  t.regex(xml, /failures="1"/);
  t.regex(xml, /<failure type="MS804" message="PROPFIND allprop: via rewrote hrefs to http:\/\/10\.1\.2\.3:8080\/: 5 of 5 hrefs/);
});

test('sub_filter removing the DAV: namespace declaration fails as a stripped namespace', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls['sub-namespace']!, '--path', '/docs/', '--depth', '1']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /^FAIL {2}\/docs\/ +PROPFIND allprop: via removed the namespace declaration xmlns:D="DAV:" \[MS805 error\]$/m);
  // The parse errors it causes are its consequences, not further causes.
  t.notRegex(r.out, /MS104|MS107|not XML/);
});

test('gzip bytes without Content-Encoding fail in words', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls['gzip-hidden']!, '--path', '/docs/', '--depth', '1']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /via added gzip without Content-Encoding/);
});

test('gzip the client never asked for fails in words', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls['gzip-unasked']!, '--path', '/docs/', '--depth', '1']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /via added Content-Encoding: gzip although the request carried no Accept-Encoding \[MS807 error\]/);
});

test('a body cut by a slow link fails with how many responses arrived and where it stopped', async (t) => {
  const r = await verify(['--origin', apache.url, '--via', nginx.urls['rate-cut']!, '--path', '/big/', '--depth', '1', '--max-time', '2', '--json']);
  t.is(r.code, 1);
  const doc = JSON.parse(r.out) as { paths: { exchanges: { probe: string; origin: { decodedBytes: number }; differences: { rule: string; category: string; message: string; evidence: { viaBytes: number; viaResponses: number; originResponses: number } }[] }[] }[] };
  const allprop = doc.paths[0]!.exchanges[0]!;
  const cut = allprop.differences.find((d) => d.category === 'truncation');
  t.truthy(cut, JSON.stringify(allprop.differences));
  t.is(cut!.evidence.originResponses, BIG_FILES + 1);
  t.true(cut!.evidence.viaResponses < BIG_FILES, `${cut!.evidence.viaResponses} responses arrived`);
  t.true(cut!.evidence.viaBytes >= 16 * 1024 && cut!.evidence.viaBytes < allprop.origin.decodedBytes, `${cut!.evidence.viaBytes} bytes`);
  t.regex(cut!.message, new RegExp(`^via: ${cut!.evidence.viaResponses} of ${BIG_FILES + 1} responses, body cut at [\\d,]+ bytes of [\\d,]+ `));
});

test('an unreachable gateway is a one-line network error with exit 2', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const r = await verify(['--origin', apache.url, '--via', `http://127.0.0.1:${await freePort()}/`, '--path', '/docs/']);
  t.is(r.code, 2);
  t.regex(r.err, /^davtap: verify: gateway http:\/\/127\.0\.0\.1:\d+\/ did not answer PROPFIND allprop \/docs\/: .*ECONNREFUSED/);
  t.is(r.err.trim().split('\n').length, 1);
});

test('CalDAV and CardDAV through a transparent nginx: calendar and address book found, their REPORTs pass too', async (t) => {
  const r = await verify(['--origin', radicale.url, '--via', nginx.urls.caldav!, '--path', '/test/', '--auth', RADICALE_AUTH, '--json']);
  t.is(r.code, 0, r.out);
  const doc = JSON.parse(r.out) as { dav: { calendar: boolean; addressbook: boolean }; paths: { viaPath: string; exchanges: { probe: string; origin: { status: number; responses: number } }[] }[] };
  t.deepEqual(doc.dav, { calendar: true, addressbook: true });
  const book = doc.paths.find((p) => p.viaPath === '/test/book/');
  t.deepEqual(book?.exchanges.map((e) => [e.probe, e.origin.status, e.origin.responses]).slice(3), [
    ['REPORT addressbook-query', 207, radicale.cards.length],
    ['REPORT addressbook-multiget', 207, radicale.cards.length],
  ]);
  const cal = doc.paths.find((p) => p.viaPath === '/test/cal/');
  t.truthy(cal, JSON.stringify(doc.paths.map((p) => p.viaPath)));
  t.deepEqual(cal!.exchanges.map((e) => e.probe), ['PROPFIND allprop', 'PROPFIND propname', 'PROPFIND named', 'REPORT calendar-query', 'REPORT calendar-multiget']);
  const multiget = cal!.exchanges[4]!;
  t.deepEqual([multiget.origin.status, multiget.origin.responses], [207, radicale.events.length]);
  t.is(cal!.exchanges[3]!.origin.responses, radicale.events.length);
});

test('CalDAV through a gateway that edits calendar data: the REPORTs fail with the property named', async (t) => {
  const r = await verify(['--origin', radicale.url, '--via', nginx.urls['caldav-sub']!, '--path', '/test/cal/', '--depth', '1', '--auth', RADICALE_AUTH]);
  t.is(r.code, 1, r.out);
  for (const report of ['calendar-query', 'calendar-multiget']) {
    t.regex(r.out, new RegExp(`REPORT ${report}: via changed 3 property values: C:calendar-data on /test/cal/\\S+ "…[^"]*SUMMARY:[^"]*" → "…[^"]*SUMMARY:\\[gw\\] [^"]*".*\\[MS803 error\\]`));
  }
  // The PROPFINDs carry no calendar data: they pass.
  t.notRegex(r.out, /PROPFIND/);
});
