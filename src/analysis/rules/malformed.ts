// Malformed: framing desync (MS005), XML that is not well-formed or not namespace-well-formed
// (MS101–MS105), conflicting encodings (MS106), and hrefs that are not URI references (MS301).
import { ledgerRule, type Facts, type LedgerContext, type LedgerPass, type RuleDef, type XmlError, type XmlErrorKind } from '../facts.js';
import type { Resource } from '../../types.js';
import { checkHrefSyntax, encodedSeparator } from '../href.js';
import { swallowedEnd, transportCause } from './truncation.js';
import { n, plural } from './util.js';

function firstOf(f: Facts, kind: XmlErrorKind): { first: XmlError; count: number } | undefined {
  const all = f.xml.errors.filter((e) => e.kind === kind);
  return all.length === 0 ? undefined : { first: all[0]!, count: all.length };
}

const at = (e: XmlError): string => `line ${e.line}:${e.column}${e.href !== undefined ? ` in the response for ${e.href}` : e.path ? ` in ${e.path}` : ''}`;

const errorEvidence = (e: XmlError) => ({
  offset: e.offset,
  line: e.line,
  column: e.column,
  path: e.path,
  excerpt: e.excerpt,
  ...(e.href !== undefined ? { href: e.href } : {}),
});

export const malformedRules: RuleDef[] = [
  {
    id: 'MS005',
    severity: 'warning',
    category: 'malformed',
    blame: 'server',
    title: 'Content-Length and Transfer-Encoding conflict, or bytes after the body',
    scope: 'transport',
    atEnd(f) {
      const fr = f.framing;
      // Nearly every exchange: one Content-Length or none, no Transfer-Encoding beside it, nothing after the body.
      if (fr.surplusBytes === 0 && (fr.contentLengths.length === 0 || (fr.contentLengths.length === 1 && fr.transferEncodings.length === 0 && fr.declaredLength !== null && !fr.contentLengths[0]!.includes(',')))) return undefined;
      const out = [];
      const distinct = new Set(fr.contentLengths.flatMap((v) => v.split(',')).map((v) => v.trim()));
      if (fr.contentLengths.length > 0 && fr.transferEncodings.length > 0) {
        out.push({
          message: `Content-Length (${fr.contentLengths.join(', ')}) sent together with Transfer-Encoding (${fr.transferEncodings.join(', ')}); Transfer-Encoding wins, and intermediaries that disagree desynchronize`,
          evidence: { contentLength: fr.contentLengths, transferEncoding: fr.transferEncodings },
        });
      }
      if (distinct.size > 1) {
        out.push({ message: `several differing Content-Length values: ${[...distinct].join(', ')}`, evidence: { contentLength: fr.contentLengths } });
      } else if (fr.contentLengths.length > 0 && fr.declaredLength === null && fr.transferEncodings.length === 0) {
        out.push({ message: `invalid Content-Length ${JSON.stringify(fr.contentLengths.join(', '))}: the body was read until the connection closed`, evidence: { contentLength: fr.contentLengths } });
      }
      if (fr.surplusBytes > 0) {
        out.push({
          message: `${plural(fr.surplusBytes, 'byte')} after the end of the ${fr.framing} body: on a persistent connection they would be read as the next response (desync)`,
          evidence: { offset: fr.wireBytes - fr.surplusBytes, surplusBytes: fr.surplusBytes, hex: fr.surplusHex },
        });
      }
      return out;
    },
  },
  {
    id: 'MS101',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'XML not well-formed',
    scope: 'body',
    atEnd(f) {
      const x = f.xml;
      const skipBeforeRoot = f.text.leadingJunk !== undefined || f.text.doubleBom;
      const candidates = x.errors.filter((e) => e.kind === 'other' && !(skipBeforeRoot && e.beforeRoot));
      // Illegal characters make saxes complain too; MS103 already names them.
      const first = candidates[0];
      if (!first) {
        if (transportCause(f) !== undefined || !swallowedEnd(f)) return undefined;
        const open = x.openAtEnd.join('>');
        return {
          message: `XML is not well-formed: an unterminated construct (a raw '&' read as an entity reference, an open comment, CDATA section or attribute value) swallowed the rest of the document, whose </${x.root!.local}> the parser never saw (open: ${open})`,
          evidence: { offset: f.decoding.decodedBytes, path: open, excerpt: f.text.tail.slice(-80), parseErrors: x.errorCount },
        };
      }
      const more = x.errorCount - 1;
      return {
        message: `XML is not well-formed at ${at(first)}: ${first.message.replace(/\.$/, '')}${more > 0 ? ` (${plural(more, 'further parse error')} after it${x.limitHit?.name === 'maxParseErrors' ? ', where davtap stopped parsing' : ''})` : ''}`,
        evidence: { ...errorEvidence(first), parseErrors: x.errorCount },
      };
    },
  },
  {
    id: 'MS102',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'bytes before the XML declaration, or a BOM that contradicts it',
    scope: 'body',
    atEnd(f) {
      const t = f.text;
      const out = [];
      if (t.doubleBom) out.push({ message: 'a second byte-order mark follows the first one: the XML declaration is no longer the first thing in the document', evidence: { offset: 3, hex: 'efbbbfefbbbf' } });
      if (t.leadingJunk) {
        out.push({
          message: `${plural(t.leadingJunk.bytes, 'byte')} before <?xml (XML §2.8 requires the declaration to be the very first bytes): ${JSON.stringify(t.leadingJunk.text.slice(0, 40))}`,
          evidence: { offset: t.bom !== undefined ? 3 : 0, bytes: t.leadingJunk.bytes, hex: t.leadingJunk.hex, excerpt: t.leadingJunk.text },
        });
      }
      if (t.bom !== undefined && t.declEncoding !== undefined && !t.declEncoding.startsWith(t.bom.slice(0, 6)) && t.declEncoding !== 'us-ascii') {
        out.push({ message: `the ${t.bom} byte-order mark contradicts encoding="${t.declEncoding}" in the XML declaration`, evidence: { offset: 0, bom: t.bom, declaration: t.declEncoding } });
      }
      if (out.length === 0) {
        const misplaced = f.xml.errors.find((e) => e.kind === 'decl-position');
        if (misplaced) out.push({ message: `an XML declaration appears after the start of the document (${at(misplaced)})`, evidence: errorEvidence(misplaced) });
      }
      return out;
    },
  },
  ledgerRule({
    id: 'MS103',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'invalid UTF-8 or illegal XML character',
    scope: 'body',
    ledger: (ctx) => new BadCharacterPlace(ctx),
    atEnd(f, pass) {
      const t = f.text;
      const out = [];
      const href = pass.invalidUtf8Href;
      if (t.invalidUtf8) {
        out.push({
          message: `invalid UTF-8 at byte ${n(t.invalidUtf8.offset)} (bytes ${t.invalidUtf8.hex})${href !== undefined ? ` in the response for ${href}` : ''}${t.invalidUtf8.count > 1 ? `; ${plural(t.invalidUtf8.count, 'invalid sequence')} in all` : ''}`,
          evidence: { offset: t.invalidUtf8.offset, hex: t.invalidUtf8.hex, count: t.invalidUtf8.count, ...(href !== undefined ? { href } : {}) },
        });
      }
      if (t.illegalChar) {
        const ill = t.illegalChar;
        const where = pass.illegalCharHref;
        const err = f.xml.errors.find((e) => e.kind === 'char');
        out.push({
          message: `illegal XML character ${ill.codePoint} at byte ${n(ill.offset)}${where !== undefined ? ` in the response for ${where}` : ''} (XML 1.0 §2.2 excludes it even when escaped)${ill.count > 1 ? `; ${plural(ill.count, 'occurrence')}` : ''}`,
          evidence: { offset: ill.offset, codePoint: ill.codePoint, count: ill.count, ...(where !== undefined ? { href: where } : {}), ...(err ? { line: err.line, column: err.column, excerpt: err.excerpt } : {}) },
        });
      } else {
        const err = f.xml.errors.find((e) => e.kind === 'char');
        if (err && !t.invalidUtf8) out.push({ message: `illegal character at ${at(err)}`, evidence: errorEvidence(err) });
      }
      return out;
    },
  }),
  {
    id: 'MS104',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'namespace error (undeclared prefix, empty prefix binding, duplicate expanded attribute)',
    scope: 'body',
    atEnd(f) {
      const e = firstOf(f, 'prefix');
      if (!e) return undefined;
      const prefix = /prefix: "([^"]*)"/.exec(e.first.message)?.[1];
      return {
        message: `namespace error at ${at(e.first)}: ${e.first.message.replace(/\.$/, '')}${e.count > 1 ? ` (${plural(e.count, 'namespace error')} in all)` : ''}`,
        evidence: { ...errorEvidence(e.first), ...(prefix !== undefined ? { prefix } : {}), count: e.count },
      };
    },
  },
  {
    id: 'MS105',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'reference to an undeclared entity',
    scope: 'body',
    atEnd(f) {
      const e = firstOf(f, 'entity');
      if (!e) return undefined;
      const name = e.first.entity ?? '?';
      return {
        message: `undeclared entity &${name}; at ${at(e.first)} (HTML escaping leaked into XML; only &lt; &gt; &amp; &quot; &apos; exist)${e.count > 1 ? `; ${plural(e.count, 'undeclared reference')}` : ''}`,
        evidence: { ...errorEvidence(e.first), entity: name, count: e.count },
      };
    },
  },
  {
    id: 'MS106',
    severity: 'warning',
    category: 'malformed',
    blame: 'server',
    title: 'encoding sources disagree',
    scope: 'body',
    atEnd(f) {
      const t = f.text;
      if (!t.disagreement) return undefined;
      return {
        message: `the encoding sources disagree: BOM ${t.bom ?? 'none'}, charset parameter ${t.charsetParam ?? 'none'}, XML declaration ${t.declEncoding ?? 'none'}; decoded as ${t.applied} (RFC 7303 §3.2 order)`,
        evidence: { bom: t.bom ?? null, charset: t.charsetParam ?? null, declaration: t.declEncoding ?? null, applied: t.applied },
      };
    },
  },
  {
    id: 'MS110',
    severity: 'warning',
    category: 'malformed',
    blame: 'client',
    title: 'request body not well-formed XML or misusing namespaces',
    scope: 'transport',
    atEnd(f) {
      if (!f.req.xmlBody || f.req.bodyError === undefined) return undefined;
      // RFC 4918 §8.2 lets the server refuse the request with 400; when it answers instead, what it
      // answered is read against a request it could not understand either: the request-driven
      // rules (MS401, MS601) stay quiet, and the fault is the client's.
      return {
        message: `the client's ${f.req.method} body is not well-formed, namespace-correct XML (${f.req.bodyError}): the request itself is wrong, and the server is not blamed for how it answered it`,
        evidence: { method: f.req.method, requestError: f.req.bodyError },
      };
    },
  },
  ledgerRule({
    id: 'MS301',
    severity: 'error',
    category: 'malformed',
    blame: 'server',
    title: 'href is not a URI reference',
    scope: 'body',
    ledger: (ctx) => new HrefSyntax(ctx),
    atEnd(f, pass) {
      // Whether U+FFFD in an href stands for undecodable bytes is known only once the body ended.
      const { bad, count } = f.text.invalidUtf8 !== undefined ? pass.undecodable : pass.decodable;
      if (bad.length === 0) return undefined;
      const errors = bad.filter((b) => b.severity === 'error');
      const first = errors[0] ?? bad[0]!;
      return {
        severity: errors.length > 0 ? 'error' : 'warning',
        message: `${plural(count, 'href')} not a valid URI reference; first: ${JSON.stringify(first.href)} has ${first.what} at character ${first.offset}`,
        evidence: { href: first.href, offset: first.offset, problem: first.what, count, examples: bad.map((b) => `${b.href} (${b.what})`) },
      };
    },
  }),
];

