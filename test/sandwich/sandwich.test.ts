// The sandwich end to end in-process: a real WebDAV origin (webdav-server), a small real gateway
// (test/helpers/gateway.ts: a Node reverse proxy, honest or broken), and davtap's two relays
// around it. Every flow of both legs is collected as the recorder would get it.
import test, { type ExecutionContext } from 'ava';
import { request } from '../helpers/apache.js';
import { startGateway, type GatewayBehaviour } from '../helpers/gateway.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';
import { startSandwich, type Sandwich } from '../../src/sandwich/run.js';
import { answerDigest, PairBook, relativeTarget } from '../../src/sandwich/pairing.js';
import type { Finding, Flow } from '../../src/types.js';

const FILES = 6;
let dav: DavServer;

test.before(async () => {
  dav = await startDavServer();
  await request(`${dav.url}/dav/docs/`, 'MKCOL');
  for (let i = 0; i < FILES; i++) await request(`${dav.url}/dav/docs/f${i}.txt`, 'PUT', { body: `file ${i}\n` });
});

test.after.always(async () => {
  await dav?.close();
});

interface Run {
  sandwich: Sandwich;
  flows: Flow[];
  pairs: { front: Flow; back: Flow | undefined; differences: Finding[] }[];
  front: string;
  /** Resolves once `n` front flows are decided (bounded wait). */
  settled(n: number): Promise<void>;
}

async function sandwichAround(t: ExecutionContext, behaviour: GatewayBehaviour): Promise<Run> {
  const gw = await startGateway(behaviour);
  t.teardown(() => gw.close());
  const flows: Flow[] = [];
  const pairs: Run['pairs'] = [];
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: 0 },
    gateway: new URL(gw.url),
    origin: new URL(dav.url),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 },
    windowMs: 5000,
    hooks: { onFlow: (f) => flows.push(f) },
    onPair: (front, back, differences) => pairs.push({ front, back, differences }),
  });
  t.teardown(() => sandwich.close());
  gw.upstream = new URL(sandwich.back.url);
  return {
    sandwich,
    flows,
    pairs,
    front: sandwich.front.url.replace(/\/$/, ''),
    async settled(n: number) {
      const deadline = Date.now() + 15_000;
      while (pairs.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (pairs.length < n) throw new Error(`${pairs.length} of ${n} front flows decided`);
    },
  };
}

const PROPFIND_BODY = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
const propfind = (base: string, path: string) => request(`${base}${path}`, 'PROPFIND', { headers: { Depth: '1', 'Content-Type': 'application/xml' }, body: PROPFIND_BODY });
const roots = (d: Finding[]) => d.filter((f) => f.consequenceOf === undefined);

test('through an honest gateway every front flow is paired with its back flow and nothing differs', async (t) => {
  const run = await sandwichAround(t, 'honest');
  for (const p of ['/dav/', '/dav/docs/']) t.is((await propfind(run.front, p)).status, 207);
  t.is((await request(`${run.front}/dav/docs/f1.txt`, 'GET')).body.toString(), 'file 1\n');
  await run.settled(3);
  for (const { front, back, differences } of run.pairs) {
    t.truthy(back, front.request.url);
    t.is(front.leg, 'front');
    t.is(back!.leg, 'back');
    t.is(front.pairedWith, back!.id);
    t.is(relativeTarget(front.request.url, new URL(run.sandwich.front.url)) !== null, true);
    t.is(front.request.method, back!.request.method);
    t.deepEqual(differences, [], front.request.url);
  }
  t.deepEqual(run.sandwich.stats(), { paired: 3, frontOnly: 0, backOnly: 0, differing: 0 });
});

test('a request the gateway answers itself is an unmatched front flow', async (t) => {
  const run = await sandwichAround(t, 'honest');
  t.is((await request(`${run.front}/gateway-status`, 'GET')).status, 200);
  await run.settled(1);
  t.is(run.pairs[0]!.back, undefined);
  t.is(run.pairs[0]!.front.pairedWith, undefined);
  t.is(run.pairs[0]!.front.leg, 'front');
  t.is(run.sandwich.stats().frontOnly, 1);
});

