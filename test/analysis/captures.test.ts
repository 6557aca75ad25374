// Every real capture (recorded from Apache, nginx, lighttpd, rclone and Radicale, plus the shared
// Apache/Radicale set) goes through the analyzer as the `check` command would feed it: wire bytes,
// framing and content coding included. Real servers' answers must raise no error-severity finding,
// and the resource ledger must match the body. The expected ledger is read from the capture here
// with fast-xml-parser, not with anything the analyzer uses.
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import { analyze, createAnalyzer } from '../../src/analysis/analyzer.js';
import type { Analysis, Finding, TransportEnd } from '../../src/types.js';
import { type Capture, decodedBody, loadCapturePairs, loadSharedCaptures, requestContext, responseHead } from '../helpers/corrupt.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
// The shared set reuses some case names (apache-propfind-d1-named…): label it apart.
const captures: (Capture & { golden: string })[] = [
  ...loadCapturePairs(`${fixtures}captures`).map((c) => ({ ...c, golden: `${fixtures}captures/${c.name}.findings.json` })),
  ...loadSharedCaptures(`${fixtures}shared`).map((c) => ({ ...c, name: `shared/${c.name}`, golden: `${fixtures}shared/${c.name}.findings.json` })),
];
/** UPDATE_GOLDEN=1 rewrites the golden files from the current analyzer (review the diff!). */
const updateGolden = process.env['UPDATE_GOLDEN'] === '1';
const complete: TransportEnd = { outcome: 'complete', closeKind: 'fin' };

/**
 * Real captures that are broken by the server itself, with the rule that must say so. Everything
 * else must be free of error findings.
 */
const serverBugs: Record<string, { rule: string; why: string }> = {
  'lighttpd-proppatch-protected': { rule: 'MS104', why: 'lighttpd 1.4.69 writes <DAV:getetag/> with the prefix DAV undeclared' },
};

interface ExpectedResource {
  href: string;
  status: number | null;
  propstats: (number | null)[];
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => ['response', 'href', 'propstat'].includes(name),
});

function code(statusLine: unknown): number | null {
  const m = typeof statusLine === 'string' ? /^\s*HTTP\/\d\.\d\s+(\d{3})/.exec(statusLine) : null;
  return m ? Number(m[1]) : null;
}

function text(node: unknown): string {
  if (typeof node === 'string') return node.trim();
  if (node && typeof node === 'object' && '#text' in node) return String((node as { '#text': unknown })['#text']).trim();
  return '';
}

/** The `<response>` elements of a multistatus body, or null when the body is not one. */
function expectedLedger(body: Buffer): ExpectedResource[] | null {
  if (!/<([A-Za-z_][\w.-]*:)?multistatus[\s>]/.test(body.toString('utf8'))) return null;
  const doc = parser.parse(body.toString('utf8')) as Record<string, unknown>;
  const root = doc['multistatus'] as Record<string, unknown> | '' | undefined;
  if (root === undefined) return null;
  const responses = root === '' ? [] : ((root['response'] ?? []) as Record<string, unknown>[]);
  return responses.map((r) => ({
    href: text((r['href'] as unknown[])[0]),
    status: code(r['status']),
    propstats: ((r['propstat'] ?? []) as Record<string, unknown>[]).map((p) => code(p['status'])),
  }));
}

/**
 * Resources that failed, as src/types.ts defines it: a whole-resource 4xx/5xx, or a failing
 * propstat other than the 404 an explicit property list (PROPFIND prop, REPORT) expects. A 404
 * member of a sync-collection report means "removed" (RFC 6578 §3.2), not a failure.
 */
function expectedFailed(c: Capture, ledger: ExpectedResource[]): number {
  const method = c.request.startLine.split(' ')[0];
  const body = c.request.body.toString('utf8');
  const explicitProps = method === 'REPORT' || (method === 'PROPFIND' && /<([A-Za-z_][\w.-]*:)?prop[\s>]/.test(body));
  const sync = /<([A-Za-z_][\w.-]*:)?sync-collection[\s>]/.test(body);
  return ledger.filter(
    (r) =>
      (r.status !== null && r.status >= 400 && !(sync && r.status === 404)) ||
      r.propstats.some((p) => p !== null && p >= 400 && !(p === 404 && explicitProps)),
  ).length;
}

function describe(findings: Finding[]): string {
  return findings.map((f) => `${f.rule} ${f.severity} ${f.category}: ${f.message}`).join('\n');
}

/** What a golden file pins: each finding's identity, not its wording, and the ledger's totals. */
function goldenOf(a: Analysis): unknown {
  return {
    findings: a.findings.map((f) => ({
      rule: f.rule,
      severity: f.severity,
      category: f.category,
      ...(f.consequenceOf === undefined ? {} : { consequenceOf: f.consequenceOf }),
      ...(typeof f.evidence.href === 'string' ? { href: f.evidence.href } : {}),
    })),
    summary: { resources: a.summary.resources, failedResources: a.summary.failedResources, byStatus: a.summary.byStatus },
  };
}

