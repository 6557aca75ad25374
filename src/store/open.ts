// Opening the database: private file modes, pragmas, migrations, and clear errors for files that
// are not davtap databases or were written by a newer davtap.
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { compilePattern, headerLines } from '../filter/index.js';
import { migrations, schemaVersion } from './schema.js';

export interface StoreOptions {
  /** Open for reading only (the UI, exports). Never creates, migrates or writes the file. */
  readonly?: boolean;
  /** Prune the oldest bodies once the database grows past this many bytes (`--max-db-size`). */
  maxDbSize?: number;
}

export interface OpenedDatabase {
  db: Database.Database;
  file: string;
  readonly: boolean;
}

function sqliteCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Creates `file` (and its WAL companions) private to the user before SQLite ever opens it. */
function createPrivately(file: string): void {
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      fs.closeSync(fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
    } catch (err) {
      if (sqliteCode(err) !== 'EEXIST') throw new StoreError(`cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** SQL functions the filter translation relies on; registered on every connection. */
function registerFunctions(db: Database.Database): void {
  const cache = new Map<string, RegExp>();
  const compiled = (pattern: string): RegExp => {
    let re = cache.get(pattern);
    if (!re) {
      if (cache.size > 256) cache.clear();
      re = compilePattern(pattern);
      cache.set(pattern, re);
    }
    return re;
  };
  // `x REGEXP p` calls regexp(p, x).
  db.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) =>
    typeof pattern === 'string' && typeof value === 'string' && compiled(pattern).test(value) ? 1 : 0,
  );
  // ~h: a pattern against each "Name: value" line of the request's and the response's raw headers (JSON arrays).
  db.function('header_match', { deterministic: true }, (pattern: unknown, request: unknown, response: unknown) => {
    if (typeof pattern !== 'string') return 0;
    const re = compiled(pattern);
    for (const json of [request, response]) {
      if (typeof json !== 'string') continue;
      const raw = JSON.parse(json) as string[];
      if (headerLines(raw).some((line) => re.test(line))) return 1;
    }
    return 0;
  });
}

function migrate(db: Database.Database, file: string, from: number, to: number): void {
  for (let version = from; version < to; version++) {
    const step = db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    });
    try {
      step.immediate();
    } catch (err) {
      throw new StoreError(`${file}: cannot upgrade the database to schema version ${version + 1}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Opens (creating when needed) a davtap database. `targetVersion` exists for tests that build an
 * older schema; everyone else gets the current one.
 */
export function openDatabase(file: string, options: StoreOptions = {}, targetVersion = schemaVersion): OpenedDatabase {
  const readonly = options.readonly === true;
  if (readonly && !fs.existsSync(file)) throw new StoreError(`${file}: no such database`);
  if (!readonly && file !== ':memory:' && !fs.existsSync(file)) createPrivately(file);

  let db: Database.Database;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw new StoreError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // The version check comes before anything that could write (journal mode, migrations), so
    // that a file from a newer davtap, or not a database at all, is left exactly as it was.
    let version: number;
    try {
      version = db.pragma('user_version', { simple: true }) as number;
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_NOTADB') throw new StoreError(`${file} is not a davtap database (not an SQLite file)`, { cause: err });
      throw new StoreError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (version > schemaVersion) {
      throw new StoreError(
        `${file} was written by a newer davtap (schema version ${version}; this davtap knows up to ${schemaVersion}); upgrade davtap or use another --db file`,
      );
    }
    if (version > 0 && !isDavtapSchema(db)) throw new StoreError(`${file} is an SQLite database but not a davtap one`);
    if (version === 0 && hasUserTables(db)) throw new StoreError(`${file} is an SQLite database but not a davtap one`);
    // A reader may wait for a writer's recovery; the writer must never hold the proxy's event loop
    // for long (a second writer on the same file is reported as SQLITE_BUSY instead).
    db.pragma(`busy_timeout = ${readonly ? 5000 : 200}`);
    if (readonly) {
      if (version < targetVersion) {
        throw new StoreError(
          version === 0
            ? `${file} holds no flows yet (empty database)`
            : `${file} has schema version ${version}; open it once with 'davtap proxy --db' to upgrade it to ${targetVersion}`,
        );
      }
    } else {
      try {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        // Keep the WAL file from staying huge after a burst.
        db.pragma('journal_size_limit = 67108864');
        // 16 MiB of page cache: the ledger's b-trees stay in memory while a tick is written.
        db.pragma('cache_size = -16384');
      } catch (err) {
        throw new StoreError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
      }
      migrate(db, file, version, targetVersion);
      // SQLite quietly opens an unwritable file read-only; writing the version back (unchanged)
      // turns that into a clear error now rather than a failed write per tick later.
      try {
        db.pragma(`user_version = ${targetVersion}`);
      } catch (err) {
        throw new StoreError(`cannot write ${file}: ${(err as Error).message} (check its permissions, or open it read-only)`, { cause: err });
      }
    }
    db.pragma('foreign_keys = ON');
    registerFunctions(db);
    return { db, file, readonly };
  } catch (err) {
    db.close();
    throw err;
  }
}

function isDavtapSchema(db: Database.Database): boolean {
  const row = db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name IN ('flows', 'findings', 'resources', 'bodies')`).get() as { n: number };
  return row.n === 4;
}

function hasUserTables(db: Database.Database): boolean {
  const row = db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).get() as { n: number };
  return row.n > 0;
}
