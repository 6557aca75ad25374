// litmus over https through davtap's TLS listener against litmus direct over plain http, on the
// same Apache, test by test. Shared by bench/tls.ts and test/interop/tls-clients.test.ts.
//
// litmus itself skips one test on an https URL: `http expect100` ("skipping for SSL server"; it
// writes that test on a raw socket of its own, which cannot speak TLS). That test is left out of
// the comparison and of both counts, and named in `sslSkipped`.
import type { LitmusOutcome, LitmusRun } from './litmus.js';

export interface LitmusCounts {
  passed: number;
  failed: number;
}

export interface LitmusTlsComparison {
  /** Tests run by both, passed and failed, over https through davtap. */
  https: LitmusCounts;
  /** The same tests direct over http. */
  direct: LitmusCounts;
  /** `suite index name: direct … | https …` for each test whose outcome or messages differ. */
  differ: string[];
  /** Tests litmus skipped over https for being an SSL server (`suite index name`). */
  sslSkipped: string[];
  /** How many tests were compared. */
  compared: number;
}

/** A litmus message with what legitimately differs between the runs (scheme, address, collection) replaced. */
function normalise(message: string, base: string): string {
  const basePath = new URL(base).pathname;
  return message.replaceAll(/https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):\d+/g, 'ORIGIN').replaceAll(basePath, '/BASE/');
}

/** Whether litmus printed that it skipped this test because the server speaks TLS. */
function skippedForSsl(run: LitmusRun, index: number, name: string): boolean {
  const escaped = name.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\b${index}\\. ${escaped}\\.*\\s*SKIPPED \\(skipping for SSL server\\)`).test(run.output);
}

/** Compares a litmus run over https through davtap (`https`, on `httpsBase`) with a direct run (`direct`, on `directBase`). */
export function compareLitmusTls(direct: LitmusRun, directBase: string, https: LitmusRun, httpsBase: string): LitmusTlsComparison {
  const key = (r: { suite: string; index: number }) => `${r.suite} ${r.index}`;
  const viaTls = new Map(https.results.map((r) => [key(r), r]));
  const directKeys = new Set(direct.results.map(key));
  const out: LitmusTlsComparison = { https: { passed: 0, failed: 0 }, direct: { passed: 0, failed: 0 }, differ: [], sslSkipped: [], compared: 0 };
  const count = (c: LitmusCounts, outcome: LitmusOutcome) => {
    if (outcome === 'pass') c.passed++;
    else if (outcome === 'fail') c.failed++;
  };
  for (const d of direct.results) {
    const h = viaTls.get(key(d));
    const label = `${d.suite} ${d.index} ${d.name}`;
    if (!h) {
      out.differ.push(`${label}: direct ${d.outcome} | https not run`);
      continue;
    }
    if (h.outcome === 'skipped' && d.outcome !== 'skipped' && skippedForSsl(https, h.index, h.name)) {
      out.sslSkipped.push(label);
      continue;
    }
    out.compared++;
    count(out.direct, d.outcome);
    count(out.https, h.outcome);
    const dText = [d.name, d.outcome, ...d.messages.map((m) => normalise(m, directBase))].join(' ');
    const hText = [h.name, h.outcome, ...h.messages.map((m) => normalise(m, httpsBase))].join(' ');
    if (dText !== hText) out.differ.push(`${label}: direct ${d.outcome}${d.messages.length ? ` [${d.messages.join(' | ')}]` : ''} | https ${h.outcome}${h.messages.length ? ` [${h.messages.join(' | ')}]` : ''}`);
  }
  for (const h of https.results) {
    if (!directKeys.has(key(h))) out.differ.push(`${h.suite} ${h.index} ${h.name}: direct not run | https ${h.outcome}`);
  }
  return out;
}

/** `P/F` */
export const counts = (c: LitmusCounts): string => `${c.passed}/${c.failed}`;
