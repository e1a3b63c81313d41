import { pino, type Logger } from 'pino';
import type { LogLevel } from './levels.js';
import { prettyLine } from './pretty.js';

// The node's logger (docs/operations.md): pino, one JSON object a line; readable lines when the log goes to a
// terminal. Every line names the part of the node that wrote it (`component`) and what happened (`event`), so
// an operator can filter by field instead of matching text.
//
// The seam: a logger can be made to hand each JSON line to a function (`sink`), which is what tests (and an
// embedding program with a log system of its own) use to capture lines.

export type { Logger };

export { LOG_LEVELS, type LogLevel, isLogLevel } from './levels.js';

export interface LoggerOptions {
  level?: LogLevel;
  /** Each line, as JSON without its newline, to this function instead of a stream. */
  sink?: (line: string) => void;
  /** JSON, readable lines, or readable lines only when the stream is a terminal (the default). */
  format?: 'json' | 'pretty' | 'auto';
  /** Where lines go without a sink (default: standard error). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; fd?: number };
  /** Colours in readable lines (default: when the stream is a terminal and NO_COLOR is not set). */
  colors?: boolean;
}

/** The pino settings every idres logger shares: the level by name, an ISO time, no hostname. */
function pinoOptions(level: LogLevel): pino.LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const level = o.level ?? 'info';
  if (o.sink) {
    const sink = o.sink;
    return pino(pinoOptions(level), { write: (s: string) => sink(s.endsWith('\n') ? s.slice(0, -1) : s) });
  }
  const stream = o.stream ?? process.stderr;
  const pretty = o.format === 'pretty' || ((o.format ?? 'auto') === 'auto' && stream.isTTY === true);
  if (pretty) {
    const colors = o.colors ?? (stream.isTTY === true && !process.env.NO_COLOR);
    return pino(pinoOptions(level), { write: (s: string) => void stream.write(prettyLine(s, { colors })) });
  }
  // Synchronous writes to standard error: a line is out before the process can die (lines are few: what
  // could be many is rate-limited before it gets here, and the access log has a file of its own).
  if (stream === process.stderr) return pino(pinoOptions(level), pino.destination({ dest: 2, sync: true }));
  return pino(pinoOptions(level), { write: (s: string) => void stream.write(s) });
}
