// The sandwich around real broken gateways: Debian's nginx configured as gateways are found
// broken in the wild, in front of Debian's Apache mod_dav, davtap on both sides. Each breakage must
// be named on every flow it affects (rule id, blame gateway) and on no other flow.
import test, { type ExecutionContext } from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startSandwich, type Sandwich } from '../../src/sandwich/run.js';
import type { LegMap } from '../../src/sandwich/pairing.js';
import type { Finding, Flow } from '../../src/types.js';
import { freePort, request, startApache, type ApacheServer } from '../helpers/apache.js';
import { response, startOrigin, type Origin } from '../helpers/origin.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';

let apache: ApacheServer;
let stalling: Origin;
let nginx: NginxGateway;
/** The back listener's port of each scenario: the nginx server block's upstream. */
const backs: Record<string, number> = {};

/** A multistatus of `n` responses, for the origin that stalls half way through it. */
function multistatus(n: number): string {
  const one = (i: number) => `<D:response><D:href>/docs/f${i}.txt</D:href><D:propstat><D:prop><D:displayname>file ${i}</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${Array.from({ length: n }, (_, i) => one(i)).join('')}</D:multistatus>\n`;
}

const SCENARIOS = ['sub-href', 'gzip-hidden', 'html-207', 'timeout-cut', 'prefix-mapped', 'prefix-rewritten'] as const;
type Scenario = (typeof SCENARIOS)[number];

test.before(async () => {
  apache = await startApache({ accessLog: false });
  for (const dir of ['/docs/', '/blocked/', '/remote.php/', '/remote.php/dav/', '/remote.php/dav/docs/']) await apache.mkcol(dir);
  for (let i = 0; i < 3; i++) {
    await apache.put(`/docs/f${i}.txt`, `file ${i}\n`);
    await apache.put(`/remote.php/dav/docs/f${i}.txt`, `file ${i}\n`);
  }
  // An origin that sends half of a 207, stalls 3 s, then the rest: longer than the gateway waits.
  const body = Buffer.from(multistatus(40));
  stalling = await startOrigin(async (req, socket) => {
    if (req.method !== 'PROPFIND') {
      socket.write(response(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 }, 'ok\n'));
      return;
    }
    socket.write(response(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': body.length }, body.subarray(0, body.length / 2)));
    await new Promise((r) => setTimeout(r, 3000));
    if (!socket.destroyed) socket.write(body.subarray(body.length / 2));
  });
  for (const s of SCENARIOS) backs[s] = await freePort();
  const up = (s: Scenario) => `proxy_pass http://127.0.0.1:${backs[s]};`;
  const textFilter = 'proxy_set_header Accept-Encoding "";\nsub_filter_types text/xml application/xml;\nsub_filter_once off;';
  nginx = await startNginx([
    // Body rewriting meant for HTML pages, applied to XML: hrefs end up on a backend address.
    { name: 'sub-href', config: `location / {\n    ${up('sub-href')}\n    ${textFilter}\n    sub_filter '<D:href>/' '<D:href>http://10.1.2.3:8080/';\n}` },
    // nginx's own gzip filter skips 207s; the origin compresses when asked, and the gateway hides the header.
    { name: 'gzip-hidden', config: `location / {\n    ${up('gzip-hidden')}\n    proxy_set_header Accept-Encoding gzip;\n    proxy_hide_header Content-Encoding;\n}` },
    // A block page: /blocked/ is copied to the origin (mirror) but the client gets an HTML page under
    // 207. The page is sent slowly, so that the copy surely starts while the client's answer is under
    // way (a mirror request may otherwise start after it, and then no pair is found).
    {
      name: 'html-207',
      config: [
        `location / {\n    ${up('html-207')}\n}`,
        'location /blocked/ {\n    mirror /mirrored;\n    mirror_request_body on;\n    root html;\n    error_page 404 405 =207 /block-page.html;\n}',
        'location = /block-page.html {\n    internal;\n    root html;\n    limit_rate_after 0;\n    limit_rate 2k;\n}',
        `location = /mirrored {\n    internal;\n    proxy_pass http://127.0.0.1:${backs['html-207']}$request_uri;\n}`,
      ].join('\n'),
    },
    // A gateway that waits 1 s for its upstream: a slow 207 is cut where the origin paused.
    { name: 'timeout-cut', config: `location / {\n    ${up('timeout-cut')}\n    proxy_buffering off;\n    proxy_read_timeout 1s;\n}` },
    // Published under /dav/, the origin's /remote.php/dav/; hrefs mapped back (honest)...
    {
      name: 'prefix-mapped',
      config: `location /dav/ {\n    proxy_pass http://127.0.0.1:${backs['prefix-mapped']}/remote.php/dav/;\n    ${textFilter}\n    sub_filter '<D:href>/remote.php/dav/' '<D:href>/dav/';\n}`,
    },
    // ...or mapped onto the backend's address (broken).
    {
      name: 'prefix-rewritten',
      config: `location /dav/ {\n    proxy_pass http://127.0.0.1:${backs['prefix-rewritten']}/remote.php/dav/;\n    ${textFilter}\n    sub_filter '<D:href>/remote.php/dav/' '<D:href>http://10.1.2.3:8080/dav/';\n}`,
    },
  ]);
  await mkdir(path.join(nginx.root, 'html'), { recursive: true });
  await writeFile(path.join(nginx.root, 'html', 'block-page.html'), `<!DOCTYPE html>\n<html><head><title>Request blocked</title></head><body><h1>Request blocked</h1>\n<p>${'Your request was blocked by policy. '.repeat(80)}</p></body></html>\n`);
});

test.after.always(async () => {
  await nginx?.stop();
  await stalling?.close();
  await apache?.stop();
});

interface Pair {
  front: Flow;
  back: Flow | undefined;
  differences: Finding[];
}

async function sandwiched(scenario: Scenario, origin: string, map?: LegMap): Promise<{ sandwich: Sandwich; front: string; pairs: Pair[]; settled(n: number): Promise<void> }> {
  const pairs: Pair[] = [];
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: backs[scenario]! },
    gateway: new URL(nginx.urls[scenario]!),
    origin: new URL(origin),
    ...(map ? { map } : {}),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024, upstreamTimeoutMs: 10_000 },
    hooks: { onFlow: () => {} },
    onPair: (front, back, differences) => pairs.push({ front, back, differences }),
  });
  return {
    sandwich,
    front: sandwich.front.url.replace(/\/$/, ''),
    pairs,
    async settled(n) {
      const deadline = Date.now() + 20_000;
      while (pairs.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (pairs.length < n) throw new Error(`${pairs.length} of ${n} front flows decided`);
    },
  };
}

