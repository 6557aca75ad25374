// The 207 analyzer: request context + response head in, wire or payload bytes streamed through
// write(), the transport outcome given to end(), an Analysis out. Pure: no I/O, no clock, and no
// state shared between analyses — the only module-level values are the rule tables, a few idle
// saxes parsers kept for reuse (xml-reader.ts, request.ts), reset before each use, because
// building a parser costs about as much as analyzing a small 207, and a bounded table of element
// names (xml-tokenizer.ts) holding only what follows from each name's text. Pipeline, one pass:
// transfer framing → content decoding → text decoding → XML scan (ledger + observations; the
// tokenizer reads well-formed XML, saxes the rest from its first doubt) → rules. A broken body
// is data: nothing here throws to the caller.
import type { Analysis, Analyzer, AnalyzerLimits, Finding, RequestContext, Resource, ResponseHead, TransportEnd } from '../types.js';
import { ContentDecoder } from './decoding.js';
import type { Draft, Facts, HeadFacts, LedgerCounts, LedgerPass, ResponseObs, RuleDef, XmlFacts } from './facts.js';
import { Deframer } from './framing.js';
import { joinedHeader, listTokens, parseMediaType } from '../http/headers.js';
import { resolveLimits } from './limits.js';
import { parseRequest, type RequestInfo } from './request.js';
import { ruleDefs, analyzerCrashed } from './rules/index.js';
import { transportCause } from './rules/truncation.js';
import { normalizeHref } from './href.js';
import { VERSION_MARKERS, XmlScan } from './scan.js';
import { LedgerSummary } from './summary.js';
import { TextStage } from './text.js';

export { rules } from './rules/index.js';
export type { RuleInfo } from './rules/index.js';
export { defaultLimits } from './limits.js';

/** The rules that look at each response as it closes; those about payloads only see responses that carry one. */
const streamingRules = ruleDefs.filter((r) => r.onResponse !== undefined && r.payloadOnly !== true);
const payloadRules = ruleDefs.filter((r) => r.onResponse !== undefined && r.payloadOnly === true);

/** Catalogue position of each rule: findings are reported in this order. */
const ruleOrder = new Map(ruleDefs.map((r, i) => [r.id, i]));

/** The rules that judge the whole ledger, each through its own compact pass. */
const ledgerRules = ruleDefs.filter((r) => r.ledger !== undefined);
/** The rules judged at the end, in catalogue order, each with its place in `passes` (-1: no ledger pass). */
const endRules = ruleDefs.filter((r) => r.atEnd !== undefined).map((def) => ({ def, at: def.ledger !== undefined ? ledgerRules.indexOf(def) : -1 }));

/**
 * Where an analysis's ledger goes. By default it is kept and returned in Analysis.resources (the
 * proxy records it). With `onResource`, each resource is handed over as its response closes and
 * not kept (Analysis.resources is then empty): the analysis's memory no longer grows with the
 * number of responses, only the caller's use of them does.
 */
export interface LedgerSink {
  onResource(r: Resource): void;
}

/** Findings one rule may raise per response pass before the rest are only counted. */
const PER_RULE_CAP = 20;

function toFinding(def: Pick<RuleDef, 'id' | 'severity' | 'category' | 'blame'>, d: Draft): Finding {
  const f: Finding = { rule: def.id, severity: d.severity ?? def.severity, category: def.category, blame: d.blame ?? def.blame, message: d.message, evidence: d.evidence };
  if (d.consequenceOf !== undefined) f.consequenceOf = d.consequenceOf;
  return f;
}

function crashed(def: RuleDef | undefined, err: unknown, where: string): Finding {
  const msg = err instanceof Error ? err.message : String(err);
  return {
    rule: analyzerCrashed.id,
    severity: 'error',
    category: def?.category ?? analyzerCrashed.category,
    blame: analyzerCrashed.blame,
    message: `${def ? `rule ${def.id}` : where} crashed (${msg}); its check is missing from this analysis`,
    evidence: { crashedRule: def?.id ?? where, error: msg },
  };
}

class AnalyzerImpl implements Analyzer {
  private readonly req: RequestInfo;
  private readonly head: HeadFacts;
  private readonly limits: AnalyzerLimits;
  private readonly deframer: Deframer;
  private readonly decoder: ContentDecoder;
  private readonly text: TextStage;
  private readonly scan: XmlScan;
  private readonly streamed: Finding[] = [];
  private readonly overflow = new Map<string, number>();
  private readonly perRule = new Map<string, number>();
  private readonly internal: Finding[] = [];
  /** The ledger, unless a sink takes it. */
  private readonly kept: Resource[] | undefined;
  private readonly sink: LedgerSink | undefined;
  private readonly counts: LedgerCounts = { count: 0, complete: 0 };
  /** One pass per ledger rule, in catalogue order (undefined where the rule does not apply or its setup crashed). */
  private readonly passes: (LedgerPass | undefined)[] = [];
  private readonly passCrashes: Finding[] = [];
  private readonly summary: LedgerSummary;
  private readonly afterError: AfterFirstError;
  /** What the streaming rules see besides the response; one object for all of them. */
  private readonly ruleContext: { req: RequestInfo; head: HeadFacts };
  private collectionMarker: Analysis['collectionMarker'];
  private decodedIn = 0;
  private broken = false;
  /** halt() was called: nothing more is read. */
  private halted = false;
  private result: Analysis | undefined;

