// Security: DOCTYPEs and entity declarations in a WebDAV response (never fetched, never expanded;
// RFC 4918 §20.6), and the resource limits that keep one analysis bounded.
import type { EntityDecl, RuleDef } from '../facts.js';
import { n } from './util.js';

const EXPANSION_CAP = 1e12;

/** Upper bound of what expanding each general entity would produce (billion-laughs detector). */
export function expansionBound(decls: EntityDecl[]): { bound: number; depth: number; worst?: string } {
  const byName = new Map(decls.filter((d) => !d.parameter).map((d) => [d.name, d]));
  const memo = new Map<string, { size: number; depth: number }>();
  const visiting = new Set<string>();
  const size = (name: string, guard: number): { size: number; depth: number } => {
    const known = memo.get(name);
    if (known) return known;
    const d = byName.get(name);
    if (!d || d.external || guard > 64 || visiting.has(name)) return { size: d?.external ? 0 : EXPANSION_CAP, depth: 0 };
    visiting.add(name);
    let total = 0;
    let depth = 0;
    const value = d.value ?? '';
    const refs = value.match(/&[^;&\s]+;/g) ?? [];
    total += value.length - refs.join('').length;
    for (const ref of refs.slice(0, 10_000)) {
      const inner = ref.slice(1, -1);
      if (['lt', 'gt', 'amp', 'quot', 'apos'].includes(inner) || inner.startsWith('#')) {
        total += 1;
        continue;
      }
      const s = size(inner, guard + 1);
      total = Math.min(EXPANSION_CAP, total + s.size);
      depth = Math.max(depth, s.depth + 1);
    }
    visiting.delete(name);
    const out = { size: total, depth };
    memo.set(name, out);
    return out;
  };
  let bound = 0;
  let depth = 0;
  let worst: string | undefined;
  for (const name of byName.keys()) {
    const s = size(name, 0);
    if (s.size >= bound) {
      bound = s.size;
      worst = name;
    }
    depth = Math.max(depth, s.depth);
  }
  return { bound, depth, ...(worst !== undefined ? { worst } : {}) };
}

export const securityRules: RuleDef[] = [
  {
    id: 'MS701',
    severity: 'warning',
    category: 'security',
    blame: 'server',
    title: 'DOCTYPE in a WebDAV response',
    scope: 'transport',
    atEnd(f) {
      const d = f.xml.doctype;
      if (!d || /^\s*html\b/i.test(d.text)) return undefined; // an HTML page is MS108's
      return {
        message: `DOCTYPE in the response (line ${d.line}): RFC 4918 §17 recipients must not validate it, and davtap neither fetched nor applied it: <!DOCTYPE ${d.text.slice(0, 60)}${d.text.length > 60 ? '…' : ''}>`,
        evidence: { offset: d.offset, line: d.line, column: d.column, excerpt: d.text.slice(0, 120) },
      };
    },
  },
  {
    id: 'MS702',
    severity: 'error',
    category: 'security',
    blame: 'server',
    title: 'entity declarations (XXE, entity expansion)',
    scope: 'transport',
    atEnd(f) {
      const decls = f.xml.entityDecls;
      if (decls.length === 0) return undefined;
      const external = decls.filter((d) => d.external);
      const b = expansionBound(decls);
      const laughs = b.bound >= 1e6 || b.depth >= 3;
      const parts: string[] = [`${decls.length} entity declaration${decls.length === 1 ? '' : 's'}`];
      if (external.length > 0) parts.push(`${external.length} external (XXE: SYSTEM ${JSON.stringify(external[0]!.systemId ?? '')})`);
      if (laughs) parts.push(`nested expansion to ${b.bound >= 1e12 ? 'over 10^12' : n(b.bound)} characters via &${b.worst}; (billion-laughs pattern)`);
      return {
        message: `${parts.join('; ')}; none was expanded${f.xml.declaredEntityRefs > 0 ? ` (${n(f.xml.declaredEntityRefs)} references left unexpanded)` : ''}`,
        evidence: {
          ...(f.xml.doctype ? { offset: f.xml.doctype.offset, line: f.xml.doctype.line } : {}),
          declarations: decls.slice(0, 10).map((d) => `${d.parameter ? '% ' : ''}${d.name} ${d.external ? `SYSTEM ${d.systemId}` : JSON.stringify((d.value ?? '').slice(0, 40))}`),
          expansionBound: b.bound,
          nesting: b.depth,
          references: f.xml.declaredEntityRefs,
        },
      };
    },
  },
  {
    id: 'MS703',
    severity: 'warning',
    category: 'security',
    blame: 'unknown',
    title: 'analysis limit reached',
    scope: 'transport',
    atEnd(f) {
      const l = f.xml.limitHit;
      if (!l) return undefined;
      // A body that is neither a 207 nor a multistatus (a cut binary download analyzed for its
      // transport) was parsed for nothing: its parse errors, however many, are not a finding.
      if (l.name === 'maxParseErrors' && !f.bodyInScope) return undefined;
      if (l.why !== undefined) {
        return {
          message: `analysis stopped at byte ${n(l.offset)} (line ${l.line}): ${l.why}; results cover the ${n(f.ledger.count)} responses before it`,
          evidence: { offset: l.offset, line: l.line, column: l.column, limit: 'halted', why: l.why },
        };
      }
      return {
        message: `analysis stopped: ${l.name} ${n(f.limits[l.name])} reached (${n(l.value)}) at byte ${n(l.offset)} (line ${l.line}); results cover the ${n(f.ledger.count)} responses before it`,
        evidence: { offset: l.offset, line: l.line, column: l.column, limit: l.name, value: l.value, max: f.limits[l.name] },
      };
    },
  },
];
