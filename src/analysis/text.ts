// Bytes → text for the XML parser: the encoding sources of RFC 7303 §3.2 (BOM, then the charset
// parameter, then the XML declaration), invalid UTF-8 located by byte offset, illegal XML
// characters (XML 1.0 §2.2), and bytes before the XML declaration (XML §2.8).

export interface TextFacts {
  bom?: 'utf-8' | 'utf-16le' | 'utf-16be';
  charsetParam?: string;
  declEncoding?: string;
  /** The encoding the body was decoded with. */
  applied: string;
  /** The sources named different encodings. */
  disagreement: boolean;
  /** Bytes before `<?xml` (after the BOM): count, hex and text of the first 64. */
  leadingJunk?: { bytes: number; hex: string; text: string };
  /** A second BOM right after the first one. */
  doubleBom: boolean;
  invalidUtf8?: { offset: number; hex: string; count: number };
  illegalChar?: { offset: number; codePoint: string; count: number };
  /** First 2,048 characters of the decoded text (HTML sniffing, titles). */
  head: string;
  /** Last 128 characters of the decoded text. */
  tail: string;
  /** Decoded characters emitted. */
  chars: number;
}

const SNIFF = 1024;
/** Offsets of invalid UTF-8 bytes kept for invalidBytesIn(); past this many, it answers 0. */
const INVALID_KEPT = 10_000;

function canonical(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  const l = label.trim().toLowerCase().replace(/^"|"$/g, '');
  if (l === 'utf8' || l === 'utf-8' || l === 'unicode-1-1-utf-8') return 'utf-8';
  if (l === 'latin1' || l === 'iso8859-1' || l === 'iso_8859-1' || l === 'l1') return 'iso-8859-1';
  if (l === 'us-ascii' || l === 'ascii') return 'us-ascii';
  if (l === 'utf-16' || l === 'utf16') return 'utf-16';
  return l;
}

/** Two labels name the same decoding (ASCII is a subset of UTF-8 and Latin-1). */
function compatible(a: string, b: string): boolean {
  if (a === b) return true;
  if (a === 'us-ascii' || b === 'us-ascii') return true;
  if ((a === 'utf-16' && b.startsWith('utf-16')) || (b === 'utf-16' && a.startsWith('utf-16'))) return true;
  return false;
}

