// Stripped: something between the server and the client replaced, rewrote or dropped parts of
// the 207 (HTML error pages, Content-Type, href prefixes and hosts, properties, namespaces,
// encoding), or the server left out what the request asked for.
import { ledgerRule, type Draft, type Facts, type LedgerContext, type LedgerPass, type RuleDef } from '../facts.js';
import type { Resource } from '../../types.js';
import { commonPrefix, isInwardHost, isWithin, normalizeAuthority, normalizeHref, parseHref } from '../href.js';
import type { ParsedHref } from '../href.js';
import { CALDAV, CARDDAV, pathOfTarget } from '../request.js';
import { joinedHeader } from '../../http/headers.js';
import { looksLikePayload } from './payload.js';
import { n, plural } from './util.js';

/** Scopes a response href may fall in for this request (RFC 4918 §8.3, §9.1; COPY/MOVE add the destination). */
function scopes(f: Pick<Facts, 'req'>): string[] {
  const out = [normalizeHref(f.req.path)];
  if ((f.req.method === 'COPY' || f.req.method === 'MOVE') && f.req.destination !== undefined) out.push(normalizeHref(pathOfTarget(f.req.destination)));
  return out;
}

/**
 * REPORTs whose response hrefs are the Request-URI or lie below it. Those with their own scope
 * rules are left out: calendar-/addressbook-multiget answer for the hrefs the body names, wherever
 * they are (MS601 checks them); RFC 3744's principal-property-search, principal-match and
 * acl-principal-prop-set answer with principals, which live wherever the server keeps them.
 * The Depth-scoped REPORTs (calendar-query, addressbook-query, sync-collection, expand-property,
 * and any other REPORT sent with a Depth header) search the Request-URI's subtree (RFC 3253 §3.6).
 */
/** What parseHref answers for an href starting with '/', minus the path (not used by MS303). */
const PATH_FORM: Pick<ParsedHref, 'form' | 'authority' | 'scheme'> = { form: 'absolute-path' };

const OWN_SCOPE_REPORTS = new Set(['{DAV:}principal-property-search', '{DAV:}principal-match', '{DAV:}acl-principal-prop-set', '{DAV:}principal-search-property-set']);
const TARGET_SCOPED_REPORTS = new Set([
  `{${CALDAV}}calendar-query`,
  `{${CARDDAV}}addressbook-query`,
  '{DAV:}sync-collection',
  '{DAV:}expand-property',
]);

function reportScopedToTarget(f: Pick<Facts, 'req'>): boolean {
  const root = f.req.bodyRoot;
  if (f.req.isMultiget || root === undefined || OWN_SCOPE_REPORTS.has(root)) return false;
  return f.req.depth !== undefined || TARGET_SCOPED_REPORTS.has(root);
}

/** "/webdav" when hrefs look like the request path with that prefix stripped. */
function strippedPrefix(reqPath: string, hrefPath: string): string | undefined {
  const segs = reqPath.split('/');
  for (let i = 1; i < segs.length; i++) {
    const suffix = `/${segs.slice(i).join('/')}`;
    if (suffix.length > 1 && hrefPath.startsWith(suffix.replace(/\/$/, ''))) return segs.slice(0, i).join('/');
  }
  return undefined;
}

