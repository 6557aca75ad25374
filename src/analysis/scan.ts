// The one pass over the decoded text: the XML reader's events (namespace-aware; xml-reader.ts)
// build the resource ledger and the structural observations the rules judge. Memory is bounded by the element stack and the
// state of the response being read; text is kept only where a rule needs it, and capped.
import type { AnalyzerLimits, Resource } from '../types.js';
import type { DataPropObs, EntityDecl, MarkerObs, Position, PropstatObs, ResponseObs, XmlError, XmlErrorKind, XmlFacts } from './facts.js';
import * as href from './href.js';
import { PayloadChecker } from './payload.js';
import * as request from './request.js';
import { XmlReader, type XmlAttribute, type XmlReaderEvents } from './xml-reader.js';
import { SeenHrefs } from './seen-hrefs.js';
import * as tokenizer from './xml-tokenizer.js';

// Module-level copies of what this per-element code imports: under tsx (tests, benchmarks) each
// use of an imported binding is a getter call, measurable at a million elements.
const { normalizeHref, parseHref } = href;
const { CALDAV, CARDDAV, DAV } = request;
const { XML_NS, internalize } = tokenizer;
const DAV_RESOURCETYPE = `{${DAV}}resourcetype`;
/** Properties that version a collection (RFC 6578 sync-token, CalendarServer's getctag, getetag): their values are kept. */
export const VERSION_MARKERS: readonly string[] = ['{http://calendarserver.org/ns/}getctag', `{${DAV}}sync-token`, `{${DAV}}getetag`];

const enum K {
  Other,
  Multistatus,
  Response,
  Href,
  Status,
  Propstat,
  Prop,
  Property,
  InProperty,
  Error,
  InError,
  Description,
  Location,
  LocationHref,
  SyncToken,
  Ignored,
}

interface Frame {
  kind: K;
  local: string;
  /** Rank among the siblings the DTD orders (RFC 4918 §14.24, §14.22), for MS210. */
  lastChildRank: number;
  clark: string;
}

const RESPONSE_RANK: Record<string, number> = { href: 1, status: 2, propstat: 2, error: 3, responsedescription: 4, location: 5 };
const PROPSTAT_RANK: Record<string, number> = { prop: 1, status: 2, error: 3, responsedescription: 4 };
const TEXT_CAP = 8192;
const ERROR_CAP = 20;
/**
 * saxes recovers from every error and reports the next, each with an Error object and its stack:
 * a body that is no XML at all (a cut binary download analyzed from its capture) makes hundreds of
 * thousands, seconds of work per MB. At the maxParseErrors limit the pass ends (MS703 says so).
 */
const GIVE_UP = Symbol('too many parse errors');

/** Statuses of `status` elements: RFC 4918 §14.28 with a tolerant reason phrase. */
export const STATUS_LINE = /^\s*HTTP\/\d\.\d\s+([1-5]\d\d)(\s[\s\S]*)?$/;

export function statusCode(text: string): number | null {
  const m = STATUS_LINE.exec(text);
  return m ? Number(m[1]) : null;
}

const DAV_VARIANTS = new Set(['dav:', 'dav', 'dav:/', 'dav:/ ']);

interface OpenResponse {
  obs: ResponseObs;
  /** Property names seen in this response, once there are too many to scan the propstats. */
  propNames?: Set<string>;
  propCount: number;
  current?: PropstatObs & { dataIndex: number };
  text: string;
}

export class XmlScan implements XmlReaderEvents {
  readonly facts: XmlFacts;
  /** Resources read so far (the ledger is handed on, not kept: see onResponse). */
  resourceCount = 0;
  stopped = false;
  private readonly reader: XmlReader;
  private ended = false;
  /** Open elements: frames[0..depth). */
  private readonly frames: Frame[] = [];
  private depth = 0;
  private open: OpenResponse | undefined;
  private readonly seen = new SeenHrefs();
  private intern = new Map<string, string>();
  private lastStatusText = '';
  private lastStatusCode: number | null = null;
  private lastStatusLine = '';
  private lastComplete: Resource | undefined;
  private names = new Map<string, Map<string, string>>();
  private byOrdinal: ({ uri: string; local: string; name: string } | undefined)[] = [];
  private totalChars = 0;
  private lastEventPos = 0;
  private text = '';
  private collect = false;
  private dataTarget: DataPropObs | undefined;
  /** The checker of the calendar-data/address-data being read. */
  private payload: PayloadChecker | undefined;
  /** Body offset where the payload's next text starts (see onText). */
  private payloadRaw = 0;
  /** collection + "\n" + UID → href of the first 200 payload that carried it (MS656). */
  private uids = new Map<string, string>();
  /** The version marker (getctag, sync-token, getetag) whose value is being read. */
  private markerTarget: MarkerObs | undefined;
  private entityNames = new Set<string>();
  /** Body offset of the `<` of the href element being read. */
  private hrefStart = 0;

