import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { filterCodes, matchFlow, parseFilter, type FilterNode } from '../../src/filter/index.js';
import { createFlowWriter, openStore, type Store } from '../../src/store/index.js';
import { createSpooler } from '../../src/store/spool.js';
import type { Finding, Flow } from '../../src/types.js';
import { failureFinding, makeFlow, truncationFinding } from '../store/make-flow.js';

const infoFinding: Finding = { rule: 'MS105', severity: 'info', category: 'semantic', message: 'note', evidence: {}, blame: 'server' };

// A varied set of flows: methods, status classes, no response at all, transport errors, injections,
// findings of several rules, categories and severities, distinctive headers, content types and
// domains, and bodies stored every way the store keeps them (whole, decoded, in parts).
function flows(): Flow[] {
  const out: Flow[] = [];
  out.push(makeFlow(0));
  out.push(makeFlow(1, { failing: [3], findings: [failureFinding] }));
  out.push(makeFlow(2, { findings: [truncationFinding], outcome: { kind: 'upstream-aborted', code: 'ECONNRESET' } }));
  out.push(makeFlow(3, { method: 'GET', status: 200, path: '/dav/files/report.pdf', responseHeaders: ['Content-Type', 'application/pdf'] }));
  out.push(makeFlow(4, { method: 'PUT', status: 201, path: '/dav/files/new.txt', requestHeaders: ['Host', 'files.example.org', 'Content-Type', 'text/plain'] }));
  out.push(makeFlow(5, { method: 'DELETE', status: 423, path: '/dav/files/locked/' }));
  out.push(makeFlow(6, { method: 'MOVE', status: 502, path: '/dav/files/a/', outcome: { kind: 'error', code: 'ECONNREFUSED' } }));
  out.push(makeFlow(7, { method: 'PROPFIND', status: null, outcome: { kind: 'timeout', code: 'ETIMEDOUT' } }));
  out.push(makeFlow(8, { injected: 'truncate:4096', findings: [{ ...truncationFinding, injected: 'truncate:4096' }] }));
  out.push(makeFlow(9, { requestHeaders: ['Host', '127.0.0.1:8080', 'Depth', 'infinity', 'User-Agent', 'Microsoft-WebDAV-MiniRedir/10.0'] }));
  out.push(makeFlow(10, { responseHeaders: ['Content-Type', 'text/html', 'Server', 'nginx/1.22'], method: 'REPORT', path: '/cal/user/' }));
  out.push(makeFlow(11, { method: 'GET', status: 404, path: '/CALENDARS/Upper/' }));
  out.push(makeFlow(12, { findings: [truncationFinding, failureFinding], failing: [1, 2] }));
  out.push(makeFlow(13, { method: 'OPTIONS', status: 200, path: '/', outcome: { kind: 'client-aborted' } }));
  out.push(makeFlow(14, { method: 'GET', status: 200, path: '/theme/logo.png', responseHeaders: ['Content-Type', 'IMAGE/png'] }));
  out.push(makeFlow(15, { findings: [infoFinding] }));
  // A gzip response: ~bs searches the decoded copy, not the compressed bytes.
  const gz = makeFlow(16, { method: 'REPORT', path: '/cal/gz/' });
  const plain = Buffer.from('<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/gz/compressed-event.ics</D:href></D:response></D:multistatus>');
  const packed = zlib.gzipSync(plain);
  gz.response!.rawHeaders = ['Content-Type', 'application/xml', 'Content-Encoding', 'gzip'];
  gz.response!.body = { bytes: packed, bytesSeen: packed.length, captureComplete: true };
  gz.response!.decoded = { bytes: plain, bytesSeen: plain.length, captureComplete: true };
  out.push(gz);
  // A request body of its own, with a line break (~b is DOTALL, as mitmproxy's).
  const search = makeFlow(17, { method: 'REPORT', path: '/cal/q/' });
  const query = Buffer.from('<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav">\n<C:filter/></C:calendar-query>');
  search.request.body = { bytes: query, bytesSeen: query.length, captureComplete: true };
  out.push(search);
  // Binary bodies: a NUL before the text, bytes that are no UTF-8 (a Latin-1 é).
  const binary = makeFlow(19, { method: 'PUT', status: 201, path: '/dav/files/blob.bin' });
  const upload = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0]), Buffer.from('needle-in-binary')]);
  binary.request.body = { bytes: upload, bytesSeen: upload.length, captureComplete: true };
  const latin1 = Buffer.from('<p>caf\xe9 cr\xe8me</p>', 'latin1');
  binary.response!.body = { bytes: latin1, bytesSeen: latin1.length, captureComplete: true };
  out.push(binary);
  return out;
}

