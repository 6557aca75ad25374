// Every rule of the catalogue against small hand-written fixtures (test/fixtures/rules): for each
// rule at least one response that must raise it (`ID.fire*.http`) and one near miss that must not
// (`ID.near*.http`), each with the request behind it (`.req`) and, where needed, the transport
// outcome, body form or limits (`.json`). Expected findings and ledger summaries are golden JSON
// beside each fixture; UPDATE_GOLDEN=1 rewrites them after a deliberate change.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze, rules } from '../../src/analysis/analyzer.js';
import { isGatewayRule } from '../../src/analysis/rules/gateway.js';
import { parseRawRequest, parseRawResponse } from '../../src/readers/raw.js';
import type { Analysis, AnalyzerLimits, RequestContext, ResponseHead, TransportEnd } from '../../src/types.js';

const dir = new URL('../fixtures/rules/', import.meta.url).pathname;
const update = process.env['UPDATE_GOLDEN'] === '1';

interface Meta {
  transport?: TransportEnd;
  bodyForm?: 'wire' | 'payload';
  limits?: Partial<AnalyzerLimits>;
}

interface Fixture {
  name: string;
  rule: string;
  kind: 'fire' | 'near';
}

const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith('.http'))
  .sort()
  .map((f) => {
    const name = f.slice(0, -'.http'.length);
    const m = /^(MS\d{3})\.(fire|near)(-\d+)?$/.exec(name);
    if (!m) throw new Error(`fixture name ${f} does not follow ID.fire[-n].http / ID.near[-n].http`);
    return { name, rule: m[1]!, kind: m[2] as 'fire' | 'near' };
  });

function run(name: string): Analysis {
  const meta: Meta = existsSync(join(dir, `${name}.json`)) ? (JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Meta) : {};
  const { body, ...head } = parseRawResponse(readFileSync(join(dir, `${name}.http`)), name);
  const req: RequestContext = existsSync(join(dir, `${name}.req`)) ? parseRawRequest(readFileSync(join(dir, `${name}.req`)), name) : { method: '', target: '', rawHeaders: [] };
  const responseHead: ResponseHead = { ...head, bodyForm: meta.bodyForm ?? 'wire' };
  return analyze(req, responseHead, body, meta.transport ?? { outcome: 'complete', closeKind: 'fin' }, meta.limits);
}

/** What a golden file pins: the findings (without evidence detail) and the ledger summary. */
function goldenOf(a: Analysis) {
  return {
    findings: a.findings.map((f) => ({ rule: f.rule, severity: f.severity, category: f.category, blame: f.blame, message: f.message, ...(f.consequenceOf !== undefined ? { consequenceOf: f.consequenceOf } : {}) })),
    summary: { text: a.summary.text, resources: a.summary.resources, failedResources: a.summary.failedResources, byStatus: a.summary.byStatus },
    hrefs: a.resources.map((r) => r.href),
  };
}

for (const fx of fixtures) {
  test(`${fx.name}: ${fx.kind === 'fire' ? 'raises' : 'does not raise'} ${fx.rule} (${rules[fx.rule]?.title ?? 'unknown rule'})`, (t) => {
    const a = run(fx.name);
    const hits = a.findings.filter((f) => f.rule === fx.rule);
    const listing = a.findings.map((f) => `${f.rule} ${f.severity}: ${f.message}`).join('\n');
    if (fx.kind === 'fire') {
      t.true(hits.length > 0, `expected ${fx.rule} among:\n${listing}`);
      for (const h of hits) {
        t.is(h.category, rules[fx.rule]!.category);
        t.true(h.message.length > 10);
      }
    } else {
      t.deepEqual(hits, [], `near miss raised ${fx.rule}:\n${listing}`);
    }
    const golden = join(dir, `${fx.name}.golden.json`);
    const actual = goldenOf(a);
    if (update) writeFileSync(golden, JSON.stringify(actual, null, 2) + '\n');
    t.true(existsSync(golden), `${fx.name}.golden.json is missing: UPDATE_GOLDEN=1 writes it (review it before committing)`);
    if (existsSync(golden)) t.deepEqual(actual, JSON.parse(readFileSync(golden, 'utf8')));
  });
}

test('every rule of the catalogue has a fixture that fires it and a near miss that does not', (t) => {
  // MS901 and MS902 are raised by davtap about itself, never by a body: no fixture can fire them.
  // Gateway differences (MS8xx) need two copies of a body: test/verify/compare.test.ts fires each.
  const ids = Object.keys(rules).filter((id) => id !== 'MS901' && id !== 'MS902' && !isGatewayRule(id));
  const missing: string[] = [];
  for (const id of ids) {
    if (!fixtures.some((f) => f.rule === id && f.kind === 'fire')) missing.push(`${id} fire`);
    if (!fixtures.some((f) => f.rule === id && f.kind === 'near')) missing.push(`${id} near`);
  }
  t.deepEqual(missing, []);
  t.deepEqual(fixtures.filter((f) => !(f.rule in rules)).map((f) => f.name), [], 'fixtures for rules that do not exist');
});

test('fixtures named after a rule raise at most one root-cause error besides it', (t) => {
  // Keeps the fixtures focused: each shows its rule, not a cascade of unrelated errors.
  for (const fx of fixtures.filter((f) => f.kind === 'fire')) {
    const a = run(fx.name);
    const others = a.findings.filter((f) => f.rule !== fx.rule && f.severity === 'error' && f.consequenceOf === undefined);
    t.true(others.length <= 1, `${fx.name}: ${others.map((f) => f.rule).join(', ')}`);
  }
});
