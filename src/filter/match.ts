// Evaluates a filter against a Flow in memory (exports, fault injection). The store evaluates the
// same tree in SQL (src/store/filter-sql.ts); the two must agree, and a test holds them to it.
import type { Flow } from '../types.js';
import { compilePattern, headerLines, type FilterNode } from './ast.js';

// Filters are usually evaluated over many flows: compile each pattern once.
const patternCache = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    if (patternCache.size > 256) patternCache.clear();
    re = compilePattern(pattern);
    patternCache.set(pattern, re);
  }
  return re;
}

export function matchFlow(node: FilterNode, flow: Flow): boolean {
  switch (node.kind) {
    case 'method':
      return flow.request.method === node.method;
    case 'status': {
      const status = flow.response?.status;
      return status !== undefined && status >= node.min && status <= node.max;
    }
    case 'url':
      return regex(node.pattern).test(flow.request.url);
    case 'header': {
      const re = regex(node.pattern);
      const lines = headerLines(flow.request.rawHeaders);
      if (flow.response) lines.push(...headerLines(flow.response.rawHeaders));
      return lines.some((line) => re.test(line));
    }
    case 'category':
      return flow.analysis?.findings.some((f) => f.category === node.category) ?? false;
    case 'rule':
      return flow.analysis?.findings.some((f) => f.rule === node.rule) ?? false;
    case 'error':
      return flow.outcome.kind !== 'complete';
    case 'injected':
      return flow.injected !== undefined && flow.injected !== null;
    case 'not':
      return !matchFlow(node.operand, flow);
    case 'and':
      return matchFlow(node.left, flow) && matchFlow(node.right, flow);
    case 'or':
      return matchFlow(node.left, flow) || matchFlow(node.right, flow);
  }
}
