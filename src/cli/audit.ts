import { closeSync, openSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { responseCodeName } from '../protocol/constants.js';
import { type AuditQuery, type AuditRow, AuditStore } from '../store/audit-store.js';
import { withRegistry } from './open-registry.js';
import { UsageError } from './usage-error.js';
import { printJson } from './values.js';
import { dirOption } from './options.js';
import { positiveIntOption } from './numbers.js';

// `idres audit`: the audit log of administrative changes (docs/operations.md) — read from the node folder's
// registry (any process's writes, the running node's included), filtered, printed or exported.

export interface AuditCommandOptions {
  dir: string;
  since?: string;
  until?: string;
  handle?: string;
  identity?: string;
  limit?: number;
  json?: boolean;
  export?: string;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "30m", "2h", "7d", "1w" (that long ago), or an ISO 8601 date or time ("2026-05-01", "2026-05-01T08:00Z"). */
export function parseTime(text: string, now = Date.now()): number {
  const rel = /^(\d+)\s*([smhdw])$/i.exec(text.trim());
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]!.toLowerCase()]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const t = Date.parse(text.trim());
    if (!Number.isNaN(t)) return t;
  }
  throw new UsageError(`"${text}" is not a time: give 30m, 2h, 7d, 1w (that long ago) or a date such as 2026-05-01 or 2026-05-01T08:00Z`);
}

/** A row as `--json` and the NDJSON export write it. */
export function rowJson(r: AuditRow): Record<string, unknown> {
  return {
    id: r.id,
    time: new Date(r.at).toISOString(),
    identity: r.identity,
    authenticated: r.authenticated,
    transport: r.transport,
    address: r.address,
    op: r.op,
    handle: r.handle,
    responseCode: r.responseCode,
    code: r.op === 'suppressed' ? null : responseCodeName(r.responseCode),
    message: r.message,
    detail: r.detail,
  };
}

const CSV_COLUMNS = ['id', 'time', 'identity', 'authenticated', 'transport', 'address', 'op', 'handle', 'response_code', 'code', 'message', 'detail'];

