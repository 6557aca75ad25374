// `davtap replay` against real servers: flows recorded by a real davtap in front of the in-process
// WebDAV server, replayed to the same server (no difference), to a davtap that injects faults (the
// diff names exactly what the fault changed), to a fresh server (a PUT/PROPPATCH/MOVE sequence in
// order), and to an origin that wants the credentials the exports redact.
import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { openReader } from '../../src/store/index.js';
import { curl } from '../helpers/curl.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';
import { startDavServer, type DavServer } from '../helpers/webdav.js';
import { tempDir } from '../store/temp.js';

async function run(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {}, cwd });
  return { code, out, err };
}

async function davtap(t: ExecutionContext, args: string[]): Promise<DavtapProcess> {
  const p = await startDavtap(['--no-ui', '--listen', '127.0.0.1:0', ...args]);
  t.teardown(() => p.stop().then(() => undefined));
  return p;
}

async function davServer(t: ExecutionContext): Promise<DavServer> {
  const s = await startDavServer();
  t.teardown(() => s.close());
  return s;
}

const PROPFIND = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontentlength/><d:resourcetype/><d:displayname/></d:prop></d:propfind>';

/** Records a small tree through davtap: a collection, two files, a PROPFIND Depth 1 of it. */
async function recordTree(t: ExecutionContext): Promise<{ db: string; dir: string; dav: DavServer }> {
  const dir = tempDir(t);
  const db = path.join(dir, 'flows.db');
  const dav = await davServer(t);
  const rec = await davtap(t, ['--upstream', dav.url, '--db', db]);
  t.is((await curl(['-X', 'MKCOL', `${rec.url}/dav/c/`])).code, 0);
  await curl(['-X', 'PUT', '--data-binary', 'hello', `${rec.url}/dav/c/a.txt`]);
  await curl(['-X', 'PUT', '--data-binary', 'world!', `${rec.url}/dav/c/b.txt`]);
  const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', PROPFIND, `${rec.url}/dav/c/`]);
  t.regex(listing.stdout.toString(), /a\.txt/);
  t.is((await rec.stop()).code, 0);
  return { db, dir, dav };
}

test.serial('replayed to the same server, a recorded PROPFIND answers the same: exit 0, recorded as a new flow naming its original', async (t) => {
  const { db, dir } = await recordTree(t);
  const before = openReader(db);
  const original = before.listFlows({ filter: '~m PROPFIND' })[0]!;
  const count = before.countFlows();
  before.close();

  const r = await run(dir, ['replay', '--db', db, '--filter', '~m PROPFIND']);
  t.is(r.code, 0, r.out + r.err);
  t.regex(r.out, /PROPFIND http:\/\/127\.0\.0\.1:\d+\/dav\/c\/ {2}207 → 207: same/);
  t.regex(r.out, /no difference; recorded as 1 new flow/);

  const after = openReader(db);
  t.is(after.countFlows(), count + 1);
  const replayed = after.listFlows({ limit: 1 })[0]!;
  t.is(replayed.replayOf, original.id);
  t.is(replayed.status, 207);
  const flow = after.getFlow(replayed.id)!;
  t.is(flow.replayOf, original.id);
  // Analyzed like a proxied flow: the same ledger.
  t.is(flow.analysis?.summary.resources, original.resources ?? -1);
  after.close();

  // An unknown flow id is a one-line error, exit 2; nothing is sent or recorded.
  const unknown = await run(dir, ['replay', '--db', db, '--flow', 'no-such-flow']);
  t.is(unknown.code, 2);
  t.is(unknown.err.trimEnd().split('\n').length, 1);
  t.regex(unknown.err, /^davtap: replay: no flow with id 'no-such-flow'/);
});

