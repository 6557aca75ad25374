// The rule catalogue is the contract with users: the README table lists exactly the rules the code
// has, with the same severity and category, and a rule that throws becomes MS901, never an exception.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { analyze, rules } from '../../src/analysis/analyzer.js';
import { ruleDefs } from '../../src/analysis/rules/index.js';
import type { RequestContext, ResponseHead } from '../../src/types.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rulesMd = (() => {
  try {
    return readFileSync(new URL('../../../shared/RULES.md', import.meta.url), 'utf8');
  } catch {
    return undefined; // RULES.md lives beside the repository; the README is the copy under test
  }
})();

function readmeTable(): Map<string, { severity: string; category: string; blame: string }> {
  const begin = readme.indexOf('<!-- rules:begin -->');
  const end = readme.indexOf('<!-- rules:end -->');
  if (begin < 0 || end < begin) throw new Error('README has no rules:begin/rules:end section');
  const rows = new Map<string, { severity: string; category: string; blame: string }>();
  for (const line of readme.slice(begin, end).split('\n')) {
    const m = /^\| (MS\d{3}) \| (\w+) \| ([^|]+?) \| (\w+) \|/.exec(line);
    if (m) rows.set(m[1]!, { severity: m[2]!, category: m[3]!.trim(), blame: m[4]! });
  }
  return rows;
}

test('the README rule table lists exactly the rules in the code', (t) => {
  const table = readmeTable();
  const code = Object.keys(rules).sort();
  t.deepEqual([...table.keys()].sort(), code);
});

test('the README rule table gives each rule the severity, category and default blame the code uses', (t) => {
  for (const [id, row] of readmeTable()) {
    const r = rules[id]!;
    t.is(row.severity, r.severity, id);
    t.is(row.blame, r.blame, id);
    if (id !== 'MS901') t.is(row.category, r.category, id);
  }
});

test('rule ids are unique, well-formed, and every rule has a title and a check', (t) => {
  const ids = ruleDefs.map((r) => r.id);
  t.is(new Set(ids).size, ids.length);
  for (const r of ruleDefs) {
    t.regex(r.id, /^MS\d{3}$/);
    t.true(r.title.length > 5, r.id);
    t.true(typeof r.atEnd === 'function' || typeof r.onResponse === 'function', r.id);
  }
  t.is(rules['MS901']?.severity, 'error');
});

// RULES.md sits beside the repository (../shared); where it does not, the README table is the reference.
if (rulesMd !== undefined) test('the catalogue covers every rule id of RULES.md §2 with its severity and category', (t) => {
  const section = rulesMd.slice(rulesMd.indexOf('## 2.'), rulesMd.indexOf('## 3.'));
  const specified = [...section.matchAll(/^\| (MS\d{3}) \| ([EWI]) \| (\w+)/gm)].map((m) => ({ id: m[1]!, sev: m[2]!, cat: m[3]! }));
  t.true(specified.length >= 50);
  const sev = { E: 'error', W: 'warning', I: 'info' } as const;
  const cat: Record<string, string> = { T: 'truncation', S: 'stripped', M: 'malformed', Se: 'semantic', P: 'partial-failure', X: 'security' };
  for (const s of specified) {
    t.truthy(rules[s.id], `${s.id} missing`);
    t.is(rules[s.id]?.severity, sev[s.sev as keyof typeof sev], `${s.id} severity`);
    t.is(rules[s.id]?.category as string | undefined, cat[s.cat], `${s.id} category`);
  }
});

const req: RequestContext = { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Host', '127.0.0.1', 'Depth', '1'] };
const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' };
const body = Buffer.from('<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>');

test.serial('a rule that throws becomes an MS901 finding with the category of that rule, and the others still run', (t) => {
  const victim = ruleDefs.find((r) => r.id === 'MS501')!;
  const streaming = ruleDefs.find((r) => r.id === 'MS204')!;
  const saved = { atEnd: victim.atEnd, onResponse: streaming.onResponse };
  victim.atEnd = () => {
    throw new Error('boom at end');
  };
  streaming.onResponse = () => {
    throw new TypeError('boom per response');
  };
  try {
    const a = analyze(req, head, body);
    const crashed = a.findings.filter((f) => f.rule === 'MS901');
    t.is(crashed.length, 2);
    t.deepEqual(crashed.map((f) => f.evidence['crashedRule']).sort(), ['MS204', 'MS501']);
    t.is(crashed.find((f) => f.evidence['crashedRule'] === 'MS501')!.category, 'partial-failure');
    t.regex(crashed[0]!.message, /boom/);
    t.is(a.resources.length, 1);
    t.is(a.summary.findings.error, 2);
  } finally {
    victim.atEnd = saved.atEnd;
    streaming.onResponse = saved.onResponse;
  }
  t.false(analyze(req, head, body).findings.some((f) => f.rule === 'MS901'));
});

test('gateway differences have ids of their own, MS801 onwards, in the catalogue and the README as gateway differences', async (t) => {
  const { gatewayRules, GATEWAY } = await import('../../src/analysis/rules/gateway.js');
  const ids = gatewayRules.map((r) => r.id);
  t.deepEqual(ids, Object.values(GATEWAY));
  t.deepEqual(ids, ids.map((_, i) => `MS${801 + i}`));
  const table = readmeTable();
  for (const r of gatewayRules) {
    t.deepEqual(rules[r.id], { id: r.id, severity: r.severity, category: r.category, blame: 'gateway', title: r.title }, r.id);
    t.truthy(table.get(r.id), r.id);
    const row = readme.split('\n').find((l) => l.startsWith(`| ${r.id} |`))!;
    t.regex(row, /\| gateway difference: /, r.id);
    // No analyzer rule shares an id with a gateway difference.
    t.false(ruleDefs.some((d) => d.id === r.id), r.id);
  }
});
