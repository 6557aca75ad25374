// The fast path of the 207 scan: a streaming tokenizer for well-formed, namespace-correct XML 1.0,
// written for what a multistatus body contains (ASCII names, a few namespace declarations, short
// text, maybe comments and CDATA). It reads the text with indexOf and charCodeAt, slices only the
// names and values its events carry, and never builds per-character state.
//
// It does not report errors. Whatever it is not sure saxes would accept silently (a malformed
// tag, an undefined entity, an illegal character, a DOCTYPE, a processing instruction, a
// non-ASCII name, a huge token…) makes it stop at a *resume point*: a place where saxes, given
// the open elements and their namespace declarations (prelude()), is in exactly the state it
// would have reached on its own. xml-reader.ts hands the rest of the document to saxes from
// there, so every message, position and recovery after an error is saxes' own. Events before
// the resume point are identical to saxes' events, positions included (see eventPos, tagStart).

export interface XmlAttribute {
  name: string;
  prefix: string;
  local: string;
  uri: string;
  value: string;
}

/** What the scan hears, from this tokenizer or from saxes. */
export interface XmlEvents {
  /** A start tag; `attributes` never holds namespace declarations. */
  onOpen(name: string, prefix: string, local: string, uri: string, attributes: readonly XmlAttribute[]): void;
  onClose(): void;
  /** Character data (text or CDATA) `text.slice(start, end)`, references decoded, line ends normalized. */
  /** `cdata`: the text was a CDATA section (its markup lies between the text and the positions). */
  onText(text: string, start: number, end: number, cdata?: boolean): void;
}

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const NO_ATTRIBUTES: readonly XmlAttribute[] = Object.freeze([]);

/**
 * The engine's unique copy of a string (a property key is one): flat, independent of the text
 * it was cut from, compared with another such copy by identity, its hash known. For names that
 * are compared and looked up a million times; each distinct one is made once.
 */
export function internalize(s: string): string {
  const known = internalized.get(s);
  if (known !== undefined) return known;
  const v = Object.keys({ [s]: true })[0] ?? s;
  // Keyed by the copy, never by `s`: a slice would keep the whole body it was cut from alive.
  if (internalized.size < MAX_INTERNALIZED && v.length <= 256) internalized.set(v, v);
  return v;
}

/**
 * Names seen by earlier documents: a small 207 names a few dozen, the same in every response of a
 * server, and a Map lookup costs a quarter of building the copy again (measured: 43 vs 181 ns).
 * Bounded, so that documents full of made-up names cannot grow it.
 */
const internalized = new Map<string, string>();
const MAX_INTERNALIZED = 4096;

// ASCII name characters. Anything else (a non-ASCII name character included) sends the
// document to saxes, which knows the full XML name tables.
const NAME_START = 1;
const NAME_CHAR = 2;
const CLASS = new Uint8Array(128);
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = NAME_START;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = NAME_START;
CLASS[0x5f] = NAME_START;
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = NAME_CHAR;
CLASS[0x2d] = NAME_CHAR;
CLASS[0x2e] = NAME_CHAR;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const COLON = 0x3a;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const AMP = 0x26;
const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const SPACE = 0x20;

const isSpace = (c: number): boolean => c === SPACE || c === LF || c === CR || c === TAB;

/** XML 1.0 Char production, for character references. */
function isXmlChar(c: number): boolean {
  return c === TAB || c === LF || c === CR || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

const PREDEFINED = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
]);

/** The XML declaration saxes accepts without a word, version 1.0 only (1.1 changes the character rules). */
const XML_DECL =
  /<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.0"|'1\.0')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>/y;

// C0 controls other than TAB/LF/CR, surrogates, U+FFFE/U+FFFF: a chunk without any is clean.
// eslint-disable-next-line no-control-regex
const MAYBE_ILLEGAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;

/** Markup results besides "the index after it". */
const NEED = -1;
const BAIL = -2;

/** Attributes per start tag read here; more go to saxes (duplicate checks are pairwise). */
const MAX_ATTRIBUTES = 32;

