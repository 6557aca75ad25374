// Semantic: the body parses, but its structure breaks RFC 4918 §13–§14 and the extensions'
// element definitions (root, response/propstat shape, status lines, duplicates, sync-collection).
import { ledgerRule, type Draft, type Facts, type LedgerPass, type ResponseObs, type RuleDef } from '../facts.js';
import type { Resource } from '../../types.js';
import { hasDotSegments, normalizeHref } from '../href.js';
import { STATUS_LINE, statusCode } from '../scan.js';
import { joinedHeader } from '../../http/headers.js';
import { n, plural } from './util.js';

const REGISTERED = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406,
  407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const notStatusLine = (t: string): boolean => !STATUS_LINE.test(t);

const pos = (o: ResponseObs) => ({ offset: o.resource.span.start, line: o.position.line, column: o.position.column, href: o.resource.href });

function repeatedInRequest(patched: readonly string[], name: string): boolean {
  return patched.indexOf(name) !== patched.lastIndexOf(name);
}

function isRequestUri(f: Pick<Facts, 'req'>, href: string): boolean {
  return normalizeHref(href).replace(/\/$/, '') === normalizeHref(f.req.path).replace(/\/$/, '');
}

export const semanticRules: RuleDef[] = [
  {
    id: 'MS107',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'root element is not {DAV:}multistatus',
    scope: 'transport',
    atEnd(f) {
      const root = f.xml.root;
      if (f.head.status !== 207 || !root || f.xml.isMultistatus) return undefined;
      if (/^html$/i.test(root.local) && root.uri.replace('http://www.w3.org/1999/xhtml', '') === '') return undefined; // MS108
      let why = '';
      if (root.uri === 'DAV:' && root.local === 'error') why = ': a DAV:error document (a single-resource failure) sent with status 207';
      else if (root.uri === '') why = ': the element has no namespace (xmlns="DAV:" missing or stripped)';
      else if (root.uri === 'http://www.ietf.org/standards/dav/') why = ': the pre-RFC 2518 draft namespace';
      else if (root.uri.toLowerCase().replace(/\/$/, '') === 'dav:' || root.uri === 'DAV') why = `: namespace names compare exactly, and ${JSON.stringify(root.uri)} is not "DAV:"`;
      return {
        message: `207 body's root element is {${root.uri}}${root.local}, not {DAV:}multistatus${why}`,
        evidence: { offset: root.offset, line: root.line, column: root.column, root: `{${root.uri}}${root.local}`, namespace: root.uri, prefix: root.prefix },
      };
    },
  },
  {
    id: 'MS201',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'response without href',
    scope: 'body',
    onResponse(o) {
      if (o.hrefs.length > 0 || !o.resource.complete) return undefined;
      return { message: `response #${o.resource.index + 1} has no href (RFC 4918 §14.24 requires one)`, evidence: { ...pos(o), index: o.resource.index } };
    },
  },
  {
    id: 'MS202',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'response has neither status nor propstat, both, or several hrefs with propstat',
    scope: 'body',
    onResponse(o) {
      if (!o.resource.complete) return undefined;
      const s = o.statusTexts.length;
      const p = o.propstats.length;
      let what: string | undefined;
      // sabre/Nextcloud mark removed sync members with 404 plus a pseudo propstat 418: a dialect.
      const sabreRemoved = s === 1 && p > 0 && o.resource.status === 404 && o.resource.propstats.every((x) => x.status === 418);
      if (s === 0 && p === 0) what = 'has neither status nor propstat';
      else if (s > 0 && p > 0 && !sabreRemoved) what = 'has both status and propstat';
      else if (p > 0 && o.hrefs.length > 1) what = 'has several hrefs together with propstat';
      else if (s > 1) what = 'has several status elements';
      if (!what) return undefined;
      const children = `href ×${o.hrefs.length}, status ×${s}, propstat ×${p}`;
      return { message: `response for ${o.resource.href || `#${o.resource.index + 1}`} ${what} (${children})`, evidence: { ...pos(o), children } };
    },
  },
  {
    id: 'MS203',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'propstat without exactly one prop and one status',
    scope: 'body',
    onResponse(o) {
      if (!o.resource.complete) return undefined;
      // Runs for every response: nothing allocated when every propstat is well-formed.
      if (o.propstats.every((ps) => ps.propElements === 1 && ps.statusTexts.length === 1)) return undefined;
      const out: Draft[] = [];
      o.propstats.forEach((ps, i) => {
        if (ps.propElements === 1 && ps.statusTexts.length === 1) return;
        out.push({
          message: `propstat #${i + 1} of ${o.resource.href} has ${ps.propElements} prop and ${ps.statusTexts.length} status elements (exactly one of each required)`,
          evidence: { ...pos(o), propstat: i, prop: ps.propElements, status: ps.statusTexts.length },
        });
      });
      return out;
    },
  },
  {
    id: 'MS204',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'status element is not an HTTP status line',
    scope: 'body',
    onResponse(o) {
      let bad = o.statusTexts.find(notStatusLine);
      for (const p of o.propstats) bad ??= p.statusTexts.find(notStatusLine);
      if (bad === undefined) return undefined;
      return {
        message: `status ${JSON.stringify(bad.trim().slice(0, 80))} in the response for ${o.resource.href} is not "HTTP/x.y NNN reason"`,
        evidence: { ...pos(o), excerpt: bad.slice(0, 80) },
      };
    },
  },
  {
    id: 'MS205',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'the same href in two responses',
    scope: 'body',
    onResponse(o, f) {
      if (o.duplicateOf === undefined || f.req.isSyncCollection) return undefined; // MS603 for sync
      return {
        message: `href ${o.resource.href} appears again in response #${o.resource.index + 1} (first in #${o.duplicateOf + 1}); normalized ${o.resource.hrefNormalized}`,
        evidence: { ...pos(o), first: o.duplicateOf, second: o.resource.index, normalized: o.resource.hrefNormalized },
      };
    },
  },
  {
    id: 'MS206',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: 'duplicate property, text in prop/error, or markup inside href/status',
    scope: 'body',
    onResponse(o, f) {
      if ((o.dupProps === undefined || o.dupProps.length === 0) && !o.strayText && !o.childInLeaf) return undefined;
      const out: Draft[] = [];
      // A PROPPATCH that sets or removes a property several times gets it back once per
      // instruction (Apache for litmus's propremoveset): the repetition is the request's.
      const dups = o.dupProps?.filter((q) => !repeatedInRequest(f.req.patchedProps, q));
      if (dups !== undefined && dups.length > 0) out.push({ message: `property ${dups.join(', ')} appears more than once in the response for ${o.resource.href}`, evidence: { ...pos(o), properties: dups } });
      if (o.strayText) out.push({ message: `text directly inside ${o.strayText.where} of ${o.resource.href}: ${JSON.stringify(o.strayText.excerpt)}`, evidence: { ...pos(o), path: o.strayText.where, excerpt: o.strayText.excerpt } });
      if (o.childInLeaf) out.push({ message: `element inside a text-only element: ${o.childInLeaf} (response for ${o.resource.href})`, evidence: { ...pos(o), path: o.childInLeaf } });
      return out;
    },
  },
  {
    id: 'MS207',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: 'error element outside response/propstat',
    scope: 'body',
    atEnd(f) {
      const m = f.xml.misplacedErrors[0];
      if (!m) return undefined;
      return { message: `DAV:error at ${m.path} (line ${m.line}): preconditions belong inside the response or propstat they concern`, evidence: { offset: m.offset, line: m.line, column: m.column, path: m.path, count: f.xml.misplacedErrors.length } };
    },
  },
  {
    id: 'MS208',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: '3xx inner status without location',
    scope: 'body',
    onResponse(o) {
      const code = o.resource.status;
      if (code === null || code < 300 || code > 399 || (o.locationHrefs?.length ?? 0) > 0) return undefined;
      return { message: `response for ${o.resource.href} has status ${code} but no location/href (RFC 4918 §13.2)`, evidence: { ...pos(o), status: code } };
    },
  },
  {
    id: 'MS210',
    severity: 'info',
    category: 'semantic',
    blame: 'server',
    title: 'tolerated variants',
    scope: 'transport',
    atEnd(f) {
      const list: string[] = [];
      const inScope = f.bodyInScope;
      if (inScope) for (const [what, count] of f.xml.variants) list.push(count > 1 ? `${what} ×${n(count)}` : what);
      if (f.head.status === 207) {
        const loc = joinedHeader(f.head.rawHeaders, 'Location');
        if (loc !== undefined) list.push(`Location header on a 207 (${loc})`);
        const reason = f.head.reason.trim();
        if (reason !== '' && reason.toLowerCase() !== 'multi-status') list.push(`reason phrase "207 ${reason}"`);
        if (f.req.method === 'PUT' || f.req.method === 'MKCOL') list.push(`207 in answer to ${f.req.method}`);
      } else if (f.xml.isMultistatus) list.push(`multistatus body under status ${f.head.status}`);
      if (list.length === 0) return undefined;
      return { message: `tolerated variants: ${list.slice(0, 8).join('; ')}${list.length > 8 ? `; and ${list.length - 8} more` : ''}`, evidence: { variants: list } };
    },
  },
  {
    id: 'MS305',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: 'dot-segments in href, or collection href without trailing slash',
    scope: 'body',
    onResponse(o) {
      const h = o.resource.href;
      if (h === '') return undefined;
      if (h.includes('.') && hasDotSegments(h)) return { message: `href ${h} contains dot-segments (RFC 4918 §8.3 forbids them)`, evidence: pos(o) };
      if (o.isCollection && !/\/$/.test(h.replace(/[?#].*$/, ''))) {
        return { severity: 'info', message: `collection ${h} has no trailing slash in its href`, evidence: pos(o) };
      }
      return undefined;
    },
  },
  ledgerRule({
    id: 'MS506',
    severity: 'info',
    category: 'semantic',
    blame: 'server',
    title: '208 Already Reported',
    scope: 'body',
    ledger: () => new Bindings(),
    atEnd(f, pass) {
      const first = pass.bound[0];
      if (first === undefined) return undefined;
      const why: string[] = [];
      if (f.req.depth !== undefined && f.req.depth !== 'infinity') why.push(`Depth is ${f.req.depth}, not infinity`);
      if (f.req.headersKnown && !f.req.davOptions.includes('bind')) why.push('the client did not send the bind option in its DAV header');
      const under = pass.firstBelow();
      if (under) why.push(`${under.href} is listed below the 208 binding ${first.href}`);
      return {
        severity: why.length > 0 ? 'warning' : 'info',
        message: `208 Already Reported for ${plural(pass.count, 'binding')} (first ${first.href})${why.length > 0 ? `; but ${why.join('; ')}` : ''}`,
        evidence: { href: first.href, count: pass.count, depth: f.req.depth ?? null },
      };
    },
  }),
  {
    id: 'MS507',
    severity: 'warning',
    category: 'semantic',
    blame: 'server',
    title: 'unusual inner status codes',
    scope: 'body',
    onResponse(o) {
      const r = o.resource;
      // Nearly every response is plain 200/404: skip the work for those.
      if ((r.status === null || r.status === 200) && r.propstats.every((p) => p.status === 200 || p.status === 404)) return undefined;
      const codes = [r.status, ...r.propstats.map((p) => p.status)].filter((c): c is number => c !== null);
      const informational = codes.find((c) => c < 200);
      if (informational !== undefined) return { message: `response for ${o.resource.href} records ${informational}: 1xx codes SHOULD NOT appear in a multistatus`, evidence: { ...pos(o), status: informational } };
      const odd = codes.find((c) => !REGISTERED.has(c) || c === 425);
      if (odd !== undefined) return { severity: 'info', message: `response for ${o.resource.href} uses status ${odd}, which is unregistered or server-specific (e.g. sabre's 418 on removed sync members, oCIS' 425)`, evidence: { ...pos(o), status: odd } };
      return undefined;
    },
  },
  {
    id: 'MS602',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'sync-collection 207 without exactly one sync-token',
    scope: 'body',
    atEnd(f) {
      if (!f.req.isSyncCollection || f.head.status !== 207 || !f.xml.isMultistatus || !f.xml.rootClosed) return undefined;
      const tokens = f.xml.syncTokens;
      if (tokens.length !== 1) {
        return { message: `sync-collection answer carries ${tokens.length} sync-token elements (exactly one required, RFC 6578 §3.2)`, evidence: { count: tokens.length, ...(tokens[1] ? { offset: tokens[1].offset, line: tokens[1].line } : {}) } };
      }
      const t = tokens[0]!;
      if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(t.text)) {
        return { severity: 'warning', message: `sync-token ${JSON.stringify(t.text.slice(0, 80))} is not an absolute URI (RFC 6578 §6.2)`, evidence: { offset: t.offset, line: t.line, column: t.column, excerpt: t.text.slice(0, 80) } };
      }
      return undefined;
    },
  },
  {
    id: 'MS603',
    severity: 'error',
    category: 'semantic',
    blame: 'server',
    title: 'sync-collection member shape',
    scope: 'body',
    onResponse(o, f) {
      if (!f.req.isSyncCollection || !o.resource.complete) return undefined;
      const r = o.resource;
      if (o.duplicateOf !== undefined) return { message: `member ${r.href} appears twice in the sync report (responses #${o.duplicateOf + 1} and #${r.index + 1})`, evidence: { ...pos(o), first: o.duplicateOf } };
      if (o.statusTexts.length > 0) {
        const code = statusCode(o.statusTexts[0]!);
        if (code === 507 && isRequestUri(f, r.href)) return undefined; // truncated result: MS505
        if (code !== 404) return { message: `sync member ${r.href} has status ${code ?? '?'}: a removed member is reported with 404 only, a changed one with propstat`, evidence: { ...pos(o), status: code } };
        // sabre/Nextcloud add a pseudo propstat 418 to removed members: a known dialect.
        if (o.propstats.length > 0 && !o.resource.propstats.every((p) => p.status === 418)) {
          return { message: `removed sync member ${r.href} (404) also carries propstat`, evidence: { ...pos(o), propstats: o.propstats.length } };
        }
      }
      return undefined;
    },
  },
  {
    id: 'MS604',
    severity: 'warning',
    category: 'semantic',
    blame: 'client',
    title: 'REPORT status versus Depth',
    scope: 'transport',
    atEnd(f) {
      if (f.req.method !== 'REPORT') return undefined;
      if (f.req.isSyncCollection && f.head.status === 207 && f.req.depth !== undefined && f.req.depth !== '0') {
        return {
          message: `the client sent the sync-collection REPORT with Depth: ${f.req.depth}; RFC 6578 §3.2 defines it only for Depth: 0. The server answered 207, as RFC 6578 App. A lets older servers do: not the server's fault`,
          evidence: { depth: f.req.depth, status: f.head.status },
        };
      }
      if (f.req.depth !== undefined && f.head.status !== 207 && f.head.status < 400) {
        return { blame: 'server', message: `REPORT with Depth: ${f.req.depth} answered ${f.head.status}, not 207 (RFC 3253 §3.6)`, evidence: { depth: f.req.depth, status: f.head.status } };
      }
      return undefined;
    },
  },
];

interface LedgerEntry {
  index: number;
  href: string;
}

/** Distinct collection prefixes remembered for MS506 (a listing's collections, not its files). */
const PREFIX_CAP = 50_000;
/** 208 bindings remembered for MS506 (all are counted). */
const BINDING_CAP = 1_000;

/**
 * MS506: the 208 bindings, and for each collection prefix ("/a/", "/a/b/") the first two resources
 * listed at or below it, so that a resource below a binding is found wherever it came in the body
 * without keeping the ledger.
 */
class Bindings implements LedgerPass {
  count = 0;
  readonly bound: (LedgerEntry & { prefix: string })[] = [];
  private readonly below = new Map<string, LedgerEntry[]>();

  add(r: Resource): void {
    const p = r.hrefNormalized;
    for (let k = p.indexOf('/'); k >= 0; k = p.indexOf('/', k + 1)) {
      const prefix = p.slice(0, k + 1);
      const seen = this.below.get(prefix);
      if (seen === undefined) {
        if (this.below.size < PREFIX_CAP) this.below.set(prefix, [{ index: r.index, href: r.href }]);
      } else if (seen.length < 2) seen.push({ index: r.index, href: r.href });
    }
    if (r.status === 208 || r.propstats.some((ps) => ps.status === 208)) {
      this.count++;
      if (this.bound.length < BINDING_CAP) this.bound.push({ index: r.index, href: r.href, prefix: p.replace(/\/?$/, '/') });
    }
  }

  /** The first resource (in body order) listed below a binding other than itself. */
  firstBelow(): LedgerEntry | undefined {
    let best: LedgerEntry | undefined;
    for (const b of this.bound) {
      const other = this.below.get(b.prefix)?.find((e) => e.index !== b.index);
      if (other && (best === undefined || other.index < best.index)) best = other;
    }
    return best;
  }
}
