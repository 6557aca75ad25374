// The payload checker: the iCalendar (RFC 5545) or vCard (RFC 6350, RFC 2426) text of one
// `C:calendar-data` or `CR:address-data` property, read line by line as its character data
// arrives from the XML scan, with bounded state: the component stack, a bit set of the required
// properties seen per open component, the current logical line (capped), a few UIDs and the first
// few problems of each kind. jCal/jCard (RFC 7265, RFC 7095) payloads are recognised and checked
// for truncation only (bracket and string balance).
//
// Why not ical.js: it parses a whole string into a tree (memory grows with the payload, and a
// 10,000-event calendar-query or a megabyte PHOTO would be held twice), it throws at the first
// error without a line number, and it unfolds and repairs lines before anyone can see that they
// were broken. The checks here need the opposite: every physical line with its number, the fold
// structure as sent, and no exception on any input.

/** What went wrong, one kind per rule (rules/payload.ts). */
export type PayloadProblemKind =
  | 'truncated' // MS651: the outermost component never ended
  | 'structure' // MS652: BEGIN/END mismatch, lines outside the outermost component
  | 'line' // MS653: a line that is not `name[;params]:value` (a fold lost its leading space)
  | 'required' // MS654: a required property or component is missing
  | 'value'; // MS655: a date or date-time value that RFC 5545 §3.3.4/§3.3.5 (iCalendar) or RFC 6350 §4.3 / RFC 2426 (vCard) does not allow

export interface PayloadProblem {
  kind: PayloadProblemKind;
  /** Line within the payload (1 = the first line of the element's text). */
  line: number;
  /** Byte offset in the (decoded) body of the start of that line. */
  offset: number;
  detail: string;
  excerpt: string;
}

export interface PayloadFacts {
  format: 'icalendar' | 'vcard' | 'jcal' | 'jcard';
  /** Physical lines read. */
  lines: number;
  /** UTF-8 bytes of payload text read (line breaks as XML hands them over: LF). */
  bytes: number;
  /** Bytes the payload spans in the body (its CRs and character references included), once it ended. */
  rawBytes?: number;
  /** Byte offset in the body of the payload's first character. */
  offset: number;
  /** Body line of the payload's first line (payload line n is body line bodyLine + n - 1 when its line breaks are literal). */
  bodyLine: number;
  /** Body column (1-based) of the payload's first character; later lines start at column 1. */
  bodyColumn: number;
  /** At most PROBLEM_CAP per kind; `counts` has them all. */
  problems: PayloadProblem[];
  counts: Partial<Record<PayloadProblemKind, number>>;
  /**
   * The VCALENDAR has METHOD: an iTIP message (RFC 5546), as a scheduling inbox holds them; several
   * may share a UID there (RFC 6638 §2.2), and METHOD is not allowed elsewhere (RFC 4791 §4.1).
   */
  itip?: boolean;
  /** UIDs of the top-level components (VEVENT…, VCARD), distinct, at most UID_CAP. */
  uids: string[];
  /** Where and how the payload ended, when it was cut (the 'truncated' problem says it too). */
  cut?: { open: string[]; midLine: boolean; midFold: boolean; inBase64: boolean };
}

const PROBLEM_CAP = 5;
const UID_CAP = 4;
/** Characters of a logical line kept: names, parameters and the start of the value. */
const LINE_CAP = 4096;
const STACK_CAP = 32;

// Required properties, one bit each (RFC 5545 §3.6, §3.6.1–3; RFC 6350 §6.1.3, §6.2.1, §6.7.9; RFC 2426 §3.1.2).
const VERSION = 1;
const PRODID = 2;
const UID = 4;
const DTSTAMP = 8;
const FN = 16;
const N = 32;
const NAMES: [number, string][] = [
  [VERSION, 'VERSION'],
  [PRODID, 'PRODID'],
  [UID, 'UID'],
  [DTSTAMP, 'DTSTAMP'],
  [FN, 'FN'],
  [N, 'N'],
];
const REQUIRED: Record<string, number> = { VCALENDAR: VERSION | PRODID, VEVENT: UID | DTSTAMP, VTODO: UID | DTSTAMP, VJOURNAL: UID | DTSTAMP, VCARD: VERSION | FN };