interface QName {
  qname: string;
  prefix: string;
  local: string;
  /** Of the qualified name, as name() computes it. */
  hash: number;
  /** The text of the first start tag's attributes when they were only namespace declarations. */
  attributeText?: string;
  /** The prefixes and namespaces they bind, pairwise. */
  bindings?: string[];
}

const NAME_CACHE_SIZE = 256;
const MAX_QNAMES = 10_000;
/** Longest name, and attribute text, the shared table keeps: its memory stays under a few MB. */
const MAX_SHARED_NAME = 256;
const MAX_SHARED_ATTRIBUTES = 1024;

/**
 * Element names met (up to MAX_QNAMES), shared by all documents: a cache, not state. Each entry
 * holds what follows from the name's text alone (its internalized parts, and the text and
 * bindings of namespace declarations seen on it, which are valid or not by their text alone);
 * internalizing a name costs about a microsecond, as much as reading a small 207's tags.
 */
const qnames = new Map<string, QName>();

/**
 * The entries by a hash of the name, in front of qnames: a listing repeats a dozen names a
 * million times, and a hit costs a comparison instead of three new strings (which also keeps
 * the scan's keyed lookups on strings whose hash is known).
 */
const nameCache: (QName | undefined)[] = new Array<QName | undefined>(NAME_CACHE_SIZE).fill(undefined);

const enum Phase {
  /** Before anything but leading white space: an XML declaration is still possible. */
  Begin,
  /** After the declaration or a comment, before the root. */
  Prolog,
  Root,
  /** After the root closed. */
  Epilog,
}

export class XmlTokenizer {
  /** The text not yet handed on: from the resume point to the end of what was written. */
  buf = '';
  /** Document position (UTF-16 index, as saxes counts) of buf[0]. */
  base = 0;
  /** Where saxes would take over; nothing before it is needed again. */
  resume = 0;
  /** saxes' `position` for the event being reported. */
  eventPos = 0;
  /** Position of the start tag being reported, as saxes' opentagstart makes it (see startTag). */
  tagStart = 0;
  /** Set by the consumer to stop reading (a limit was reached). */
  halted = false;
  /** The root's start tag was read: resuming needs a prelude. */
  rootStarted = false;

  private at = 0;
  /** First index not to read: an illegal character, a split surrogate pair, or the end. */
  private limit = 0;
  /** The character at `limit` is illegal in XML (saxes will report it). */
  private illegalAtLimit = false;
  private phase = Phase.Begin;
  private readonly names: string[] = [];
  private readonly nsMark: number[] = [];
  private depth = 0;
  private readonly nsPrefix: string[] = [];
  private readonly nsUri: string[] = [];
  private nsCount = 0;
  // Next '&', '\r' and ']]>' at or after the text being read; -1 when not known yet.
  private nextAmp = -1;
  private nextCr = -1;
  private nextCdataEnd = -1;
  // Attribute scratch space, reused between tags.
  private readonly aStart: number[] = [];
  private readonly aEnd: number[] = [];
  private readonly aColon: number[] = [];
  private readonly aValStart: number[] = [];
  private readonly aValEnd: number[] = [];
  private readonly recentStrings: string[] = [];
  private recentNext = 0;
  /** The XML declaration, when the document starts with one. */
  private declText = '';
  /** Text before the root and its event position, pairwise (see text). */
  private prologTexts: (string | number)[] = [];

  constructor(private readonly events: XmlEvents) {}

  /**
   * Appends text, dropping what lies before the resume point. `clean`: see XmlReader.write;
   * `oneByte`: the text kept and the text added are all below U+0100.
   */
  append(text: string, clean = false, oneByte = false): void {
    const keep = this.buf.length - this.resume;
    this.base += this.resume;
    this.at -= this.resume;
    // A concatenation is a rope that V8 reads a third slower character by character than a flat
    // string; one copy through Latin-1 bytes makes it flat.
    if (keep === 0) this.buf = text;
    else if (oneByte) this.buf = Buffer.from(this.buf.slice(this.resume) + text, 'latin1').toString('latin1');
    else this.buf = this.buf.slice(this.resume) + text;
    this.resume = 0;
    this.nextAmp = this.nextCr = this.nextCdataEnd = -1;
    this.findLimit(keep, clean);
  }