export const strippedRules: RuleDef[] = [
  {
    id: 'MS108',
    severity: 'error',
    category: 'stripped',
    blame: 'unknown',
    title: '207 with an HTML body',
    scope: 'transport',
    atEnd(f) {
      if (f.head.status !== 207) return undefined;
      const ct = f.head.contentType?.essence;
      const head = f.text.head;
      const html = /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<(!DOCTYPE\s+html|html[\s>])/i.test(head);
      if (!html && ct !== 'text/html' && ct !== 'application/xhtml+xml') return undefined;
      if (!html && f.xml.isMultistatus) return undefined; // a multistatus mislabelled text/html: MS109
      const title = /<title[^>]*>([\s\S]{0,200}?)<\/title>/i.exec(head)?.[1]?.trim();
      const via = ['Server', 'Via', 'CF-Ray', 'X-Cache'].map((h) => [h, joinedHeader(f.head.rawHeaders, h)] as const).filter(([, v]) => v !== undefined);
      // A CDN's or WAF's signature (its headers, a challenge page's title) names the relay that substituted the page.
      const relay = via.some(([h]) => h !== 'Server') || /cloudflare|attention required|just a moment|access denied|request rejected|captcha/i.test(`${title ?? ''} ${joinedHeader(f.head.rawHeaders, 'Server') ?? ''}`);
      return {
        ...(relay ? { blame: 'gateway' as const } : {}),
        message: `207 carries an HTML page instead of a multistatus${title !== undefined ? ` ("${title.replace(/\s+/g, ' ').slice(0, 80)}")` : ''}: an error page, WAF challenge or SPA fallback was substituted${via.length > 0 ? ` (${via.map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`,
        evidence: { contentType: f.head.contentTypeRaw ?? null, ...(title !== undefined ? { title } : {}), bodyBytes: f.decoding.decodedBytes, excerpt: head.slice(0, 80), ...Object.fromEntries(via) },
      };
    },
  },
  {
    id: 'MS109',
    severity: 'warning',
    category: 'stripped',
    blame: 'server',
    title: 'Content-Type of a 207 missing or not XML',
    scope: 'transport',
    atEnd(f) {
      if (f.head.status !== 207) return undefined;
      const ct = f.head.contentType?.essence;
      if (ct === 'application/xml') return undefined;
      // RFC 4918 §8.2: text/xml MUST be accepted like application/xml. Nearly every server sends it
      // (Apache, nginx, rclone, Radicale), so a note about it said nothing on nearly every flow.
      if (ct === 'text/xml' || (ct !== undefined && /^[a-z]+\/[^;]*\+xml$/.test(ct))) return undefined;
      if (ct === 'text/html' && !f.xml.isMultistatus) return undefined; // MS108 says it
      return {
        message: ct === undefined ? '207 without a Content-Type' : `207 with Content-Type ${f.head.contentTypeRaw}, not XML`,
        evidence: { contentType: f.head.contentTypeRaw ?? null },
      };
    },
  },
  {
    id: 'MS302',
    severity: 'error',
    category: 'stripped',
    blame: 'unknown',
    title: 'hrefs mix absolute-URI and absolute-path forms',
    scope: 'body',
    atEnd(f) {
      const h = f.xml.hrefForms;
      if (h.absolute === 0 || h.path === 0) return undefined;
      return {
        message: `hrefs mix forms: ${n(h.absolute)} absolute URIs (e.g. ${h.firstAbsolute}) and ${n(h.path)} absolute paths (e.g. ${h.firstPath}), typical of a gateway rewriting some of them`,
        evidence: { absolute: h.absolute, absolutePaths: h.path, firstAbsolute: h.firstAbsolute, firstPath: h.firstPath },
      };
    },
  },
  ledgerRule({
    id: 'MS303',
    severity: 'error',
    category: 'stripped',
    blame: 'unknown',
    title: 'href outside the request URI',
    scope: 'body',
    ledger: (ctx) => new OutsideHrefs(ctx),
    atEnd(f, pass) {
      const { count, out, allowed } = pass;
      if (count === 0 || allowed === undefined) return undefined;
      const first = out[0]!;
      const firstPath = normalizeHref(first.href);
      const prefix = strippedPrefix(allowed[0]!, firstPath);
      const common = commonPrefix(firstPath, allowed[0]!);
      return {
        message: `${plural(count, 'href')} outside the request URI ${f.req.path}: ${first.href} (${first.why})${prefix !== undefined ? `; looks like a gateway stripped the prefix ${prefix} (${firstPath} would be ${prefix}${firstPath})` : ''}`,
        evidence: {
          href: first.href,
          requestTarget: f.req.path,
          ...(f.req.authority !== undefined ? { authority: f.req.authority } : {}),
          commonPrefix: common,
          ...(prefix !== undefined ? { suggestedMapping: `${firstPath.slice(0, firstPath.indexOf('/', 1) + 1 || undefined)} -> ${prefix}${firstPath.slice(0, firstPath.indexOf('/', 1) + 1 || undefined)}` } : {}),
          count,
          examples: out.map((o) => o.href),
        },
      };
    },
  }),
  ledgerRule({
    id: 'MS304',
    severity: 'error',
    category: 'stripped',
    blame: 'unknown',
    title: 'href names an internal host',
    scope: 'body',
    ledger: (ctx) => new InwardHrefs(ctx),
    atEnd(f, pass) {
      const { count, leaks, downgrade, clientAuth } = pass;
      if (count === 0) return undefined;
      return {
        message: `${plural(count, 'href')} point${count === 1 ? 's' : ''} inward (${leaks[0]}) while the client used ${f.req.scheme ?? '?'}://${clientAuth ?? '?'}${downgrade ? '; http: where the client used https:' : ''}: a gateway passed the backend's address through`,
        evidence: { href: leaks[0], clientAuthority: clientAuth ?? null, count, examples: leaks },
      };
    },
  }),
  ledgerRule({
    id: 'MS401',
    severity: 'error',
    category: 'stripped',
    blame: 'server',
    title: 'requested property missing from the response',
    scope: 'body',
    ledger: (ctx) => (ctx.req.requestedProps.length > 0 && (ctx.req.method === 'PROPFIND' || ctx.req.method === 'REPORT') ? new MissingProperties(ctx) : undefined),
    atEnd(f, pass) {
      const wanted = f.req.requestedProps;
      if (wanted.length === 0 || !(f.req.method === 'PROPFIND' || f.req.method === 'REPORT')) return undefined;
      // A request body that is not namespace-well-formed names no property reliably (litmus's
      // `xmlns:bar=""`): MS110 blames the client, and the server's answer is not judged against it.
      if (f.req.bodyError !== undefined) return undefined;
      const { count, missing } = pass;
      if (count === 0) return undefined;
      const server = joinedHeader(f.head.rawHeaders, 'Server') ?? '';
      const lenient = f.req.preferMinimal || /nginx/i.test(server);
      const reason = f.req.preferMinimal ? ' (expected: the client sent Prefer: return=minimal / Brief: t)' : lenient ? ' (nginx dav-ext omits unsupported properties silently)' : '';
      return {
        severity: lenient ? 'info' : 'error',
        message: `${plural(count, 'response')} omit requested properties without a 404 propstat; ${missing[0]!.href} lacks ${missing[0]!.props.join(', ')}${reason}`,
        evidence: { href: missing[0]!.href, missing: missing.map((m) => `${m.href}: ${m.props.join(' ')}`), count },
      };
    },
  }),
  ledgerRule({
    id: 'MS402',
    severity: 'warning',
    category: 'stripped',
    blame: 'server',
    title: 'PROPFIND without a response for the request URI',
    scope: 'body',
    ledger: (ctx) => new RequestUriListed(ctx),
    atEnd(f, pass) {
      if (f.req.method !== 'PROPFIND' || f.head.status !== 207 || !f.xml.rootClosed || f.ledger.count === 0) return undefined;
      if (f.req.preferNoRoot || f.req.depthNoRoot) return undefined;
      if (f.req.depth !== '0' && f.req.depth !== '1') return undefined;
      if (pass.listed) return undefined;
      return {
        message: `Depth: ${f.req.depth} PROPFIND answered without a response for the request URI ${f.req.path} (${plural(f.ledger.count, 'other response')})`,
        evidence: { requestTarget: f.req.path, hrefs: pass.hrefs },
      };
    },
  }),
  {
    id: 'MS404',
    severity: 'error',
    category: 'stripped',
    blame: 'server',
    title: 'DAV elements bound to a misspelt namespace',
    scope: 'body',
    atEnd(f) {
      // Single vantage point; with both legs, verify compares the declarations (error there).
      const v = f.xml.davVariants[0];
      if (!v) return undefined;
      return {
        severity: 'warning',
        message: `element ${v.name} is bound to namespace ${JSON.stringify(v.uri)}, not "DAV:" (namespace names are compared exactly, NS §2.3); a gateway may have rewritten the declaration`,
        evidence: { path: v.path, namespace: v.uri, count: f.xml.davVariants.reduce((a, d) => a + d.count, 0) },
      };
    },
  },
  {
    id: 'MS405',
    severity: 'error',
    category: 'stripped',
    blame: 'unknown',
    title: 'content coding added or removed in transit',
    scope: 'transport',
    atEnd(f) {
      const d = f.decoding;
      const out: Draft[] = [];
      if (d.sniffedGzip) {
        // Certain from one vantage point: every client reading this body sees binary garbage.
        out.push({
          message: `body starts with the gzip magic bytes 1f 8b but the response has no Content-Encoding: a layer compressed it without saying so (decoded to check it anyway)`,
          evidence: { offset: 0, hex: '1f8b', compressedBytes: d.compressedBytes, decodedBytes: d.decodedBytes },
        });
      }
      const real = d.declared.filter((c) => c !== 'identity');
      if (real.length > 0 && f.req.headersKnown && f.req.acceptEncoding.length === 0) {
        out.push({ severity: 'warning', message: `Content-Encoding: ${real.join(', ')} although the request carried no Accept-Encoding`, evidence: { contentEncoding: d.declared } });
      }
      if (d.unsupported !== undefined) {
        out.push({ message: `Content-Encoding ${d.unsupported} cannot be decoded here; the body was not analyzed`, evidence: { contentEncoding: d.declared }, severity: 'info' });
      }
      return out;
    },
  },
  ledgerRule({
    id: 'MS601',
    severity: 'error',
    category: 'stripped',
    blame: 'server',
    title: 'multiget href without a response',
    scope: 'body',
    ledger: (ctx) => (ctx.req.isMultiget ? new MultigetAnswers(ctx) : undefined),
    atEnd(f, pass) {
      if (!f.req.isMultiget || f.head.status !== 207 || !f.xml.isMultistatus || !f.xml.rootClosed) return undefined;
      if (f.req.bodyError !== undefined) return undefined; // the hrefs asked for are not known reliably: MS110
      const missing = f.req.multigetHrefs.filter((h) => !pass.got.has(normalizeHref(h)));
      const out: Draft[] = [];
      if (missing.length > 0) {
        out.push({ message: `${plural(missing.length, 'requested href')} got no response at all (neither 200 nor 404): ${missing.slice(0, 5).join(', ')}`, evidence: { href: missing[0], missing: missing.slice(0, 50), requested: f.req.multigetHrefs.length } });
      }
      if (pass.extraCount > 0) {
        const extra = pass.extra;
        out.push({ severity: 'warning', message: `${plural(pass.extraCount, 'response')} for hrefs the multiget did not ask for: ${extra.slice(0, 5).join(', ')}`, evidence: { href: extra[0], extra } });
      }
      return out;
    },
  }),
  {
    id: 'MS605',
    severity: 'warning',
    category: 'stripped',
    blame: 'server',
    title: 'calendar-data/address-data empty or not iCalendar/vCard',
    scope: 'body',
    onResponse(o) {
      for (const d of o.dataProps ?? []) {
        const status = o.resource.propstats[d.propstatIndex]?.status;
        if (status !== 200) continue;
        if (looksLikePayload(d)) continue;
        const vcard = d.name.endsWith('}address-data');
        const want = vcard ? 'BEGIN:VCARD' : 'BEGIN:VCALENDAR';
        return {
          message: `${vcard ? 'address-data' : 'calendar-data'} of ${o.resource.href} ${d.head.length === 0 ? 'is empty' : `does not start with ${want}: ${JSON.stringify(d.head.slice(0, 40))}`} in a 200 propstat (text or CDATA stripped?)`,
          evidence: { offset: o.resource.span.start, line: o.position.line, href: o.resource.href, excerpt: d.head },
        };
      }
      return undefined;
    },
  },
];

/** MS303: hrefs outside the request URI (or a COPY/MOVE destination), with the first ten. */
class OutsideHrefs implements LedgerPass {
  count = 0;
  readonly out: { href: string; why: string }[] = [];
  /** The scopes hrefs may fall in; undefined when this request has none to check. */
  allowed: string[] | undefined;
  private clientAuth: string | undefined;
  /** Scopes and authority are worked out at the first resource: most analyses are of small answers. */
  private ready = false;

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    if (!this.ready) {
      this.ready = true;
      const m = this.ctx.req.method;
      this.allowed = m === '' || (m === 'REPORT' && !reportScopedToTarget(this.ctx)) ? undefined : scopes(this.ctx);
      this.clientAuth = normalizeAuthority(this.ctx.req.authority, this.ctx.req.scheme);
    }
    const allowed = this.allowed;
    if (allowed === undefined || r.href === '') return;
    const req = this.ctx.req;
    // An absolute path (most hrefs) has no scheme or authority to parse.
    const p = r.href.charCodeAt(0) === 0x2f ? PATH_FORM : parseHref(r.href);
    let why: string | undefined;
    if (p.form === 'absolute-uri' && this.clientAuth !== undefined && p.authority !== this.clientAuth) {
      // An inward authority is MS304's leak; here only foreign public hosts.
      if (!isInwardHost(p.authority ?? '')) why = `authority ${p.authority} is not the ${this.clientAuth} the client used`;
    } else if (p.form === 'absolute-uri' && req.scheme !== undefined && p.scheme !== req.scheme && !isInwardHost(p.authority ?? '')) {
      why = `scheme ${p.scheme} is not the ${req.scheme} the client used`;
    }
    if (why === undefined && !allowed.some((s) => isWithin(r.hrefNormalized, s))) why = `path is not ${allowed.length > 1 ? 'within the source or destination' : `below ${allowed[0]}`}`;
    if (why === undefined) return;
    this.count++;
    if (this.out.length < 10) this.out.push({ href: r.href, why });
  }
}

