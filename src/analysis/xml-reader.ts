// The XML reader of the 207 scan: the fast tokenizer (xml-tokenizer.ts) for as long as the body
// is well-formed, then saxes from the tokenizer's resume point for the rest of the document, so
// that every well-formedness error, its message, its position and the recovery after it are
// saxes' own. It also answers the positions the scan records: saxes' position, line and column
// for the event being reported (line and column counted only when asked, from the last answer),
// and byte offsets in the body.
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { XmlTokenizer, type XmlAttribute, type XmlEvents } from './xml-tokenizer.js';

export type { XmlAttribute, XmlEvents } from './xml-tokenizer.js';

export interface XmlReaderEvents extends XmlEvents {
  onDoctype(text: string): void;
  onPI(target: string): void;
  /** A saxes error message ("line:column: message"). */
  onError(message: string): void;
}

type Parser = SaxesParser<{ xmlns: true; position: true }>;

interface HeldParser {
  parser: Parser;
  /** The reader it works for; undefined while idle (its events then go nowhere). */
  owner: XmlReader | undefined;
}

/** saxes' private position fields, set when it takes over in the middle of a document. */
interface SaxesPositionFields {
  chunkPosition: number;
  line: number;
  column: number;
  positionAtNewLine: number;
}

/**
 * Parsers of finished documents, reset by saxes' close(). A cache, not shared state: a parser is
 * held by one reader at a time and starts every document from saxes' initial state.
 */
const idleParsers: HeldParser[] = [];
const MAX_IDLE_PARSERS = 4;

/** Text the tokenizer may hold back for one unfinished token; a longer token goes to saxes. */
const MAX_PENDING = 1 << 20;

/** Longest cut token completed by stitching (see write). */
const MAX_STITCH = 4096;

const NO_ATTRIBUTES: readonly XmlAttribute[] = Object.freeze([]);
const NONE = Number.MAX_SAFE_INTEGER;

export class XmlReader {
  private readonly tok: XmlTokenizer;
  private held: HeldParser | undefined;
  private fast = true;
  private closed = false;
  private running = false;
  private saxTagStart = 0;
  private started = false;
  // The window: text whose byte offsets and lines are known exactly. In the tokenizer's time it
  // is the tokenizer's buffer; under saxes, the text of the last write.
  private win = '';
  private winBase = 0;
  private winByte = 0;
  private winAscii = true;
  private winHasCr = false;
  /** The window may hold surrogate pairs (a column counts a pair as one). */
  private winHasPairs = false;
  private markRel = 0;
  private markBytes = 0;
  /** The 80 characters before the window (error excerpts). */
  private recent = '';
  // Line and column at the window's start, and at the last position asked for.
  private winLine = 1;
  private winCol = 0;
  private memoPos = 0;
  private memoLine = 1;
  private memoCol = 0;
  private nextNl = -1;

  constructor(private readonly events: XmlReaderEvents) {
    this.tok = new XmlTokenizer(events);
  }

  /**
   * Text decoded from the body bytes at byteOffset (contiguous with the previous write). `clean`:
   * the caller checked that it holds no C0 control but TAB/LF/CR, no surrogate, no U+FFFE/U+FFFF.
   */
  write(text: string, byteOffset: number, ascii: boolean, clean = false): void {
    if (this.closed) return;
    if (!this.started) {
      this.started = true;
      this.winByte = byteOffset;
    }
    if (!this.fast) {
      this.moveWindow(text, byteOffset, ascii);
      this.held!.parser.write(text);
      return;
    }
    const t = this.tok;
    const pending = t.buf.length - t.resume;
    const oneByte = (pending === 0 || this.winAscii) && ascii;
    // Surrogate pairs are possible only where the caller did not call the text clean.
    const pairs = (pending > 0 && this.winHasPairs) || (!ascii && !clean);
    if (t.resume > 0) this.moveStart(t.base + t.resume);
    // A token cut by the end of the previous text is completed with the start of this one, and
    // the rest is read in place: appending it would copy the whole text for a few characters.
    // Outside the root, saxes reports stray text at the end of a write: no stitching there.
    const cut = pending > 0 && pending <= MAX_STITCH && t.inRoot ? text.indexOf('>') : -1;
    if (cut >= 0 && cut < MAX_STITCH) {
      t.append(text.slice(0, cut + 1), clean, oneByte);
      this.setWindow(t.buf, t.base, oneByte, pairs);
      if (!this.runTokenizer()) {
        const rest = text.slice(cut + 1);
        this.moveWindow(rest, this.offsetOf(this.winBase + this.win.length), ascii);
        this.held!.parser.write(rest);
        return;
      }
      if (t.resume === t.buf.length) {
        const base = t.base + pending;
        this.moveStart(base);
        this.setWindow(text, base, ascii, !ascii && !clean);
        t.readIn(text, base, cut + 1, clean);
      } else {
        this.moveStart(t.base + t.resume);
        t.append(text.slice(cut + 1), clean, this.winAscii && ascii);
        this.setWindow(t.buf, t.base, this.winAscii && ascii, pairs);
      }
    } else {
      t.append(text, clean, oneByte);
      this.setWindow(t.buf, t.base, oneByte, pairs);
    }
    this.runTokenizer();
  }