// C0 controls other than TAB/LF/CR, U+FFFE/U+FFFF, and lone surrogates (matching control
// characters is the point of both expressions).
// eslint-disable-next-line no-control-regex
const MAYBE_ILLEGAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
// eslint-disable-next-line no-control-regex
const ILLEGAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class TextStage {
  readonly facts: TextFacts;
  private sniffParts: Uint8Array[] = [];
  private sniffLen = 0;
  private decided = false;
  /** Made when first needed: ASCII chunks of a UTF-8 body (most bodies) are read without one. */
  private decoder: InstanceType<typeof TextDecoder> | undefined;
  private plain: InstanceType<typeof TextDecoder> | undefined;
  /** 'utf-8': strict fast path; 'sanitize': after invalid UTF-8; 'other': another encoding. */
  private mode: 'utf-8' | 'sanitize' | 'other' = 'utf-8';
  private carry: Uint8Array = EMPTY;
  /** Bytes still owed to the first invalid sequence's 4-byte evidence (a write ended before them). */
  private hexShort = 0;
  private bytesIn = 0;
  /** Body offset of the first byte the decoder is given (after any BOM and leading junk). */
  private streamStart = 0;
  /** Bytes of an incomplete UTF-8 sequence the strict decoder holds from the previous chunk. */
  private pending: Uint8Array = EMPTY;
  private lastCharWasHighSurrogate = false;
  /** Body offsets of the invalid bytes turned into '?', in order (the first INVALID_KEPT). */
  private readonly invalidAt: number[] = [];

  constructor(
    charsetParam: string | undefined,
    /** `clean`: the text has no C0 control but TAB/LF/CR, no surrogate and no U+FFFE/U+FFFF. */
    private readonly onText: (text: string, byteOffset: number, byteLength: number, clean: boolean) => void,
  ) {
    this.facts = { applied: 'utf-8', disagreement: false, doubleBom: false, head: '', tail: '', chars: 0 };
    const c = canonical(charsetParam);
    if (c !== undefined) this.facts.charsetParam = c;
  }

  write(bytes: Uint8Array): void {
    if (!this.decided) {
      if (this.sniffLen === 0 && bytes.length >= SNIFF) {
        // Enough to decide on this write alone: no copy needed.
        this.decide(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        return;
      }
      this.sniffParts.push(Buffer.from(bytes)); // kept across writes: the caller may reuse its buffer
      this.sniffLen += bytes.length;
      if (this.sniffLen < SNIFF) return;
      this.decide();
      return;
    }
    this.decode(bytes, false);
  }

  end(): void {
    if (!this.decided) this.decide();
    this.decode(new Uint8Array(0), true);
  }

  private decide(first?: Buffer): void {
    this.decided = true;
    const parts = this.sniffParts;
    const all = first ?? (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    this.sniffParts = [];
    const f = this.facts;
    let skip = 0;
    if (all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf) {
      f.bom = 'utf-8';
      skip = 3;
      if (all[3] === 0xef && all[4] === 0xbb && all[5] === 0xbf) f.doubleBom = true;
    } else if (all[0] === 0xff && all[1] === 0xfe) {
      f.bom = 'utf-16le';
      skip = 2;
    } else if (all[0] === 0xfe && all[1] === 0xff) {
      f.bom = 'utf-16be';
      skip = 2;
    }
    if (f.bom === undefined || f.bom === 'utf-8') {
      const latin = all.subarray(skip, skip + SNIFF).toString('latin1');
      const at = latin.indexOf('<?xml');
      if (at >= 0) {
        const decl = /^<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(latin.slice(at));
        if (decl) f.declEncoding = canonical(decl[1]);
        // Anything before the declaration breaks XML §2.8, whitespace included.
        if (at > 0 && /^<\?xml[\s?]/.test(latin.slice(at))) {
          const junk = all.subarray(skip, skip + Math.min(at, 64));
          f.leadingJunk = { bytes: at, hex: junk.toString('hex'), text: junk.toString('latin1') };
          // MS102 reports the junk; the parser starts at the declaration so that the multistatus
          // behind it is still checked resource by resource (offsets stay those of the body).
          skip += at;
        }
      }
    }
    const sources = [f.bom, f.charsetParam, f.declEncoding].filter((s): s is string => s !== undefined);
    f.disagreement = sources.some((s) => !compatible(s, sources[0]!));
    let applied = f.bom ?? f.charsetParam ?? f.declEncoding ?? 'utf-8';
    if (applied === 'utf-16') applied = 'utf-16le';
    if (applied !== 'utf-8') {
      try {
        this.decoder = new TextDecoder(applied);
        this.mode = 'other';
      } catch {
        // A label TextDecoder does not know: read it as UTF-8, which the disagreement already flags.
        applied = 'utf-8';
      }
    }
    f.applied = applied;
    // The BOM is consumed here, so the parser sees the declaration at position 0.
    this.bytesIn = skip;
    this.streamStart = skip;
    this.decode(all.subarray(skip), false);
  }

  private decode(bytes: Uint8Array, last: boolean): void {
    const offset = this.bytesIn;
    this.bytesIn += bytes.length;
    let text: string;
    let textOffset = offset;
    let textLength = bytes.length;
    /** The bytes (after `strictPrev`) the strict UTF-8 decoder turned into the text, if it did. */
    let strictPrev: Uint8Array | undefined;
    const ascii = this.mode === 'utf-8' && this.pending.length === 0 ? asciiText(bytes) : undefined;
    if (ascii !== undefined) {
      // Nothing is held from the previous chunk and ASCII is its own UTF-8: the strict decoder
      // would return exactly these characters.
      text = ascii;
    } else if (this.mode === 'utf-8') {
      const prev = this.pending;
      try {
        // A decoder made after ASCII chunks is mid-stream: it must keep a U+FEFF that starts this
        // chunk as the character it is, as one made at the start would have done.
        this.decoder ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: offset > this.streamStart });
        text = this.decoder.decode(bytes, { stream: !last });
        this.pending = last ? EMPTY : tailOf(prev, bytes);
        // The text holds the character the previous chunk started, not the one this chunk starts.
        textOffset = offset - prev.length;
        textLength = prev.length + bytes.length - this.pending.length;
        strictPrev = prev;
      } catch {
        // Invalid UTF-8: from here on, every invalid byte becomes '?', one byte for one byte,
        // so that offsets in the text stay offsets in the body.
        this.mode = 'sanitize';
        this.carry = prev;
        ({ text, textOffset, textLength } = this.sanitize(bytes, offset, last));
      }
    } else if (this.mode === 'sanitize') {
      ({ text, textOffset, textLength } = this.sanitize(bytes, offset, last));
    } else {
      text = this.decoder!.decode(bytes, { stream: !last });
    }
    if (text.length === 0) return;
    if (this.facts.head.length < 2048) this.facts.head += text.slice(0, 2048 - this.facts.head.length);
    this.facts.tail = text.length >= 128 ? text.slice(-128) : (this.facts.tail + text).slice(-128);
    // A plain character class is several times faster than ILLEGAL's look-arounds; surrogates
    // (any astral character) send the chunk down the exact path.
    // ASCII text can only hold C0 controls: 29 native byte searches beat one regex pass. Valid
    // UTF-8 writes an astral character (a surrogate pair) with a lead byte F0-F4 and U+FFFE/U+FFFF
    // with EF: without those bytes, the same searches settle it too.
    let clean: boolean;
    if (ascii !== undefined) clean = !hasControlByte(bytes);
    else if (strictPrev !== undefined) clean = (!hasControlByte(bytes) && !hasHighLead(bytes) && !hasHighLead(strictPrev)) || !MAYBE_ILLEGAL.test(text);
    else clean = !MAYBE_ILLEGAL.test(text);
    if ((!clean || this.lastCharWasHighSurrogate) && (this.facts.illegalChar === undefined || this.facts.illegalChar.count < 1000)) this.findIllegal(text, textOffset);
    this.facts.chars += text.length;
    this.onText(text, textOffset, textLength, clean);
  }

  /**
   * How many of the '?' in the text between body offsets `start` and `end` stand for bytes that
   * were not UTF-8 (0 past the first INVALID_KEPT such bytes). The XML reader cannot tell them
   * from a '?' the body holds; an href needs to (MS301: a raw '?' starts a query).
   */
  invalidBytesIn(start: number, end: number): number {
    const list = this.invalidAt;
    if (list.length === 0) return 0;
    const from = lowerBound(list, start);
    return lowerBound(list, end) - from;
  }

  private sanitize(bytes: Uint8Array, offset: number, last: boolean): { text: string; textOffset: number; textLength: number } {
    // The first invalid sequence's evidence is the 4 bytes from it, whatever the write boundaries:
    // bytes a write cut off are taken from the next one (only new bytes: the carry was counted).
    const firstInvalid = this.facts.invalidUtf8;
    if (this.hexShort > 0 && firstInvalid !== undefined) {
      const more = bytes.subarray(0, this.hexShort);
      firstInvalid.hex += Buffer.from(more.buffer, more.byteOffset, more.byteLength).toString('hex');
      this.hexShort -= more.length;
    }
    const data = Buffer.concat([this.carry, bytes]);
    const base = offset - this.carry.length;
    const end = last ? data.length : data.length - incompleteTail(data);
    for (let i = 0, guard = 0; i < end && guard <= end; guard++) {
      const at = firstInvalidUtf8(data.subarray(i, end), true);
      if (at < 0) break;
      const inv = this.facts.invalidUtf8;
      if (inv === undefined) {
        const head = data.subarray(i + at, i + at + 4);
        this.facts.invalidUtf8 = { offset: base + i + at, hex: head.toString('hex'), count: 1 };
        this.hexShort = 4 - head.length;
      } else inv.count++;
      if (this.invalidAt.length < INVALID_KEPT) this.invalidAt.push(base + i + at);
      data[i + at] = 0x3f;
      i += at + 1;
    }
    this.carry = data.subarray(end);
    this.plain ??= new TextDecoder('utf-8');
    return { text: this.plain.decode(data.subarray(0, end)), textOffset: base, textLength: end };
  }

  private findIllegal(text: string, byteOffset: number): void {
    let rest = text;
    let consumed = 0;
    // A high surrogate at the end of the previous chunk pairs with a low one starting this chunk.
    if (this.lastCharWasHighSurrogate && /^[\uDC00-\uDFFF]/.test(rest)) {
      rest = rest.slice(1);
      consumed = 1;
    }
    this.lastCharWasHighSurrogate = /[\uD800-\uDBFF]$/.test(text);
    for (let guard = 0; guard < 1000; guard++) {
      const m = ILLEGAL.exec(rest);
      if (!m) return;
      if (m.index === rest.length - 1 && /[\uD800-\uDBFF]/.test(m[0])) return; // completed by the next chunk
      const cp = m[0].codePointAt(0)!;
      const at = consumed + m.index;
      const ill = this.facts.illegalChar;
      if (ill === undefined) {
        this.facts.illegalChar = {
          offset: byteOffset + Buffer.byteLength(text.slice(0, at)),
          codePoint: `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`,
          count: 1,
        };
      } else ill.count++;
      consumed = at + 1;
      rest = text.slice(consumed);
    }
  }

}

