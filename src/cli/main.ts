import { Command, CommanderError } from 'commander';
import { ConfigError } from '../node/config.js';
import { HandleSyntaxError } from '../model/handle.js';
import { RegistryError } from '../store/registry.js';
import { BackupError } from '../store/backup.js';
import { ClientError } from '../client/handle-client.js';
import { DnsMappingError } from '../dns/mapping.js';
import { KeyFileError } from '../protocol/keyfile.js';
import { UsageError } from './usage-error.js';
import { addInitCommand } from './init.js';
import { addServeCommand } from './serve.js';
import { addRegisterCommand } from './register.js';
import { addDeleteCommand, addKeysCommand, addListCommand, addUpdateCommand } from './admin.js';
import { addAdminCommand } from './administrators.js';
import { addStatusCommand } from './status.js';
import { addImportCommand } from './import.js';
import { addResolveCommand } from './resolve.js';
import { addPrefixCommand } from './prefix.js';
import { addDnsNameCommand } from './dns-name.js';
import { addDemoCommand } from './demo.js';
import { addBenchCommand } from './bench.js';
import { addQuickstartCommand } from './quickstart.js';
import { addAuditCommand } from './audit.js';
import { addMirrorCommand } from './mirror.js';
import { addBackupCommand } from './backup.js';
import { addRestoreCommand } from './restore.js';
import { addCheckCommand } from './check.js';

// The command line: each command is defined, options and all, in its own file; this is the list, in the
// order help shows them.

export function buildProgram(): Command {
  const program = new Command('idres')
    .description('Identifier resolution for the Industrial Internet: a Handle protocol (2.11) node over UDP and TCP.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    // A missing or unknown option is bad input like any other: exit status 2 (main below), not commander's 1.
    .exitOverride();
  addInitCommand(program);
  addServeCommand(program);
  addRegisterCommand(program);
  addUpdateCommand(program);
  addDeleteCommand(program);
  addListCommand(program);
  addAdminCommand(program);
  addStatusCommand(program);
  addKeysCommand(program);
  addImportCommand(program);
  addResolveCommand(program);
  addPrefixCommand(program);
  addDnsNameCommand(program);
  addDemoCommand(program);
  addBenchCommand(program);
  addQuickstartCommand(program);
  addAuditCommand(program);
  addMirrorCommand(program);
  addBackupCommand(program);
  addRestoreCommand(program);
  addCheckCommand(program);
  return program;
}

/** Errors a user can act on are printed as one line; anything else is a bug and keeps its stack. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help); --help and --version end well.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof RegistryError ||
      err instanceof BackupError ||
      err instanceof HandleSyntaxError ||
      err instanceof ClientError ||
      err instanceof DnsMappingError ||
      err instanceof KeyFileError
    ) {
      console.error(`idres: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