  /**
   * Goes on in `text`, which starts at document position `base`, from index `from`: the
   * buffer was read to its end and ends where text[from] starts (see XmlReader.write).
   */
  readIn(text: string, base: number, from: number, clean: boolean): void {
    this.buf = text;
    this.base = base;
    this.at = from;
    this.resume = from;
    this.nextAmp = this.nextCr = this.nextCdataEnd = -1;
    this.findLimit(from, clean);
  }

  /** Inside the root element (outside it, saxes' reports depend on where writes end). */
  get inRoot(): boolean {
    return this.depth > 0;
  }

  /**
   * Start tags that put a fresh saxes parser in the state it has at the resume point: the open
   * elements with their namespace declarations, or an empty root when the root has closed.
   */
  prelude(): string {
    // The declaration too: saxes remembers which of its pseudo-attributes it has read and
    // judges a later, misplaced one by that.
    if (this.depth === 0) return `${this.declText}<r/>`;
    let out = this.declText;
    for (let d = 0; d < this.depth; d++) {
      out += `<${this.names[d]!}`;
      const end = d + 1 < this.depth ? this.nsMark[d + 1]! : this.nsCount;
      for (let k = this.nsMark[d]!; k < end; k++) {
        const p = this.nsPrefix[k]!;
        out += `${p === '' ? ' xmlns' : ` xmlns:${p}`}="${this.nsUri[k]!.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')}"`;
      }
      out += '>';
    }
    return out;
  }

  /** Reads what it can. False: stopped at `resume`, the rest is saxes' to read. */
  run(): boolean {
    const s = this.buf;
    const end = this.limit;
    let i = this.at;
    // Before the root the resume point stays at 0; from the root on it follows every token.
    let resume = this.resume;
    let ok = true;
    for (let guard = 0; guard <= s.length; guard++) {
      if (this.halted) break;
      if (this.phase === Phase.Begin) {
        // saxes swallows white space before the first markup without a text event.
        while (i < end && isSpace(s.charCodeAt(i))) i++;
        if (i >= end) break;
        if (s.charCodeAt(i) !== LT) {
          ok = false;
          break;
        }
      }
      // Between the tags of a listing there is a line break or nothing: look before searching.
      let lt = i;
      if (lt < end && s.charCodeAt(lt) !== LT && (++lt >= end || s.charCodeAt(lt) !== LT)) lt = s.indexOf('<', lt);
      if (lt < 0 || lt >= end) {
        // Text outside the root is reported by saxes when it reads it, not when it ends: go now.
        if (this.phase !== Phase.Root) for (let k = i; k < end && ok; k++) ok = isSpace(s.charCodeAt(k));
        break;
      }
      if (lt > i) {
        if (!this.text(s, i, lt)) {
          ok = false;
          break;
        }
        i = lt;
        if (this.phase >= Phase.Root) resume = i;
      }
      const next = this.markup(s, lt, end);
      if (next < 0) {
        ok = next !== BAIL;
        break;
      }
      i = next;
      if (this.phase >= Phase.Root) resume = i;
    }
    this.at = i;
    // An illegal character the next token cannot be completed before: saxes reports it.
    if (ok && this.illegalAtLimit && !this.halted) ok = false;
    return ok ? ((this.resume = resume), true) : this.bail(resume);
  }

  /**
   * The end of the document. True when it was complete and well-formed (the trailing white space
   * is reported as saxes does at close); false sends the rest to saxes, whose close() says what
   * is missing.
   */
  finish(): boolean {
    if (this.halted) return true;
    if (this.phase !== Phase.Epilog || this.limit !== this.buf.length) return false;
    const s = this.buf;
    for (let k = this.at; k < s.length; k++) if (!isSpace(s.charCodeAt(k))) return false;
    if (this.at < s.length) {
      // saxes holds back a final CR until close(), and then counts it, and the end, once more.
      this.eventPos = this.base + s.length + (s.charCodeAt(s.length - 1) === CR ? 2 : 0);
      const t = normalizeNewlines(s.slice(this.at));
      this.events.onText(t, 0, t.length);
    }
    this.at = s.length;
    this.resume = s.length;
    return true;
  }