/** MS304: absolute hrefs naming an inward host, or http: where the client used https:. */
class InwardHrefs implements LedgerPass {
  count = 0;
  downgrade = false;
  readonly leaks: string[] = [];

  constructor(private readonly ctx: LedgerContext) {}

  private auth: { value: string | undefined } | undefined;

  /** The client's authority, worked out at the first absolute href (most answers have none). */
  get clientAuth(): string | undefined {
    return (this.auth ??= { value: normalizeAuthority(this.ctx.req.authority, this.ctx.req.scheme) }).value;
  }

  add(r: Resource): void {
    if (r.href.charCodeAt(0) === 0x2f) return; // an absolute path names no host
    const p = parseHref(r.href);
    if (p.form !== 'absolute-uri') return;
    const clientAuth = this.clientAuth;
    const sameAuth = clientAuth !== undefined && p.authority === clientAuth;
    const schemeDown = this.ctx.req.scheme === 'https' && p.scheme === 'http';
    if (sameAuth && !schemeDown) return;
    const inward = isInwardHost(p.authority ?? '');
    if (!inward && !schemeDown) return;
    if (clientAuth === undefined && !schemeDown) return; // cannot tell without the client's authority
    this.count++;
    this.downgrade ||= schemeDown;
    if (this.leaks.length < 10) this.leaks.push(r.href);
  }
}