// A large body goes to `body_parts` (spool.ts): ~bs must see it joined, across part boundaries.
const partedWord = 'needle-across-parts';

function spoolLargeBody(store: Store, flow: Flow): void {
  const spooler = createSpooler(store, { partBytes: 64, onError: (e) => { throw e; } });
  const text = `${'<D:response>filler</D:response>\n'.repeat(10)}<D:href>${partedWord}</D:href>${'\n'.repeat(50)}`;
  const spool = spooler.open(flow.id, 'response', 1 << 20);
  // The word straddles the boundary between two 64-byte parts.
  for (let at = 0; at < text.length; at += 13) spool.add(Buffer.from(text.slice(at, at + 13)));
  const done = spool.finish();
  if (done.spooled === undefined) throw new Error('the body was not spooled');
  flow.response!.body = { bytes: done.bytes, bytesSeen: done.spooled, captureComplete: true, spooled: done.spooled };
}

const filters = [
  '~all',
  '~a',
  '!~a',
  '~b "calendar-query.*C:filter"',
  '~b compressed-event',
  '~bq allprop',
  '~bq calendar-query',
  '~bs getetag',
  '~bs compressed-event',
  `~bs ${partedWord}`,
  '!~bs getetag',
  '~bs GETETAG',
  '~bs "file-1\\.ics"',
  '~bs "HTTP/1.1 404"',
  '~bs "^<\\?xml.*user1"',
  '~bq needle-in-binary',
  '~b "\\x00needle"',
  '~bs "caf. cr.me"',
  '~bs "caf\\ufffd"',
  '~bs "^\\s*<\\?xml"',
  '~c 207',
  '~c 4xx',
  '~c 5xx | ~c 2xx',
  '!~c 207',
  '!~c 2xx',
  '~d example\\.org$',
  '~d ^files\\.',
  '!~d example',
  '~e',
  '!~e',
  '~h "Depth: infinity"',
  '~h "h: inf"',
  '~h "Server: nginx/1.22"',
  '!~h "user-agent: davx5"',
  '~h ^server:\\s*nginx',
  '~h "^content-type: text/"',
  '!~h miniredir',
  '~hq "content-type: text/plain"',
  '~hs content-length',
  '~m PROPFIND',
  '~m get',
  '~m "^(PUT|DELETE)$"',
  '~marked',
  '!~marked & ~c 207',
  '~q',
  '!~q & ~m PROPFIND',
  '~s',
  '~s & ~e',
  '~t text/',
  '~tq "text/plain"',
  '~ts xml',
  '~ts ^image/',
  '~u /dav/files/',
  '~u calendars',
  '~u CALENDARS/up',
  '~u files/.*\\.txt$',
  '~m ^p',
  '~m GET|PUT',
  '!~m prop',
  'files & !~m GET',
  '~f truncation',
  '~f partial-failure',
  '~f security',
  '~r MS001',
  '~r MS601 & ~r MS001',
  '!~r MS001',
  '~sev error',
  '~sev warning',
  '~sev info',
  '!~sev info',
  '~i',
  '~e | ~i',
  '!(~e | ~i) & ~m PROPFIND',
  '~m PROPFIND ~c 207 !~f truncation',
  '(~m GET | ~m PUT) & ~c 2xx',
  '!(~c 4xx | ~c 5xx) & !~e',
];

