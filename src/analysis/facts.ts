// What one pass over an exchange establishes. Rules are pure functions of these facts: the pass
// observes, the rules judge. Everything here is bounded (capped lists, per-response state that is
// dropped once the response closes).
import type { AnalyzerLimits, Blame, Category, Evidence, Resource, ResponseHead, Severity, TransportEnd } from '../types.js';
import type { DecodingFacts } from './decoding.js';
import type { FramingFacts } from './framing.js';
import type { MediaType } from '../http/headers.js';
import type { PayloadFacts } from './payload.js';
import type { RequestInfo } from './request.js';
import type { TextFacts } from './text.js';

export type XmlErrorKind =
  | 'eof' // the document ended early (unclosed tags, no root)
  | 'prefix' // namespace misuse (NS 1.0): MS104
  | 'entity' // undeclared entity reference: MS105
  | 'char' // illegal character: MS103
  | 'decl-position' // XML declaration not at the start: MS102
  | 'other'; // any other fatal error: MS101

export interface XmlError {
  kind: XmlErrorKind;
  message: string;
  line: number;
  column: number;
  offset: number;
  path: string;
  href?: string;
  excerpt: string;
  /** Entity name for 'entity' errors. */
  entity?: string;
  /** The error happened before the root element started. */
  beforeRoot: boolean;
}

export interface EntityDecl {
  name: string;
  parameter: boolean;
  external: boolean;
  value?: string;
  systemId?: string;
}

export interface Position {
  offset: number;
  line: number;
  column: number;
}

export interface XmlFacts {
  root?: { uri: string; local: string; prefix: string } & Position;
  /** The root is {DAV:}multistatus: the body's structure is checked. */
  isMultistatus: boolean;
  rootClosed: boolean;
  errors: XmlError[];
  errorCount: number;
  /** Open elements when the text ended (e.g. multistatus>response>propstat>prop). */
  openAtEnd: string[];
  /** Href of the response the body ended inside, when it did. */
  openResponseHref?: string;
  lastComplete?: { href: string; index: number; endOffset: number };
  doctype?: { text: string } & Position;
  entityDecls: EntityDecl[];
  /** References to entities that are declared in the DOCTYPE but (deliberately) never expanded. */
  declaredEntityRefs: number;
  processingInstructions: string[];
  /** Tolerated oddities (MS210), name → count. */
  variants: Map<string, number>;
  /** Elements bound to a misspelt DAV namespace (dav:, DAV, DAV:/): MS404. */
  davVariants: { uri: string; name: string; path: string; count: number }[];
  /** `error` elements outside response/propstat: MS207. */
  misplacedErrors: ({ path: string } & Position)[];
  syncTokens: ({ text: string } & Position)[];
  topDescription?: string;
  /** `why` is set when the analysis was stopped from outside (Analyzer.halt), not by the limit `name`. */
  limitHit?: { name: keyof AnalyzerLimits; value: number; why?: string } & Position;
  /** Responses seen (also those not kept after a limit). */
  responseCount: number;
  hrefForms: { absolute: number; path: number; firstAbsolute?: string; firstPath?: string };
}

export interface PropstatObs {
  statusTexts: string[];
  propElements: number;
  props: string[];
  hasCollection: boolean;
  errors?: string[];
  descriptions: number;
  description?: string;
}

export interface DataPropObs {
  name: string;
  head: string;
  propstatIndex: number;
  /** The payload checker's verdict, once the property closed (payload.ts). */
  payload?: PayloadFacts;
  /** A UID of this payload that an earlier response of the same collection carried too (MS656). */
  duplicateUid?: { uid: string; href: string };
}

/** A collection version marker (getctag, sync-token, getetag) as a response carried it. */
export interface MarkerObs {
  name: string;
  /** The value's first `cap` characters. */
  head: string;
  cap: number;
  propstatIndex: number;
}

