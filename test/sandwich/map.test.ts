// A gateway that changes the path prefix (as nginx's `location /files/ { proxy_pass
// http://BACK/dav/; }`), with the sandwich told so (--map /files/=/dav/): pairs are found through
// the mapping, an honest gateway that maps the hrefs back is no difference, a gateway that
// rewrites them otherwise still is. The gateway is the small real one of test/helpers/gateway.ts.
import test, { type ExecutionContext } from 'ava';
import { mapHrefsInText, prefixMap } from '../../src/analysis/compare.js';
import { frontToBack, type LegMap } from '../../src/sandwich/pairing.js';
import { comparisonMap, startSandwich, type Sandwich } from '../../src/sandwich/run.js';
import type { Finding, Flow } from '../../src/types.js';
import { request } from '../helpers/apache.js';
import { startGateway, type GatewayBehaviour } from '../helpers/gateway.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';

const MAP: LegMap = { front: '/files/', back: '/dav/' };
let dav: DavServer;

test.before(async () => {
  dav = await startDavServer();
  await request(`${dav.url}/dav/docs/`, 'MKCOL');
  for (let i = 0; i < 4; i++) await request(`${dav.url}/dav/docs/f${i}.txt`, 'PUT', { body: `file ${i}\n` });
});

test.after.always(async () => {
  await dav?.close();
});

interface Run {
  sandwich: Sandwich;
  front: string;
  pairs: { front: Flow; back: Flow | undefined; differences: Finding[] }[];
  settled(n: number): Promise<void>;
}

async function around(t: ExecutionContext, behaviour: GatewayBehaviour, map: LegMap | undefined): Promise<Run> {
  const gw = await startGateway(behaviour, MAP);
  t.teardown(() => gw.close());
  const pairs: Run['pairs'] = [];
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: 0 },
    gateway: new URL(gw.url),
    origin: new URL(dav.url),
    ...(map ? { map } : {}),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 },
    windowMs: map ? 5000 : 300,
    hooks: { onFlow: () => {} },
    onPair: (front, back, differences) => pairs.push({ front, back, differences }),
  });
  t.teardown(() => sandwich.close());
  gw.upstream = new URL(sandwich.back.url);
  return {
    sandwich,
    front: sandwich.front.url.replace(/\/$/, ''),
    pairs,
    async settled(n: number) {
      const deadline = Date.now() + 15_000;
      while (pairs.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (pairs.length < n) throw new Error(`${pairs.length} of ${n} front flows decided`);
    },
  };
}

const propfind = (base: string, path: string) => request(`${base}${path}`, 'PROPFIND', { headers: { Depth: '1' } });

test('front targets in the back leg terms: under the prefix mapped, the prefix itself and outside it as they are', (t) => {
  const map: LegMap = { front: '/dav/', back: '/remote.php/dav/' };
  t.is(frontToBack('dav/files/a.txt?x=1', map), 'remote.php/dav/files/a.txt?x=1');
  t.is(frontToBack('dav/', map), 'remote.php/dav/');
  t.is(frontToBack('dav', map), 'remote.php/dav');
  t.is(frontToBack('dav?x', map), 'remote.php/dav?x');
  t.is(frontToBack('davx/a', map), 'davx/a');
  t.is(frontToBack('other/a', map), 'other/a');
  t.is(frontToBack('a/b', { front: '/', back: '/store/' }), 'store/a/b');
  t.is(frontToBack('a/b', undefined), 'a/b');
  t.deepEqual(comparisonMap(new URL('http://gw/'), new URL('http://o/base'), map), prefixMap('/dav/', '/base/remote.php/dav/'));
});

test("an origin body with its hrefs mapped: paths and absolute URLs' paths, other text untouched", (t) => {
  const map = prefixMap('/files/', '/dav/');
  const body = '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/a/</D:href><D:propstat><D:prop><D:displayname>/dav/a/</D:displayname></D:prop></D:propstat></D:response><D:response><href xmlns="DAV:">http://o:1/dav/b.txt</href></D:response><D:response><D:href>/elsewhere/c</D:href></D:response></D:multistatus>';
  t.is(
    mapHrefsInText(body, map),
    '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/files/a/</D:href><D:propstat><D:prop><D:displayname>/dav/a/</D:displayname></D:prop></D:propstat></D:response><D:response><href xmlns="DAV:">http://o:1/files/b.txt</href></D:response><D:response><D:href>/elsewhere/c</D:href></D:response></D:multistatus>',
  );
});

test('an honest prefix-changing gateway with --map: every front flow paired, zero gateway differences, MOVE included', async (t) => {
  const run = await around(t, 'honest', MAP);
  for (const p of ['/files/', '/files/docs/']) t.is((await propfind(run.front, p)).status, 207);
  t.is((await request(`${run.front}/files/docs/f1.txt`, 'GET')).body.toString(), 'file 1\n');
  const moved = await request(`${run.front}/files/docs/f3.txt`, 'MOVE', { headers: { Destination: `${run.front}/files/docs/moved.txt` } });
  t.is(moved.status, 201);
  t.is((await request(`${dav.url}/dav/docs/moved.txt`, 'GET')).status, 200, 'the MOVE reached the origin at its own path');
  t.is((await propfind(run.front, '/files/docs/')).status, 207);
  await run.settled(5);
  for (const { front, back, differences } of run.pairs) {
    t.truthy(back, front.request.url);
    t.is(new URL(back!.request.url).pathname, new URL(front.request.url).pathname.replace('/files/', '/dav/'));
    t.deepEqual(differences, [], front.request.url);
  }
  t.deepEqual(run.sandwich.stats(), { paired: 5, frontOnly: 0, backOnly: 0, differing: 0 });
});

test('the same gateway without --map: no front flow finds its back flow', async (t) => {
  const run = await around(t, 'honest', undefined);
  t.is((await propfind(run.front, '/files/docs/')).status, 207);
  await run.settled(1);
  t.is(run.pairs[0]!.back, undefined);
  t.is(run.sandwich.stats().frontOnly, 1);
});

test('a prefix-changing gateway that also rewrites hrefs to a backend address: MS804 on every PROPFIND despite --map', async (t) => {
  const run = await around(t, 'rewrite-hrefs', MAP);
  for (const p of ['/files/', '/files/docs/']) t.is((await propfind(run.front, p)).status, 207);
  await run.settled(2);
  for (const { back, differences } of run.pairs) {
    t.truthy(back);
    const roots = differences.filter((f) => f.consequenceOf === undefined && f.severity === 'error');
    t.deepEqual(roots.map((f) => f.rule), ['MS804'], JSON.stringify(differences));
    t.regex(roots[0]!.message, /^via rewrote hrefs to http:\/\/10\.9\.8\.7:8080\//);
  }
  t.is(run.sandwich.stats().differing, 2);
});
