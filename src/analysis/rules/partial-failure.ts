// Partial failure: the 207 is well-formed, and says that some resources or properties failed.
// These are the findings users most need to see: a 207 is never "success" on its own.
import type { Draft, Facts, RuleDef } from '../facts.js';
import { normalizeHref } from '../href.js';
import type { Resource } from '../../types.js';
import { plural } from './util.js';

const DAV_LOCK_TOKEN_SUBMITTED = '{DAV:}lock-token-submitted';

function isRequestUri(f: Facts, r: Resource): boolean {
  return r.hrefNormalized.replace(/\/$/, '') === normalizeHref(f.req.path).replace(/\/$/, '');
}

/** A 404 for a removed sync member, and a 507 on the request URI, are not failures. */
function isExpectedStatus(f: Facts, r: Resource): boolean {
  if (f.req.isSyncCollection && r.status === 404) return true;
  if (r.status === 507 && isRequestUri(f, r)) return true;
  return false;
}

function grouped(codes: number[]): string {
  const m = new Map<number, number>();
  for (const c of codes) m.set(c, (m.get(c) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([c, k]) => `${c} ×${k}`).join(', ');
}

export const partialFailureRules: RuleDef[] = [
  {
    id: 'MS501',
    severity: 'warning',
    category: 'partial-failure',
    blame: 'server',
    title: 'resources failed',
    scope: 'body',
    atEnd(f) {
      const failed = f.resources.filter((r) => r.status !== null && r.status >= 400 && !isExpectedStatus(f, r));
      if (failed.length === 0) return undefined;
      const rows = failed.slice(0, 20).map((r) => ({
        href: r.href,
        status: r.status,
        ...(r.error ? { precondition: r.error.join(' ') } : {}),
        ...(r.description !== undefined ? { description: r.description } : {}),
      }));
      return {
        message: `${failed.length} of ${f.resources.length} resources failed (${grouped(failed.map((r) => r.status!))}); first: ${failed[0]!.href} ${failed[0]!.status}${failed[0]!.error ? ` ${failed[0]!.error.join(' ')}` : ''}`,
        evidence: { href: failed[0]!.href, failed: failed.length, total: f.resources.length, table: rows },
      };
    },
  },
  {
    id: 'MS502',
    severity: 'info',
    category: 'partial-failure',
    blame: 'server',
    title: 'properties failed',
    scope: 'body',
    atEnd(f) {
      const cells: { href: string; prop: string; status: number }[] = [];
      let count = 0;
      const codes: number[] = [];
      for (const r of f.resources) {
        for (const ps of r.propstats) {
          if (ps.status === null || ![401, 403, 404, 409, 424, 507].includes(ps.status)) continue;
          for (const p of ps.props) {
            count++;
            codes.push(ps.status);
            if (cells.length < 50) cells.push({ href: r.href, prop: p, status: ps.status });
          }
        }
      }
      if (count === 0) return undefined;
      const note = f.req.propfind === 'prop' ? ' (404s are expected for an explicit prop list)' : f.req.propfind === 'allprop' && codes.includes(403) ? ' (403 under allprop: access control hides these)' : '';
      return {
        message: `${plural(count, 'property result')} failed across ${f.resources.length} resources (${grouped(codes)})${note}`,
        evidence: { count, matrix: cells.map((c) => `${c.href} ${c.prop} ${c.status}`) },
      };
    },
  },
  {
    id: 'MS503',
    severity: 'error',
    category: 'partial-failure',
    blame: 'server',
    title: 'PROPPATCH not atomic',
    scope: 'body',
    atEnd(f) {
      if (f.req.method !== 'PROPPATCH') return undefined;
      const out: Draft[] = [];
      for (const r of f.resources) {
        const ok = r.propstats.filter((p) => p.status !== null && p.status < 300);
        const bad = r.propstats.filter((p) => p.status !== null && p.status >= 300);
        if (bad.length === 0) continue;
        const codes = r.propstats.map((p) => `${p.props.join(' ')} ${p.status ?? '?'}`);
        if (ok.length > 0) {
          out.push({
            message: `PROPPATCH on ${r.href} applied ${plural(ok.reduce((a, p) => a + p.props.length, 0), 'property', 'properties')} although ${bad[0]!.props.join(', ')} failed with ${bad[0]!.status}: the instructions MUST all succeed or all fail`,
            evidence: { href: r.href, codes },
          });
        }
        // Every property failed: atomicity held. 424 marks an instruction that failed only because
        // another one did, and nothing in the answer tells which ones those are: when each failed on
        // its own (rclone's 403 for every dead property), none needs 424.
      }
      return out;
    },
  },
  {
    id: 'MS504',
    severity: 'warning',
    category: 'partial-failure',
    blame: 'server',
    title: 'DELETE/COPY/MOVE 207 with codes that should not appear',
    scope: 'body',
    atEnd(f) {
      const out: Draft[] = [];
      const m = f.req.method;
      if (f.head.status === 207 && (m === 'DELETE' || m === 'COPY' || m === 'MOVE')) {
        const forbidden = m === 'DELETE' ? [424, 204] : [424, 201, 204];
        const hits = f.resources.filter((r) => r.status !== null && forbidden.includes(r.status));
        if (hits.length > 0) {
          out.push({
            message: `${m} 207 lists ${plural(hits.length, 'entry', 'entries')} with ${[...new Set(hits.map((h) => h.status))].join('/')} (RFC 4918 §9.6.1/§9.8.3 list only what failed, without 424${m === 'DELETE' ? ' or 204' : ', 201 or 204'})`,
            evidence: { href: hits[0]!.href, entries: hits.slice(0, 20).map((h) => `${h.href} ${h.status}`) },
          });
        }
      }
      const locked = f.resources.filter((r) => r.status === 423 && !(r.error ?? []).includes(DAV_LOCK_TOKEN_SUBMITTED));
      if (locked.length > 0) {
        out.push({
          severity: 'info',
          message: `${plural(locked.length, 'response')} with 423 Locked without the lock-token-submitted precondition (RFC 4918 §11.3); first ${locked[0]!.href}`,
          evidence: { href: locked[0]!.href, count: locked.length },
        });
      }
      return out;
    },
  },
  {
    id: 'MS505',
    severity: 'info',
    category: 'partial-failure',
    blame: 'server',
    title: 'server paged the results (507 on the request URI)',
    scope: 'body',
    atEnd(f) {
      const r = f.resources.find((x) => (x.status === 507 || x.propstats.some((p) => p.status === 507)) && isRequestUri(f, x));
      if (!r) return undefined;
      const limited = (r.error ?? []).includes('{DAV:}number-of-matches-within-limits');
      const noToken = f.req.isSyncCollection && f.xml.syncTokens.length === 0;
      return {
        severity: noToken ? 'warning' : 'info',
        message: `server paged the results: 507 on the request URI ${r.href} after ${plural(f.resources.length - 1, 'response')}${f.req.syncLimit !== undefined ? ` (client limit ${f.req.syncLimit})` : ''}${limited ? ', with number-of-matches-within-limits' : ''}; not a transit loss${noToken ? '; but no sync-token to continue from' : ''}`,
        evidence: { href: r.href, returned: f.resources.length - 1, ...(f.req.syncLimit !== undefined ? { limit: f.req.syncLimit } : {}), token: f.xml.syncTokens[0]?.text ?? null },
      };
    },
  },
];
