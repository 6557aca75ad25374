// The three renderings of a verify report: words per path, JSON, JUnit XML (well-formed whatever the
// hrefs and messages contain), all judged by the same --fail-on.
import test from 'ava';
import { SaxesParser } from 'saxes';
import { prefixMap } from '../../src/analysis/compare.js';
import type { Finding } from '../../src/types.js';
import { pathFails, renderJson, renderJunit, renderText, reportFails, type FailOn } from '../../src/verify/report.js';
import type { ExchangeReport, PathReport, VerifyReport } from '../../src/verify/run.js';

const side = { url: 'http://127.0.0.1:1/', status: 207, framing: 'content-length' as const, payloadBytes: 10, decodedBytes: 10, responses: 1, summary: '0 of 1 resources failed', transport: { outcome: 'complete' as const } };

function exchange(probe: string, differences: Finding[]): ExchangeReport {
  return { probe, originPath: '/a/', viaPath: '/gw/a/', origin: side, via: side, differences, originFindings: [], identicalBytes: differences.length === 0, verdict: differences[0]?.message ?? 'identical' };
}

function report(paths: PathReport[]): VerifyReport {
  return {
    origin: 'http://127.0.0.1:1/',
    via: 'http://127.0.0.1:2/gw/',
    map: prefixMap('/gw/', '/'),
    mapSource: 'bases',
    mapText: '/gw/ = origin /',
    dav: { calendar: false, addressbook: false },
    depth: 2,
    maxCollections: 100,
    notVisited: 0,
    paths,
    exchanges: paths.reduce((n, p) => n + p.exchanges.length, 0),
  };
}

const finding = (rule: string, severity: Finding['severity'], category: Finding['category'], message: string, consequenceOf?: string): Finding => ({
  rule,
  severity,
  category,
  blame: 'gateway',
  message,
  evidence: {},
  ...(consequenceOf ? { consequenceOf } : {}),
});

const hostile = 'via changed 1 property value: D:displayname on /gw/a&b/ "<x>" → "\u0001]]>"';
const r = report([
  { originPath: '/', viaPath: '/gw/', exchanges: [exchange('PROPFIND allprop', []), exchange('PROPFIND named', [finding('MS810', 'info', 'stripped', 'via re-framed the body: content-length → chunked')])], worst: 'info' },
  {
    originPath: '/a&b/',
    viaPath: '/gw/a&b/',
    exchanges: [
      exchange('PROPFIND allprop', [finding('MS805', 'error', 'stripped', 'via removed the namespace declaration xmlns:D="DAV:"'), finding('MS104', 'error', 'malformed', 'via: namespace error', 'MS805')]),
      exchange('PROPFIND named', [finding('MS807', 'error', 'stripped', hostile), finding('MS809', 'warning', 'stripped', 'via changed Content-Type from text/xml to text/plain')]),
    ],
    worst: 'error',
  },
]);

const atError: FailOn = { kind: 'severity', at: 'error' };

function wellFormed(xml: string): string | undefined {
  let error: string | undefined;
  const p = new SaxesParser();
  p.on('error', (e) => (error ??= e.message));
  p.write(xml).close();
  return error;
}

test('text: one line per difference under its path, causes only, with the totals', (t) => {
  const text = renderText(r, atError);
  const lines = text.split('\n');
  t.is(lines[0], 'davtap verify: origin http://127.0.0.1:1/ via http://127.0.0.1:2/gw/ (/gw/ = origin /, from the two URLs)');
  t.regex(lines[1]!, /^PASS {2}\/gw\/ +2 exchanges, same multistatus \(1 byte-identical\)$/);
  t.regex(lines[2]!, /^FAIL {2}\/gw\/a&b\/ +PROPFIND allprop: via removed the namespace declaration xmlns:D="DAV:" \[MS805 error\]$/);
  t.true(lines[3]!.trim().startsWith('PROPFIND named: via changed 1 property value'));
  t.true(lines[4]!.trim().startsWith('PROPFIND named: via changed Content-Type from text/xml to text/plain [MS809 warning]'));
  t.false(text.includes('namespace error'), 'a consequence is not repeated in words');
  t.regex(text, /Result: 1 of 2 paths differ: 2 errors, 1 warning, 1 note\.\n$/);
});

test('--fail-on: severities count upwards, categories count their warnings and errors', (t) => {
  t.true(reportFails(r, atError));
  t.false(pathFails(r.paths[0]!, atError));
  t.true(pathFails(r.paths[0]!, { kind: 'severity', at: 'info' }));
  t.false(pathFails(r.paths[0]!, { kind: 'category', category: 'stripped' }), 'an info note does not fail a category');
  t.true(pathFails(r.paths[1]!, { kind: 'category', category: 'stripped' }));
  t.false(reportFails(r, { kind: 'category', category: 'truncation' }));
});

test('JSON: the whole report with a verdict per path and in all', (t) => {
  const doc = JSON.parse(renderJson(r, atError)) as { passed: boolean; paths: { passed: boolean }[]; totals: Record<string, number>; failOn: FailOn };
  t.false(doc.passed);
  t.deepEqual(doc.paths.map((p) => p.passed), [true, false]);
  t.deepEqual(doc.totals, { error: 2, warning: 1, info: 1 });
  t.deepEqual(doc.failOn, atError);
});

test('JUnit: one testcase per path, well-formed even with markup and control characters in the words', (t) => {
  const xml = renderJunit(r, atError);
  t.is(wellFormed(xml), undefined, xml);
  t.regex(xml, /<testsuites name="davtap verify" tests="2" failures="1">/);
  t.regex(xml, /<testcase classname="davtap.verify" name="\/gw\/"\/>/);
  t.regex(xml, /<testcase classname="davtap.verify" name="\/gw\/a&amp;b\/">/);
  t.regex(xml, /<failure type="MS805" message="PROPFIND allprop: via removed the namespace declaration xmlns:D=&quot;DAV:&quot;">/);
  t.true(xml.includes('&lt;x&gt;'));
  t.true(xml.includes('\uFFFD]]&gt;'), 'the control character is replaced, the CDATA end escaped');
  t.false(xml.includes('namespace error'));
});