  constructor(req: RequestContext, head: ResponseHead, limits?: Partial<AnalyzerLimits>, sink?: LedgerSink) {
    this.limits = resolveLimits(limits);
    this.req = parseRequest(req);
    this.sink = sink;
    this.kept = sink === undefined ? [] : undefined;
    this.summary = new LedgerSummary(this.req);
    const rawHeaders = head.rawHeaders ?? [];
    const ctRaw = joinedHeader(rawHeaders, 'Content-Type');
    const ct = parseMediaType(ctRaw);
    this.head = {
      status: head.status,
      reason: head.reason ?? '',
      httpVersion: head.httpVersion ?? '1.1',
      rawHeaders,
      bodyForm: head.bodyForm,
      ...(ct !== undefined ? { contentType: ct } : {}),
      ...(ctRaw !== undefined ? { contentTypeRaw: ctRaw } : {}),
    };
    this.ruleContext = { req: this.req, head: this.head };
    this.scan = new XmlScan(
      this.limits,
      (obs) => this.onResponse(obs),
      (start, end) => this.text.invalidBytesIn(start, end),
      this.req.payloadPartial === true,
      this.req.path,
    );
    this.text = new TextStage(ct?.charset, (t, off, len, clean) => this.scan.write(t, off, len, clean));
    this.afterError = new AfterFirstError(this.scan.facts);
    const ledgerContext = { req: this.req, head: this.head, text: this.text.facts, xml: this.scan.facts };
    for (const def of ledgerRules) {
      try {
        this.passes.push(def.ledger!(ledgerContext));
      } catch (err) {
        this.passes.push(undefined);
        this.passCrashes.push(crashed(def, err, def.id));
      }
    }
    this.decoder = new ContentDecoder(listTokens(joinedHeader(rawHeaders, 'Content-Encoding')), (bytes) => this.decoded(bytes));
    const noBody = this.req.method === 'HEAD' || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200);
    this.deframer = new Deframer(rawHeaders, head.bodyForm, noBody, (bytes) => this.decoder.write(bytes));
  }

  write(chunk: Uint8Array): void {
    if (this.result || this.broken || this.halted || chunk.length === 0) return;
    this.guard('framing', () => this.deframer.write(chunk));
  }

  /**
   * The analysis reads nothing more of the body: a limit stopped it, halt() was called, or it
   * ended. What follows need not be written (end() is told the body's length, TransportEnd.payloadBytes).
   */
  get done(): boolean {
    return this.result !== undefined || this.broken || this.halted || this.scan.stopped;
  }

  halt(why: string): void {
    if (this.result || this.halted) return;
    this.halted = true;
    this.guard('scan', () => this.scan.stopAt('maxBodyBytes', this.decodedIn, why));
  }

  end(transport: TransportEnd): Analysis {
    if (this.result) return this.result;
    this.guard('decoder', () => this.decoder.end());
    this.guard('text', () => {
      if (!this.scan.stopped) this.text.end();
    });
    this.guard('scan', () => this.scan.end());
    const framing = this.deframer.finish();
    // In payload form the relay read the framing: bytes it saw after the body's end come with the transport.
    if (framing.bodyForm === 'payload' && transport?.surplus) {
      framing.surplusBytes = transport.surplus.bytes;
      framing.surplusHex = transport.surplus.hex.slice(0, 64);
    }
    // Halted or stopped by a limit, it may not have been given the rest of the body: the body is as
    // long as the relay saw it.
    if (framing.bodyForm === 'payload' && (this.halted || this.scan.stopped) && transport?.payloadBytes !== undefined && transport.payloadBytes > framing.payloadBytes) {
      framing.payloadBytes = transport.payloadBytes;
    }
    const facts: Facts = {
      req: this.req,
      head: this.head,
      limits: this.limits,
      transport: transport ?? { outcome: 'complete' },
      framing,
      chunkState: this.deframer.chunkState,
      decoding: this.decoder.facts,
      text: this.text.facts,
      xml: this.scan.facts,
      ledger: this.counts,
      bodyInScope: (this.head.status === 207 || this.scan.facts.isMultistatus) && this.decoder.facts.unsupported === undefined,
    };
    const found: Finding[] = [...this.streamed, ...this.passCrashes];
    for (const { def, at } of endRules) {
      if (def.scope === 'body' && !facts.bodyInScope) continue;
      const pass = at >= 0 ? this.passes[at] : undefined;
      if (at >= 0 && pass === undefined) continue; // not for this request, or its setup crashed (reported above)
      try {
        const out = def.atEnd!(facts, pass);
        // Most rules raise nothing: no array per rule and flow for that case.
        if (out === undefined) continue;
        if (Array.isArray(out)) for (const d of out) found.push(toFinding(def, d));
        else found.push(toFinding(def, out));
      } catch (err) {
        found.push(crashed(def, err, def.id));
      }
    }
    for (const [id, extra] of this.overflow) {
      const first = found.find((f) => f.rule === id);
      if (first) {
        first.message += ` (and ${extra} more like it)`;
        first.evidence = { ...first.evidence, moreOccurrences: extra };
      }
    }
    found.push(...this.internal);
    // Array.prototype.sort is stable: findings of one rule keep the order they were raised in.
    const findings = found.length < 2 ? found : found.sort((a, b) => (ruleOrder.get(a.rule) ?? 999) - (ruleOrder.get(b.rule) ?? 999));
    markConsequences(findings, facts, this.afterError);
    this.result = { findings, resources: this.kept ?? [], summary: this.summary.summary(findings, facts.xml.isMultistatus) };
    if (this.collectionMarker !== undefined) this.result.collectionMarker = this.collectionMarker;
    return this.result;
  }

  private decoded(bytes: Uint8Array): void {
    if (!this.scan.stopped) {
      const room = this.limits.maxBodyBytes - this.decodedIn;
      this.decodedIn += bytes.length;
      if (bytes.length > room) {
        if (room > 0) this.text.write(bytes.subarray(0, room));
        this.scan.stopAt('maxBodyBytes', this.decodedIn);
      } else {
        this.text.write(bytes);
      }
    }
    // Once the scan has stopped (any limit) nothing reads the text: a compressed body stops
    // decoding too, or a gzip bomb would inflate in full for nothing.
    if (this.scan.stopped) this.decoder.halt();
  }

  private onResponse(obs: ResponseObs): void {
    this.addToLedger(obs.resource);
    if (obs.markers !== undefined) this.noteMarker(obs);
    this.runStreaming(streamingRules, obs);
    if (obs.dataProps !== undefined) this.runStreaming(payloadRules, obs);
  }

  private runStreaming(defs: readonly RuleDef[], obs: ResponseObs): void {
    const ctx = this.ruleContext;
    for (const def of defs) {
      try {
        const out = def.onResponse!(obs, ctx);
        // Most responses raise nothing: no array per rule and response for that case.
        if (out === undefined) continue;
        for (const d of Array.isArray(out) ? out : [out]) {
          const seen = this.perRule.get(def.id) ?? 0;
          this.perRule.set(def.id, seen + 1);
          if (seen < PER_RULE_CAP) this.streamed.push(toFinding(def, d));
          else this.overflow.set(def.id, (this.overflow.get(def.id) ?? 0) + 1);
        }
      } catch (err) {
        if (!this.streamed.some((f) => f.rule === analyzerCrashed.id && f.evidence.crashedRule === def.id)) this.streamed.push(crashed(def, err, def.id));
      }
    }
  }

  /** Counts one closed resource into every ledger pass, then keeps it or hands it on. */
  private addToLedger(r: Resource): void {
    this.counts.count++;
    if (r.complete) this.counts.complete++;
    this.summary.add(r);
    this.afterError.add(r);
    const passes = this.passes;
    for (let k = 0; k < passes.length; k++) {
      const pass = passes[k];
      if (pass === undefined) continue;
      try {
        pass.add(r);
      } catch (err) {
        // A crashing pass loses its rule's check only: reported once, the pass dropped.
        passes[k] = undefined;
        this.passCrashes.push(crashed(ledgerRules[k], err, ledgerRules[k]!.id));
      }
    }
    if (this.kept !== undefined) this.kept.push(r);
    else this.sink!.onResource(r);
  }

  /** Keeps the request-URI's own version marker (the most telling one it carries). */
  private noteMarker(obs: ResponseObs): void {
    const self = normalizeHref(obs.resource.href).replace(/\/$/, '') === normalizeHref(this.req.path).replace(/\/$/, '');
    if (!self) return;
    for (const name of VERSION_MARKERS) {
      const m = obs.markers!.find((x) => x.name === name);
      const status = m ? obs.resource.propstats[m.propstatIndex]?.status : undefined;
      if (m && m.head.trim() !== '' && status !== undefined && status !== null && status >= 200 && status < 300) {
        this.collectionMarker = { property: name, value: m.head.trim() };
        return;
      }
    }
  }

  /** A stage that throws is a davtap bug: report it as MS901 and stop feeding the pipeline. */
  private guard(stage: string, fn: () => void): void {
    if (this.broken) return;
    try {
      fn();
    } catch (err) {
      this.broken = true;
      this.internal.push(crashed(undefined, err, `the ${stage} stage`));
    }
  }
}