  private bail(at: number): false {
    // Before the root, saxes reads the document from its first character.
    this.resume = this.rootStarted ? at : 0;
    return false;
  }

  /** Character data from i to the '<' at lt. False: saxes must read it. */
  private text(s: string, i: number, lt: number): boolean {
    this.eventPos = this.base + lt + 1;
    if (this.phase !== Phase.Root) {
      // Outside the root only white space is allowed; saxes reports it as text all the same.
      let cr = false;
      for (let k = i; k < lt; k++) {
        const c = s.charCodeAt(k);
        if (!isSpace(c)) return false;
        if (c === CR) cr = true;
      }
      const t = cr ? normalizeNewlines(s.slice(i, lt)) : s.slice(i, lt);
      // Before the root, saxes would read these again after a hand-over: held until the root opens.
      if (!this.rootStarted) this.prologTexts.push(t, this.eventPos);
      else this.events.onText(t, 0, t.length);
      return true;
    }
    if (this.nextCdataEnd < i) this.nextCdataEnd = indexOr(s, ']]>', i);
    if (this.nextCdataEnd < lt) return false;
    if (this.nextAmp < i) this.nextAmp = indexOr(s, '&', i);
    if (this.nextCr < i) this.nextCr = indexOr(s, '\r', i);
    if (this.nextAmp < lt || this.nextCr < lt) {
      const decoded = decodeText(s, i, lt);
      if (decoded === undefined) return false;
      this.events.onText(decoded, 0, decoded.length);
      return true;
    }
    this.events.onText(s, i, lt);
    return true;
  }

  /** The markup at lt: the index after it, NEED (incomplete) or BAIL. */
  private markup(s: string, lt: number, end: number): number {
    if (lt + 1 >= end) return NEED;
    const c = s.charCodeAt(lt + 1);
    if (c < 128 && CLASS[c] === NAME_START) return this.startTag(s, lt, end);
    if (c === SLASH) return this.endTag(s, lt, end);
    if (c === BANG) {
      if (s.startsWith('<!--', lt)) return this.comment(s, lt, end);
      if (this.phase === Phase.Root && s.startsWith('<![CDATA[', lt)) return this.cdata(s, lt, end);
      return end - lt < 9 ? NEED : BAIL;
    }
    if (c === QUESTION && this.phase === Phase.Begin && this.base + lt === 0) return this.declaration(s, end);
    return BAIL;
  }

  private declaration(s: string, end: number): number {
    XML_DECL.lastIndex = 0;
    const m = XML_DECL.exec(s);
    if (m === null || m[0].length > end) {
      // Wait only while saxes would still be inside the declaration: past a '>' it may be
      // reading text, which it reports where a write ends.
      const gt = s.indexOf('>');
      return (gt < 0 || gt >= end) && end < 4096 ? NEED : BAIL;
    }
    this.phase = Phase.Prolog;
    this.declText = m[0];
    return m[0].length;
  }

  private comment(s: string, lt: number, end: number): number {
    const dashes = s.indexOf('--', lt + 4);
    if (dashes < 0 || dashes + 2 >= end) return NEED;
    if (s.charCodeAt(dashes + 2) !== GT) return BAIL; // "--" inside a comment
    if (this.phase === Phase.Begin) this.phase = Phase.Prolog;
    return dashes + 3;
  }

  private cdata(s: string, lt: number, end: number): number {
    const close = s.indexOf(']]>', lt + 9);
    if (close < 0 || close + 3 > end) return NEED;
    this.eventPos = this.base + close + 3;
    const start = lt + 9;
    const cr = s.indexOf('\r', start);
    if (cr >= 0 && cr < close) {
      const t = normalizeNewlines(s.slice(start, close));
      this.events.onText(t, 0, t.length, true);
    } else this.events.onText(s, start, close, true);
    return close + 3;
  }

