// Filter expressions in mitmproxy's language: one table of codes (codes.ts); parse once, evaluate
// in memory or (in the store) in SQL.
export { categories, compilePattern, headerLines, severities, type FilterableFlow, type FilterNode } from './ast.js';
export { argKinds, distinctMethodsSql, filterCode, filterCodes, type FilterCode, type SqlContext } from './codes.js';
export { codeUsage, completeFilter, filterHelp, filterHelpLines, filterTableMarkdown, type Completion } from './help.js';
export { FilterSyntaxError, formatFilter, parseFilter } from './parse.js';
export { matchFlow } from './match.js';
export { joinParts, sqlFunctions } from './sql-functions.js';
