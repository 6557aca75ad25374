// What changed between a recorded flow and its replay: the status (or the outcome, when one of them
// got no answer), the multistatus resource by resource (src/analysis/multistatus-diff.ts, the diff
// verify uses too), and the analyzer's findings that appeared or went away. Pure.
import { readMultistatus } from '../analysis/compare.js';
import { normalizeAuthority, normalizeHref, parseHref } from '../analysis/href.js';
import { diffMultistatus, type DiffOptions, type MultistatusDiff } from '../analysis/multistatus-diff.js';
import { firstHeader } from '../http/headers.js';
import type { Finding, Flow, OutcomeKind } from '../types.js';

export interface FindingChange {
  rule: string;
  severity: Finding['severity'];
  message: string;
}

export interface FlowDiff {
  originalId: string;
  replayId: string;
  method: string;
  /** The original request's URL. */
  url: string;
  status: { before: number | null; after: number | null };
  outcome: { before: OutcomeKind; after: OutcomeKind };
  /** The resource-by-resource diff, when both answers are multistatus bodies read whole. */
  multistatus?: MultistatusDiff;
  /** Why the multistatus was not compared, when it was a 207 on either side and was not. */
  notCompared?: string;
  /** Findings (warnings and errors) by rule: on the replay only, and on the original only. */
  findingsAdded: FindingChange[];
  findingsGone: FindingChange[];
  /** Differences that count: a status or outcome change, the multistatus diff's count, findings added or gone. */
  counted: number;
}

/** The body as the analyzer read it (the decoded copy of a gzip/br body), when captured whole. */
function bodyText(flow: Flow): { text: string } | { why: string } {
  const res = flow.response;
  if (!res) return { why: 'no response' };
  const body = res.decoded ?? res.body;
  if (!body.captureComplete || body.bytes.length < body.bytesSeen) return { why: `only ${body.bytes.length} of ${body.bytesSeen} body bytes were recorded` };
  return { text: Buffer.from(body.bytes.buffer, body.bytes.byteOffset, body.bytes.length).toString('utf8') };
}

/** Authorities a flow's server answers for: its URL's and the Host the client named. */
function ownAuthorities(flow: Flow, into: Set<string>): void {
  try {
    const u = new URL(flow.request.url);
    into.add(normalizeAuthority(u.host, u.protocol.replace(/:$/, ''))!);
  } catch {
    /* no URL, no authority */
  }
  const host = firstHeader(flow.request.rawHeaders, 'host');
  if (host !== undefined) {
    into.add(normalizeAuthority(host, 'http')!);
    into.add(normalizeAuthority(host, 'https')!);
  }
}

const significant = (f: Finding): boolean => f.severity !== 'info' && f.consequenceOf === undefined;

export function diffFlows(original: Flow, replay: Flow, opts: DiffOptions = {}): FlowDiff {
  const before = original.response?.status ?? null;
  const after = replay.response?.status ?? null;
  let counted = 0;
  if (before !== after) counted++;
  if (original.outcome.kind !== replay.outcome.kind) counted++;

  let multistatus: MultistatusDiff | undefined;
  let notCompared: string | undefined;
  if (before === 207 && after === 207) {
    const b = bodyText(original);
    const a = bodyText(replay);
    if ('why' in b) notCompared = `the recorded answer cannot be compared: ${b.why}`;
    else if ('why' in a) notCompared = `the replayed answer cannot be compared: ${a.why}`;
    else {
      // Absolute hrefs on the server's own address (recorded or target) are compared by path, so a
      // replay to another host (--to) compares; hrefs on any other host keep it in their key.
      const own = new Set<string>();
      ownAuthorities(original, own);
      ownAuthorities(replay, own);
      const keyOf = (href: string): string => {
        const p = parseHref(href);
        const path = normalizeHref(href);
        return p.form === 'absolute-uri' && !own.has(p.authority!) ? `${p.scheme}://${p.authority}${path}` : path;
      };
      multistatus = diffMultistatus(readMultistatus(b.text), readMultistatus(a.text), { ...opts, keyOf });
      counted += multistatus.counted;
    }
  }

  const rulesOf = (flow: Flow) => new Map((flow.analysis?.findings ?? []).filter(significant).map((f) => [f.rule, f]));
  const was = rulesOf(original);
  const now = rulesOf(replay);
  const change = (f: Finding): FindingChange => ({ rule: f.rule, severity: f.severity, message: f.message });
  const findingsAdded = [...now.values()].filter((f) => !was.has(f.rule)).map(change);
  const findingsGone = [...was.values()].filter((f) => !now.has(f.rule)).map(change);
  counted += findingsAdded.length + findingsGone.length;

  return {
    originalId: original.id,
    replayId: replay.id,
    method: original.request.method,
    url: original.request.url,
    status: { before, after },
    outcome: { before: original.outcome.kind, after: replay.outcome.kind },
    ...(multistatus ? { multistatus } : {}),
    ...(notCompared !== undefined ? { notCompared } : {}),
    findingsAdded,
    findingsGone,
    counted,
  };
}