const broken: [GatewayBehaviour, string, RegExp][] = [
  ['rewrite-hrefs', 'MS804', /^via rewrote hrefs to http:\/\/10\.9\.8\.7:8080\/: \d+ of \d+ hrefs/],
  ['cut', 'MS806', /^via: \d+ of \d+ responses, body cut at [\d,]+ bytes of [\d,]+ \(body shorter than Content-Length/],
  ['gzip-no-header', 'MS807', /^via added gzip without Content-Encoding/],
  ['html', 'MS808', /^via changed Content-Type from .* to text\/html; charset=UTF-8$/],
];

for (const [behaviour, rule, words] of broken) {
  test(`a gateway that does ${behaviour}: ${rule} with blame gateway on every affected front flow, once`, async (t) => {
    const run = await sandwichAround(t, behaviour);
    await Promise.all(['/dav/', '/dav/docs/'].map((p) => propfind(run.front, p).catch(() => undefined)));
    await run.settled(2);
    for (const { front, back, differences } of run.pairs) {
      t.truthy(back);
      t.deepEqual(roots(differences).filter((f) => f.severity === 'error').map((f) => f.rule), [rule], JSON.stringify(differences));
      const f = roots(differences)[0]!;
      t.regex(f.message, words);
      t.is(f.blame, 'gateway');
      t.is(f.evidence.backFlow, back!.id);
      // Recorded on the front flow, for the recorder to store with its own findings.
      t.deepEqual(front.pairFindings?.findings.map((x) => x.rule).includes(rule), true);
    }
    t.is(run.sandwich.stats().differing, 2);
  });
}

test('pairing holds under 8 concurrent clients: every pair has the same request on both legs', async (t) => {
  const run = await sandwichAround(t, 'honest');
  const perClient = 25;
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        // Alternate distinct and identical requests: identical ones pair in order.
        const path = i % 2 === 0 ? `/dav/docs/f${(c + i) % FILES}.txt` : '/dav/docs/';
        if (path.endsWith('/')) await propfind(run.front, path);
        else await request(`${run.front}${path}`, 'PROPPATCH', { headers: { 'Content-Type': 'application/xml' }, body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:c>${c}-${i}</Z:c></D:prop></D:set></D:propertyupdate>` });
      }
    }),
  );
  await run.settled(8 * perClient);
  const byId = new Map(run.flows.map((f) => [f.id, f]));
  let mismatched = 0;
  for (const { front, back } of run.pairs) {
    const b = back && byId.get(back.id);
    if (!b || b.request.method !== front.request.method || !b.request.body.bytes.equals(front.request.body.bytes) || new URL(b.request.url).pathname !== new URL(front.request.url).pathname) mismatched++;
  }
  t.is(mismatched, 0);
  t.is(run.sandwich.stats().paired, 8 * perClient);
  t.is(new Set(run.pairs.map((p) => p.back!.id)).size, 8 * perClient, 'no back flow is used twice');
});

test('the pair book: same key in order, never a back flow that started before its front, expiry after the window', (t) => {
  const book = new PairBook({ windowMs: 1000, slackMs: 0 });
  const req = (id: string, start: number, target = 'a') => ({ id, method: 'PROPFIND', target, bodyDigest: 'd', start });
  book.addBack(req('b1', 100));
  book.addBack(req('b2', 120));
  book.addBack(req('b3', 130, 'other'));
  t.is(book.takeFor(req('f0', 110), 200)?.id, 'b2', 'b1 started before the front request');
  t.is(book.takeFor(req('f1', 90), 200)?.id, 'b1');
  t.is(book.takeFor(req('f2', 90), 200), undefined);
  t.deepEqual(book.expire(2000).map((b) => b.id), ['b3']);
  t.is(book.size, 0);
  t.is(relativeTarget('http://gw/dav/x?y=1', new URL('http://gw/dav/')), 'x?y=1');
  t.is(relativeTarget('http://gw/dav', new URL('http://gw/dav/')), '');
  t.is(relativeTarget('http://gw/other', new URL('http://gw/dav/')), null);
});

test('the pair book: among back flows of the same request, the one whose answer the client got; its answer is looked at only then', (t) => {
  const book = new PairBook({ windowMs: 1000, slackMs: 0 });
  let asked = 0;
  const req = (id: string, start: number, status: number, payload: string) => ({
    id,
    method: 'GET',
    target: 'nonce',
    bodyDigest: '',
    start,
    answer: () => {
      asked++;
      return answerDigest(status, Buffer.from(payload), true);
    },
  });
  book.addBack(req('b1', 100, 200, 'nonce 1'));
  book.addBack(req('b2', 101, 200, 'nonce 2'));
  book.addBack(req('b3', 102, 200, 'nonce 3'));
  // The busy gateway passed the second answer on first.
  t.is(book.takeFor(req('f2', 99, 200, 'nonce 2'), 300)?.id, 'b2');
  // An answer the gateway changed matches none: the earliest, as without answers.
  t.is(book.takeFor(req('f?', 99, 200, 'nonce 3 (changed)'), 300)?.id, 'b1');
  asked = 0;
  // One candidate left: no answer is worked out.
  t.is(book.takeFor(req('f3', 99, 200, 'nonce 3'), 300)?.id, 'b3');
  t.is(asked, 0);
  t.not(answerDigest(200, Buffer.from('x'), true), answerDigest(404, Buffer.from('x'), true));
  t.not(answerDigest(200, Buffer.from('x'), true), answerDigest(200, Buffer.from('x'), false));
});
