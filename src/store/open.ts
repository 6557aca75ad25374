// Opening the database: private file modes, pragmas, migrations, and clear errors for files that
// are not davtap databases or were written by a newer davtap.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { joinParts, sqlFunctions } from '../filter/index.js';
import { reportName } from '../analysis/request.js';
import { migrations, oldestReadableVersion, schemaVersion } from './schema.js';

// SQLite reads URI filenames (`file:…?immutable=1`, see openReadOnly) only when told so before it
// starts, and better-sqlite3 tells it from this variable when it loads its addon, at the first
// open: this module runs before any. Plain paths are unaffected; davtap always opens absolute ones.
process.env.SQLITE_USE_URI ??= '1';

export interface StoreOptions {
  /** Open for reading only (the UI, exports). Never creates, migrates or writes the file. */
  readonly?: boolean;
  /**
   * With `readonly`: a one-off read (an export) rather than a live view. When no writer has the
   * file open, it is read as an immutable file, so that nothing is created beside it.
   */
  snapshot?: boolean;
  /** Prune the oldest bodies once the database grows past this many bytes (`--max-db-size`). */
  maxDbSize?: number;
}

export interface OpenedDatabase {
  db: Database.Database;
  file: string;
  readonly: boolean;
  /** The schema version the file has now: below `schemaVersion` only for a reader of an older file. */
  version: number;
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

/** SQL functions the filter translation (src/filter/sql-functions.ts) and the migrations rely on; registered on every connection. */
function registerFunctions(db: Database.Database): void {
  for (const { name, fn } of sqlFunctions) db.function(name, { deterministic: true }, fn as (...args: unknown[]) => number);
  db.aggregate(joinParts.name, { start: joinParts.start, step: joinParts.step as (total: unknown, ...args: unknown[]) => unknown, result: joinParts.result as (total: unknown) => unknown });
  // The REPORT a stored request body makes (migration 8 names the flows recorded before it).
  db.function('report_name', { deterministic: true }, (body: unknown) => (Buffer.isBuffer(body) ? reportName(body) : null));
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
  // The version check comes before anything that could write (journal mode, migrations), so
  // that a file from a newer davtap, or not a database at all, is left exactly as it was.
  let version: number;
  if (readonly) ({ db, version } = openReadOnly(file, options.snapshot === true));
  else {
    try {
      db = new Database(file);
    } catch (err) {
      throw new StoreError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      version = readVersion(db, file);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  try {
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
      // A reader cannot upgrade: it reads a file from oldestReadableVersion on as it is (the
      // columns added since read as their defaults, see schema.ts).
      if (version < Math.min(targetVersion, oldestReadableVersion)) {
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
      // Migrations may call the connection's functions (report_name fills a new column).
      registerFunctions(db);
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
    if (readonly) registerFunctions(db);
    return { db, file, readonly, version: readonly ? version : targetVersion };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The schema version; the first read of a connection, so the first to meet a bad file. */
function readVersion(db: Database.Database, file: string): number {
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } catch (err) {
    if (sqliteCode(err) === 'SQLITE_NOTADB') throw new StoreError(`${file} is not a davtap database (not an SQLite file)`, { cause: err });
    throw new StoreError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

const fileSize = (file: string): number | null => fs.statSync(file, { throwIfNoEntry: false })?.size ?? null;

/** The file as an immutable SQLite URI: no locks, no -wal or -shm, nothing written anywhere. */
const immutableUri = (file: string): string => `${pathToFileURL(path.resolve(file)).href}?immutable=1`;

/**
 * A read-only connection. A WAL database is normally read through its -wal and -shm files, which
 * SQLite creates beside it (and leaves there) when no writer has: on read-only media, or in a
 * directory the reader may not write, that fails. Without a writer, the main file alone holds
 * every committed flow (a writer's last close checkpoints it), so it can be read as immutable:
 * - `snapshot` (an export) does so from the start when no -wal or -shm exists, and creates nothing;
 * - any reader falls back to it when the usual open fails for want of a writable directory.
 * A -wal that still holds data (a proxy that was killed) must be read through SQLite's usual way:
 * then the error stands, with what to do about it.
 */
function openReadOnly(file: string, snapshot: boolean): { db: Database.Database; version: number } {
  const open = (name: string): Database.Database => {
    try {
      return new Database(name, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new StoreError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const attempt = (name: string): { db: Database.Database; version: number } => {
    const db = open(name);
    try {
      return { db, version: readVersion(db, file) };
    } catch (err) {
      db.close();
      throw err;
    }
  };
  const walSize = fileSize(`${file}-wal`);
  const noWriter = walSize === null && fileSize(`${file}-shm`) === null;
  if (snapshot && noWriter) {
    try {
      return attempt(immutableUri(file));
    } catch {
      // URI filenames switched off (SQLITE_USE_URI=0 in the environment): the usual way below.
    }
  }
  try {
    return attempt(file);
  } catch (err) {
    const code = sqliteCode((err as Error).cause);
    const noDirectory = code !== undefined && /^SQLITE_(READONLY|CANTOPEN)/.test(code);
    if (!noDirectory) throw err;
    if ((walSize ?? 0) > 0) {
      throw new StoreError(`cannot read ${file}: its write-ahead log ${file}-wal holds data that needs a ${file}-shm file, which cannot be created in ${path.dirname(file)}; copy the database with its -wal file to a writable directory`, { cause: err });
    }
    try {
      return attempt(immutableUri(file));
    } catch {
      throw err;
    }
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