  /** Index after the name that starts at `from` (an ASCII name start), or NEED / BAIL; colon index in this.nameColon. */
  private nameColon = -1;
  private nameHash = 0;
  /** No indexOf comparison has failed yet (see holds). */
  private searchOk = true;
  /** No attribute text compared with indexOf has failed yet (see sameAttributes). */
  private sameOk = true;
  private name(s: string, from: number, end: number): number {
    let colon = -1;
    let j = from + 1;
    let hash = s.charCodeAt(from);
    for (; ; j++) {
      if (j >= end) return NEED;
      const c = s.charCodeAt(j);
      if (c < 128 && CLASS[c] !== 0) {
        hash = (hash * 31 + c) | 0;
        continue;
      }
      if (c === COLON && colon < 0) {
        hash = (hash * 31 + c) | 0;
        colon = j;
        continue;
      }
      break;
    }
    // "a:" has no local part, "a:b:c" two colons: saxes' malformed-name errors.
    if (colon === j - 1 || s.charCodeAt(j) === COLON) return BAIL;
    this.nameColon = colon;
    this.nameHash = hash;
    return j;
  }

  /**
   * Whether s holds `name` at `at`. indexOf compares natively where startsWith runs at a few
   * nanoseconds a character, but it searches on past a mismatch: it is used only where a
   * mismatch is a hash collision or a broken document, and once one happened, no more.
   */
  private holds(s: string, at: number, name: string): boolean {
    if (!this.searchOk) return s.startsWith(name, at);
    if (s.indexOf(name, at) === at) return true;
    this.searchOk = false;
    return false;
  }

