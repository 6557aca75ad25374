// A CalDAV session through the sandwich around an honest nginx: Debian's python3-caldav
// (bench/interop/caldav-session.py) against Debian's Radicale, nginx in between, davtap on both
// sides. Every front flow finds its back flow and no gateway difference is found. nginx is set up
// as a WebDAV gateway must be: it passes the client's Host on (proxy_set_header Host $http_host),
// so that Destination, which nginx never rewrites, names the server the request is for; with
// nginx's default Host the origin refuses MOVE, through the sandwich exactly as through nginx alone.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pythonCaldav } from '../../bench/interop/caldav-clients.js';
import { startSandwich, type Sandwich } from '../../src/sandwich/run.js';
import type { Finding, Flow } from '../../src/types.js';
import { freePort, request } from '../helpers/apache.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';
import { RADICALE_AUTH, startRadicale, type RadicaleServer } from './nginx/radicale.js';

let radicale: RadicaleServer;
let nginx: NginxGateway;
let scratch: string;
const backs: Record<string, number> = {};
const auth = { Authorization: `Basic ${Buffer.from(RADICALE_AUTH).toString('base64')}` };

test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'davtap-sandwich-caldav-'));
  radicale = await startRadicale();
  backs.host = await freePort();
  backs.plain = await freePort();
  nginx = await startNginx([
    { name: 'host', config: `location / {\n    proxy_pass http://127.0.0.1:${backs.host};\n    proxy_set_header Host $http_host;\n}` },
    { name: 'plain', config: `location / {\n    proxy_pass http://127.0.0.1:${backs.plain};\n}` },
    { name: 'plain-alone', config: `location / {\n    proxy_pass http://127.0.0.1:${radicale.port};\n}` },
  ]);
});

test.after.always(async () => {
  await nginx?.stop();
  await radicale?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Pair {
  front: Flow;
  back: Flow | undefined;
  differences: Finding[];
}

async function sandwiched(name: 'host' | 'plain'): Promise<{ sandwich: Sandwich; pairs: Pair[] }> {
  const pairs: Pair[] = [];
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: backs[name]! },
    gateway: new URL(nginx.urls[name]!),
    origin: new URL(radicale.url),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 },
    hooks: { onFlow: () => {} },
    onPair: (front, back, differences) => pairs.push({ front, back, differences }),
  });
  return { sandwich, pairs };
}

const move = (base: string, from: string, to: string) => request(`${base.replace(/\/$/, '')}${from}`, 'MOVE', { headers: { ...auth, Destination: `${base.replace(/\/$/, '')}${to}`, Overwrite: 'F' } });

test('python3-caldav through the sandwich around nginx passing Host on: the session is whole, MOVE works, every pair matched, zero gateway differences', async (t) => {
  const { sandwich, pairs } = await sandwiched('host');
  t.teardown(() => sandwich.close());
  const session = await pythonCaldav(sandwich.front.url, 'test', scratch);
  t.deepEqual(session.problems, [], session.steps.join('\n'));
  t.is((await move(sandwich.front.url, radicale.events[0]!, '/test/cal/moved.ics')).status, 201);
  t.is((await request(`${radicale.url}test/cal/moved.ics`, 'GET', { headers: auth })).status, 200, 'the MOVE reached the origin');
  await sandwich.close();
  const s = sandwich.stats();
  t.log(`python3-caldav: ${pairs.length} front flows (${[...new Set(pairs.map((p) => p.front.request.method))].join(', ')}); ${JSON.stringify(s)}`);
  t.true(pairs.length > 30, `${pairs.length} front flows`);
  t.deepEqual(pairs.filter((p) => !p.back).map((p) => `${p.front.request.method} ${p.front.request.url}`), [], 'every front flow found its back flow');
  t.deepEqual(pairs.flatMap((p) => p.differences.map((d) => `${p.front.request.method} ${p.front.request.url}: ${d.rule} ${d.message}`)), []);
  t.true(pairs.some((p) => p.front.response?.status === 207 && p.front.request.method === 'REPORT'), 'REPORTs answered 207 were compared');
  t.deepEqual([s.frontOnly, s.backOnly, s.differing], [0, 0, 0]);
});

test("nginx's default Host with Destination unchanged: the origin refuses MOVE, through the sandwich as through nginx alone", async (t) => {
  const { sandwich, pairs } = await sandwiched('plain');
  t.teardown(() => sandwich.close());
  const alone = await move(nginx.urls['plain-alone']!, radicale.events[1]!, '/test/cal/moved-alone.ics');
  const through = await move(sandwich.front.url, radicale.events[1]!, '/test/cal/moved-through.ics');
  t.not(alone.status, 201, 'nginx alone: the origin refuses a Destination on another host');
  t.is(through.status, alone.status);
  t.log(`MOVE through nginx alone: ${alone.status}, through the sandwich: ${through.status}`);
  await sandwich.close();
  t.is(pairs.length, 1);
  t.truthy(pairs[0]!.back);
  t.deepEqual(pairs[0]!.differences, []);
});
