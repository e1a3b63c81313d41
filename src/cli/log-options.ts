import { Option } from 'commander';
import { LOG_LEVELS, type LogLevel } from '../log/levels.js';

// --log-level, for the commands that run nodes (serve, demo).

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log lines below this level are left out (default: the configured log.level, info)').choices([...LOG_LEVELS]);
}

/** The option as the commands take it: absent when not given. */
export function logLevelOf(o: Record<string, unknown>): { logLevel?: LogLevel } {
  return o.logLevel !== undefined ? { logLevel: o.logLevel as LogLevel } : {};
}