/** Properties whose value is a DATE or DATE-TIME (a list for EXDATE/RDATE; DTSTAMP is also required), and those that must be UTC. */
const DATE_PROPS = ['DTSTART', 'DTEND', 'DUE', 'CREATED', 'LAST-MODIFIED', 'RECURRENCE-ID', 'COMPLETED', 'EXDATE', 'RDATE'];

// What a property name means to the checks (KINDS); the required properties are their own bits.
const K_BEGIN = 1 << 8;
const K_END = 1 << 9;
const K_DATE = 1 << 10;
const K_METHOD = 1 << 11;
/** Properties that may carry base64 (a cut inside one is said so). */
const K_BINARY = 1 << 12;
/** vCard date properties: BDAY, ANNIVERSARY (date-and-or-time), REV (timestamp). */
const K_VDATE = 1 << 13;
const KINDS = new Map<string, number>([
  ['BEGIN', K_BEGIN],
  ['END', K_END],
  ['METHOD', K_METHOD],
  ...NAMES.map(([bit, name]) => [name, bit] as [string, number]),
  ...DATE_PROPS.map((name) => [name, K_DATE] as [string, number]),
  ...['PHOTO', 'LOGO', 'SOUND', 'KEY', 'ATTACH'].map((name) => [name, K_BINARY] as [string, number]),
  ...['BDAY', 'ANNIVERSARY', 'REV'].map((name) => [name, K_VDATE] as [string, number]),
]);
const UTC_PROPS = new Set(['DTSTAMP', 'CREATED', 'LAST-MODIFIED', 'COMPLETED']);

interface Component {
  name: string;
  line: number;
  offset: number;
  seen: number;
}

export class PayloadChecker {
  private readonly facts: PayloadFacts;
  /** jCal/jCard: known from the first character that is not white space. */
  private json = false;
  private formatKnown = false;
  // Line assembly: the physical line being read (capped), and the logical line it continues.
  private phys = '';
  private physLen = 0;
  private physOffset: number;
  private physLine = 1;
  private physBytes = 0;
  private logical = '';
  private logicalLine = 0;
  private logicalOffset = 0;
  private started = false;
  private readonly stack: Component[] = [];
  private closedOutermost = false;
  private sawComponent = false;
  private outsideReported = false;
  private lastBase64 = false;
  private lastPhysWasFold = false;
  private vcardVersion = '';
  /** The last physical line ended with "=" (a QUOTED-PRINTABLE soft break if its property says so). */
  private endsWithEq = false;
  // jCal/jCard: nesting and string state.
  private depth = 0;
  private inString = false;
  private escaped = false;

  /**
   * `vcard`: an address-data payload (else calendar-data). `offset`, `bodyLine`: where its first
   * character is in the body. `partial`: the request asked for some properties only (C:prop /
   * CR:prop inside calendar-data/address-data), so a missing property is what was asked for
   * (RFC 4791 §9.6.4, RFC 6352 §10.4.2).
   */
  constructor(
    private readonly vcard: boolean,
    offset: number,
    bodyLine: number,
    private readonly partial: boolean,
    bodyColumn = 1,
  ) {
    this.physOffset = offset;
    this.facts = { format: vcard ? 'vcard' : 'icalendar', lines: 0, bytes: 0, offset, bodyLine, bodyColumn, problems: [], counts: {}, uids: [] };
  }

