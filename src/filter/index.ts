// Filter expressions in mitmproxy's style: parse once, evaluate in memory or (in the store) in SQL.
export { categories, compilePattern, headerLines, type FilterNode } from './ast.js';
export { FilterSyntaxError, formatFilter, parseFilter } from './parse.js';
export { matchFlow } from './match.js';