test.serial('through a davtap that drops getetag, the diff names getetag removed on exactly the resources that had one', async (t) => {
  const { db, dir, dav } = await recordTree(t);
  const reader = openReader(db);
  const recorded = reader.getFlow(reader.listFlows({ filter: '~m PROPFIND' })[0]!.id)!;
  const withEtag = recorded.analysis!.resources.filter((r) => r.propstats.some((p) => p.status === 200 && p.props.includes('{DAV:}getetag'))).map((r) => r.hrefNormalized);
  reader.close();
  t.true(withEtag.length >= 2, 'the files carry an etag');

  const faulty = await davtap(t, ['--upstream', dav.url, '--db', path.join(dir, 'faulty.db'), '--inject', 'drop:getetag']);
  const r = await run(dir, ['replay', '--db', db, '--filter', '~m PROPFIND', '--to', faulty.url]);
  t.is(r.code, 1, r.out + r.err);
  const removed = [...r.out.matchAll(/^ {2}~ (\S+): D:getetag removed \(was 200\)$/gm)].map((m) => m[1]).sort();
  t.deepEqual(removed, withEtag.sort());
  // Nothing else is named but the analyzer's view of the same fault: requested properties omitted (MS401).
  const others = r.out.split('\n').filter((l) => /^ {2}[-+~] /.test(l) && !/getetag removed/.test(l));
  t.is(others.length, 1, others.join('\n'));
  t.regex(others[0]!, /^ {2}\+ finding MS401 error: .*\{DAV:\}getetag/);
  t.regex(r.out, new RegExp(`207 → 207: ${withEtag.length + 1} differences`));

});

test.serial('hrefs moved under another prefix: every resource missing and added under the new path', async (t) => {
  const { db, dir, dav } = await recordTree(t);
  const faulty = await davtap(t, ['--upstream', dav.url, '--db', path.join(dir, 'faulty.db'), '--inject', 'rewrite-href:/moved']);
  const r = await run(dir, ['replay', '--db', db, '--filter', '~m PROPFIND', '--to', faulty.url, '--json']);
  t.is(r.code, 1, r.err);
  const report = JSON.parse(r.out) as { same: boolean; flows: { multistatus: { resources: { key: string; kind: string }[] } }[] };
  t.false(report.same);
  const res = report.flows[0]!.multistatus.resources;
  const missing = res.filter((x) => x.kind === 'missing').map((x) => x.key).sort();
  const added = res.filter((x) => x.kind === 'added').map((x) => x.key).sort();
  t.deepEqual(missing, ['/dav/c/', '/dav/c/a.txt', '/dav/c/b.txt']);
  t.deepEqual(added, ['/moved/dav/c/', '/moved/dav/c/a.txt', '/moved/dav/c/b.txt']);
  t.is(res.length, 6);
});

test.serial('a body truncated after the first response: the others are missing and the cut is a new finding; --junit fails the flow', async (t) => {
  const { db, dir, dav } = await recordTree(t);
  const faulty = await davtap(t, ['--upstream', dav.url, '--db', path.join(dir, 'faulty.db'), '--inject', 'truncate:responses=1']);
  const r = await run(dir, ['replay', '--db', db, '--filter', '~m PROPFIND', '--to', faulty.url, '--junit', 'out.xml']);
  t.is(r.code, 1, r.err);
  t.deepEqual([...r.out.matchAll(/^ {2}- (\S+): missing/gm)].map((m) => m[1]).sort(), ['/dav/c/a.txt', '/dav/c/b.txt']);
  t.regex(r.out, /^ {2}\+ finding MS001 error: /m);
  t.regex(r.out, /^ {2}3 → 1 responses$/m);
  const { readFileSync } = await import('node:fs');
  const junit = readFileSync(path.join(dir, 'out.xml'), 'utf8');
  t.regex(junit, /<testsuites name="davtap replay" tests="1" failures="1">/);
  t.regex(junit, /<failure message="PROPFIND /);
});

test.serial('a MKCOL, PUT, PROPPATCH, MOVE sequence replayed to a fresh server runs in order, Destination mapped to it', async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'flows.db');
  const first = await davServer(t);
  const rec = await davtap(t, ['--upstream', first.url, '--db', db]);
  await curl(['-X', 'MKCOL', `${rec.url}/dav/s/`]);
  await curl(['-X', 'PUT', '--data-binary', 'sequence body', `${rec.url}/dav/s/one.txt`]);
  const proppatch = '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:x"><d:set><d:prop><x:color>red</x:color></d:prop></d:set></d:propertyupdate>';
  await curl(['-X', 'PROPPATCH', '-H', 'Content-Type: application/xml', '--data-binary', proppatch, `${rec.url}/dav/s/one.txt`]);
  await curl(['-X', 'MOVE', '-H', `Destination: ${rec.url}/dav/s/two.txt`, `${rec.url}/dav/s/one.txt`]);
  await rec.stop();

  const fresh = await davServer(t);
  const r = await run(dir, ['replay', '--db', db, '--to', fresh.url]);
  t.is(r.code, 0, r.out + r.err);
  const lines = r.out.split('\n').filter((l) => / → /.test(l) && !l.startsWith(' '));
  t.deepEqual(
    lines.map((l) => l.replace(/^(\S+) \S+ {2}(\d+) → (\d+).*$/, '$1 $2 $3')),
    ['MKCOL 201 201', 'PUT 201 201', 'PROPPATCH 207 207', 'MOVE 201 201'],
  );
  // The fresh server holds the moved file with the recorded body: the sequence ran in order.
  const got = await curl([`${fresh.url}/dav/s/two.txt`]);
  t.is(got.stdout.toString(), 'sequence body');
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', `${fresh.url}/dav/s/one.txt`])).stdout.toString(), '404');
});

