// Translates a filter tree into a WHERE clause over `flows` (aliased `f`). Regular expressions go
// through the connection's `regexp` and `header_match` functions (see open.ts), which compile them
// exactly as the in-memory matcher does, so SQL and `matchFlow` agree.
import type { FilterNode } from '../filter/index.js';

export interface SqlFilter {
  where: string;
  params: (string | number)[];
}

export function filterToSql(node: FilterNode): SqlFilter {
  const params: (string | number)[] = [];
  const walk = (n: FilterNode): string => {
    switch (n.kind) {
      case 'method':
        params.push(n.method);
        return 'f.method = ?';
      case 'status':
        if (n.min === n.max) {
          params.push(n.min);
          return 'f.status = ?';
        }
        params.push(n.min, n.max);
        return 'f.status BETWEEN ? AND ?';
      case 'url':
        params.push(n.pattern);
        return 'f.url REGEXP ?';
      case 'header':
        params.push(n.pattern);
        return 'header_match(?, f.request_headers, f.response_headers)';
      // IN (not a correlated EXISTS): SQLite builds the set once from the covering index
      // (category or rule, flow_seq), which is what paging deep into a filtered list needs.
      case 'category':
        params.push(n.category);
        return 'f.seq IN (SELECT x.flow_seq FROM findings x WHERE x.category = ?)';
      case 'rule':
        params.push(n.rule);
        return 'f.seq IN (SELECT x.flow_seq FROM findings x WHERE x.rule = ?)';
      case 'error':
        return "f.outcome_kind <> 'complete'";
      case 'injected':
        return 'f.injected IS NOT NULL';
      case 'not':
        // `f.status = ?` is NULL for a flow without a response; NULL counts as false everywhere
        // (AND, OR and WHERE already treat it so), and coalesce makes NOT do the same.
        return `NOT coalesce((${walk(n.operand)}), 0)`;
      case 'and':
        return `(${walk(n.left)}) AND (${walk(n.right)})`;
      case 'or':
        return `(${walk(n.left)}) OR (${walk(n.right)})`;
    }
  };
  return { where: walk(node), params };
}
