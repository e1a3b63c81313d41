import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from './registry.js';
import { SCHEMA_VERSION } from './schema.js';
import { POSITION_SETTING } from './replication-settings.js';

// Backups of a registry and restores from them (docs/operations.md, Backup and restore). A backup is taken
// with SQLite's online backup API while the node serves and writes: the copy is one committed state of the
// registry, a whole file in rollback-journal mode (no -wal beside it). A restore checks a backup, then puts
// it in place of a registry no process has open, keeping the one it replaces.

export class BackupError extends Error {
  override name = 'BackupError';
}

/** What a registry file holds, read from the file itself. */
export interface RegistrySummary {
  file: string;
  bytes: number;
  schemaVersion: number;
  handles: number;
  /** max(txn_id) of its transaction log; 0 when empty. */
  lastTxnId: number;
  /** The replication.primary_txn setting, when the registry is a mirror's. */
  primaryTxn: string | undefined;
  foldSuffix: boolean;
  homedPrefixes: string[];
}

export interface BackupProgress {
  totalPages: number;
  remainingPages: number;
  /** The source changed under a step and SQLite started the copy again; the rest goes in one step. */
  restarted: boolean;
}

/** Pages per step of the backup: small enough to report progress, large enough to be quick. */
const PAGES_PER_STEP = 1024;
/** better-sqlite3's largest step: everything left, under one read transaction of the source. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copy `registry` into `out`, consistently, while other connections (a serving node) read and write it.
 * The copy is made as `out`.partial and renamed to `out` only once it is whole and reads back; a failure
 * removes the partial file. Refuses an existing `out` unless `force`.
 *
 * SQLite restarts a backup when another connection writes between two of its steps; after a restart the
 * rest is copied in one step, which holds a read transaction on the source (in WAL mode writers carry on)
 * and so always ends.
 */
export async function backupRegistry(
  registry: Registry,
  out: string,
  opts: { force?: boolean; progress?: (p: BackupProgress) => void; pagesPerStep?: number } = {},
): Promise<RegistrySummary> {
  if (!opts.force && existsSync(out)) throw new BackupError(`${out} exists; use --force to replace it`);
  const partial = `${out}.partial`;
  rmSync(partial, { force: true });
  try {
    // better-sqlite3 calls back after each step but the last, the first (of no pages) included. A step that
    // did not take `asked` pages off what remained began the copy again.
    let remainingBefore = Infinity;
    let asked = 0;
    let restarted = false;
    await registry.db.backup(partial, {
      progress: ({ totalPages, remainingPages }) => {
        if (remainingPages > remainingBefore - asked) restarted = true;
        remainingBefore = remainingPages;
        asked = restarted ? ALL_PAGES : Math.max(1, opts.pagesPerStep ?? PAGES_PER_STEP);
        opts.progress?.({ totalPages, remainingPages, restarted });
        return asked;
      },
    });
    // The copy's header says WAL, as the source's does: make it a whole file on its own.
    const copy = new Database(partial, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const summary = describeRegistry(partial);
    if (!opts.force && existsSync(out)) throw new BackupError(`${out} appeared while the backup was made; it is left as it was`);
    renameSync(partial, out);
    syncFolder(path.dirname(out));
    return { ...summary, file: out };
  } catch (err) {
    rmSync(partial, { force: true });
    rmSync(`${partial}-journal`, { force: true });
    throw err;
  }
}

/** What a registry file holds, opened read-only. */
export function describeRegistry(file: string): RegistrySummary {
  const registry = new Registry(file, { readonly: true });
  try {
    return {
      file,
      bytes: statSync(file).size,
      schemaVersion: registry.db.pragma('user_version', { simple: true }) as number,
      handles: registry.count(),
      lastTxnId: registry.lastTxnId(),
      primaryTxn: registry.getSetting(POSITION_SETTING),
      foldSuffix: registry.foldSuffix,
      homedPrefixes: registry.homedPrefixes(),
    };
  } finally {
    registry.close();
  }
}

/** The tables a registry has at each schema version (schema.ts), checked before a backup is restored. */
function tablesAt(version: number): string[] {
  const tables = ['settings', 'handles', 'homed_prefixes'];
  if (version >= 2) tables.push('txn_log');
  if (version >= 3) tables.push('counters');
  if (version >= 4) tables.push('audit_log');
  return tables;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Check that `file` is a registry this idres can use: an SQLite database, whole (integrity_check), of a
 * schema version it knows, with the tables of that version. Throws BackupError saying what is wrong.
 * The file may be written (a WAL left beside it is applied): give it a copy.
 */
function checkRegistryFile(file: string, shownAs: string): number {
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n < head.length || !head.equals(SQLITE_MAGIC)) throw new BackupError(`${shownAs} is not an SQLite database (not an idres backup)`);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    const problems = (db.pragma('integrity_check(20)') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new BackupError(`${shownAs} is damaged (integrity_check: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''})`);
    }
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new BackupError(`${shownAs} has schema version ${version}, newer than this idres understands (${SCHEMA_VERSION}); restore it with a newer idres`);
    }
    if (version < 1) throw new BackupError(`${shownAs} is an SQLite database but not an idres registry (schema version 0)`);
    const present = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((r) => r.name));
    const missing = tablesAt(version).filter((t) => !present.has(t));
    if (missing.length > 0) throw new BackupError(`${shownAs} is not an idres registry: it has no table ${missing.join(', ')}`);
    return version;
  } catch (err) {
    if (err instanceof BackupError) throw err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) throw new BackupError(`${shownAs} cannot be read as a registry (${code}: ${(err as Error).message})`);
    throw err;
  } finally {
    db?.close();
  }
}