  /**
   * Character data of the property, in order. `rawStart`/`rawEnd`: the body offsets the text
   * spans; XML hands over CRLF as LF, and the difference says which the body had.
   */
  write(chars: string, start: number, end: number, rawStart?: number, rawEnd?: number): void {
    if (start >= end) return;
    if (!this.formatKnown) this.detect(chars, start, end);
    if (this.json) {
      this.jsonScan(chars, start, end);
      return;
    }
    if (rawStart !== undefined && rawEnd !== undefined) this.sync(chars, start, end, rawStart, rawEnd);
    let from = start;
    while (from < end) {
      const nl = chars.indexOf('\n', from);
      const stop = nl < 0 || nl >= end ? end : nl;
      if (stop > from) this.take(chars, from, stop);
      if (stop === end) break;
      this.physicalLine(true);
      from = stop + 1;
    }
  }

  /** Raw position of the text about to be read, and the extra byte per line break (CR before LF). */
  private sync(chars: string, start: number, end: number, rawStart: number, rawEnd: number): void {
    let breaks = 0;
    for (let k = chars.indexOf('\n', start); k >= 0 && k < end; k = chars.indexOf('\n', k + 1)) breaks++;
    const bytes = Buffer.byteLength(end - start === chars.length ? chars : chars.slice(start, end));
    this.ascii = bytes === end - start;
    const extra = breaks === 0 ? 0 : (rawEnd - rawStart - bytes) / breaks;
    // Character references (&#13;, &amp;) make the spans differ otherwise: then the nearest guess.
    this.crExtra = extra >= 0.5 ? 1 : 0;
    if (this.physLen === 0) this.physOffset = rawStart;
    this.rawEnd = rawEnd;
  }

  private rawEnd: number | undefined;

  private crExtra = 0;
  /** The text being read is ASCII: its UTF-8 length is its length. */
  private ascii = false;

  private detect(chars: string, start: number, end: number): void {
    for (let k = start; k < end; k++) {
      const c = chars.charCodeAt(k);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
      this.formatKnown = true;
      if (c === 0x5b || c === 0x7b) {
        this.json = true;
        this.facts.format = this.vcard ? 'jcard' : 'jcal';
      }
      return;
    }
  }

  /** The property closed: the last line, the truncation and required-property verdicts. */
  end(): PayloadFacts {
    const f = this.facts;
    f.rawBytes = this.rawEnd === undefined ? f.bytes : this.rawEnd - f.offset;
    if (this.json) {
      if (this.depth > 0 || this.inString) this.problem('truncated', this.physLine, this.physOffset, `is JSON that ends ${this.inString ? 'inside a string' : `with ${this.depth} unclosed bracket${this.depth === 1 ? '' : 's'}`}`, '');
      return f;
    }
    const midLine = this.physLen > 0;
    if (midLine) this.physicalLine(false);
    // A last line with its line break is complete. One without is complete only as the END of
    // the outermost component (many servers omit the final CRLF), or outside any component.
    const top = this.stack.length === 1 ? this.stack[0]!.name : undefined;
    if (!midLine || this.stack.length === 0 || (top !== undefined && this.logical.trim().toUpperCase() === `END:${top}`)) this.flushLogical();
    if (this.stack.length === 0) return f;
    // Cut: the pending logical line is where the text stops and is not judged as a line.
    const pending = this.logicalLine > 0 ? this.logical : '';
    const inBase64 = pending !== '' ? isBase64Line(pending) : this.lastBase64;
    const midFold = midLine && this.lastPhysWasFold;
    const open = this.stack.map((c) => c.name);
    f.cut = { open, midLine, midFold, inBase64 };
    const how = [midLine ? 'in the middle of a line' : undefined, midFold ? 'inside a folded line' : undefined, inBase64 ? 'inside a base64 value' : undefined].filter((x) => x !== undefined);
    const last = this.lastLine;
    this.problem('truncated', last.line, last.offset, `ends without END:${open[0]}${open.length > 1 ? ` (open: ${open.join(' > ')})` : ''}${how.length > 0 ? `, cut ${how.join(', ')}` : ''}`, last.excerpt);
    return f;
  }

