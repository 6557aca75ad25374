// Partial failure: the 207 is well-formed, and says that some resources or properties failed.
// These are the findings users most need to see: a 207 is never "success" on its own.
import { ledgerRule, type Draft, type LedgerContext, type LedgerPass, type RuleDef } from '../facts.js';
import { normalizeHref } from '../href.js';
import type { Resource } from '../../types.js';
import { plural } from './util.js';

const DAV_LOCK_TOKEN_SUBMITTED = '{DAV:}lock-token-submitted';

/** The request URI as the ledger's hrefs are compared with it (normalized, no trailing slash). */
function requestUriKey(ctx: LedgerContext): string {
  return normalizeHref(ctx.req.path).replace(/\/$/, '');
}

function isRequestUri(key: string, r: Resource): boolean {
  return r.hrefNormalized.replace(/\/$/, '') === key;
}

/** Status code → how many times it was counted. */
class CodeCounts {
  private readonly m = new Map<number, number>();
  add(code: number): void {
    this.m.set(code, (this.m.get(code) ?? 0) + 1);
  }
  has(code: number): boolean {
    return this.m.has(code);
  }
  /** "404 ×2, 423 ×1" */
  grouped(): string {
    return [...this.m.entries()].sort((a, b) => a[0] - b[0]).map(([c, k]) => `${c} ×${k}`).join(', ');
  }
}

/** MS501: resources whose whole status failed (a 404 for a removed sync member, a 507 on the request URI excepted). */
class FailedResources implements LedgerPass {
  count = 0;
  readonly codes = new CodeCounts();
  first: Resource | undefined;
  readonly rows: Record<string, unknown>[] = [];

  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    if (r.status === null || r.status < 400) return;
    if ((this.ctx.req.isSyncCollection && r.status === 404) || (r.status === 507 && isRequestUri(requestUriKey(this.ctx), r))) return;
    this.count++;
    this.codes.add(r.status);
    this.first ??= r;
    if (this.rows.length < 20) {
      this.rows.push({ href: r.href, status: r.status, ...(r.error ? { precondition: r.error.join(' ') } : {}), ...(r.description !== undefined ? { description: r.description } : {}) });
    }
  }
}

const FAILED_PROPERTY_CODES = [401, 403, 404, 409, 424, 507];

/** MS502: failed property results across the ledger. */
class FailedProperties implements LedgerPass {
  count = 0;
  readonly codes = new CodeCounts();
  readonly cells: string[] = [];

  add(r: Resource): void {
    for (const ps of r.propstats) {
      if (ps.status === null || !FAILED_PROPERTY_CODES.includes(ps.status)) continue;
      for (const p of ps.props) {
        this.count++;
        this.codes.add(ps.status);
        if (this.cells.length < 50) this.cells.push(`${r.href} ${p} ${ps.status}`);
      }
    }
  }
}

/** MS503: each resource of a PROPPATCH that applied some instructions although another failed. */
class PartialPatches implements LedgerPass {
  readonly out: Draft[] = [];
  constructor(private readonly ctx: LedgerContext) {}

  add(r: Resource): void {
    if (this.ctx.req.method !== 'PROPPATCH' || this.out.length >= MAX_PER_RESOURCE_FINDINGS) return;
    const ok = r.propstats.filter((p) => p.status !== null && p.status < 300);
    const bad = r.propstats.filter((p) => p.status !== null && p.status >= 300);
    if (bad.length === 0 || ok.length === 0) return;
    // Every property failed: atomicity held. 424 marks an instruction that failed only because
    // another one did, and nothing in the answer tells which ones those are: when each failed on
    // its own (rclone's 403 for every dead property), none needs 424.
    this.out.push({
      message: `PROPPATCH on ${r.href} applied ${plural(ok.reduce((a, p) => a + p.props.length, 0), 'property', 'properties')} although ${bad[0]!.props.join(', ')} failed with ${bad[0]!.status}: the instructions MUST all succeed or all fail`,
      evidence: { href: r.href, codes: r.propstats.map((p) => `${p.props.join(' ')} ${p.status ?? '?'}`) },
    });
  }
}

/** Findings one ledger rule raises for single resources at most (a PROPPATCH answer is one resource). */
const MAX_PER_RESOURCE_FINDINGS = 1000;

/** MS504: entries a DELETE/COPY/MOVE 207 should not list, and 423s without their precondition. */
class ForbiddenEntries implements LedgerPass {
  hits = 0;
  readonly hitStatuses = new Set<number>();
  readonly entries: string[] = [];
  firstHit: string | undefined;
  locked = 0;
  firstLocked: string | undefined;
  private readonly forbidden: number[];

  constructor(ctx: LedgerContext) {
    const m = ctx.req.method;
    this.forbidden = ctx.head.status === 207 && (m === 'DELETE' || m === 'COPY' || m === 'MOVE') ? (m === 'DELETE' ? [424, 204] : [424, 201, 204]) : [];
  }