function run(c: Capture): Analysis {
  return analyze(requestContext(c.request), responseHead(c.response), c.response.body, complete);
}

test('the fixtures hold captures from all five servers and the shared set', (t) => {
  const servers = new Set(captures.map((c) => c.name.replace(/^shared\//, '').split('-')[0]));
  t.deepEqual([...servers].sort(), ['apache', 'lighttpd', 'nginx', 'radicale', 'rclone']);
  t.true(captures.filter((c) => responseHead(c.response).status === 207).length >= 80);
});

for (const c of captures) {
  const bug = serverBugs[c.name];

  test(`${c.name}: findings match the golden file`, (t) => {
    const actual = goldenOf(run(c));
    if (updateGolden) {
      writeFileSync(c.golden, JSON.stringify(actual, null, 2) + '\n');
      t.pass();
      return;
    }
    if (!existsSync(c.golden)) {
      t.fail(`${c.golden} is missing: UPDATE_GOLDEN=1 npx ava test/analysis/captures.test.ts writes it`);
      return;
    }
    t.deepEqual(actual, JSON.parse(readFileSync(c.golden, 'utf8')), 'UPDATE_GOLDEN=1 rewrites the golden files when the change is intended');
  });

  if (bug) {
    test(`${c.name}: the server's own defect is reported as ${bug.rule} (${bug.why})`, (t) => {
      const errors = run(c).findings.filter((f) => f.severity === 'error');
      t.true(errors.some((f) => f.rule === bug.rule), describe(errors));
      t.deepEqual(errors.filter((f) => f.category !== 'malformed'), [], describe(errors));
    });
    continue;
  }

  test(`${c.name}: a real server's answer raises no error finding`, (t) => {
    const analysis = run(c);
    const errors = analysis.findings.filter((f) => f.severity === 'error');
    t.deepEqual(errors, [], describe(errors));
    t.is(analysis.summary.findings.error, 0);
  });

  const expected = expectedLedger(decodedBody(c.response));
  if (expected === null) continue;

  test(`${c.name}: the ledger lists each <response> with its href and statuses as written`, (t) => {
    const analysis = run(c);
    t.is(analysis.resources.length, expected.length);
    t.is(analysis.summary.resources, expected.length);
    t.is(analysis.summary.failedResources, expectedFailed(c, expected), `summary: ${analysis.summary.text}`);
    t.deepEqual(
      analysis.resources.map((r) => ({ href: r.href, status: r.status, propstats: r.propstats.map((p) => p.status) })),
      expected,
    );
    t.deepEqual(analysis.resources.map((r) => r.index), expected.map((_r, i) => i));
    t.true(analysis.resources.every((r) => r.complete && r.span.end !== null && r.span.end > r.span.start));
  });

  test(`${c.name}: fed in small pieces it gives the same analysis as in one piece`, (t) => {
    const whole = run(c);
    const analyzer = createAnalyzer(requestContext(c.request), responseHead(c.response));
    const body = c.response.body;
    // Odd piece sizes split chunk-size lines, CRLFs, gzip headers and UTF-8 sequences.
    const step = body.length > 100_000 ? 4093 : 97;
    for (let at = 0; at < body.length; at += step) analyzer.write(body.subarray(at, at + step));
    t.deepEqual(analyzer.end(complete), whole);
  });
}

// Write boundaries inside a <response> start tag (Apache's carry four xmlns declarations, ~120
// bytes) must not move the resource's span or any finding: checked at every byte of each such tag.
for (const name of ['apache-propfind-d1-named', 'lighttpd-propfind-d1-named', 'nginx-propfind-d1-named', 'rclone-propfind-d1-named', 'radicale-propfind-d1-named']) {
  const c = captures.find((x) => x.name === name)!;
  test(`${name}: two writes split anywhere inside a <response> start tag give the same analysis as one`, (t) => {
    const body = c.response.body;
    const whole = JSON.stringify(run(c));
    const splits: number[] = [];
    const text = body.toString('latin1');
    for (const m of text.matchAll(/<([A-Za-z_][\w.-]*:)?response[\s>][^>]*>?/g)) {
      for (let at = m.index; at <= m.index + m[0].length; at++) splits.push(at);
    }
    t.true(splits.length > 0);
    const differing = splits.filter((split) => {
      const analyzer = createAnalyzer(requestContext(c.request), responseHead(c.response));
      analyzer.write(body.subarray(0, split));
      analyzer.write(body.subarray(split));
      return JSON.stringify(analyzer.end(complete)) !== whole;
    });
    t.deepEqual(differing, [], `write boundaries that change the analysis (response start tags at ${[...text.matchAll(/<([A-Za-z_][\w.-]*:)?response[\s>]/g)].map((m) => m.index).join(', ')})`);
  });
}