  /** Appends chars[from, to) to the physical line being read (kept up to LINE_CAP characters). */
  private take(chars: string, from: number, to: number): void {
    const len = to - from;
    if (this.physLen < LINE_CAP) this.phys += chars.slice(from, Math.min(to, from + LINE_CAP - this.physLen));
    this.physLen += len;
    // UTF-8 length counted here: a native call per line costs more for the ASCII most payloads are.
    let bytes = len;
    if (!this.ascii)
      for (let k = from; k < to; k++) {
        const c = chars.charCodeAt(k);
        if (c >= 0x80) bytes += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
      }
    this.physBytes += bytes;
  }

  /** The last non-blank physical line: where a cut payload stops. */
  private lastLine = { line: 1, offset: 0, excerpt: '' };

  /** One physical line read (`terminated`: a line break followed it). */
  private physicalLine(terminated: boolean): void {
    let line = this.phys;
    if (line.charCodeAt(line.length - 1) === 0x0d) line = line.slice(0, -1);
    const lineNo = this.physLine;
    let offset = this.physOffset;
    this.facts.lines++;
    this.facts.bytes += this.physBytes + (terminated ? 1 : 0);
    this.physOffset += this.physBytes + (terminated ? 1 + this.crExtra : 0);
    this.physLine++;
    this.phys = '';
    this.physLen = 0;
    this.physBytes = 0;
    if (!this.started) {
      // White space before the first BEGIN is tolerated (the element's indentation).
      const lead = leadingSpace(line);
      if (lead === line.length) return;
      this.started = true;
      if (lead > 0) {
        line = line.slice(lead);
        offset += lead;
      }
    }
    if (line.length > 0) this.lastLine = { line: lineNo, offset, excerpt: line.slice(0, 80) };
    const first = line.charCodeAt(0);
    // vCard 2.1 QUOTED-PRINTABLE continues a value after a soft line break ("=" at the end) with no leading white space.
    const softBreak = this.endsWithEq && this.logicalLine > 0 && /ENCODING=QUOTED-PRINTABLE/i.test(this.logical.length < 512 ? this.logical : this.logical.slice(0, 512));
    this.endsWithEq = line.charCodeAt(line.length - 1) === 0x3d;
    if (softBreak) {
      if (this.logical.length < LINE_CAP) this.logical += line.slice(0, LINE_CAP - this.logical.length);
      return;
    }
    if (first === 0x20 || first === 0x09) {
      // A continuation (RFC 5545 §3.1): CRLF + one space or tab is removed when unfolding.
      this.lastPhysWasFold = true;
      if (this.logicalLine > 0 && this.logical.length < LINE_CAP) this.logical += line.slice(1, 1 + LINE_CAP - this.logical.length);
      return;
    }
    this.lastPhysWasFold = false;
    this.flushLogical();
    if (line.length === 0) return; // blank lines (between objects, at the end) carry nothing
    this.logical = line;
    this.logicalLine = lineNo;
    this.logicalOffset = offset;
  }

  /** Judges the logical line assembled so far (if any). */
  private flushLogical(): void {
    if (this.logicalLine === 0) return;
    const line = this.logical;
    const lineNo = this.logicalLine;
    const offset = this.logicalOffset;
    this.logicalLine = 0;
    this.logical = '';
    this.contentLine(line, lineNo, offset);
  }

