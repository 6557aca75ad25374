// Evaluates a filter against a flow in memory (exports, fault injection), each code as its entry in
// the table says (codes.ts). The store evaluates the same tree in SQL (src/store/filter-sql.ts); the
// two must agree, and a test holds them to it.
import type { FilterableFlow, FilterNode } from './ast.js';
import { filterCode } from './codes.js';

export function matchFlow(node: FilterNode, flow: FilterableFlow): boolean {
  switch (node.kind) {
    case 'code':
      return filterCode(node.code)!.match(flow, node.arg ?? '');
    case 'not':
      return !matchFlow(node.operand, flow);
    case 'and':
      return matchFlow(node.left, flow) && matchFlow(node.right, flow);
    case 'or':
      return matchFlow(node.left, flow) || matchFlow(node.right, flow);
  }
}