/** Per-response state, handed to the rules when `</response>` closes (or the body ends). */
export interface ResponseObs {
  resource: Resource;
  position: Position;
  hrefs: string[];
  statusTexts: string[];
  propstats: PropstatObs[];
  errorElements: number;
  descriptions: number;
  /** Allocated on first use, like dupProps and dataProps: most responses have none. */
  locationHrefs?: string[];
  /** Same property QName twice in this response. */
  dupProps?: string[];
  /** Non-whitespace text directly inside prop or error. */
  strayText?: { where: string; excerpt: string };
  /** An element inside href/status/responsedescription. */
  childInLeaf?: string;
  /** Index of the earlier response with the same normalized href. */
  duplicateOf?: number;
  isCollection: boolean;
  dataProps?: DataPropObs[];
  markers?: MarkerObs[];
}

export interface HeadFacts {
  status: number;
  reason: string;
  httpVersion: string;
  rawHeaders: string[];
  contentType?: MediaType;
  contentTypeRaw?: string;
  bodyForm: ResponseHead['bodyForm'];
}

export interface Facts {
  req: RequestInfo;
  head: HeadFacts;
  limits: AnalyzerLimits;
  transport: TransportEnd;
  framing: FramingFacts;
  /** Human description of where chunk decoding stopped, for MS002. */
  chunkState: string;
  decoding: DecodingFacts;
  text: TextFacts;
  xml: XmlFacts;
  /**
   * The ledger as counts: the resources themselves are not kept here (a 207 may list millions);
   * rules that judge them all see each one as it closes (RuleDef.ledger).
   */
  ledger: LedgerCounts;
  /** The body is judged as a multistatus (207, or a multistatus under another status). */
  bodyInScope: boolean;
}

export interface LedgerCounts {
  /** Resources in the ledger (responses read before any limit). */
  count: number;
  /** Of those, the ones whose response element closed. */
  complete: number;
}

/** What a ledger pass may read while the body streams: the request, the head and the live text and XML facts. */
export interface LedgerContext {
  req: RequestInfo;
  head: HeadFacts;
  /** Filled in as the text is decoded: what the body held up to the resource being added. */
  text: TextFacts;
  xml: XmlFacts;
}

/**
 * A rule's compact state over the ledger, fed each resource as its response closes (and the one
 * the body ended inside): counters, first examples and hashes, never the resources themselves,
 * so that the analysis stays bounded whatever the number of responses.
 */
export interface LedgerPass {
  add(r: Resource): void;
}

/** A finding before the catalogue fills in id, category and default severity. */
export interface Draft {
  message: string;
  evidence: Evidence;
  severity?: Severity;
  /** Overrides the rule's default blame for this finding (e.g. a cut at a relay's buffer size). */
  blame?: Blame;
  consequenceOf?: string;
}

export interface RuleDef {
  id: string;
  severity: Severity;
  category: Category;
  /** Whose fault a finding of this rule is, unless the finding says otherwise (RULES.md §6). */
  blame: Blame;
  title: string;
  /** 'transport' rules run on every exchange; 'body' rules only when the body is in scope. */
  scope: 'transport' | 'body';
  onResponse?(obs: ResponseObs, facts: Pick<Facts, 'req' | 'head'>): Draft | Draft[] | undefined;
  /** onResponse judges only responses that carry calendar-data/address-data (obs.dataProps): not called for the others. */
  payloadOnly?: true;
  /**
   * Makes this rule's pass over the ledger (one per analysis); atEnd gets it back. Undefined when
   * the request cannot raise the rule (another method, no property named): no pass is fed, and
   * atEnd is not called. A small answer pays for every pass made, so a pass that could only ever
   * answer "nothing" is not made.
   */
  ledger?(ctx: LedgerContext): LedgerPass | undefined;
  atEnd?(facts: Facts, pass?: LedgerPass): Draft | Draft[] | undefined;
}

/** A rule that judges the whole ledger through its own pass `P` (typed on both ends). */
export function ledgerRule<P extends LedgerPass>(def: Omit<RuleDef, 'ledger' | 'atEnd'> & { ledger(ctx: LedgerContext): P | undefined; atEnd(facts: Facts, pass: P): Draft | Draft[] | undefined }): RuleDef {
  return def as RuleDef;
}