/**
 * Whether a process other than this one has `file` open as an SQLite database. A connection in WAL mode
 * (every node's) holds a shared lock on the file from its first read until it closes; asking for an
 * exclusive lock without waiting fails while one does. A node that opened the file and never read it, or
 * one on another host sharing the file over a network filesystem without working locks, is not seen.
 */
export function registryInUse(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return false;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') return true;
    return false; // a damaged file: whatever else is wrong with it, no one holds it
  } finally {
    db.close();
  }
}

/** A backup copied beside the registry it is to replace, checked, and waiting to be put in place. */
export interface StagedRestore {
  /** What the backup holds (migrated to this idres's schema, if it was older). */
  readonly summary: RegistrySummary;
  /** The schema version of the backup as given. */
  readonly fromVersion: number;
  /** Put the backup in place of the registry; the registry it replaces is kept. */
  install(now?: Date): { keptAs: string | undefined };
  /** Remove the staged copy; the registry is left as it was. */
  discard(): void;
}

function removeSqliteFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
}

/**
 * Copy the backup `from` beside the registry `live` (as `live`.restoring) and check the copy; nothing of
 * `live` is touched. The backup itself is only read.
 */
export function stageRestore(live: string, from: string): StagedRestore {
  let st;
  try {
    st = statSync(from);
  } catch (err) {
    throw new BackupError(`cannot read ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isFile()) throw new BackupError(`${from} is not a file`);
  if (path.resolve(from) === path.resolve(live)) throw new BackupError(`${from} is the registry itself`);
  if (registryInUse(live)) throw inUse(live);
  const staged = `${live}.restoring`;
  removeSqliteFiles(staged);
  try {
    copyFileSync(from, staged);
    const fromVersion = checkRegistryFile(staged, from);
    // Opened as the node will open it: an older schema is brought up to date here, on the copy.
    new Registry(staged).close();
    const copy = new Database(staged, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const summary = { ...describeRegistry(staged), file: from };
    return {
      summary,
      fromVersion,
      install: (now = new Date()) => {
        try {
          const keptAs = setAside(live, now);
          renameSync(staged, live);
          syncFolder(path.dirname(live));
          return { keptAs };
        } catch (err) {
          removeSqliteFiles(staged);
          throw err;
        }
      },
      discard: () => removeSqliteFiles(staged),
    };
  } catch (err) {
    removeSqliteFiles(staged);
    throw err;
  }
}

function inUse(live: string): BackupError {
  return new BackupError(
    `${live} is open in another process (a node serving from this folder?); stop it before restoring: the registry is replaced whole`,
  );
}

/**
 * Move the registry `live` aside as `live`.before-restore-TIMESTAMP, a whole file: its WAL is checkpointed
 * into it first, under an exclusive lock that also proves no other process has it open. A registry SQLite
 * cannot read is moved aside as it is, with its -wal and -shm beside it under the same name.
 */
function setAside(live: string, now: Date): string | undefined {
  if (!existsSync(live)) {
    // No registry, but a WAL without its database must not be applied to the restored one.
    for (const f of [`${live}-wal`, `${live}-shm`]) rmSync(f, { force: true });
    return undefined;
  }
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let aside = `${live}.before-restore-${stamp}`;
  for (let i = 2; existsSync(aside); i++) aside = `${live}.before-restore-${stamp}-${i}`;
  let whole = false;
  const db = new Database(live, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    try {
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') throw inUse(live);
      throw err;
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('journal_mode = DELETE');
    whole = true;
  } catch (err) {
    if (err instanceof BackupError) throw err;
    // Damaged: kept as found.
  } finally {
    db.close();
  }
  if (whole && existsSync(`${live}-wal`)) throw new BackupError(`${live}-wal is still there after a checkpoint; nothing was changed`);
  renameSync(live, aside);
  for (const ext of ['-wal', '-shm', '-journal']) {
    if (!existsSync(live + ext)) continue;
    if (whole && ext === '-shm') rmSync(live + ext, { force: true });
    else renameSync(live + ext, aside + ext);
  }
  return aside;
}

/** Make a rename durable: sync the folder's entry (not possible everywhere; a best effort). */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open a folder; the rename stands, its durability is the filesystem's.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