  /** One unfolded content line: `name *(";" param) ":" value` (RFC 5545 §3.1). */
  private contentLine(line: string, lineNo: number, offset: number): void {
    // One pass over the name; most lines name a property no check reads, and for those nothing
    // else is sliced or allocated (this runs per line of every payload).
    let k = 0;
    let lower = false;
    let dot = -1;
    const len = line.length;
    while (k < len) {
      const c = line.charCodeAt(k);
      // iana-token / x-name: ALPHA, DIGIT, "-" (vCard groups add "."; RFC 6350 §3.3)
      if ((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d) k++;
      else if (c >= 0x61 && c <= 0x7a) {
        lower = true;
        k++;
      } else if (c === 0x2e) {
        dot = k;
        k++;
      } else break;
    }
    const sep = line.charCodeAt(k);
    if (k === 0 || (sep !== 0x3a && sep !== 0x3b)) {
      this.problem('line', lineNo, offset, k === 0 ? 'has a line that does not start with a property name (a folded line that lost its leading space?)' : `has a line without ":" after ${JSON.stringify(line.slice(0, k))} (a folded line that lost its leading space?)`, line.slice(0, 80));
      return;
    }
    let colon = k;
    if (sep === 0x3b) {
      // Parameters: a ":" inside a quoted value does not end them.
      let quoted = false;
      colon = -1;
      for (let j = k + 1; j < len; j++) {
        const c = line.charCodeAt(j);
        if (c === 0x22) quoted = !quoted;
        else if (c === 0x3a && !quoted) {
          colon = j;
          break;
        }
      }
      if (colon < 0) {
        // Past LINE_CAP the colon may simply not have been kept.
        if (len < LINE_CAP) this.problem('line', lineNo, offset, `has a ${line.slice(0, k).toUpperCase()} line with parameters but no ":" before a value`, line.slice(0, 80));
        return;
      }
    }
    let name = line.slice(dot + 1, k);
    if (lower) name = name.toUpperCase();
    const kind = KINDS.get(name);
    if (kind === undefined) {
      if (this.stack.length === 0) this.outside(lineNo, offset, line);
      this.lastBase64 = false;
      return;
    }
    const params = sep === 0x3b ? line.slice(k + 1, colon) : '';
    const value = line.slice(colon + 1);
    this.lastBase64 = kind === K_BINARY && ((params !== '' && BASE64_PARAM.test(params)) || /^data:[^,]*;base64,/i.test(value));
    if (kind === K_BEGIN) return this.begin(value.trim().toUpperCase(), lineNo, offset, line);
    if (kind === K_END) return this.endComponent(value.trim().toUpperCase(), lineNo, offset, line);
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.outside(lineNo, offset, line);
      return;
    }
    if (kind === K_METHOD) {
      if (this.stack.length === 1) this.facts.itip = true;
      return;
    }
    if (kind === K_DATE) {
      if (this.facts.format === 'icalendar') this.dateValue(name, params, value, lineNo, offset, line);
      return;
    }
    if (kind === K_BINARY) return;
    if (kind === K_VDATE) {
      if (this.facts.format === 'vcard') this.vcardDateValue(name, params, value, lineNo, offset, line);
      return;
    }
    // A required property (its bit): VERSION, PRODID, UID, DTSTAMP, FN, N.
    top.seen |= kind;
    if (kind === UID && this.stack.length <= 2) this.uid(value.trim());
    if (kind === VERSION && top.name === 'VCARD') this.vcardVersion = value.trim();
    if (kind === DTSTAMP && this.facts.format === 'icalendar') this.dateValue(name, params, value, lineNo, offset, line);
  }

  private begin(name: string, lineNo: number, offset: number, line: string): void {
    if (this.stack.length === 0 && this.closedOutermost) this.outside(lineNo, offset, line);
    if (this.stack.length === 1) this.sawComponent = true;
    if (this.stack.length >= STACK_CAP) return;
    this.stack.push({ name, line: lineNo, offset, seen: 0 });
  }

  private endComponent(name: string, lineNo: number, offset: number, line: string): void {
    let at = this.stack.length - 1;
    while (at >= 0 && this.stack[at]!.name !== name) at--;
    if (at < 0) {
      this.problem('structure', lineNo, offset, `has END:${name} without a matching BEGIN${this.stack.length > 0 ? ` (open: ${this.stack.map((c) => c.name).join(' > ')})` : ''}`, line.slice(0, 80));
      return;
    }
    if (at < this.stack.length - 1) {
      const inner = this.stack[this.stack.length - 1]!;
      this.problem('structure', lineNo, offset, `has END:${name} while ${inner.name} (BEGIN at line ${inner.line}) is still open`, line.slice(0, 80));
    }
    while (this.stack.length > at) this.closeComponent(this.stack.pop()!);
    if (this.stack.length === 0) this.closedOutermost = true;
  }

