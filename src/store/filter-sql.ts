// Translates a filter tree into a WHERE clause over `flows` (aliased `f`), each code as its entry
// in the table says (src/filter/codes.ts). Regular expressions go through the connection's SQL
// functions (src/filter/sql-functions.ts, registered in open.ts), which look at a flow exactly as
// the in-memory matcher does, so SQL and `matchFlow` agree.
import { filterCode, type FilterNode, type SqlContext } from '../filter/index.js';

export interface SqlFilter {
  where: string;
  params: (string | number)[];
}

export interface FilterSqlOptions {
  /**
   * The flows columns this database does not have yet (a reader of a file written by an older
   * davtap) and what they read as.
   */
  absent?: ReadonlyMap<string, string>;
  /** Reads the values recorded in an indexed column (see SqlContext). */
  distinct?: SqlContext['distinct'];
  /** The query is limited to the flows with afterSeq < seq <= uptoSeq (see SqlContext.seqRange). */
  afterSeq?: number;
  uptoSeq?: number;
  /** Where the file keeps whole bodies (see SqlContext.bodies); by default, the current schema's places. */
  bodies?: SqlContext['bodies'];
}

export function filterToSql(node: FilterNode, options: FilterSqlOptions = {}): SqlFilter {
  const params: (string | number)[] = [];
  const absent = options.absent ?? new Map<string, string>();
  const ctx: SqlContext = {
    // One `?` per call: entries call it in the order their placeholders appear in the text.
    param(value: string | number): string {
      params.push(value);
      return '?';
    },
    column: (name: string): string => absent.get(name) ?? `f.${name}`,
    seqRange(column: string): string {
      let sql = '';
      if (options.afterSeq !== undefined) sql += ` AND ${column} > ${ctx.param(options.afterSeq)}`;
      if (options.uptoSeq !== undefined) sql += ` AND ${column} <= ${ctx.param(options.uptoSeq)}`;
      return sql;
    },
    bodies: options.bodies ?? { perFlow: true, perKind: true },
    ...(options.distinct ? { distinct: options.distinct } : {}),
  };
  const walk = (n: FilterNode): string => {
    switch (n.kind) {
      case 'code':
        return filterCode(n.code)!.sql(n.arg ?? '', ctx);
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