/**
 * MS103: the response each bad character fell in. The text stage reads bytes before the XML scan,
 * so the first invalid sequence (or illegal character) is known when the response holding it closes.
 */
class BadCharacterPlace implements LedgerPass {
  invalidUtf8Href: string | undefined;
  illegalCharHref: string | undefined;
  private invalidFound = false;
  private illegalFound = false;

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    const t = this.ctx.text;
    const within = (offset: number) => r.span.start <= offset && (r.span.end ?? Infinity) >= offset;
    if (!this.invalidFound && t.invalidUtf8 && within(t.invalidUtf8.offset)) {
      this.invalidFound = true;
      this.invalidUtf8Href = r.href;
    }
    if (!this.illegalFound && t.illegalChar && within(t.illegalChar.offset)) {
      this.illegalFound = true;
      this.illegalCharHref = r.href;
    }
  }
}

interface BadHrefs {
  bad: { href: string; what: string; offset: number; severity: 'error' | 'warning' }[];
  count: number;
}

/** MS301: hrefs that are not URI references, judged both ways for U+FFFD (see atEnd). */
class HrefSyntax implements LedgerPass {
  readonly decodable: BadHrefs = { bad: [], count: 0 };
  readonly undecodable: BadHrefs = { bad: [], count: 0 };

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    this.check(r.href);
    if (r.extraHrefs) for (const h of r.extraHrefs) this.check(h);
  }

  private check(h: string): void {
    if (h === '') return;
    const p = this.problem(h, false);
    // Only an href holding U+FFFD reads differently when the body had undecodable bytes.
    this.note(this.decodable, h, p);
    this.note(this.undecodable, h, h.includes('\uFFFD') ? this.problem(h, true) : p);
  }

  private problem(h: string, undecodable: boolean): ReturnType<typeof checkHrefSyntax> {
    let p = checkHrefSyntax(h, undecodable);
    if (p?.severity !== 'error') {
      const sep = encodedSeparator(h, this.ctx.req.path);
      if (sep !== undefined) p = { severity: 'error', what: "'%2F' used as a path separator (an encoded '/' is part of a segment name)", offset: sep };
    }
    return p;
  }

  private note(into: BadHrefs, href: string, p: ReturnType<typeof checkHrefSyntax>): void {
    if (!p) return;
    into.count++;
    if (into.bad.length < 10) into.bad.push({ href, ...p });
  }
}
