import { closeSync, openSync, writeSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type ImportFormat, ImportFileError, type ImportResult, MAX_WORKERS, type RowProblem, importFile } from '../admin/import.js';
import type { ImportCounts } from '../admin/import-progress.js';
import { loadConfig } from '../node/config.js';
import { openRegistry } from './open-registry.js';
import { importBatchRecorder } from './local-audit.js';
import { Progress, type ProgressMode, formatCount, progressModeFor } from './progress-bar.js';
import { UsageError } from './values.js';
import { dirOption, remoteOf } from './options.js';
import { remoteImportCommand } from './remote-http.js';
import { intRangeOption, positiveIntOption, ttlOption } from './numbers.js';

// `idres import FILE`: bulk registration from CSV or NDJSON (docs/import.md). Progress on stderr, the
// summary on stdout. Exit status: 0 when every row is in the registry as the file gives it, 1 when some
// rows were not applied (bad, or changed without --update), 2 when the file cannot be imported at all,
// 130 when interrupted (run the same command again to resume).

export interface ImportCommandOptions {
  dir: string;
  format?: ImportFormat;
  update: boolean;
  allowUnhomed: boolean;
  errors?: string;
  batchSize: number;
  workers?: number;
  ttl: number;
  admin: boolean;
  restart: boolean;
  progress: 'auto' | ProgressMode;
  /** The summary as JSON on stdout. */
  json?: boolean;
}

/** Problems shown in the summary; the --errors file has them all. */
const SHOWN_PROBLEMS = 20;