  constructor(
    private readonly limits: AnalyzerLimits,
    private readonly onResponse: (obs: ResponseObs) => void,
    /** How many bytes between two body offsets were not UTF-8 (each read as '?'); TextStage. */
    private readonly invalidBytesIn: (start: number, end: number) => number = () => 0,
    /** The request named only some payload properties (RequestInfo.payloadPartial). */
    private readonly payloadPartial = false,
    /** The request's path: version markers are read only in the response for it. */
    private readonly requestPath = '/',
  ) {
    this.facts = {
      isMultistatus: false,
      rootClosed: false,
      errors: [],
      errorCount: 0,
      openAtEnd: [],
      entityDecls: [],
      declaredEntityRefs: 0,
      processingInstructions: [],
      variants: new Map(),
      davVariants: [],
      misplacedErrors: [],
      syncTokens: [],
      responseCount: 0,
      hrefForms: { absolute: 0, path: 0 },
    };
    this.reader = new XmlReader(this);
  }

  onPI(target: string): void {
    if (this.facts.processingInstructions.length < 10) this.facts.processingInstructions.push(target);
    this.variant(`processing instruction <?${target}?>`);
  }

  /** `clean`: see TextStage (no character the XML reader must look for). */
  write(text: string, byteOffset: number, byteLength: number, clean = false): void {
    if (this.stopped || this.ended) return;
    this.totalChars += text.length;
    // saxes makes an Error for each problem it recovers from; their stacks are never read and
    // capturing them was most of the cost of a body full of errors.
    const stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.reader.write(text, byteOffset, text.length === byteLength, clean);
    } catch (e) {
      if (e !== GIVE_UP) throw e;
      return;
    } finally {
      Error.stackTraceLimit = stackLimit;
    }
    const since = this.totalChars - this.lastEventPos;
    if (!this.stopped && since > this.limits.maxTokenLength) this.stop('maxTokenLength', since, this.totalChars);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const f = this.facts;
    f.openAtEnd = this.open_().map((s) => s.local);
    if (this.open) f.openResponseHref = this.open.obs.hrefs[0];
    if (!this.stopped) {
      try {
        this.reader.close();
      } catch (e) {
        this.onError(e instanceof Error ? e.message : String(e));
      }
    }
    // A response the body ended inside still goes into the ledger, marked incomplete.
    if (this.open) this.finishResponse(null);
    const last = this.lastComplete;
    if (last) f.lastComplete = { href: last.href, index: last.index, endOffset: last.span.end! };
    // Only a parser that closed normally is reused; one stopped mid-document (a limit) or
    // interrupted by an exception is left to the garbage collector.
    this.reader.release();
  }

  /** The request path normalized, without a trailing slash (worked out when first needed). */
  private selfKey: string | undefined;

  /**
   * Whether `h` names the request URI: the collection's own getctag, sync-token or getetag is its
   * version marker (listing history), a member's getetag is not, and a listing has one per member.
   */
  private isRequestUri(h: string): boolean {
    const self = (this.selfKey ??= href.normalizeHref(this.requestPath).replace(/\/$/, ''));
    const n = href.normalizeHref(h);
    const end = n.charCodeAt(n.length - 1) === 0x2f ? n.length - 1 : n.length;
    return end === self.length && n.startsWith(self);
  }

  /** statusCode() with the last answer kept: listings repeat the same few status lines. */
  private code(text: string): number | null {
    if (text === this.lastStatusText) return this.lastStatusCode;
    const code = statusCode(text);
    this.lastStatusText = text.length < 100 ? text : '';
    this.lastStatusCode = code;
    this.lastStatusLine = this.shared(text.trim());
    return code;
  }

  /** The trimmed, shared status line of `text` (call code(text) first). */
  private line(text: string): string {
    return text === this.lastStatusText ? this.lastStatusLine : this.shared(text.trim());
  }

  /**
   * Whether this response already named `name` (MS206). Names are interned, so a scan of the
   * few properties of a typical response beats allocating a Set for each of them.
   */
  private seenInResponse(o: OpenResponse, name: string): boolean {
    o.propCount++;
    if (o.propNames) {
      if (o.propNames.has(name)) return true;
      o.propNames.add(name);
      return false;
    }
    // Index loops here and below: this runs per property, and an iterator that escapes analysis
    // is an allocation per step.
    const propstats = o.obs.propstats;
    for (let k = 0; k < propstats.length; k++) if (propstats[k]!.props.includes(name)) return true;
    if (o.propCount > 32) o.propNames = new Set([...o.obs.propstats.flatMap((ps) => ps.props), name]);
    return false;
  }

  /**
   * `{uri}local` for the property at `ordinal` in its response. Listings name the same properties
   * in the same order in every response, so the name at the same position is tried first.
   */
  private propName(uri: string, local: string, ordinal: number): string {
    const cached = ordinal < 64 ? this.byOrdinal[ordinal] : undefined;
    if (cached !== undefined && cached.uri === uri && cached.local === local) return cached.name;
    const name = this.clark(uri, local);
    if (ordinal < 64) this.byOrdinal[ordinal] = { uri: internalize(uri), local: internalize(local), name };
    return name;
  }

  /** `{uri}local`, built once per distinct name (a listing repeats the same few hundred thousand times). */
  private clark(uri: string, local: string): string {
    let byLocal = this.names.get(uri);
    if (byLocal === undefined) {
      byLocal = new Map();
      if (this.names.size < 10_000) this.names.set(internalize(uri), byLocal);
    }
    const known = byLocal.get(local);
    if (known !== undefined) return known;
    const name = this.shared(`{${uri}}${local}`);
    if (byLocal.size < 10_000) byLocal.set(internalize(local), name);
    return name;
  }

  /**
   * One copy of a string that repeats across responses (property names, status lines), detached
   * from the parser's input: the ledger must not keep whole input chunks alive.
   */
  private shared(value: string): string {
    const known = this.intern.get(value);
    if (known !== undefined) return known;
    const copy = detach(value);
    if (this.intern.size < 100_000) this.intern.set(copy, copy);
    return copy;
  }

  /** The n-th open element from the innermost (1 = innermost). */
  private top(n: number): Frame | undefined {
    return this.depth >= n ? this.frames[this.depth - n] : undefined;
  }

  private open_(): Frame[] {
    return this.frames.slice(0, this.depth);
  }

  /** Position of the `<` of the start tag just reported. */
  private tagStart(): number {
    return this.reader.tagStart;
  }

  /**
   * Called first by every event handler: enforces maxTokenLength (the text, name or declaration
   * that just ended) and says whether the pass is still running.
   */
  private tick(): boolean {
    if (this.stopped) return false;
    const pos = this.reader.position;
    const since = pos - this.lastEventPos;
    this.lastEventPos = pos;
    if (since > this.limits.maxTokenLength) {
      this.stop('maxTokenLength', since, pos);
      return false;
    }
    return true;
  }

  /** Byte offset of a parser position (characters). */
  private offsetOf(pos: number): number {
    return this.reader.offsetOf(pos);
  }

  private here(pos = this.reader.position): Position {
    return { offset: this.offsetOf(pos), line: this.reader.line, column: this.reader.column };
  }

  /** The 80 characters before `pos`: independent of how the text was split into chunks. */
  private excerptAt(pos: number): string {
    return this.reader.excerptBefore(pos);
  }

  /** Stops the pass because a limit outside the parser (body size) was reached. */
  stopAt(name: keyof AnalyzerLimits, value: number, why?: string): void {
    if (!this.stopped) this.stop(name, value, this.totalChars, why);
  }

  private stop(name: keyof AnalyzerLimits, value: number, pos = this.reader.position, why?: string): void {
    this.stopped = true;
    this.reader.halt();
    this.facts.limitHit = { name, value, ...this.here(pos), ...(why !== undefined ? { why } : {}) };
  }

  /**
   * The href with each '?' that stands for a byte that was not UTF-8 written as U+FFFD, when every
   * '?' in it does: read as '?', those bytes would start a query, cutting the href short for
   * MS205/MS303 and raising MS301, when MS103 already reports them. An href that also holds a real
   * '?' (more '?' than invalid bytes) is kept as read: which '?' is which is not known.
   */
  private undecodable(href: string, text: string): string {
    if (!href.includes('?')) return href;
    const invalid = this.invalidBytesIn(this.hrefStart, this.offsetOf(this.reader.position));
    if (invalid === 0) return href;
    let marks = 0;
    for (let i = text.indexOf('?'); i >= 0; i = text.indexOf('?', i + 1)) marks++;
    return marks === invalid ? href.replaceAll('?', '\uFFFD') : href;
  }

  private variant(what: string): void {
    const v = this.facts.variants;
    if (v.size < 50 || v.has(what)) v.set(what, (v.get(what) ?? 0) + 1);
  }

  private path(): string {
    return this.open_().map((s) => s.local).join('>');
  }

  onError(message: string): void {
    const f = this.facts;
    f.errorCount++;
    if (f.errorCount >= this.limits.maxParseErrors && !this.stopped) {
      // Out of saxes' current write at once; the parser is abandoned (it never closed, so it is
      // not reused), and end() does not close it.
      this.stop('maxParseErrors', f.errorCount);
      throw GIVE_UP;
    }
    if (f.errors.length >= ERROR_CAP) return;
    const m = message.replace(/^\d+:\d+: /, '');
    const pos = this.reader.position;
    const excerpt = this.excerptAt(pos);
    let kind: XmlErrorKind = 'other';
    let entity: string | undefined;
    if (/^(unclosed tag|document must contain a root|unexpected end)/.test(m)) kind = 'eof';
    else if (/unbound namespace prefix|undefine prefix|duplicate attribute: \{|must be bound to|default namespace may not|may not assign the xml namespace|may not have "xmlns" as prefix/.test(m)) kind = 'prefix';
    else if (/^undefined entity/.test(m)) {
      kind = 'entity';
      entity = /&([^&;\s<>]{1,60});?$/.exec(excerpt)?.[1];
      if (entity !== undefined && this.entityNames.has(entity)) {
        // Declared in the DOCTYPE and deliberately not expanded: MS702 reports the declaration.
        f.errorCount--;
        f.declaredEntityRefs++;
        return;
      }
    } else if (/^disallowed character\.$/.test(m)) kind = 'char';
    else if (/XML declaration must (be at|appear at) the start/.test(m)) kind = 'decl-position';
    const err: XmlError = {
      kind,
      message: m,
      line: this.reader.line,
      column: this.reader.column,
      offset: this.offsetOf(pos),
      path: this.path(),
      excerpt,
      beforeRoot: f.root === undefined,
      ...(this.open?.obs.hrefs[0] !== undefined ? { href: this.open.obs.hrefs[0] } : {}),
      ...(entity !== undefined ? { entity } : {}),
    };
    f.errors.push(err);
  }

  onDoctype(text: string): void {
    if (!this.tick()) return;
    const f = this.facts;
    f.doctype = { text: text.trim().slice(0, 512), ...this.here() };
    const re = /<!ENTITY\s+(%\s+)?([^\s"'>]+)\s+(?:(SYSTEM|PUBLIC)\s+("[^"]*"|'[^']*')(?:\s+("[^"]*"|'[^']*'))?|("[^"]*"|'[^']*'))/g;
    for (let m = re.exec(text), guard = 0; m && guard < 10_000; m = re.exec(text), guard++) {
      const decl: EntityDecl = { name: m[2]!, parameter: m[1] !== undefined, external: m[3] !== undefined };
      if (m[3] !== undefined) decl.systemId = (m[5] ?? m[4] ?? '').slice(1, -1);
      else decl.value = (m[6] ?? '').slice(1, -1);
      if (f.entityDecls.length < 1000) f.entityDecls.push(decl);
      if (!decl.parameter) this.entityNames.add(decl.name);
    }
  }

  onOpen(name: string, prefix: string, local: string, uri: string, attributes: readonly XmlAttribute[]): void {
    if (!this.tick()) return;
    const parent = this.top(1);
    const f = this.facts;
    if (this.depth >= this.limits.maxDepth) {
      this.stop('maxDepth', this.depth + 1);
      return;
    }
    if (uri !== DAV && uri.length <= 5 && uri.length >= 3 && DAV_VARIANTS.has(uri.toLowerCase())) {
      const found = f.davVariants.find((d) => d.uri === uri);
      if (found) found.count++;
      else if (f.davVariants.length < 10) f.davVariants.push({ uri, name, path: [...this.open_().map((s) => s.local), local].join('>'), count: 1 });
    }
    const isDav = uri === DAV;
    // RFC 4918 defines no attributes on DAV: elements: any other than a namespace declaration or
    // xml:lang/xml:space is an unknown attribute, tolerated and logged (MS210, RFC 4918 §17).
    // An index loop: for…of over the shared frozen empty list allocates an iterator per element.
    if (isDav) for (let a = 0; a < attributes.length; a++) this.onDavAttribute(attributes[a]!, local);
    let kind = K.Other;
    if (!parent) {
      // A second top-level element (after a parse error) is not a new root: ignore it.
      if (f.root === undefined) {
        f.root = { uri, local, prefix, ...this.here(this.tagStart()) };
        f.isMultistatus = isDav && local === 'multistatus';
        kind = f.isMultistatus ? K.Multistatus : K.Ignored;
      } else kind = K.Ignored;
    } else {
      kind = this.classify(parent, isDav, local, uri);
    }
    // Frames are reused: a listing opens over a million elements, each frame lives only while open.
    let frame = this.frames[this.depth];
    if (frame === undefined) {
      frame = { kind, local, lastChildRank: 0, clark: '' };
      this.frames[this.depth] = frame;
    } else {
      frame.kind = kind;
      frame.local = local;
      frame.lastChildRank = 0;
      frame.clark = '';
    }
    this.depth++;
    this.collect = false;
    this.text = '';
    switch (kind) {
      case K.Response:
        this.openResponse();
        break;
      case K.Href:
        this.hrefStart = this.offsetOf(this.tagStart());
        this.collect = true;
        break;
      case K.Status:
      case K.Description:
      case K.LocationHref:
      case K.SyncToken:
        this.collect = true;
        break;
      case K.Propstat:
        if (this.open) {
          this.open.current = { statusTexts: [], propElements: 0, props: [], hasCollection: false, descriptions: 0, dataIndex: -1 };
          this.open.obs.propstats.push(this.open.current);
        }
        break;
      case K.Prop:
        if (this.open?.current) this.open.current.propElements++;
        break;
      case K.Property: {
        const o = this.open;
        if (o?.current) {
          const name = this.propName(uri, local, o.propCount);
          frame.clark = name;
          if (this.seenInResponse(o, name)) {
            const dup = (o.obs.dupProps ??= []);
            if (dup.length < 10 && !dup.includes(name)) dup.push(name);
          }
          o.current.props.push(name);
          if ((uri === CALDAV && local === 'calendar-data') || (uri === CARDDAV && local === 'address-data')) {
            const d: DataPropObs = { name, head: '', propstatIndex: o.obs.propstats.length - 1 };
            const data = (o.obs.dataProps ??= []);
            if (data.length < 50) {
              data.push(d);
              this.payloadRaw = this.offsetOf(this.reader.position);
              this.payload = new PayloadChecker(uri === CARDDAV, this.payloadRaw, this.reader.line, this.payloadPartial, this.reader.column + 1);
            }
            this.dataTarget = d;
          } else if (VERSION_MARKERS.includes(name) && (o.obs.markers?.length ?? 0) < VERSION_MARKERS.length && (o.obs.hrefs.length === 0 || this.isRequestUri(o.obs.hrefs[0]!))) {
            const m = { name, head: '', cap: 256, propstatIndex: o.obs.propstats.length - 1 };
            (o.obs.markers ??= []).push(m);
            this.markerTarget = m;
          }
        }
        break;
      }
      case K.InProperty:
        if (isDav && local === 'collection' && parent?.clark === DAV_RESOURCETYPE && this.open?.current) this.open.current.hasCollection = true;
        break;
      case K.InError: {
        const o = this.open;
        if (o && parent?.kind === K.Error) {
          const name = this.shared(`{${uri}}${local}`);
          const target = this.top(3)?.kind === K.Propstat && o.current ? (o.current.errors ??= []) : (o.obs.resource.error ??= []);
          if (target.length < 20) target.push(name);
        }
        break;
      }
      default:
        break;
    }
  }

  /** Notes a child out of the DTD's order (tolerated, MS210). No closures: this runs per element. */
  private order(parent: Frame, ranks: Record<string, number>, isDav: boolean, local: string): void {
    const r = isDav ? ranks[local] : undefined;
    if (r === undefined) return;
    if (r < parent.lastChildRank) this.variant(`<${local}> out of the DTD order inside <${parent.local}>`);
    if (r > parent.lastChildRank) parent.lastChildRank = r;
  }

  private onDavAttribute(attr: { prefix: string; local: string; uri: string; name: string }, element: string): void {
    if (attr.prefix === 'xmlns' || attr.name === 'xmlns' || attr.uri === XML_NS) return;
    this.variant(`unknown attribute ${attr.name} on DAV: element <${element}>`);
  }

  private unknown(parent: Frame, isDav: boolean, local: string, uri: string): K {
    this.variant(isDav ? `unknown DAV: element <${local}> inside <${parent.local}>` : `foreign element {${uri}}${local} inside <${parent.local}>`);
    return K.Ignored;
  }

  private classify(parent: Frame, isDav: boolean, local: string, uri: string): K {
    const pk = parent.kind;
    const f = this.facts;
    if (isDav && local === 'error' && pk !== K.Response && pk !== K.Propstat && pk !== K.Property && pk !== K.InProperty && pk !== K.Ignored && pk !== K.Other) {
      if (f.misplacedErrors.length < 10) f.misplacedErrors.push({ path: `${this.path()}>error`, ...this.here(this.tagStart()) });
      return K.Ignored;
    }
    switch (pk) {
      case K.Multistatus:
        if (!isDav) return this.unknown(parent, isDav, local, uri);
        if (local === 'response') return K.Response;
        if (local === 'responsedescription') return K.Description;
        if (local === 'sync-token') return K.SyncToken;
        return this.unknown(parent, isDav, local, uri);
      case K.Response:
        this.order(parent, RESPONSE_RANK, isDav, local);
        if (!isDav) return this.unknown(parent, isDav, local, uri);
        switch (local) {
          case 'href':
            return K.Href;
          case 'status':
            return K.Status;
          case 'propstat':
            return K.Propstat;
          case 'error':
            if (this.open) this.open.obs.errorElements++;
            return K.Error;
          case 'responsedescription':
            return K.Description;
          case 'location':
            return K.Location;
          default:
            return this.unknown(parent, isDav, local, uri);
        }
      case K.Propstat:
        this.order(parent, PROPSTAT_RANK, isDav, local);
        if (!isDav) return this.unknown(parent, isDav, local, uri);
        switch (local) {
          case 'prop':
            return K.Prop;
          case 'status':
            return K.Status;
          case 'error':
            return K.Error;
          case 'responsedescription':
            return K.Description;
          default:
            return this.unknown(parent, isDav, local, uri);
        }
      case K.Prop:
        return K.Property;
      case K.Property:
      case K.InProperty:
        return K.InProperty;
      case K.Error:
      case K.InError:
        return K.InError;
      case K.Location:
        return isDav && local === 'href' ? K.LocationHref : this.unknown(parent, isDav, local, uri);
      case K.Href:
      case K.Status:
      case K.Description:
      case K.SyncToken:
      case K.LocationHref:
        if (this.open && this.open.obs.childInLeaf === undefined) this.open.obs.childInLeaf = `${this.path()}>${local}`;
        return K.Ignored;
      default:
        return K.Ignored;
    }
  }

  onText(chars: string, start: number, end: number, cdata = false): void {
    if (!this.tick()) return;
    if (this.collect) {
      if (this.text.length < TEXT_CAP) this.text += chars.slice(start, end - start > TEXT_CAP ? start + TEXT_CAP : end);
      return;
    }
    const top = this.top(1);
    if (!top) return;
    if (this.markerTarget && top.kind === K.Property) {
      const m = this.markerTarget;
      if (m.head.length < m.cap) m.head += (m.head.length === 0 ? chars.slice(start, end).trimStart() : chars.slice(start, end)).slice(0, m.cap - m.head.length);
      return;
    }
    if (this.dataTarget && top.kind === K.Property) {
      const t = chars.slice(start, end);
      const d = this.dataTarget;
      if (d.head.length < 64) d.head += (d.head.length === 0 ? t.trimStart() : t).slice(0, 64 - d.head.length);
      const checker = this.payload;
      if (checker !== undefined) {
        // The raw span of this text in the body: from where the last text (or the start tag) ended
        // to the '<' after it (to the ']]>' of a CDATA section). The checker learns from it whether
        // the payload's line breaks were CRLF on the wire (XML hands them over as LF).
        const after = this.offsetOf(this.reader.position);
        const rawEnd = cdata ? after - 3 : after - 1;
        const rawStart = this.payloadRaw + (cdata ? 9 : 0);
        checker.write(chars, start, end, rawStart, rawEnd);
        this.payloadRaw = cdata ? after : rawEnd;
      }
      return;
    }
    if ((top.kind === K.Prop || top.kind === K.Error) && this.open && this.open.obs.strayText === undefined && !asciiSpace(chars, start, end)) {
      const t = chars.slice(start, end);
      if (/\S/.test(t)) this.open.obs.strayText = { where: this.path(), excerpt: t.trim().slice(0, 80) };
    }
  }

  private openResponse(): void {
    const f = this.facts;
    f.responseCount++;
    if (f.responseCount > this.limits.maxResponses) {
      this.stop('maxResponses', f.responseCount);
      return;
    }
    const start = this.offsetOf(this.tagStart());
    const resource: Resource = { index: this.resourceCount, href: '', hrefNormalized: '', status: null, propstats: [], span: { start, end: null }, complete: false };
    this.open = {
      obs: {
        resource,
        position: this.here(this.tagStart()),
        hrefs: [],
        statusTexts: [],
        propstats: [],
        errorElements: 0,
        descriptions: 0,
        isCollection: false,
      },
      propCount: 0,
      text: '',
    };
  }

  onClose(): void {
    if (!this.tick()) return;
    const frame = this.depth > 0 ? this.frames[--this.depth] : undefined;
    if (!frame || this.stopped) return;
    const text = this.text;
    this.text = '';
    this.collect = false;
    const o = this.open;
    const parent = this.top(1);
    switch (frame.kind) {
      case K.Multistatus:
        this.facts.rootClosed = true;
        break;
      case K.Ignored:
        if (this.depth === 0) this.facts.rootClosed = true;
        break;
      case K.Response:
        this.finishResponse(this.offsetOf(this.reader.position));
        break;
      case K.Href:
        if (o) {
          const h = detach(this.undecodable(text.trim(), text));
          if (o.obs.hrefs.length < 1000) o.obs.hrefs.push(h);
        }
        break;
      case K.Status:
        if (parent?.kind === K.Propstat && o?.current) o.current.statusTexts.push(text);
        else if (o) o.obs.statusTexts.push(text);
        break;
      case K.Description:
        if (parent?.kind === K.Multistatus) this.facts.topDescription = text.trim().slice(0, 512);
        else if (parent?.kind === K.Propstat && o?.current) {
          o.current.descriptions++;
          o.current.description = detach(text.trim().slice(0, 512));
        } else if (o) {
          o.obs.descriptions++;
          o.obs.resource.description = detach(text.trim().slice(0, 512));
        }
        break;
      case K.LocationHref:
        if (o && (o.obs.locationHrefs ??= []).length < 5) o.obs.locationHrefs.push(detach(text.trim()));
        break;
      case K.SyncToken:
        if (this.facts.syncTokens.length < 5) this.facts.syncTokens.push({ text: text.trim().slice(0, 2048), ...this.here() });
        break;
      case K.Property:
        if (this.payload && this.dataTarget) this.dataTarget.payload = this.payload.end();
        this.payload = undefined;
        this.dataTarget = undefined;
        this.markerTarget = undefined;
        break;
      case K.Propstat:
        if (o?.current?.hasCollection) o.obs.isCollection = true;
        if (o) o.current = undefined;
        break;
      default:
        break;
    }
  }

  /**
   * MS656: the UIDs of this response's 200 payloads against those of earlier responses in the same
   * collection (RFC 4791 §4.1, RFC 6352 §5.1: UIDs are unique per collection; a calendar home
   * queried with Depth: infinity may hold the same event in two calendars; iTIP messages in a
   * scheduling inbox may share one, RFC 6638 §2.2).
   */
  private payloadUids(data: DataPropObs[], r: Resource): void {
    const key = r.hrefNormalized;
    const slash = key.lastIndexOf('/', key.length - 2);
    const collection = slash >= 0 ? key.slice(0, slash + 1) : '';
    for (let k = 0; k < data.length; k++) {
      const d = data[k]!;
      if (d.payload === undefined || d.payload.itip === true || r.propstats[d.propstatIndex]?.status !== 200) continue;
      for (const uid of d.payload.uids) {
        const id = `${collection}\n${uid}`;
        const first = this.uids.get(id);
        if (first === undefined) {
          if (this.uids.size < UID_MAP_CAP) this.uids.set(id, r.href);
        } else if (first !== r.href && d.duplicateUid === undefined) d.duplicateUid = { uid, href: first };
      }
    }
  }

  private finishResponse(end: number | null): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    const obs = o.obs;
    const r = obs.resource;
    r.span.end = end;
    r.complete = end !== null;
    r.href = obs.hrefs[0] ?? '';
    r.hrefNormalized = r.href === '' ? '' : normalizeHref(r.href);
    if (obs.hrefs.length > 1) r.extraHrefs = obs.hrefs.slice(1);
    const st = obs.statusTexts[0];
    if (st !== undefined) {
      r.status = this.code(st);
      r.statusLine = this.line(st);
    }
    const propstats: Resource['propstats'] = [];
    for (let k = 0; k < obs.propstats.length; k++) {
      const ps = obs.propstats[k]!;
      const text = ps.statusTexts[0] ?? '';
      const status = this.code(text);
      const out: Resource['propstats'][number] = { status, statusLine: this.line(text), props: ps.props };
      if (ps.errors !== undefined && ps.errors.length > 0) out.error = ps.errors;
      if (ps.description !== undefined) out.description = ps.description;
      propstats.push(out);
    }
    r.propstats = propstats;
    if (obs.dataProps !== undefined && r.href !== '' && r.complete) this.payloadUids(obs.dataProps, r);
    if (obs.locationHrefs?.[0] !== undefined) r.location = obs.locationHrefs[0];
    if (obs.isCollection) r.collection = true;
    for (let k = 0; k < obs.hrefs.length; k++) {
      const h = obs.hrefs[k]!;
      const form = h.charCodeAt(0) === 0x2f ? 'absolute-path' : parseHref(h).form;
      const forms = this.facts.hrefForms;
      if (form === 'absolute-uri') {
        forms.absolute++;
        forms.firstAbsolute ??= h;
      } else if (form === 'absolute-path') {
        forms.path++;
        forms.firstPath ??= h;
      }
    }
    if (r.href !== '' && r.complete) {
      const key = r.hrefNormalized;
      const before = this.seen.firstIndex(key, r.index);
      if (before !== undefined) obs.duplicateOf = before;
      this.lastComplete = r; // facts.lastComplete is filled in at the end: no object per response
    }
    this.resourceCount++;
    this.onResponse(obs);
  }
}

/** Longest the UID map of one 207 grows (MS656): a calendar-query of 100,000 events fits. */
const UID_MAP_CAP = 100_000;

/** Only ASCII white space in chars[start, end): the line breaks between properties, without a regex. */
function asciiSpace(chars: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const c = chars.charCodeAt(k);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

/**
 * A copy of `s` that does not share memory with the string it was cut from. Strings the XML
 * reader slices out of a 64 KiB input chunk keep that whole chunk alive; the ledger keeps hrefs for
 * every response, so without this the memory would grow with the body instead of the ledger.
 */
function detach(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}
