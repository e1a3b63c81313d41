import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../node/config.js';
import { isPureResolver } from '../node/node.js';
import { type RegistrySummary, backupRegistry } from '../store/backup.js';
import { POSITION_SETTING } from '../store/replication-settings.js';
import { openRegistry } from './open-registry.js';
import { printJson } from './values.js';
import { dirOption } from './options.js';
import { formatCount } from './progress-bar.js';
import { UsageError } from './usage-error.js';

// `idres backup --out FILE`: a consistent copy of the node's registry, taken while the node serves and
// writes (docs/operations.md, Backup and restore). What the copy holds on stdout, progress on stderr.

export interface BackupOptions {
  dir: string;
  out: string;
  force: boolean;
  json: boolean;
  progress: boolean;
}

/** Registries of more pages than this report their progress (4 KiB pages: 64 MiB). */
const PROGRESS_FROM_PAGES = 16384;

/** What a registry file holds, a fact a line (backup and restore print the same). */
export function summaryLines(s: RegistrySummary): string[] {
  return [
    `schema version: ${s.schemaVersion}`,
    `handles: ${s.handles}`,
    `last txn: ${s.lastTxnId}`,
    `${POSITION_SETTING}: ${s.primaryTxn ?? 'none'}`,
    `homed prefixes: ${s.homedPrefixes.join(' ') || 'none'}`,
    `fold suffix: ${s.foldSuffix ? 'on' : 'off'}`,
    `size: ${s.bytes} bytes`,
  ];
}

export function summaryJson(s: RegistrySummary): Record<string, unknown> {
  const position = s.primaryTxn === undefined ? null : /^\d+$/.test(s.primaryTxn) ? Number(s.primaryTxn) : s.primaryTxn;
  return {
    schemaVersion: s.schemaVersion,
    handles: s.handles,
    lastTxnId: s.lastTxnId,
    primaryTxn: position,
    homedPrefixes: s.homedPrefixes,
    foldSuffix: s.foldSuffix,
    bytes: s.bytes,
  };
}

export async function backupCommand(o: BackupOptions): Promise<void> {
  const config = loadConfig(o.dir); // a missing or bad configuration is named before anything is opened
  if (isPureResolver(config)) throw new UsageError(`the node in ${o.dir} is a pure resolver: it keeps no registry to back up`);
  // Opening a registry that is not there would make an empty one.
  if (!existsSync(path.join(o.dir, config.database))) throw new UsageError(`${path.join(o.dir, config.database)} does not exist: nothing to back up`);
  const registry = openRegistry(o.dir);
  let shown = -1;
  let summary: RegistrySummary;
  try {
    summary = await backupRegistry(registry, o.out, {
      force: o.force,
      progress: ({ totalPages, remainingPages, restarted }) => {
        if (!o.progress || totalPages < PROGRESS_FROM_PAGES) return;
        const percent = Math.floor((100 * (totalPages - remainingPages)) / totalPages);
        if (percent < shown + 10 && !(restarted && shown >= 0 && percent < shown)) return;
        shown = percent;
        process.stderr.write(`backup: ${percent}% of ${formatCount(totalPages)} pages${restarted ? ' (restarted after a write; copying the rest in one step)' : ''}\n`);
      },
    });
  } finally {
    registry.close();
  }
  if (o.json) return printJson({ backup: path.resolve(summary.file), ...summaryJson(summary) });
  console.log(`backup: ${path.resolve(summary.file)}`);
  for (const line of summaryLines(summary)) console.log(line);
}

/** `idres backup`: a copy of the registry, made while the node runs. */
export function addBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('copy the node\'s registry to a file, consistently, while the node serves and writes (docs/operations.md)')
    .addOption(dirOption())
    .requiredOption('-o, --out <file>', 'the backup file to write (written as FILE.partial, renamed when whole)')
    .option('--force', 'replace the file if it exists')
    .option('--json', 'print what the copy holds as JSON')
    .option('--no-progress', 'no progress lines on stderr (shown for registries over 64 MiB)')
    .action((o) => backupCommand({ dir: o.dir, out: o.out, force: Boolean(o.force), json: Boolean(o.json), progress: o.progress }));
}