function recorded(t: ExecutionContext): { store: Store; all: Flow[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-filter-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = openStore(path.join(dir, 'f.db'));
  t.teardown(() => store.close());
  const all = flows();
  const large = makeFlow(18, { method: 'REPORT', path: '/cal/large/' });
  spoolLargeBody(store, large);
  all.push(large);
  const writer = createFlowWriter(store);
  for (const f of all) writer.enqueue(f);
  writer.flush();
  t.true(store.setMarked('flow-3', true));
  t.true(store.toggleMarked('flow-12'));
  t.true(store.toggleMarked('flow-13'));
  t.false(store.toggleMarked('flow-13'));
  t.false(store.setMarked('no-such-flow', true));
  return { store, all };
}

const codesOf = (n: FilterNode): string[] =>
  n.kind === 'code' ? [n.code] : n.kind === 'not' ? codesOf(n.operand) : [...codesOf(n.left), ...codesOf(n.right)];

test('matchFlow and the store agree on every filter, over the flows as read back', (t) => {
  const { store, all } = recorded(t);
  t.is(store.countFlows(), all.length);
  // The in-memory side sees what a reader gets back: bodies joined from parts, marks.
  const stored = all.map((f) => store.getFlow(f.id)!);
  t.is(stored.find((f) => f.id === 'flow-18')!.response!.body.bytes.toString().includes(partedWord), true);
  for (const text of filters) {
    const ast = parseFilter(text);
    const inMemory = stored.filter((f) => matchFlow(ast, f)).map((f) => f.id).sort();
    const inSql = store
      .listFlows({ filter: text, limit: 1000 })
      .map((r) => r.id)
      .sort();
    t.deepEqual(inSql, inMemory, text);
    t.is(store.countFlows(text), inMemory.length, `count ${text}`);
  }
});

test('the agreement test covers every code of the table, each matching some flows and not others', (t) => {
  const { store, all } = recorded(t);
  const stored = all.map((f) => store.getFlow(f.id)!);
  const discriminating = new Set<string>();
  for (const text of filters) {
    const n = stored.filter((f) => matchFlow(parseFilter(text), f)).length;
    if (text === '~f security') {
      t.is(n, 0, text);
      continue;
    }
    if (text === '~all') {
      t.is(n, all.length);
      continue;
    }
    t.true(n > 0 && n < all.length, `${text} matched ${n} of ${all.length}`);
    const codes = codesOf(parseFilter(text));
    if (codes.length === 1) discriminating.add(codes[0]!);
  }
  const untested = filterCodes.map((c) => c.code).filter((c) => c !== 'all' && !discriminating.has(c));
  t.deepEqual(untested, [], 'codes without a filter of their own that matches some flows and not others');
});

test('matchFlow answers each filter code as documented', (t) => {
  const all = flows();
  const ids = (text: string) => all.filter((f) => matchFlow(parseFilter(text), f)).map((f) => f.id);
  t.deepEqual(ids('~c 4xx'), ['flow-5', 'flow-11']);
  // No response: matches no status filter, and therefore every negated one.
  t.false(ids('~c 2xx | ~c 3xx | ~c 4xx | ~c 5xx | ~c 1xx').includes('flow-7'));
  t.true(ids('!~c 207').includes('flow-7'));
  t.deepEqual(ids('~q'), ['flow-7']);
  t.false(ids('~s').includes('flow-7'));
  t.is(ids('~s').length, all.length - 1);
  t.deepEqual(ids('~e'), ['flow-2', 'flow-6', 'flow-7', 'flow-13']);
  t.deepEqual(ids('~i'), ['flow-8']);
  t.deepEqual(ids('~r MS601'), ['flow-1', 'flow-12']);
  t.deepEqual(ids('~sev error'), ['flow-2', 'flow-8', 'flow-12']);
  t.deepEqual(ids('~sev warning'), ['flow-1', 'flow-2', 'flow-8', 'flow-12']);
  t.deepEqual(ids('~sev info'), ['flow-1', 'flow-2', 'flow-8', 'flow-12', 'flow-15']);
  // Case-insensitive regular expressions, like mitmproxy's.
  t.deepEqual(ids('~u /calendars/upper'), ['flow-11']);
  t.deepEqual(ids('~m ^put$'), ['flow-4', 'flow-19']);
  t.deepEqual(ids('~h "Server: nginx"'), ['flow-10']);
  // ~d: the URL's host or the Host header's, without the port.
  t.deepEqual(ids('~d files\\.example'), ['flow-4']);
  t.is(ids('~d ^127\\.0\\.0\\.1$').length, all.length);
  t.deepEqual(ids('~a'), ['flow-14']);
  t.deepEqual(ids('~t text/'), ['flow-4', 'flow-10']);
  t.deepEqual(ids('~tq text/'), ['flow-4']);
  // The decoded copy, not the gzip bytes; a pattern spanning lines.
  t.deepEqual(ids('~bs compressed-event'), ['flow-16']);
  t.deepEqual(ids('~bq "calendar-query.*filter"'), ['flow-17']);
  t.deepEqual(ids('~b "calendar-query.*filter"'), ['flow-17']);
  // Bodies are read as UTF-8: a NUL does not end them, a byte that is no UTF-8 is one U+FFFD.
  t.deepEqual(ids('~bq needle-in-binary'), ['flow-19']);
  t.deepEqual(ids('~bs "caf. cr.me"'), ['flow-19']);
  t.deepEqual(ids('~bs café'), []);
  t.deepEqual(ids('~marked'), []);
  t.true(matchFlow(parseFilter('~marked'), { ...all[0]!, marked: true }));
});