  private closeComponent(c: Component): void {
    if (this.partial) return;
    let need = REQUIRED[c.name];
    if (need === undefined) return;
    if (c.name === 'VCARD' && this.vcardVersion.startsWith('3')) need |= N; // RFC 2426 §3.1.2: N is required in 3.0
    const missing = NAMES.filter(([bit]) => (need & bit) !== 0 && (c.seen & bit) === 0).map(([, n]) => n);
    if (missing.length > 0) this.problem('required', c.line, c.offset, `has a ${c.name} (BEGIN at line ${c.line}) without ${missing.join(', ')}`, `BEGIN:${c.name}`);
    if (c.name === 'VCALENDAR' && !this.sawComponent) this.problem('required', c.line, c.offset, 'has a VCALENDAR without any component (RFC 5545 §3.6 requires one)', 'BEGIN:VCALENDAR');
  }

  private outside(lineNo: number, offset: number, line: string): void {
    if (this.outsideReported) return;
    this.outsideReported = true;
    const outer = this.facts.format === 'vcard' ? 'VCARD' : 'VCALENDAR';
    this.problem('structure', lineNo, offset, this.closedOutermost ? `has content after END:${outer} (one object per resource)` : `has content outside BEGIN:${outer}`, line.slice(0, 80));
  }

  private uid(value: string): void {
    const uids = this.facts.uids;
    if (value !== '' && uids.length < UID_CAP && !uids.includes(value)) uids.push(value.length > 256 ? value.slice(0, 256) : detach(value));
  }

  /** RFC 5545 §3.3.4 DATE, §3.3.5 DATE-TIME (forms 1–3); TZID only on local times. */
  private dateValue(name: string, params: string, value: string, lineNo: number, offset: number, line: string): void {
    let kind: 'DATE' | 'DATE-TIME' = 'DATE-TIME';
    let tzid = false;
    if (params !== '') {
      const up = params.toUpperCase();
      if (/(^|;)VALUE=PERIOD(;|$)/.test(up)) return;
      if (/(^|;)VALUE=DATE(;|$)/.test(up)) kind = 'DATE';
      tzid = /(^|;)TZID=/.test(up);
    }
    const utcOnly = UTC_PROPS.has(name);
    const list = value.indexOf(',') >= 0 ? value.split(',') : [value];
    for (const raw of list) {
      const v = raw.trim();
      const why = kind === 'DATE' ? badDate(v) : badDateTime(v, tzid, utcOnly);
      if (why !== undefined) {
        this.problem('value', lineNo, offset, `has ${name} ${JSON.stringify(v.slice(0, 40))}, not a valid ${kind}: ${why}`, line.slice(0, 80));
        return;
      }
    }
  }