function csvCell(v: unknown): string {
  const t = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

function csvLine(r: AuditRow): string {
  const j = rowJson(r);
  return [j.id, j.time, j.identity, j.authenticated, j.transport, j.address, j.op, j.handle, j.responseCode, j.code, j.message, j.detail].map(csvCell).join(',') + '\n';
}

/** "+1:URL ~100:HS_ADMIN -2:EMAIL": what a change did, in a few characters. */
function changeText(r: AuditRow): string {
  const d = r.detail;
  const pairs = (k: string, sign: string) => (Array.isArray(d[k]) ? (d[k] as Array<[number, string]>).map(([i, t]) => `${sign}${i}:${t}`) : []);
  const parts = [...pairs('added', '+'), ...pairs('changed', '~'), ...pairs('removed', '-')];
  if (r.op === 'import') parts.push(`batch ${String(d.batch)}: ${String(d.rows)} rows, ${String(d.created)} created, ${String(d.updated)} updated`);
  if (r.op === 'grant' || r.op === 'revoke') parts.unshift(String(d.administrator ?? ''));
  if (r.op === 'suppressed') parts.push(`${String(d.refusals)} refusals`);
  return parts.join(' ');
}

function table(rows: readonly AuditRow[]): string {
  const head = ['time', 'identity', 'from', 'op', 'handle', 'result', 'change'];
  const lines = rows.map((r) => [
    new Date(r.at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.identity + (r.authenticated || r.identity === 'anonymous' ? '' : ' (unproven)'),
    r.address ? `${r.transport} ${r.address}` : r.transport,
    r.op,
    r.handle ?? '',
    r.op === 'suppressed' ? '' : r.responseCode === 1 ? 'ok' : `${r.responseCode} ${responseCodeName(r.responseCode)}${r.message ? `: ${r.message}` : ''}`,
    changeText(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(head), ...lines.map(fmt)].join('\n');
}

export async function auditCommand(o: AuditCommandOptions): Promise<void> {
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 1)) throw new UsageError('--limit must be a whole number from 1');
  const q: AuditQuery = {
    ...(o.since !== undefined ? { since: parseTime(o.since) } : {}),
    ...(o.until !== undefined ? { until: parseTime(o.until) } : {}),
    ...(o.handle !== undefined ? { handle: o.handle } : {}),
    ...(o.identity !== undefined ? { identity: o.identity === 'local' || o.identity === 'anonymous' ? o.identity : normaliseIdentity(o.identity) } : {}),
  };
  await withRegistry(o.dir, (registry) => {
    const store = new AuditStore(registry.db);
    if (o.export !== undefined) return exportTo(store, q, o.export, o.limit, o.json ?? false);
    const rows = store.latest(q, o.limit ?? 50);
    if (o.json) return printJson({ entries: rows.map(rowJson) });
    if (rows.length === 0) return void console.log('no audit entries match');
    console.log(table(rows));
  });
}

/** "0.NA/88.118.8:300" (as --auth takes it) is "300:0.NA/88.118.8" (as the log names it). */
function normaliseIdentity(text: string): string {
  const t = text.trim();
  if (/^\d+:/.test(t)) return t;
  const m = /^(.+):(\d+)$/.exec(t);
  return m ? `${m[2]}:${m[1]}` : t;
}

function exportTo(store: AuditStore, q: AuditQuery, file: string, limit: number | undefined, json: boolean): void {
  const lower = file.toLowerCase();
  const format = lower.endsWith('.csv') ? 'csv' : lower.endsWith('.ndjson') || lower.endsWith('.jsonl') ? 'ndjson' : undefined;
  if (!format) throw new UsageError(`--export ${file}: the file name must end in .ndjson (one JSON object a line) or .csv`);
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let n = 0;
  try {
    if (format === 'csv') writeSync(fd, CSV_COLUMNS.join(',') + '\n');
    // With --limit, the most recent rows; without, every row, a page at a time.
    const rows: Iterable<AuditRow> = limit !== undefined ? store.latest(q, limit) : store.each(q);
    for (const r of rows) {
      writeSync(fd, format === 'csv' ? csvLine(r) : JSON.stringify(rowJson(r)) + '\n');
      n++;
    }
  } finally {
    closeSync(fd);
  }
  if (json) printJson({ exported: n, file, format });
  else console.log(`exported ${n} audit ${n === 1 ? 'entry' : 'entries'} to ${file}`);
}

/** `idres audit`, added to the program (each command's file adds its own). */
export function addAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('the audit log of administrative changes: who changed what, from where, with what result (docs/operations.md)')
    .addOption(dirOption())
    .option('--since <time>', 'entries at or after: 30m, 2h, 7d, 1w ago, or a date/time such as 2026-05-01 or 2026-05-01T08:00Z')
    .option('--until <time>', 'entries before (the same forms)')
    .option('--handle <handle>', 'entries about this handle (or prefix, for home/unhome)')
    .option('--identity <identity>', 'entries by this identity: INDEX:HANDLE, "local" (the CLI on the folder) or "anonymous"')
    .option('--limit <n>', 'the most recent n entries (default 50; an export has every entry unless given)', positiveIntOption('--limit'))
    .option('--json', 'print the entries as JSON')
    .option('--export <file>', 'write the entries to FILE.ndjson (one JSON object a line) or FILE.csv')
    .action((o) =>
      auditCommand({
        dir: o.dir,
        ...(o.since !== undefined ? { since: o.since } : {}),
        ...(o.until !== undefined ? { until: o.until } : {}),
        ...(o.handle !== undefined ? { handle: o.handle } : {}),
        ...(o.identity !== undefined ? { identity: o.identity } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(o.export !== undefined ? { export: o.export } : {}),
        json: Boolean(o.json),
      }),
    );
}