function csvCell(s: string | number): string {
  const t = String(s);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

export async function importCommand(file: string, o: ImportCommandOptions): Promise<void> {
  loadConfig(o.dir); // a missing or bad configuration is named before anything is written
  let errorsFd: number | undefined;
  if (o.errors) {
    try {
      errorsFd = openSync(o.errors, 'w');
    } catch (err) {
      throw new UsageError(`cannot write the error report ${o.errors}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    writeSync(errorsFd, 'line,handle,kind,problem\n');
  }
  // Opened with the durability configured for imports (durability.importSynchronous).
  const registry = openRegistry(o.dir, 'import');
  const shown: RowProblem[] = [];
  const progress = new Progress(process.stderr, progressModeFor(process.stderr, o.progress));
  let rowsSoFar = 0;

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130); // a second one: the open batch is rolled back by SQLite
    progress.end();
    process.stderr.write(`idres: ${signal}: stopping after the rows read so far are committed (again to stop at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let result: ImportResult;
  try {
    result = await importFile(registry, file, {
      ...(o.format ? { format: o.format } : {}),
      batchSize: o.batchSize,
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      update: o.update,
      allowUnhomed: o.allowUnhomed,
      admin: o.admin,
      ttl: o.ttl,
      restart: o.restart,
      signal: abort.signal,
      beforeCommit: importBatchRecorder(registry, file, { update: o.update }),
      onStart: (s) => {
        progress.startAt(s.startOffset, s.size);
        if (s.resumedAfterLine !== undefined) progress.note(`import: resuming after line ${s.resumedAfterLine}, where an interrupted run stopped`);
      },
      onRead: (offset, size, rows) => progress.update(offset, size, rows),
      onProblem: (p) => {
        if (shown.length < SHOWN_PROBLEMS) shown.push(p);
        if (errorsFd !== undefined) writeSync(errorsFd, `${p.line},${csvCell(p.handle)},${p.kind},${csvCell(p.reason)}\n`);
      },
      onBatch: (b) => {
        rowsSoFar = b.counts.rows;
        // The acknowledgement: these lines are committed and survive whatever happens to this process next.
        progress.step(`import: committed lines ${b.firstLine}-${b.lastLine} (batch ${b.batch})`, rowsSoFar);
      },
    });
  } catch (err) {
    if (err instanceof ImportFileError) throw new UsageError(err.message);
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      // The batch being written was rolled back; every batch acknowledged before it stays committed.
      throw new UsageError(`writing to the registry failed (${code}: ${(err as Error).message}); the batches acknowledged so far are committed: run the same command again to resume`);
    }
    throw err;
  } finally {
    progress.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (errorsFd !== undefined) closeSync(errorsFd);
    registry.close();
  }
  if (o.json) console.log(JSON.stringify(summaryJson(result, shown), null, 2));
  else console.log(summary(result, shown, o));
  const c = result.counts;
  process.exitCode = result.interrupted ? 130 : c.bad > 0 || c.changed > 0 ? 1 : 0;
}

function countLines(c: ImportCounts, o: ImportCommandOptions): string[] {
  const rows: Array<[string, number, string]> = [
    ['created', c.created, ''],
    ['unchanged', c.unchanged, ''],
    ['changed', c.changed, c.changed ? 'differ from the registry, left as stored: run again with --update to apply' : ''],
    ['updated', c.updated, ''],
    ['bad', c.bad, c.bad ? `not imported${o.errors ? `: listed in ${o.errors}` : ' (--errors FILE lists them all)'}` : ''],
  ];
  const width = Math.max(...rows.map((r) => formatCount(r[1]).length));
  return rows.map(([name, n, note]) => `  ${name.padEnd(10)}${formatCount(n).padStart(width)}${note ? `   ${note}` : ''}`);
}

function summaryJson(r: ImportResult, shown: RowProblem[]): Record<string, unknown> {
  return {
    file: r.file,
    format: r.format,
    interrupted: r.interrupted,
    ...(r.interrupted ? { lastLine: r.lastLine } : {}),
    ...(r.resumed ? { resumedAfterLine: r.resumed.afterLine } : {}),
    seconds: r.elapsedMs / 1000,
    batches: r.batches,
    counts: r.counts,
    problems: shown.map((p) => ({ line: p.line, handle: p.handle, kind: p.kind, problem: p.reason })),
  };
}

function summary(r: ImportResult, shown: RowProblem[], o: ImportCommandOptions): string {
  const c = r.counts;
  const seconds = r.elapsedMs / 1000;
  const out: string[] = [];
  if (r.resumed) {
    const e = r.resumed.counts;
    out.push(
      `resumed after line ${r.resumed.afterLine}: an earlier run had committed ${formatCount(e.rows)} rows ` +
        `(${formatCount(e.created)} created, ${formatCount(e.bad)} bad; use --restart to read the whole file again)`,
    );
  }
  out.push(
    `${r.interrupted ? 'interrupted' : 'imported'} ${r.file} (${r.format}): ${formatCount(c.rows)} rows in ${seconds.toFixed(1)} s ` +
      `(${formatCount(seconds > 0 ? c.rows / seconds : c.rows)} rows/s), ${r.batches} batch${r.batches === 1 ? '' : 'es'}` +
      (r.workers > 0 ? `, rows prepared by ${r.workers} worker thread${r.workers === 1 ? '' : 's'}` : ''),
  );
  out.push(...countLines(c, o));
  if (r.interrupted) {
    out.push(`stopped after line ${r.lastLine}; everything up to it is committed. Run the same command again to resume.`);
  } else if (c.created === 0 && c.updated === 0) {
    out.push('nothing changed: the registry already holds ' + (c.bad || c.changed ? 'every other row' : 'every row') + ' as given');
  }
  if (shown.length > 0) {
    out.push(`${shown.length < c.bad + c.changed ? `first ${shown.length} ` : ''}rows not applied:`);
    for (const p of shown) out.push(`  line ${p.line}  ${p.handle || '(no handle)'}  ${p.kind}: ${p.reason}`);
  }
  return out.join('\n');
}

/** --workers: threads beside the writer, 0 to MAX_WORKERS. */
export const parseWorkers = intRangeOption('--workers', 0, MAX_WORKERS);

/** --batch-size: rows per transaction. */
export const parseBatchSize = positiveIntOption('--batch-size');

/** `idres import`: identifiers in bulk, locally or through a remote HTTP API. */
export function addImportCommand(program: Command): void {
  program
    .command('import')
    .description('register identifiers in bulk from a CSV or NDJSON file (docs/import.md): batched, idempotent, resumable')
    .argument('<file>', 'the file: .csv (a handle column and one column per value type) or .ndjson/.jsonl (one identifier a line)')
    .addOption(dirOption())
    .addOption(new Option('--format <format>', 'the file format, when its name does not say').choices(['csv', 'ndjson']))
    .option('--update', 'replace identifiers whose stored values differ from the file (default: report them, keep what is stored)')
    .option('--errors <file>', 'write every row not applied (line, handle, kind, problem) to this CSV file')
    .option('--allow-unhomed', 'accept handles under prefixes this node does not home')
    .option('--batch-size <rows>', 'rows per transaction', parseBatchSize, 10000)
    .option('--workers <n>', 'threads that parse and check rows beside the writer (default: a core each beyond one, at most 4, for files of 8 MiB or more; 0: none)', parseWorkers)
    .option('--ttl <seconds>', 'TTL of values that do not give one', ttlOption('--ttl'), 86400)
    .option('--no-admin', 'do not add the default HS_ADMIN value (index 100) to rows without one')
    .option('--restart', 'read the file from its first row even if an earlier run of it was interrupted')
    .addOption(new Option('--progress <mode>', 'progress on stderr: a bar on a terminal, else a line per batch').choices(['auto', 'bar', 'lines', 'none']).default('auto'))
    .option('--json', 'print the summary as JSON (local import)')
    .option('--api <url>', "import into a remote node through its HTTP API (one PUT per row; with --auth and --secret or --key)")
    .option('--auth <handle:index>', 'with --api: the administrator identity, e.g. 0.NA/88.118.8:300')
    .option('--key <file>', 'with --api: the identity\'s private key (PEM or the reference\'s key file)')
    .option('--secret <secret>', 'with --api: an HS_SECKEY secret (or IDRES_SECRET)')
    .action((file, o) =>
      o.api !== undefined
        ? remoteImportCommand(file, { ...remoteOf(o), api: o.api, ...(o.format ? { format: o.format } : {}), update: Boolean(o.update), ttl: o.ttl, admin: o.admin })
        : importCommand(file, {
        dir: o.dir,
        ...(o.format ? { format: o.format } : {}),
        update: Boolean(o.update),
        allowUnhomed: Boolean(o.allowUnhomed),
        ...(o.errors ? { errors: o.errors } : {}),
        batchSize: o.batchSize,
        ...(o.workers !== undefined ? { workers: o.workers } : {}),
        ttl: o.ttl,
        admin: o.admin,
        restart: Boolean(o.restart),
        progress: o.progress,
        json: Boolean(o.json),
      }),
    );
}