  private startTag(s: string, lt: number, end: number): number {
    if (this.phase === Phase.Epilog) return BAIL; // a second root
    const nameEnd = this.name(s, lt + 1, end);
    if (nameEnd < 0) return nameEnd;
    let c = s.charCodeAt(nameEnd);
    if (!(c === GT || c === SLASH || isSpace(c))) return BAIL;
    const q = this.qname(s, lt, nameEnd);
    const { qname, prefix } = q;
    if (prefix === 'xmlns' || prefix === 'xml') return BAIL;
    const mark = this.nsCount;
    let j = nameEnd;
    let count = 0;
    let selfClosing = false;
    let attributes = NO_ATTRIBUTES;
    const same = c === GT || c === SLASH ? -1 : this.sameAttributes(s, q, nameEnd, end);
    if (same >= 0) {
      // The very namespace declarations this element had last time: bind them again.
      const b = q.bindings!;
      for (let k = 0; k < b.length; k += 2) {
        this.nsPrefix[this.nsCount] = b[k]!;
        this.nsUri[this.nsCount] = b[k + 1]!;
        this.nsCount++;
      }
      selfClosing = s.charCodeAt(same) === SLASH;
      j = same + (selfClosing ? 2 : 1);
    } else {
      for (let spaced = false; ; ) {
        for (; j < end; j++) {
          c = s.charCodeAt(j);
          if (!isSpace(c)) break;
          spaced = true;
        }
        if (j >= end) return NEED;
        if (c === GT) {
          j++;
          break;
        }
        if (c === SLASH) {
          if (j + 1 >= end) return NEED;
          if (s.charCodeAt(j + 1) !== GT) return BAIL;
          j += 2;
          selfClosing = true;
          break;
        }
        if (!spaced || !(c < 128 && CLASS[c] === NAME_START) || count >= MAX_ATTRIBUTES) return BAIL;
        const aEnd = this.name(s, j, end);
        if (aEnd < 0) return aEnd;
        this.aStart[count] = j;
        this.aEnd[count] = aEnd;
        this.aColon[count] = this.nameColon;
        j = aEnd;
        while (j < end && isSpace(s.charCodeAt(j))) j++;
        if (j >= end) return NEED;
        if (s.charCodeAt(j) !== EQUALS) return BAIL;
        j++;
        while (j < end && isSpace(s.charCodeAt(j))) j++;
        if (j >= end) return NEED;
        const quote = s.charCodeAt(j);
        if (quote !== DQUOTE && quote !== SQUOTE) return BAIL;
        const valEnd = s.indexOf(quote === DQUOTE ? '"' : "'", j + 1);
        if (valEnd < 0 || valEnd >= end) return NEED;
        // References, '<' and the white space saxes normalizes: left to saxes.
        for (let k = j + 1; k < valEnd; k++) {
          const v = s.charCodeAt(k);
          if (v === LT || v === AMP || v === TAB || v === LF || v === CR) return BAIL;
        }
        this.aValStart[count] = j + 1;
        this.aValEnd[count] = valEnd;
        count++;
        j = valEnd + 1;
        spaced = false;
      }
      if (count > 0) {
        if (!this.declare(s, count)) {
          this.nsCount = mark;
          return BAIL;
        }
        const others = count - (this.nsCount - mark);
        if (others > 0) {
          const list = this.attributes(s, count);
          if (list === undefined) {
            this.nsCount = mark;
            return BAIL;
          }
          attributes = list;
        } else if (q.attributeText === undefined && this.sameOk && qnames.get(q.qname) === q && j - nameEnd <= MAX_SHARED_ATTRIBUTES) {
          // Only namespace declarations: their validity depends on their text alone.
          q.attributeText = internalize(s.slice(nameEnd, j - (selfClosing ? 2 : 1)));
          q.bindings = [];
          for (let k = mark; k < this.nsCount; k++) q.bindings.push(this.nsPrefix[k]!, this.nsUri[k]!);
        }
      }
    }
    const uri = this.resolve(prefix);
    if (uri === undefined) {
      this.nsCount = mark;
      return BAIL; // unbound prefix
    }
    // saxes' opentagstart comes after the character that ends the name; a CR LF there is read
    // as one character of two code units, which moves the start its callers compute by one.
    this.tagStart = this.base + lt + (s.charCodeAt(nameEnd) === CR && s.charCodeAt(nameEnd + 1) === LF ? 1 : 0);
    this.eventPos = this.base + j;
    if (!this.rootStarted) this.flushProlog();
    this.phase = Phase.Root;
    this.rootStarted = true;
    const d = this.depth;
    this.names[d] = qname;
    this.nsMark[d] = mark;
    this.depth = d + 1;
    this.events.onOpen(qname, prefix, q.local, uri, attributes);
    if (selfClosing) this.pop();
    return j;
  }

  /** The entry of the element name s.slice(lt + 1, nameEnd), from the cache or made. */
  private qname(s: string, lt: number, nameEnd: number): QName {
    const len = nameEnd - lt - 1;
    const hash = this.nameHash;
    const slot = (hash ^ (hash >>> 8)) & (NAME_CACHE_SIZE - 1);
    let q = nameCache[slot];
    if (q !== undefined && q.hash === hash && q.qname.length === len && this.holds(s, lt + 1, q.qname)) return q;
    const raw = s.slice(lt + 1, nameEnd);
    q = qnames.get(raw);
    if (q === undefined) {
      // Past MAX_QNAMES distinct names, or for a name longer than MAX_SHARED_NAME (no real
      // traffic has them), the entry is this document's alone and its names plain slices.
      const shared = qnames.size < MAX_QNAMES && len <= MAX_SHARED_NAME;
      const own = shared ? internalize : (x: string) => x;
      const qname = own(raw);
      const colon = this.nameColon;
      q = colon < 0 ? { qname, prefix: '', local: qname, hash } : { qname, prefix: own(s.slice(lt + 1, colon)), local: own(s.slice(colon + 1, nameEnd)), hash };
      if (!shared) return q;
      qnames.set(qname, q);
    }
    nameCache[slot] = q;
    return q;
  }