/**
 * Marks the findings another one explains: XML errors caused by a transport truncation or a
 * substituted HTML page, and structural findings after the first well-formedness error (the
 * parser's recovery past a fatal error says nothing reliable about the structure).
 */
function markConsequences(findings: Finding[], facts: Facts, afterError: AfterFirstError): void {
  const has = (id: string) => findings.some((f) => f.rule === id && f.consequenceOf === undefined);
  const fatal = findings.find((f) => f.rule === 'MS101');
  const fatalAt = typeof fatal?.evidence.offset === 'number' ? fatal.evidence.offset : undefined;
  if (fatal && fatalAt !== undefined) {
    // Responses still open when the error happened are read through the parser's recovery too.
    const spoiled = afterError.hrefsEndingFrom(fatalAt);
    for (const f of findings) {
      if (f === fatal || f.consequenceOf !== undefined) continue;
      const structural = f.category === 'semantic' || f.category === 'stripped' || f.category === 'partial-failure' || f.rule === 'MS104';
      if (!structural || ['MS107', 'MS108', 'MS109', 'MS210', 'MS405', 'MS604'].includes(f.rule)) continue;
      const at = f.evidence.offset;
      if (typeof at !== 'number' || at >= fatalAt || (typeof f.evidence.href === 'string' && spoiled.has(f.evidence.href))) f.consequenceOf = 'MS101';
    }
  }
  const cause = transportCause(facts);
  const end = facts.decoding.decodedBytes;
  const nearEnd = (f: Finding) => typeof f.evidence.offset !== 'number' || f.evidence.offset >= end - 64;
  for (const f of findings) {
    if (f.rule === 'MS901') continue;
    if (has('MS108') && ['MS101', 'MS103', 'MS104', 'MS105', 'MS006', 'MS107'].includes(f.rule)) {
      f.consequenceOf = 'MS108';
      continue;
    }
    if (cause === undefined || f.rule === cause) continue;
    if (f.rule === 'MS006' || (f.rule === 'MS004' && cause !== 'MS004')) f.consequenceOf = cause;
    else if ((f.rule === 'MS101' || f.rule === 'MS103') && nearEnd(f)) f.consequenceOf = cause;
  }
}