const propfind = (base: string, p: string, depth = '1') => request(`${base}${p}`, 'PROPFIND', { headers: { Depth: depth, 'Content-Type': 'application/xml' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' });
/** The root causes that matter: errors and warnings not explained by another difference. */
const roots = (d: Finding[]) => d.filter((f) => f.consequenceOf === undefined && f.severity !== 'info');
const describe = (pairs: Pair[]) => pairs.map((p) => `${p.front.request.method} ${new URL(p.front.request.url).pathname} ${p.back ? 'paired' : 'unpaired'}: ${p.differences.map((d) => `${d.rule}${d.consequenceOf ? `<${d.consequenceOf}` : ''} ${d.message}`).join(' | ') || 'none'}`).join('\n');

/** Every affected flow carries exactly `rule` as its root cause (blame gateway), every other flow nothing. */
function expectOn(t: ExecutionContext, pairs: Pair[], affected: (p: Pair) => boolean, rule: string, words: RegExp): void {
  t.log(describe(pairs));
  let hits = 0;
  for (const p of pairs) {
    t.truthy(p.back, `${p.front.request.method} ${p.front.request.url}: paired`);
    if (affected(p)) {
      hits++;
      t.deepEqual(roots(p.differences).map((f) => f.rule), [rule], `${p.front.request.url}: ${describe([p])}`);
      t.is(roots(p.differences)[0]?.blame, 'gateway');
      t.regex(roots(p.differences)[0]?.message ?? '', words);
    } else t.deepEqual(p.differences, [], `${p.front.request.method} ${p.front.request.url} is unaffected`);
  }
  t.true(hits >= 2, `${hits} affected flows`);
}

test('nginx sub_filter rewriting hrefs in 207 bodies: MS804 on every PROPFIND, nothing on the GETs', async (t) => {
  const s = await sandwiched('sub-href', apache.url);
  t.teardown(() => s.sandwich.close());
  for (const p of ['/docs/', '/docs/f1.txt']) t.is((await propfind(s.front, p)).status, 207);
  t.is((await request(`${s.front}/docs/f2.txt`, 'GET')).body.toString(), 'file 2\n');
  t.is((await propfind(s.front, '/docs/', '0')).status, 207);
  await s.settled(4);
  expectOn(t, s.pairs, (p) => p.front.request.method === 'PROPFIND', 'MS804', /^via rewrote hrefs to http:\/\/10\.1\.2\.3:8080\//);
});

test('nginx asking the origin for gzip and hiding Content-Encoding: MS807 on every 207, nothing on the GETs', async (t) => {
  const s = await sandwiched('gzip-hidden', apache.url);
  t.teardown(() => s.sandwich.close());
  for (const p of ['/docs/', '/docs/f1.txt']) t.is((await propfind(s.front, p)).status, 207);
  t.is((await request(`${s.front}/docs/f2.txt`, 'GET')).status, 200);
  t.is((await propfind(s.front, '/docs/', '0')).status, 207);
  await s.settled(4);
  expectOn(t, s.pairs, (p) => p.front.request.method === 'PROPFIND', 'MS807', /^via added gzip without Content-Encoding/);
});

test('nginx serving an HTML block page under 207 for /blocked/ (the origin asked all the same): MS808 there, nothing elsewhere', async (t) => {
  const s = await sandwiched('html-207', apache.url);
  t.teardown(() => s.sandwich.close());
  for (let i = 0; i < 2; i++) {
    const blocked = await propfind(s.front, '/blocked/');
    t.is(blocked.status, 207);
    t.regex(blocked.body.toString(), /Request blocked/);
  }
  t.is((await propfind(s.front, '/docs/')).status, 207);
  await s.settled(3);
  expectOn(t, s.pairs, (p) => new URL(p.front.request.url).pathname.startsWith('/blocked/'), 'MS808', /text\/html/);
});

test('nginx giving up on a slow origin after proxy_read_timeout: MS806 on every cut 207, nothing on the GET', async (t) => {
  const s = await sandwiched('timeout-cut', stalling.url);
  t.teardown(() => s.sandwich.close());
  await Promise.all([propfind(s.front, '/docs/').catch(() => undefined), propfind(s.front, '/other/').catch(() => undefined)]);
  t.is((await request(`${s.front}/docs/f0.txt`, 'GET')).status, 200);
  await s.settled(3);
  expectOn(t, s.pairs, (p) => p.front.request.method === 'PROPFIND', 'MS806', /^via gave up on the origin's answer after [\d,]+ of [\d,]+ bytes \(it closed its connection to the origin mid-body\) and passed on a body cut at [\d,]+ bytes/);
});

test('nginx publishing /remote.php/dav/ under /dav/ and mapping the hrefs back, with --map /dav/=/remote.php/dav/: all paired, no difference but the re-framing', async (t) => {
  const s = await sandwiched('prefix-mapped', apache.url, { front: '/dav/', back: '/remote.php/dav/' });
  t.teardown(() => s.sandwich.close());
  for (const p of ['/dav/', '/dav/docs/']) t.is((await propfind(s.front, p)).status, 207);
  t.is((await request(`${s.front}/dav/docs/f1.txt`, 'GET')).body.toString(), 'file 1\n');
  await s.settled(3);
  t.log(describe(s.pairs));
  for (const p of s.pairs) {
    t.truthy(p.back, p.front.request.url);
    // sub_filter drops Content-Length and chunks the body: named as information (MS810), nothing more.
    const expected = p.front.request.method === 'PROPFIND' ? ['MS810 info via re-framed the body: content-length → chunked'] : [];
    t.deepEqual(p.differences.map((d) => `${d.rule} ${d.severity} ${d.message}`), expected, describe([p]));
  }
  t.deepEqual(s.sandwich.stats(), { paired: 3, frontOnly: 0, backOnly: 0, differing: 0 });
});

test('nginx publishing under /dav/ but rewriting the hrefs onto its backend address: MS804 through --map all the same', async (t) => {
  const s = await sandwiched('prefix-rewritten', apache.url, { front: '/dav/', back: '/remote.php/dav/' });
  t.teardown(() => s.sandwich.close());
  for (const p of ['/dav/', '/dav/docs/']) t.is((await propfind(s.front, p)).status, 207);
  t.is((await request(`${s.front}/dav/docs/f1.txt`, 'GET')).status, 200);
  await s.settled(3);
  expectOn(t, s.pairs, (p) => p.front.request.method === 'PROPFIND', 'MS804', /^via rewrote hrefs to http:\/\/10\.1\.2\.3:8080\//);
});