  /**
   * Where the start tag ends ('>' or the '/' of '/>') when its attributes are, character for
   * character, the namespace declarations this element name had the first time (Apache repeats
   * them on every response); -1 otherwise.
   */
  private sameAttributes(s: string, q: QName, nameEnd: number, end: number): number {
    const text = q.attributeText;
    if (text === undefined || !this.sameOk) return -1;
    const at = nameEnd + text.length;
    if (at + 1 >= end) return -1;
    const c = s.charCodeAt(at);
    if (!(c === GT || (c === SLASH && s.charCodeAt(at + 1) === GT))) return -1;
    if (s.charCodeAt(at - 1) !== text.charCodeAt(text.length - 1)) return -1;
    // A native comparison, which searches on past a mismatch: after one, no more (see holds).
    if (s.indexOf(text, nameEnd) === nameEnd) return at;
    this.sameOk = false;
    return -1;
  }

  /** The white space between the prolog's markup, reported once the root's start tag is read. */
  private flushProlog(): void {
    const texts = this.prologTexts;
    const at = this.eventPos;
    for (let k = 0; k < texts.length; k += 2) {
      this.eventPos = texts[k + 1] as number;
      const t = texts[k] as string;
      this.events.onText(t, 0, t.length);
    }
    this.prologTexts = [];
    this.eventPos = at;
  }

  /** Binds the namespace declarations among the tag's attributes; false on anything unusual. */
  private declare(s: string, count: number): boolean {
    for (let a = 0; a < count; a++) {
      const start = this.aStart[a]!;
      const len = this.aEnd[a]! - start;
      // Attributes with the same name: saxes reports the duplicate.
      for (let b = 0; b < a; b++) if (this.aEnd[b]! - this.aStart[b]! === len && s.startsWith(s.slice(start, start + len), this.aStart[b]!)) return false;
      const colon = this.aColon[a]!;
      let prefix: string;
      if (colon < 0 && len === 5 && s.startsWith('xmlns', start)) prefix = '';
      else if (colon === start + 5 && s.startsWith('xmlns', start)) prefix = this.known(s, colon + 1, start + len);
      else continue;
      const uri = this.known(s, this.aValStart[a]!, this.aValEnd[a]!).trim();
      // Reserved prefixes and names, and undeclaring a prefix (not allowed in XML 1.0): saxes' rules.
      if (uri === XML_NS || uri === XMLNS_NS || prefix === 'xml' || prefix === 'xmlns' || (prefix !== '' && uri === '')) return false;
      this.nsPrefix[this.nsCount] = prefix;
      this.nsUri[this.nsCount] = uri;
      this.nsCount++;
    }
    return true;
  }

  /** The attributes other than namespace declarations, resolved; undefined on an unbound prefix or an expanded-name duplicate. */
  private attributes(s: string, count: number): XmlAttribute[] | undefined {
    const out: XmlAttribute[] = [];
    for (let a = 0; a < count; a++) {
      const start = this.aStart[a]!;
      const end = this.aEnd[a]!;
      const colon = this.aColon[a]!;
      const name = s.slice(start, end);
      if (name === 'xmlns' || (colon === start + 5 && name.startsWith('xmlns:'))) continue;
      const prefix = colon < 0 ? '' : s.slice(start, colon);
      const local = colon < 0 ? name : s.slice(colon + 1, end);
      let uri = '';
      if (prefix !== '') {
        const bound = prefix === 'xml' ? XML_NS : this.resolve(prefix);
        if (bound === undefined || bound === '') return undefined;
        uri = bound;
        for (const o of out) if (o.prefix !== '' && o.uri === uri && o.local === local) return undefined;
      }
      out.push({ name, prefix, local, uri, value: s.slice(this.aValStart[a]!, this.aValEnd[a]!) });
    }
    return out;
  }

  /**
   * s.slice(start, end) as an internalized string, looked up first among the last few: a
   * listing declares the same prefixes and namespaces in each of its responses.
   */
  private known(s: string, start: number, end: number): string {
    const len = end - start;
    const r = this.recentStrings;
    for (let k = 0; k < r.length; k++) {
      const c = r[k]!;
      if (c.length === len && s.startsWith(c, start)) return c;
    }
    const v = internalize(s.slice(start, end));
    if (r.length < 16) r.push(v);
    else r[(this.recentNext = (this.recentNext + 1) & 15)] = v;
    return v;
  }