const EMPTY = new Uint8Array(0);

/**
 * The bytes as text when they are all ASCII, else undefined. Latin-1 maps bytes to characters one
 * for one, and a character above U+007F takes two bytes in UTF-8: the lengths agree only for ASCII.
 * Both steps are native and several times faster than a strict UTF-8 TextDecoder.
 */
function asciiText(bytes: Uint8Array): string | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return Buffer.byteLength(text, 'utf8') === bytes.length ? text : undefined;
}

/** C0 controls other than TAB, LF and CR. */
const CONTROL_BYTES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x0b, 0x0c, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f];

/** Whether the bytes hold a C0 control other than TAB, LF and CR. */
function hasControlByte(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < CONTROL_BYTES.length; k++) if (b.indexOf(CONTROL_BYTES[k]!) >= 0) return true;
  return false;
}

/** Whether the bytes hold a UTF-8 lead byte of U+F000 and above (EF) or of an astral character (F0-F4). */
function hasHighLead(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let x = 0xef; x <= 0xf4; x++) if (b.indexOf(x) >= 0) return true;
  return false;
}

/** Length of the UTF-8 sequence left incomplete at the end of `bytes` (0 when none). */
function incompleteTail(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** The incomplete sequence the streaming decoder holds after `bytes` (which followed `prev`). */
function tailOf(prev: Uint8Array, bytes: Uint8Array): Uint8Array {
  const joined = bytes.length >= 3 ? bytes : Buffer.concat([prev, bytes]);
  const k = incompleteTail(joined);
  return k === 0 ? EMPTY : joined.slice(joined.length - k);
}

/** Offset of the first invalid UTF-8 sequence, or -1. An incomplete tail counts only when `last`. */
export function firstInvalidUtf8(b: Uint8Array, last: boolean): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined) return last ? i : -1; // incomplete: the rest may come in the next chunk
      if ((cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Index of the first element of the sorted `list` that is not below `value`. */
function lowerBound(list: readonly number[], value: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