/** Resources remembered around the first XML error for markConsequences (hrefs and ends only). */
const AFTER_ERROR_CAP = 100_000;
/** Resources remembered before it: one may end exactly where the error starts. */
const BEFORE_ERROR_KEPT = 8;

/**
 * Which responses were read through the parser's recovery after a fatal error: the hrefs and end
 * offsets of the resources that closed from the first XML error on (and the last few before it),
 * so that the ledger need not be kept to tell.
 */
class AfterFirstError implements LedgerPass {
  private readonly ends: { href: string; end: number | null }[] = [];

  constructor(private readonly xml: XmlFacts) {}

  add(r: Resource): void {
    const ends = this.ends;
    if (this.xml.errors.length === 0) {
      if (ends.length === BEFORE_ERROR_KEPT) ends.shift();
    } else if (ends.length >= AFTER_ERROR_CAP) return;
    ends.push({ href: r.href, end: r.span.end });
  }

  hrefsEndingFrom(offset: number): Set<string> {
    return new Set(this.ends.filter((e) => e.end === null || e.end >= offset).map((e) => e.href));
  }
}

export function createAnalyzer(req: RequestContext, head: ResponseHead, limits?: Partial<AnalyzerLimits>, sink?: LedgerSink): Analyzer {
  try {
    return new AnalyzerImpl(req, head, limits, sink);
  } catch (err) {
    // Even a hostile request context must not throw: answer with an analyzer that reports it.
    const finding = crashed(undefined, err, 'analyzer setup');
    return {
      write() {},
      halt() {},
      done: true,
      end: () => ({
        findings: [finding],
        resources: [],
        summary: { resources: 0, failedResources: 0, byStatus: {}, findings: { error: 1, warning: 0, info: 0 }, text: 'analysis failed' },
      }),
    };
  }
}

/** One-shot analysis of a whole body. Never throws. */
export function analyze(req: RequestContext, head: ResponseHead, body: Uint8Array, transport: TransportEnd = { outcome: 'complete' }, limits?: Partial<AnalyzerLimits>): Analysis {
  const a = createAnalyzer(req, head, limits);
  // Fed in slices like the proxy would, so that one code path serves both.
  const step = 64 * 1024;
  for (let i = 0; i < body.length; i += step) a.write(body.subarray(i, i + step));
  return a.end(transport);
}