  /** The namespace bound to a prefix; '' for no prefix and no default; undefined when unbound. */
  private resolve(prefix: string): string | undefined {
    for (let k = this.nsCount - 1; k >= 0; k--) if (this.nsPrefix[k] === prefix) return this.nsUri[k];
    return prefix === '' ? '' : undefined;
  }

  private endTag(s: string, lt: number, end: number): number {
    if (this.depth === 0) return BAIL;
    const name = this.names[this.depth - 1]!;
    let j = lt + 2 + name.length;
    if (j >= end) return NEED;
    if (!this.holds(s, lt + 2, name)) return BAIL;
    let c = s.charCodeAt(j);
    if (c !== GT) {
      if (!isSpace(c)) return BAIL;
      for (; j < end; j++) {
        c = s.charCodeAt(j);
        if (!isSpace(c)) break;
      }
      if (j >= end) return NEED;
      if (c !== GT) return BAIL;
    }
    j++;
    this.eventPos = this.base + j;
    this.pop();
    return j;
  }

  private pop(): void {
    const d = --this.depth;
    this.nsCount = this.nsMark[d]!;
    this.events.onClose();
    if (d === 0) this.phase = Phase.Epilog;
  }

  /**
   * Sets `limit` after text was appended (the first `from` characters were checked before): the
   * first character saxes would reject, or a high surrogate whose pair has not arrived yet.
   */
  private findLimit(from: number, clean: boolean): void {
    const s = this.buf;
    this.limit = s.length;
    this.illegalAtLimit = false;
    // A high surrogate that ended the previous text is checked again with what follows it.
    let start = from > 0 && isHigh(s.charCodeAt(from - 1)) ? from - 1 : from;
    if (start === from) {
      if (clean) return;
      const first = (from === 0 ? s : s.slice(from)).search(MAYBE_ILLEGAL);
      if (first < 0) return;
      start = from + first;
    }
    for (let k = start; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x20 ? c < 0xd800 || (c >= 0xe000 && c <= 0xfffd) : c === TAB || c === LF || c === CR) continue;
      if (isHigh(c)) {
        if (k + 1 === s.length) {
          this.limit = k; // its pair may come with the next text
          return;
        }
        if (isLow(s.charCodeAt(k + 1))) {
          k++;
          continue;
        }
      }
      this.limit = k;
      this.illegalAtLimit = true;
      return;
    }
  }
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

function indexOr(s: string, what: string, from: number): number {
  const at = s.indexOf(what, from);
  return at < 0 ? Number.MAX_SAFE_INTEGER : at;
}

function normalizeNewlines(t: string): string {
  return t.replace(/\r\n?/g, '\n');
}

/**
 * Text with references and CR: the five predefined entities and character references decoded,
 * CR LF and lone CR made LF, as saxes does. Undefined for anything saxes would complain about.
 */
function decodeText(s: string, start: number, end: number): string | undefined {
  let out = '';
  let from = start;
  for (let k = start; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c === CR) {
      out += s.slice(from, k) + '\n';
      if (s.charCodeAt(k + 1) === LF && k + 1 < end) k++;
      from = k + 1;
    } else if (c === AMP) {
      const semi = s.indexOf(';', k + 1);
      if (semi < 0 || semi >= end) return undefined;
      const ref = s.slice(k + 1, semi);
      let value: string | undefined;
      if (ref.charCodeAt(0) === 0x23) {
        let code = NaN;
        if (/^#x[0-9a-fA-F]{1,6}$/.test(ref)) code = parseInt(ref.slice(2), 16);
        else if (/^#[0-9]{1,7}$/.test(ref)) code = parseInt(ref.slice(1), 10);
        if (!isXmlChar(code)) return undefined;
        value = String.fromCodePoint(code);
      } else value = PREDEFINED.get(ref);
      if (value === undefined) return undefined;
      out += s.slice(from, k) + value;
      k = semi;
      from = semi + 1;
    }
  }
  return out + s.slice(from, end);
}
