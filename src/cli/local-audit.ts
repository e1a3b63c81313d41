import path from 'node:path';
import { type AuditOrigin, AuditTrail, changeBetween, localUser } from '../admin/audit.js';
import type { ImportCounts } from '../admin/import-progress.js';
import { ResponseCode } from '../protocol/constants.js';
import { AuditStore } from '../store/audit-store.js';
import { RegistryError, type Registry } from '../store/registry.js';

// The audit log of the operator's CLI writes on the node folder (identity "local", transport "cli"): each
// write and its record in one transaction; a write that fails is recorded as refused, with the error.

export interface LocalChange {
  /** create, update, delete, grant, revoke, delegate, home, unhome. */
  op: string;
  /** What it is about (a handle, or a prefix for home/unhome). */
  handle: string;
  /** The handle whose values the change is read from (default: `handle`; null: none, as for home). */
  valuesOf?: string | null;
  detail?: Record<string, unknown>;
}

/** The response code a failed local write is recorded with. */
function codeOf(err: unknown): number {
  if (err instanceof RegistryError) {
    if (err.code === 'exists') return ResponseCode.HANDLE_ALREADY_EXISTS;
    if (err.code === 'not-found') return ResponseCode.HANDLE_NOT_FOUND;
    if (err.code === 'invalid') return ResponseCode.INVALID_VALUE;
  }
  return ResponseCode.ERROR;
}

/** Run a write (synchronous) on the registry with its audit record, in one transaction (IMMEDIATE, as the registry writes: the node may be writing the same file). */
export function audited<T>(registry: Registry, what: LocalChange, work: () => T, origin: AuditOrigin = { transport: 'cli' }): T {
  const trail = new AuditTrail(new AuditStore(registry.db));
  const of = what.valuesOf === undefined ? what.handle : what.valuesOf;
  const user = localUser();
  const base = { identity: 'local', authenticated: true, origin, op: what.op, handle: what.handle };
  const detail = { ...what.detail, ...(user ? { user } : {}) };
  try {
    return registry.db.transaction(() => {
      const before = of !== null ? registry.getValues(of) : undefined;
      const result = work();
      trail.record({
        ...base,
        ...(of !== null ? { change: changeBetween(before, registry.getValues(of)) } : {}),
        detail,
        responseCode: ResponseCode.SUCCESS,
        message: '',
      });
      return result;
    }).immediate();
  } catch (err) {
    trail.record({ ...base, detail, responseCode: codeOf(err), message: (err as Error).message ?? String(err) });
    throw err;
  }
}

/**
 * The audit record of one committed batch of `idres import` (one row per batch, written in the batch's
 * transaction: an interrupted import has rows for exactly the batches it committed).
 */
export function importBatchRecorder(registry: Registry, file: string, opts: { update: boolean }): (b: { batch: number; firstLine: number; lastLine: number; counts: ImportCounts }) => void {
  const trail = new AuditTrail(new AuditStore(registry.db));
  const user = localUser();
  const where = path.resolve(file);
  return (b) => {
    const c = b.counts;
    trail.record({
      identity: 'local',
      authenticated: true,
      origin: { transport: 'import' },
      op: 'import',
      handle: null,
      detail: {
        file: where,
        batch: b.batch,
        lines: [b.firstLine, b.lastLine],
        rows: c.rows,
        created: c.created,
        updated: c.updated,
        unchanged: c.unchanged,
        changed: c.changed,
        bad: c.bad,
        ...(opts.update ? { update: true } : {}),
        ...(user ? { user } : {}),
      },
      responseCode: ResponseCode.SUCCESS,
      message: '',
    });
  };
}