test.serial('a redacted Authorization still replays: it is read from the store, never from an export', async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'flows.db');
  const secret = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
  const seen: (string | undefined)[] = [];
  const origin = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    req.resume();
    if (req.headers.authorization !== secret) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }).end();
      return;
    }
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
    res.end('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/p/</d:href><d:propstat><d:prop><d:displayname>p</d:displayname></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>');
  });
  const sockets = new Set<net.Socket>();
  origin.on('connection', (s: net.Socket) => (sockets.add(s), s.once('close', () => sockets.delete(s))));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), origin.close(() => resolve()))));
  const url = `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`;

  const rec = await davtap(t, ['--upstream', url, '--db', db]);
  await curl(['-X', 'PROPFIND', '-u', 'alice:s3cret', '-H', 'Depth: 0', `${rec.url}/p/`]);
  await rec.stop();
  const exported = await run(dir, ['export', '--db', db, '--jsonl']);
  t.regex(exported.out, /"Authorization","\[redacted\]"/);
  t.notRegex(exported.out, /s3cret|YWxpY2U6czNjcmV0/);

  const r = await run(dir, ['replay', '--db', db]);
  t.is(r.code, 0, r.out + r.err);
  t.regex(r.out, /207 → 207: same/);
  t.deepEqual(seen, [secret, secret]);
  // The export of the replay is redacted too, and names the flow it replayed.
  const again = await run(dir, ['export', '--db', db, '--jsonl']);
  const rows = again.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; replayOf: string | null });
  t.is(rows[1]!.replayOf, rows[0]!.id);
  t.notRegex(again.out, /s3cret|YWxpY2U6czNjcmV0/);
});

test.serial('a request whose body was cut by --max-request-body is refused before anything is sent', async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'flows.db');
  const dav = await davServer(t);
  const rec = await davtap(t, ['--upstream', dav.url, '--db', db, '--max-request-body', '16']);
  await curl(['-X', 'MKCOL', `${rec.url}/dav/m/`]);
  await curl(['-X', 'PUT', '--data-binary', 'x'.repeat(100), `${rec.url}/dav/m/big.txt`]);
  await rec.stop();
  const fresh = await davServer(t);
  const r = await run(dir, ['replay', '--db', db, '--to', fresh.url]);
  t.is(r.code, 2);
  t.is(r.err.trimEnd().split('\n').length, 1);
  t.regex(r.err, /PUT .*big\.txt\) cannot be replayed: its request body was not fully recorded \(16 of 100 bytes/);
  // Not even the MKCOL before it went out.
  t.is((await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PROPFIND', '-H', 'Depth: 0', `${fresh.url}/dav/m/`])).stdout.toString(), '404');
});