  /** Runs the tokenizer on its buffer; false when saxes took over. */
  private runTokenizer(): boolean {
    const t = this.tok;
    this.running = true;
    const ok = t.run();
    this.running = false;
    if (ok && t.buf.length - t.resume <= MAX_PENDING) return true;
    this.takeOver();
    return false;
  }

  /** Moves the start of the window to `pos` (inside it): its byte offset, line and column. */
  private moveStart(pos: number): void {
    const drop = pos - this.winBase;
    if (drop <= 0) return;
    this.winByte = this.offsetOf(pos);
    if (this.memoPos > pos || this.memoPos < this.winBase) this.resetMemo();
    this.advance(pos);
    this.winLine = this.memoLine;
    this.winCol = this.memoCol;
    this.recent = tail80(this.recent, this.win, drop);
    this.win = this.win.slice(drop);
    this.winBase = pos;
    this.markRel = 0;
    this.markBytes = 0;
    this.nextNl = -1;
  }

  /** The end of the document: saxes' final checks when the tokenizer did not finish it cleanly. */
  close(): void {
    if (this.closed) return;
    if (this.fast) {
      this.running = true;
      const ok = this.tok.finish();
      this.running = false;
      if (ok) {
        this.closed = true;
        return;
      }
      this.takeOver();
    }
    this.held!.parser.close();
    this.closed = true;
  }

  /** Stops reading (a limit was reached): no further events. */
  halt(): void {
    this.tok.halted = true;
  }

  /** Gives back the saxes parser, if one was used, to be reused when it finished its document. */
  release(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    held.owner = undefined;
    if (this.closed && idleParsers.length < MAX_IDLE_PARSERS) idleParsers.push(held);
  }

  /** saxes reads the document (from the point where the tokenizer stopped). */
  get handedOver(): boolean {
    return !this.fast;
  }

  /** saxes' position (UTF-16 index) for the event being reported. */
  get position(): number {
    return this.fast ? this.tok.eventPos : this.held!.parser.position;
  }

  /** Position of the '<' of the start tag being reported (see XmlTokenizer.tagStart). */
  get tagStart(): number {
    return this.fast ? this.tok.tagStart : this.saxTagStart;
  }

  /** saxes' line: for the event being reported, or the end of the text written so far. */
  get line(): number {
    if (!this.fast) return this.held!.parser.line;
    this.locate(this.here());
    return this.memoLine;
  }

  get column(): number {
    if (!this.fast) return this.held!.parser.column;
    this.locate(this.here());
    return this.memoCol;
  }

  /** Byte offset in the body of a position; exact inside the window. */
  offsetOf(pos: number): number {
    const rel = pos - this.winBase;
    if (rel < 0) return Math.max(0, this.winByte + rel);
    if (this.winAscii) return this.winByte + rel;
    // Positions are asked for in order within a window: measure only the text since the last one.
    if (rel < this.markRel) {
      this.markRel = 0;
      this.markBytes = 0;
    }
    this.markBytes += Buffer.byteLength(this.win.slice(this.markRel, rel));
    this.markRel = rel;
    return this.winByte + this.markBytes;
  }

  /** The 80 characters before `pos`, independent of how the text was split into writes. */
  excerptBefore(pos: number): string {
    const rel = Math.max(0, Math.min(pos - this.winBase, this.win.length));
    return (this.recent + this.win.slice(Math.max(0, rel - 80), rel)).slice(-80);
  }

  private here(): number {
    if (this.running) return this.tok.eventPos;
    // Between writes saxes has read everything but a trailing CR or high surrogate.
    const end = this.winBase + this.win.length;
    const last = this.win.charCodeAt(this.win.length - 1);
    return last === 0x0d || (last >= 0xd800 && last <= 0xdbff) ? end - 1 : end;
  }

  private setWindow(text: string, base: number, ascii: boolean, pairs: boolean): void {
    this.win = text;
    this.winBase = base;
    this.winAscii = ascii;
    this.winHasCr = text.indexOf('\r') >= 0;
    this.winHasPairs = pairs;
    this.markRel = 0;
    this.markBytes = 0;
    this.nextNl = -1;
  }

  /** Under saxes: the window becomes the text of this write. */
  private moveWindow(text: string, byteOffset: number, ascii: boolean): void {
    this.recent = tail80(this.recent, this.win, this.win.length);
    this.winByte = byteOffset;
    this.setWindow(text, this.winBase + this.win.length, ascii, !ascii);
  }

