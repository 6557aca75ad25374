import test from 'ava';
import { readdirSync } from 'node:fs';
import { createRedactor, redactFlow } from '../../src/redact/index.js';
import type { Flow } from '../../src/types.js';
import { captureFlow } from '../export/flows.js';

const redactor = createRedactor();

/** A flow with a secret in every text field davtap records, headers and URLs aside. */
function secretsEverywhere(): Flow {
  const flow = captureFlow('apache-propfind-d1-allprop', 0, { query: '?token=S-QUERY' });
  flow.request.rawHeaders.push('Authorization', 'Basic S-AUTH');
  flow.outcome = { kind: 'error', code: 'EPROTO', message: 'upstream sent a redirect to https://h/x?sig=S-OUTCOME' };
  const res = flow.response!;
  res.reason = 'Multi-Status (see /login?password=S-REASON)';
  res.decodeError = 'cannot decode https://u:S-USERINFO@h/';
  res.rawTrailers = ['X-Auth-Token', 'S-TRAILER'];
  res.informational = [{ status: 103, rawHeaders: ['Link', '</style.css?apikey=S-LINK>; rel=preload'] }];
  const a = flow.analysis!;
  a.summary.text = `${a.summary.text} (/a?secret=S-SUMMARY)`;
  a.findings.push({
    rule: 'MS999',
    severity: 'info',
    category: 'semantic', blame: 'server',
    message: 'Location header on a 207 (http://x/a?token=S-MESSAGE)',
    evidence: { href: '/dav/a;jsessionid=S-EVIDENCE-HREF', token: 'S-EVIDENCE-KEY', examples: ['/b?access_token=S-EVIDENCE-LIST'], nested: { Cookie: 'S-NESTED' }, offset: 12 },
  });
  const r = a.resources[0]!;
  r.href = '/dav/?client_secret=S-HREF';
  r.hrefNormalized = '/dav/?client_secret=S-HREF';
  r.extraHrefs = ['/dav/b?sig=S-EXTRA'];
  r.location = 'http://h/c?token=S-LOCATION';
  r.description = 'moved to http://h/d?token=S-DESCRIPTION';
  r.propstats[0]!.description = 'see /e?token=S-PROPSTAT';
  return flow;
}

test('every header, URL and piece of text of a flow is redacted; bodies stay as recorded and shared', (t) => {
  const flow = secretsEverywhere();
  const before = JSON.stringify(flow);
  const secrets = before.match(/S-[A-Z-]+/g)!;
  t.true(secrets.length >= 18, secrets.join(' '));
  const out = redactFlow(flow, redactor);
  const text = JSON.stringify(out);
  for (const s of new Set(secrets)) t.false(text.includes(s), s);
  t.is(JSON.stringify(flow), before, 'the recorded flow is not modified');
  t.is(out.response!.body, flow.response!.body, 'the body is the recorded one');
  t.is(out.request.body, flow.request.body);
  // What says where and why stays readable.
  t.is(out.analysis!.findings.at(-1)!.message, 'Location header on a 207 (http://x/a?token=%5Bredacted%5D)');
  t.is(out.analysis!.findings.at(-1)!.evidence.offset, 12);
  t.is(out.analysis!.resources[0]!.href, '/dav/?client_secret=%5Bredacted%5D');
  t.is(out.outcome.code, 'EPROTO');
});

test('with redaction off the flow comes back as it is', (t) => {
  const flow = secretsEverywhere();
  t.is(redactFlow(flow, createRedactor({ enabled: false })), flow);
});

// Masking too much hides what a user came to see. Every finding, summary and ledger entry the real
// analyzer produces on the recorded captures (hrefs, excerpts, lock and sync tokens, headers quoted
// in messages) must come through unchanged: none of them carries a credential.
test('the analysis of every real capture comes through redaction unchanged', (t) => {
  const names = readdirSync(new URL('../fixtures/captures/', import.meta.url)).filter((f) => f.endsWith('.req')).map((f) => f.slice(0, -4));
  t.true(names.length > 50);
  let findings = 0;
  for (const [i, name] of names.entries()) {
    const flow = captureFlow(name, i);
    if (!flow.analysis) continue;
    findings += flow.analysis.findings.length;
    t.deepEqual(redactFlow(flow, redactor).analysis, flow.analysis, name);
  }
  // Enough findings for the comparison to mean something (43 on these captures since text/xml
  // stopped raising a note on every flow).
  t.true(findings > 30, `${findings} findings compared`);
});