  /**
   * vCard BDAY, ANNIVERSARY (RFC 6350 §6.2.5, §6.2.6: date-and-or-time, or VALUE=text) and REV
   * (§6.7.4: timestamp; RFC 2426 §3.6.4: date or date-time). The forms of both versions are
   * accepted for either: 4.0's basic and truncated forms (`--MMDD`, `--MM`, `---DD`, `YYYY`,
   * `YYYY-MM`, `T102200`) and 3.0's ISO 8601 extended ones (`1996-04-15`, `1953-10-15T23:10:00Z`),
   * which 4.0 cards converted from 3.0 keep; what fires is a value that is none of them or names
   * a month, day or time that does not exist. An empty value names no date and is left alone.
   */
  private vcardDateValue(name: string, params: string, value: string, lineNo: number, offset: number, line: string): void {
    if (params !== '' && /(^|;)VALUE=("?)TEXT\2(;|$)/i.test(params)) return;
    const v = value.trim();
    if (v === '') return;
    const why = name === 'REV' ? badVcardTimestamp(v) : badDateAndOrTime(v);
    if (why !== undefined) this.problem('value', lineNo, offset, `has ${name} ${JSON.stringify(v.slice(0, 40))}, not a valid ${name === 'REV' ? 'timestamp' : 'date-and-or-time'}: ${why}`, line.slice(0, 80));
  }

  private problem(kind: PayloadProblemKind, line: number, offset: number, detail: string, excerpt: string): void {
    const f = this.facts;
    const count = (f.counts[kind] ?? 0) + 1;
    f.counts[kind] = count;
    if (count <= PROBLEM_CAP) this.facts.problems.push({ kind, line, offset, detail, excerpt: detach(excerpt) });
  }

  private jsonScan(chars: string, start: number, end: number): void {
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let bytes = 0;
    for (let k = start; k < end; k++) {
      const c = chars.charCodeAt(k);
      bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
      if (c === 0x0a) {
        this.physLine++;
        this.facts.lines++;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) depth++;
      else if (c === 0x5d || c === 0x7d) depth--;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.facts.bytes += bytes;
    this.physOffset = this.facts.offset + this.facts.bytes;
  }
}

function leadingSpace(line: string): number {
  let k = 0;
  while (k < line.length && (line.charCodeAt(k) === 0x20 || line.charCodeAt(k) === 0x09)) k++;
  return k;
}

const BASE64_PARAM = /(^|;)(ENCODING=(B|BASE64)|VALUE=BINARY)(;|$)/i;

/** The content line carries base64 (vCard 3.0 ENCODING=b, iCalendar ENCODING=BASE64, VALUE=BINARY) or a data: URI. */
function isBase64Line(line: string): boolean {
  const colon = line.indexOf(':');
  const semi = line.indexOf(';');
  if (semi >= 0 && (colon < 0 || semi < colon) && BASE64_PARAM.test(line.slice(semi + 1, colon < 0 ? undefined : colon))) return true;
  return /^[^:]*:data:[^,]*;base64,/i.test(line);
}

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether v[from, to) are ASCII digits. */
function digits(v: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = v.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The number v[from, to) spells (digits checked by the caller). */
function num(v: string, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n = n * 10 + (v.charCodeAt(k) - 0x30);
  return n;
}

/** Why `v` is not an RFC 5545 DATE (YYYYMMDD), or undefined. */
function badDate(v: string): string | undefined {
  if (v.length !== 8 || !digits(v, 0, 8)) return v.includes('T') ? 'VALUE=DATE but a time is given' : 'expected YYYYMMDD';
  return badYmd(v);
}

function badYmd(v: string): string | undefined {
  const y = num(v, 0, 4);
  const m = num(v, 4, 6);
  const d = num(v, 6, 8);
  if (m < 1 || m > 12) return `month ${m}`;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (d < 1 || d > DAYS[m - 1]! || (m === 2 && d === 29 && !leap)) return `day ${d} of month ${m}`;
  return undefined;
}

/** Why `v` is not an RFC 5545 DATE-TIME (YYYYMMDDTHHMMSS[Z]), or undefined. */
function badDateTime(v: string, tzid: boolean, utcOnly: boolean): string | undefined {
  const utc = v.length === 16 && v.charCodeAt(15) === 0x5a;
  if ((v.length !== 15 && !utc) || v.charCodeAt(8) !== 0x54 || !digits(v, 0, 8) || !digits(v, 9, 15)) return v.length === 8 && digits(v, 0, 8) ? 'a DATE without VALUE=DATE' : 'expected YYYYMMDDTHHMMSS[Z]';
  const ymd = badYmd(v);
  if (ymd !== undefined) return ymd;
  if (num(v, 9, 11) > 23 || num(v, 11, 13) > 59 || num(v, 13, 15) > 60) return 'time out of range';
  if (utc && tzid) return 'TZID on a UTC time (§3.3.5)';
  if (!utc && utcOnly) return 'this property must be in UTC (§3.8.7)';
  return undefined;
}

// vCard dates (RFC 6350 §4.3.1–§4.3.5; RFC 2426 §3.1.5 / RFC 2425 §5.8.4 for 3.0's ISO 8601 forms).
// Groups: year, month, day (each may be absent in a truncated or reduced form).
const VCARD_DATES = [
  /^(\d{4})(\d{2})(\d{2})$/, // 19850412
  /^(\d{4})-(\d{2})-(\d{2})$/, // 1985-04-12 (3.0)
  /^(\d{4})-(\d{2})()$/, // 1985-04
  /^(\d{4})()()$/, // 1985
  /^--()(\d{2})(\d{2})?$/, // --0412, --04
  /^--()(\d{2})-(\d{2})$/, // --04-12 (ISO 8601 extended)
  /^---()()(\d{2})$/, // ---12
];
// hour, minute, second [fraction] [zone], or the truncated "-MMSS" and "--SS" (4.0).
const VCARD_TIMES = [/^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/, /^-()(\d{2})(\d{2})?(Z|[+-]\d{2}(?::?\d{2})?)?$/, /^--()()(\d{2})(Z|[+-]\d{2}(?::?\d{2})?)?$/];

/** Why `v` is not a vCard date (any form above), or undefined. */
function badVcardDate(v: string): string | undefined {
  for (const form of VCARD_DATES) {
    const m = form.exec(v);
    if (m === null) continue;
    const month = m[2] ? Number(m[2]) : undefined;
    const day = m[3] ? Number(m[3]) : undefined;
    if (month !== undefined && (month < 1 || month > 12)) return `month ${month}`;
    if (day !== undefined) {
      // Without a year (--0229), 29 February is a real birthday.
      const year = m[1] ? Number(m[1]) : undefined;
      const leap = year === undefined || (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
      const max = month === undefined ? 31 : month === 2 ? (leap ? 29 : 28) : DAYS[month - 1]!;
      if (day < 1 || day > max) return month === undefined ? `day ${day}` : `day ${day} of month ${month}`;
    }
    return undefined;
  }
  return 'expected a date such as 19850412, 1985-04-12, --0412 or 1985';
}

/** Why `v` is not a vCard time (after the T), or undefined. */
function badVcardTime(v: string): string | undefined {
  for (const form of VCARD_TIMES) {
    const m = form.exec(v);
    if (m === null) continue;
    if (m[1] && Number(m[1]) > 23) return 'time out of range';
    if (m[2] && Number(m[2]) > 59) return 'time out of range';
    if (m[3] && Number(m[3]) > 60) return 'time out of range';
    const zone = m[4] !== undefined && m[4] !== 'Z' ? /^[+-](\d{2}):?(\d{2})?$/.exec(m[4]) : null;
    if (zone && (Number(zone[1]) > 23 || (zone[2] !== undefined && Number(zone[2]) > 59))) return 'UTC offset out of range';
    return undefined;
  }
  return 'expected a time such as 102200, 10:22:00 or 102200Z';
}

/** RFC 6350 §4.3.4 date-and-or-time: a date, a date "T" time, or "T" time; 3.0's date-time too. */
function badDateAndOrTime(v: string): string | undefined {
  const t = v.indexOf('T');
  if (t < 0) return badVcardDate(v);
  if (t === 0) return badVcardTime(v.slice(1));
  return badVcardDate(v.slice(0, t)) ?? badVcardTime(v.slice(t + 1));
}

/** RFC 6350 §4.3.5 timestamp (a complete date and time); RFC 2426 §3.6.4 lets 3.0's REV be a date. */
function badVcardTimestamp(v: string): string | undefined {
  const t = v.indexOf('T');
  if (t < 0) return /^\d{4}-?\d{2}-?\d{2}$/.test(v) ? badVcardDate(v) : 'expected a timestamp such as 19951031T222710Z';
  if (!/^\d{4}-?\d{2}-?\d{2}$/.test(v.slice(0, t))) return 'expected a complete date before the T';
  return badVcardDate(v.slice(0, t)) ?? badVcardTime(v.slice(t + 1));
}

/** A copy that does not keep the XML reader's input chunk alive (see scan.ts). */
function detach(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}