  /**
   * saxes reads the rest of the document from the tokenizer's resume point. A prelude of start
   * tags, read with the events muted, gives it the open elements and their namespaces; its
   * position, line and column are then set to those of the resume point.
   */
  private takeOver(): void {
    const t = this.tok;
    this.fast = false;
    const held = idleParsers.pop() ?? XmlReader.newParser();
    held.owner = undefined;
    this.held = held;
    const p = held.parser;
    const from = t.resume;
    if (t.rootStarted) {
      p.write(t.prelude());
      const pos = t.base + from;
      this.locate(pos);
      const fields = p as unknown as SaxesPositionFields;
      fields.chunkPosition = pos;
      fields.line = this.memoLine;
      fields.column = this.memoCol;
      fields.positionAtNewLine = pos - this.memoCol;
    }
    held.owner = this;
    if (!t.halted) p.write(from === 0 ? t.buf : t.buf.slice(from));
  }

  /**
   * A parser whose handlers call whichever reader holds it. Building a saxes parser costs about
   * as much as reading a small 207 with it, and every new instance shows V8 a new object shape,
   * which turns saxes' inline caches megamorphic: readers share a few parsers instead.
   */
  private static newParser(): HeldParser {
    const p = new SaxesParser({ xmlns: true, position: true });
    const held: HeldParser = { parser: p, owner: undefined };
    p.on('error', (e) => held.owner?.events.onError(e.message));
    p.on('doctype', (t) => held.owner?.events.onDoctype(t));
    p.on('processinginstruction', (pi) => held.owner?.events.onPI(pi.target));
    p.on('opentagstart', (tag) => {
      // saxes reports the tag once it has read the name and the character after it.
      if (held.owner) held.owner.saxTagStart = p.position - tag.name.length - 2;
    });
    p.on('opentag', (tag) => held.owner?.openFromSaxes(tag));
    p.on('closetag', () => held.owner?.events.onClose());
    p.on('text', (t) => held.owner?.events.onText(t, 0, t.length));
    p.on('cdata', (t) => held.owner?.events.onText(t, 0, t.length, true));
    // saxes stores each handler with a keyed write; after a few of them V8 turns the parser into
    // a dictionary-mode object and every field access in its hot loop slows down (4x measured).
    // Using the object once as a prototype makes V8 give it fast properties again.
    void (Object.create(p) as { textHandler?: unknown }).textHandler;
    return held;
  }

  private openFromSaxes(tag: SaxesTagNS): void {
    let attributes = NO_ATTRIBUTES;
    for (const name in tag.attributes) {
      const a = tag.attributes[name]!;
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      if (attributes === NO_ATTRIBUTES) attributes = [];
      (attributes as XmlAttribute[]).push({ name: a.name, prefix: a.prefix, local: a.local, uri: a.uri, value: a.value });
    }
    this.events.onOpen(tag.name, tag.prefix ?? '', tag.local ?? tag.name, tag.uri ?? '', attributes);
  }

  private resetMemo(): void {
    this.memoPos = this.winBase;
    this.memoLine = this.winLine;
    this.memoCol = this.winCol;
    this.nextNl = -1;
  }

  /** Moves the line memo to `pos` (a position inside the window). */
  private locate(pos: number): void {
    if (pos < this.memoPos || this.memoPos < this.winBase) this.resetMemo();
    this.advance(pos);
  }

  /**
   * Counts line breaks as saxes does (LF, CR LF, lone CR) and columns in code points (a
   * surrogate pair is one) from the memo to `pos`. Positions never fall inside a CR LF or a pair.
   */
  private advance(pos: number): void {
    const s = this.win;
    const from = this.memoPos - this.winBase;
    const to = Math.min(pos - this.winBase, s.length);
    if (to <= from) return;
    let lastBreakEnd = -1;
    if (!this.winHasCr) {
      if (this.nextNl < from) this.nextNl = indexOrNone(s, '\n', from);
      while (this.nextNl < to) {
        this.memoLine++;
        lastBreakEnd = this.nextNl + 1;
        this.nextNl = indexOrNone(s, '\n', lastBreakEnd);
      }
    } else {
      for (let k = from; k < to; k++) {
        const c = s.charCodeAt(k);
        if (c === 0x0a || (c === 0x0d && s.charCodeAt(k + 1) !== 0x0a)) {
          this.memoLine++;
          lastBreakEnd = k + 1;
        }
      }
    }
    if (lastBreakEnd < 0) this.memoCol += this.codePoints(from, to);
    else this.memoCol = this.codePoints(lastBreakEnd, to);
    this.memoPos = this.winBase + to;
  }

  private codePoints(from: number, to: number): number {
    if (!this.winHasPairs) return to - from;
    let n = to - from;
    for (let k = from; k < to; k++) {
      const c = this.win.charCodeAt(k);
      if (c >= 0xdc00 && c <= 0xdfff) n--;
    }
    return n;
  }
}

function indexOrNone(s: string, what: string, from: number): number {
  const at = s.indexOf(what, from);
  return at < 0 ? NONE : at;
}

/** The last 80 characters of `recent` followed by text.slice(0, end). */
function tail80(recent: string, text: string, end: number): string {
  return end >= 80 ? text.slice(end - 80, end) : (recent + text.slice(0, end)).slice(-80);
}
