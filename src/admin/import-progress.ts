import { createHash } from 'node:crypto';

// Where an import of a file has got to, kept in the registry's settings table and written in the same
// transaction as each batch: the record and the data can never disagree, whatever kills the process. A file
// is known by its real path, size and modification time (an edited file is a new import), and by whether
// changed rows are applied (--update), since a resume must not skip rows a different mode would treat
// differently.

export interface ImportCounts {
  /** Records read (blank lines are not counted). */
  rows: number;
  created: number;
  unchanged: number;
  /** Differ from what is stored and were left as stored (no --update). */
  changed: number;
  /** Differ from what is stored and were replaced (--update). */
  updated: number;
  bad: number;
}

export function zeroCounts(): ImportCounts {
  return { rows: 0, created: 0, unchanged: 0, changed: 0, updated: 0, bad: 0 };
}

export function addCounts(a: ImportCounts, b: ImportCounts): ImportCounts {
  return {
    rows: a.rows + b.rows,
    created: a.created + b.created,
    unchanged: a.unchanged + b.unchanged,
    changed: a.changed + b.changed,
    updated: a.updated + b.updated,
    bad: a.bad + b.bad,
  };
}

export interface ImportProgress {
  file: string;
  size: number;
  mtimeMs: number;
  update: boolean;
  /** Byte offset just after the last committed row: a resume reads on from here. */
  offset: number;
  /** The number of that row's last line. */
  line: number;
  /** Totals over the committed rows, from the start of the file. */
  counts: ImportCounts;
  /** The whole file was read and committed. */
  done: boolean;
  /** ISO time of the last commit. */
  at: string;
}

export function progressId(realPath: string, size: number, mtimeMs: number, update: boolean): string {
  return createHash('sha256')
    .update(JSON.stringify([realPath, size, Math.floor(mtimeMs), update]))
    .digest('hex')
    .slice(0, 32);
}

/** A stored record, or undefined when there is none or it cannot be read (then the import starts over). */
export function parseProgress(json: string | undefined): ImportProgress | undefined {
  if (json === undefined) return undefined;
  try {
    const p = JSON.parse(json) as ImportProgress;
    if (typeof p.offset !== 'number' || typeof p.line !== 'number' || typeof p.done !== 'boolean' || typeof p.counts !== 'object') return undefined;
    return { ...p, counts: addCounts(zeroCounts(), p.counts) };
  } catch {
    return undefined;
  }
}
