import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../node/config.js';
import { isPureResolver } from '../node/node.js';
import { normalisePrefix } from '../model/handle.js';
import { stageRestore } from '../store/backup.js';
import { UsageError } from './usage-error.js';
import { printJson } from './values.js';
import { dirOption } from './options.js';
import { summaryJson, summaryLines } from './backup.js';

// `idres restore --from FILE`: a node folder's registry brought back from a backup (docs/operations.md,
// Backup and restore). The node must be stopped; the registry replaced is kept beside the new one.

export interface RestoreOptions {
  dir: string;
  from: string;
  force: boolean;
  json: boolean;
}

export function restoreCommand(o: RestoreOptions): void {
  const config = loadConfig(o.dir);
  if (isPureResolver(config)) throw new UsageError(`the node in ${o.dir} is a pure resolver: it keeps no registry to restore`);
  const live = path.join(o.dir, config.database);
  if (existsSync(live) && !o.force) {
    throw new UsageError(`${live} exists; use --force to replace it with the backup (it is kept as ${path.basename(live)}.before-restore-TIMESTAMP)`);
  }
  const staged = stageRestore(live, o.from);
  const s = staged.summary;
  if (s.foldSuffix !== config.caseFoldSuffix) {
    staged.discard();
    throw new UsageError(
      `the backup was made with suffix case folding ${s.foldSuffix ? 'on' : 'off'} and this node's caseFoldSuffix is ${config.caseFoldSuffix}: ` +
        `the node would refuse to open it. Set "caseFoldSuffix": ${s.foldSuffix} in ${path.join(o.dir, 'idres.json')} first; nothing was changed`,
    );
  }
  const { keptAs } = staged.install();
  const warnings: string[] = [];
  const homed = new Set(s.homedPrefixes.map(normalisePrefix));
  const configured = new Set(config.prefixes.map(normalisePrefix));
  const onlyConfigured = config.prefixes.filter((p) => !homed.has(normalisePrefix(p)));
  const onlyHomed = s.homedPrefixes.filter((p) => !configured.has(normalisePrefix(p)));
  if (onlyConfigured.length > 0 || onlyHomed.length > 0) {
    warnings.push(
      `the backup homes ${s.homedPrefixes.join(' ') || 'no prefix'}; this node's configuration lists ${config.prefixes.join(' ') || 'none'}` +
        (onlyConfigured.length > 0 ? `; the node will also home ${onlyConfigured.join(' ')} when it starts` : '') +
        (onlyHomed.length > 0 ? `; ${onlyHomed.join(' ')} stays homed from the backup` : ''),
    );
  }
  for (const w of warnings) console.error(`idres: warning: ${w}`);
  if (o.json) {
    return printJson({
      restored: path.resolve(live),
      from: path.resolve(o.from),
      ...summaryJson(s),
      ...(staged.fromVersion !== s.schemaVersion ? { migratedFrom: staged.fromVersion } : {}),
      keptAs: keptAs === undefined ? null : path.resolve(keptAs),
      warnings,
    });
  }
  console.log(`restored ${path.resolve(o.from)} into ${path.resolve(live)}`);
  for (const line of summaryLines(s)) console.log(line);
  if (staged.fromVersion !== s.schemaVersion) console.log(`migrated: from schema version ${staged.fromVersion}`);
  console.log(`previous registry: ${keptAs === undefined ? 'none' : `kept as ${path.resolve(keptAs)}`}`);
}

/** `idres restore`: a stopped node's registry replaced by a backup. */
export function addRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description('replace a stopped node\'s registry with a backup, after checking it (docs/operations.md)')
    .addOption(dirOption())
    .requiredOption('-f, --from <file>', 'the backup file (from idres backup)')
    .option('--force', 'replace the registry the folder has (it is kept as REGISTRY.before-restore-TIMESTAMP)')
    .option('--json', 'print what was restored as JSON')
    .action((o) => restoreCommand({ dir: o.dir, from: o.from, force: Boolean(o.force), json: Boolean(o.json) }));
}
