// Analyses share nothing observable: the analyzer reuses closed XML parsers between responses, so
// an analysis must give the same result whatever was analyzed before it (broken, stopped by a
// limit, abandoned, XML 1.1) and however many analyses are open at once.
import test from 'ava';
import { createAnalyzer } from '../../src/analysis/analyzer.js';
import { parseRequest } from '../../src/analysis/request.js';
import type { Analysis, AnalyzerLimits, RequestContext, ResponseHead } from '../../src/types.js';

const req: RequestContext = { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Host', '127.0.0.1:8080', 'Depth', '1'] };
const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml; charset=utf-8'], bodyForm: 'payload' };

const listing = (n: number, name = 'f') =>
  `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n` +
  Array.from(
    { length: n },
    (_v, i) => `<D:response><D:href>/dav/${name}${i}-é.txt</D:href><D:propstat><D:prop><D:getetag>"${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`,
  ).join('') +
  `</D:multistatus>\n`;

/** A body with an error on line 3, so that a parser keeping any state would shift line numbers. */
const withError = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n<D:response><D:href>/dav/x</D:hre></D:response>\n<X:bad/></D:multistatus>\n`;

function run(body: string, limits?: Partial<AnalyzerLimits>, step = 97): Analysis {
  const a = createAnalyzer(req, head, limits);
  const bytes = Buffer.from(body);
  for (let i = 0; i < bytes.length; i += step) a.write(bytes.subarray(i, i + step));
  return a.end({ outcome: 'complete' });
}

const before = { good: run(listing(40)), broken: run(withError) };

test('a listing and a broken body analyzed first give the findings the rules expect (the baseline is not vacuous)', (t) => {
  t.is(before.good.resources.length, 40);
  t.deepEqual(before.good.findings.filter((f) => f.severity === 'error'), []);
  const ms101 = before.broken.findings.find((f) => f.rule === 'MS101');
  t.truthy(ms101);
  t.is(ms101!.evidence['line'], 3);
});

const predecessors: { what: string; go: () => void }[] = [
  { what: 'a body with a well-formedness error', go: () => void run(withError) },
  { what: 'a body stopped by maxDepth', go: () => void run(`<D:multistatus xmlns:D="DAV:">${'<a>'.repeat(50)}`, { maxDepth: 8 }) },
  { what: 'a body stopped by maxResponses mid-document', go: () => void run(listing(20), { maxResponses: 3 }) },
  { what: 'an XML 1.1 document', go: () => void run(listing(5).replace('version="1.0"', 'version="1.1"')) },
  { what: 'a document with an internal subset and undeclared prefixes', go: () => void run(`<!DOCTYPE m [<!ENTITY e "x">]>\n<m xmlns:p="urn:p"><q:a>&e;</q:a></m>`) },
  {
    what: 'an analysis abandoned without end()',
    go: () => {
      const a = createAnalyzer(req, head);
      a.write(Buffer.from(listing(10)).subarray(0, 300));
    },
  },
  {
    what: 'an analysis ended twice',
    go: () => {
      const a = createAnalyzer(req, head);
      a.write(Buffer.from(listing(3)));
      a.end({ outcome: 'complete' });
      a.end({ outcome: 'complete' });
      a.write(Buffer.from('<late/>'));
    },
  },
];

for (const p of predecessors) {
  test(`after ${p.what}, a listing and a broken body are analyzed exactly as before`, (t) => {
    p.go();
    t.deepEqual(run(listing(40)), before.good);
    p.go();
    t.deepEqual(run(withError), before.broken);
  });
}

test('analyses open at the same time, written alternately, each give the result they give alone', (t) => {
  const bodies = [listing(40), withError, listing(25, 'g'), listing(5).replace('version="1.0"', 'version="1.1"')].map((b) => Buffer.from(b));
  const alone = bodies.map((b) => run(b.toString()));
  // Ending one analyzer early returns its parser while the others are still reading.
  const open = bodies.map(() => createAnalyzer(req, head));
  const step = 61;
  const longest = Math.max(...bodies.map((b) => b.length));
  for (let at = 0; at < longest; at += step) {
    bodies.forEach((b, i) => {
      if (at < b.length) open[i]!.write(b.subarray(at, at + step));
    });
  }
  const together = open.map((a) => a.end({ outcome: 'complete' }));
  t.deepEqual(together, alone);
});

test('request bodies read one after another (valid, broken, cut short) each give what they give alone', (t) => {
  const ctx = (body: string): RequestContext => ({ method: 'REPORT', target: '/cal/', rawHeaders: ['Depth', '1'], body: Buffer.from(body) });
  const multiget = ctx(
    `<?xml version="1.0"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>/cal/a.ics</D:href><D:href>/cal/b.ics</D:href></C:calendar-multiget>`,
  );
  const sync = ctx(`<D:sync-collection xmlns:D="DAV:"><D:sync-token>tok-1</D:sync-token><D:limit><D:nresults>7</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>`);
  const broken = ctx(`<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:pro></D:propfind>`);
  const cut = ctx(`<D:sync-collection xmlns:D="DAV:"><D:sync-token>tok-2`);
  const alone = [multiget, sync, broken, cut].map((c) => parseRequest(c));
  t.deepEqual(alone[0]!.multigetHrefs, ['/cal/a.ics', '/cal/b.ics']);
  t.is(alone[1]!.syncLimit, 7);
  t.truthy(alone[2]!.bodyError);
  t.truthy(alone[3]!.bodyError);
  for (const order of [
    [2, 0, 3, 1],
    [3, 3, 0, 2, 1, 0],
  ]) {
    for (const i of order) t.deepEqual(parseRequest([multiget, sync, broken, cut][i]!), alone[i]);
  }
});
