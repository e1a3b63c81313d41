import type Database from 'better-sqlite3';

// The audit log's table (migration 4 in schema.ts): one row per administrative change or refusal. Written in
// the transaction of the change it records, so a change and its record commit together or not at all; read
// by `idres audit`, by any process that opens the registry.

export interface AuditRow {
  id: number;
  /** Unix milliseconds. */
  at: number;
  /** INDEX:HANDLE, "local" (the operator's CLI on the node folder) or "anonymous". */
  identity: string;
  /** The identity was proven (or is local); false: only claimed, or none at all. */
  authenticated: boolean;
  /** wire, http, cli or import. */
  transport: string;
  /** The client's address (wire, http); null for the CLI and imports. */
  address: string | null;
  op: string;
  handle: string | null;
  /** What changed ({added, changed, removed}: [index, type] pairs) and what the operation adds; never secret values. */
  detail: Record<string, unknown>;
  responseCode: number;
  message: string;
}

export type NewAuditRow = Omit<AuditRow, 'id'>;

export interface AuditQuery {
  /** At or after (Unix ms). */
  since?: number;
  /** Before (Unix ms). */
  until?: number;
  handle?: string;
  identity?: string;
  /** Rows after this id (paging). */
  afterId?: number;
}

type Raw = {
  id: number;
  at: number;
  identity: string;
  authenticated: number;
  transport: string;
  address: string | null;
  op: string;
  handle: string | null;
  detail: string;
  response_code: number;
  message: string;
};

function rowOf(r: Raw): AuditRow {
  let detail: Record<string, unknown>;
  try {
    detail = JSON.parse(r.detail) as Record<string, unknown>;
  } catch {
    detail = { unreadable: r.detail };
  }
  return {
    id: r.id,
    at: r.at,
    identity: r.identity,
    authenticated: r.authenticated === 1,
    transport: r.transport,
    address: r.address,
    op: r.op,
    handle: r.handle,
    detail,
    responseCode: r.response_code,
    message: r.message,
  };
}

export class AuditStore {
  private readonly insertRow: Database.Statement;
  private readonly pruneRows: Database.Statement<[number, number]>;
  private readonly countRows: Database.Statement<[], { n: number }>;

  constructor(readonly db: Database.Database) {
    this.insertRow = db.prepare(
      `INSERT INTO audit_log (at, identity, authenticated, transport, address, op, handle, detail, response_code, message)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // In slices, so that pruning a large backlog does not hold the write lock for long.
    this.pruneRows = db.prepare('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT ?)');
    this.countRows = db.prepare('SELECT count(*) AS n FROM audit_log');
  }

  /** Add a row (in the caller's transaction, if one is open); its id. */
  insert(r: NewAuditRow): number {
    const info = this.insertRow.run(
      r.at,
      r.identity,
      r.authenticated ? 1 : 0,
      r.transport,
      r.address,
      r.op,
      r.handle,
      JSON.stringify(r.detail),
      r.responseCode,
      r.message,
    );
    return Number(info.lastInsertRowid);
  }

  /** Delete rows older than `before` (Unix ms); how many. */
  prune(before: number): number {
    let total = 0;
    for (;;) {
      const n = this.pruneRows.run(before, 10000).changes;
      total += n;
      if (n < 10000) return total;
    }
  }

  count(): number {
    return this.countRows.get()!.n;
  }

  /** The last `limit` rows matching, oldest first. */
  latest(q: AuditQuery, limit: number): AuditRow[] {
    const { where, args } = whereOf(q);
    const rows = this.db
      .prepare<unknown[], Raw>(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT ?`)
      .all(...args, limit);
    return rows.reverse().map(rowOf);
  }

  /** Every row matching, oldest first, read a page at a time (an export of any size in bounded memory). */
  *each(q: AuditQuery, pageSize = 1000): Generator<AuditRow> {
    let after = q.afterId ?? 0;
    const { where, args } = whereOf({ ...q, afterId: undefined });
    const page = this.db.prepare<unknown[], Raw>(`SELECT * FROM audit_log ${where ? `${where} AND` : 'WHERE'} id > ? ORDER BY id LIMIT ?`);
    for (;;) {
      const rows = page.all(...args, after, pageSize);
      for (const r of rows) yield rowOf(r);
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1]!.id;
    }
  }
}

function whereOf(q: AuditQuery): { where: string; args: unknown[] } {
  const terms: string[] = [];
  const args: unknown[] = [];
  if (q.since !== undefined) {
    terms.push('at >= ?');
    args.push(q.since);
  }
  if (q.until !== undefined) {
    terms.push('at < ?');
    args.push(q.until);
  }
  if (q.handle !== undefined) {
    terms.push('handle = ?');
    args.push(q.handle);
  }
  if (q.identity !== undefined) {
    terms.push('identity = ?');
    args.push(q.identity);
  }
  if (q.afterId !== undefined) {
    terms.push('id > ?');
    args.push(q.afterId);
  }
  return { where: terms.length ? `WHERE ${terms.join(' AND ')}` : '', args };
}