/** MS401: complete responses without some requested property (neither 200 nor 404). */
class MissingProperties implements LedgerPass {
  count = 0;
  readonly missing: { href: string; props: string[] }[] = [];
  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    const wanted = this.ctx.req.requestedProps;
    if (wanted.length === 0 || r.propstats.length === 0 || !r.complete) return;
    const have = new Set(r.propstats.flatMap((p) => p.props));
    const lost = wanted.filter((q) => !have.has(q));
    if (lost.length === 0) return;
    this.count++;
    if (this.missing.length < 10) this.missing.push({ href: r.href, props: lost });
  }
}

/** MS402: whether the request URI has its own response, and the first ten hrefs. */
class RequestUriListed implements LedgerPass {
  listed = false;
  readonly hrefs: string[] = [];
  private target: string | undefined;
  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    if (this.hrefs.length < 10) this.hrefs.push(r.href);
    if (!this.listed && r.hrefNormalized.replace(/\/$/, '') === (this.target ??= normalizeHref(this.ctx.req.path).replace(/\/$/, ''))) this.listed = true;
  }
}

/** MS601: which of a multiget's hrefs got a response, and responses for hrefs it did not ask for. */
class MultigetAnswers implements LedgerPass {
  /** Normalized hrefs answered, of those asked for only (the request bounds this set). */
  readonly got = new Set<string>();
  extraCount = 0;
  readonly extra: string[] = [];
  private asked: Set<string> | undefined;

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    if (!this.ctx.req.isMultiget) return;
    this.asked ??= new Set(this.ctx.req.multigetHrefs.map(normalizeHref));
    if (this.asked.has(r.hrefNormalized)) this.got.add(r.hrefNormalized);
    else {
      this.extraCount++;
      if (this.extra.length < 50) this.extra.push(r.href);
    }
    for (const h of r.extraHrefs ?? []) {
      const k = normalizeHref(h);
      if (this.asked.has(k)) this.got.add(k);
    }
  }
}