  add(r: Resource): void {
    if (r.status === null) return;
    if (this.forbidden.includes(r.status)) {
      this.hits++;
      this.hitStatuses.add(r.status);
      this.firstHit ??= r.href;
      if (this.entries.length < 20) this.entries.push(`${r.href} ${r.status}`);
    }
    if (r.status === 423 && !(r.error ?? []).includes(DAV_LOCK_TOKEN_SUBMITTED)) {
      this.locked++;
      this.firstLocked ??= r.href;
    }
  }
}

/** MS505: the first 507 on the request URI. */
class PagedAnswer implements LedgerPass {
  found: Resource | undefined;
  constructor(private readonly ctx: LedgerContext) {}
  add(r: Resource): void {
    if (this.found === undefined && (r.status === 507 || r.propstats.some((p) => p.status === 507)) && isRequestUri(requestUriKey(this.ctx), r)) this.found = r;
  }
}

export const partialFailureRules: RuleDef[] = [
  ledgerRule({
    id: 'MS501',
    severity: 'warning',
    category: 'partial-failure',
    blame: 'server',
    title: 'resources failed',
    scope: 'body',
    ledger: (ctx) => new FailedResources(ctx),
    atEnd(f, pass) {
      const first = pass.first;
      if (first === undefined) return undefined;
      return {
        message: `${pass.count} of ${f.ledger.count} resources failed (${pass.codes.grouped()}); first: ${first.href} ${first.status}${first.error ? ` ${first.error.join(' ')}` : ''}`,
        evidence: { href: first.href, failed: pass.count, total: f.ledger.count, table: pass.rows },
      };
    },
  }),
  ledgerRule({
    id: 'MS502',
    severity: 'info',
    category: 'partial-failure',
    blame: 'server',
    title: 'properties failed',
    scope: 'body',
    ledger: () => new FailedProperties(),
    atEnd(f, pass) {
      const count = pass.count;
      if (count === 0) return undefined;
      const note = f.req.propfind === 'prop' ? ' (404s are expected for an explicit prop list)' : f.req.propfind === 'allprop' && pass.codes.has(403) ? ' (403 under allprop: access control hides these)' : '';
      return {
        message: `${plural(count, 'property result')} failed across ${f.ledger.count} resources (${pass.codes.grouped()})${note}`,
        evidence: { count, matrix: pass.cells },
      };
    },
  }),
  ledgerRule({
    id: 'MS503',
    severity: 'error',
    category: 'partial-failure',
    blame: 'server',
    title: 'PROPPATCH not atomic',
    scope: 'body',
    ledger: (ctx) => (ctx.req.method === 'PROPPATCH' ? new PartialPatches(ctx) : undefined),
    atEnd(f, pass) {
      if (f.req.method !== 'PROPPATCH') return undefined;
      return pass.out;
    },
  }),
  ledgerRule({
    id: 'MS504',
    severity: 'warning',
    category: 'partial-failure',
    blame: 'server',
    title: 'DELETE/COPY/MOVE 207 with codes that should not appear',
    scope: 'body',
    ledger: (ctx) => new ForbiddenEntries(ctx),
    atEnd(f, pass) {
      const out: Draft[] = [];
      const m = f.req.method;
      if (pass.hits > 0) {
        out.push({
          message: `${m} 207 lists ${plural(pass.hits, 'entry', 'entries')} with ${[...pass.hitStatuses].join('/')} (RFC 4918 §9.6.1/§9.8.3 list only what failed, without 424${m === 'DELETE' ? ' or 204' : ', 201 or 204'})`,
          evidence: { href: pass.firstHit, entries: pass.entries },
        });
      }
      if (pass.locked > 0) {
        out.push({
          severity: 'info',
          message: `${plural(pass.locked, 'response')} with 423 Locked without the lock-token-submitted precondition (RFC 4918 §11.3); first ${pass.firstLocked}`,
          evidence: { href: pass.firstLocked, count: pass.locked },
        });
      }
      return out;
    },
  }),
  ledgerRule({
    id: 'MS505',
    severity: 'info',
    category: 'partial-failure',
    blame: 'server',
    title: 'server paged the results (507 on the request URI)',
    scope: 'body',
    ledger: (ctx) => new PagedAnswer(ctx),
    atEnd(f, pass) {
      const r = pass.found;
      if (!r) return undefined;
      const limited = (r.error ?? []).includes('{DAV:}number-of-matches-within-limits');
      const noToken = f.req.isSyncCollection && f.xml.syncTokens.length === 0;
      return {
        severity: noToken ? 'warning' : 'info',
        message: `server paged the results: 507 on the request URI ${r.href} after ${plural(f.ledger.count - 1, 'response')}${f.req.syncLimit !== undefined ? ` (client limit ${f.req.syncLimit})` : ''}${limited ? ', with number-of-matches-within-limits' : ''}; not a transit loss${noToken ? '; but no sync-token to continue from' : ''}`,
        evidence: { href: r.href, returned: f.ledger.count - 1, ...(f.req.syncLimit !== undefined ? { limit: f.req.syncLimit } : {}), token: f.xml.syncTokens[0]?.text ?? null },
      };
    },
  }),
];
