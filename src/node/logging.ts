import path from 'node:path';
import type { NodeConfig } from './config.js';
import type { SecuritySink } from '../admin/security-log.js';
import { AccessLog } from '../wire/access-log.js';
import { type LogLevel, type Logger, createLogger } from '../log/logger.js';
import { HandlerProblems, ProblemLog } from '../log/problems.js';

// A node's logging, made from its configuration (`log`) and how it was started: the logger, the limit on
// lines input can cause, the access log. One place, so the composition (node.ts) only hands the parts out.

export interface LoggingStartOptions {
  /** Each log line (JSON) to this function instead of standard error: tests capture lines with it. */
  log?: (line: string) => void;
  /** A logger made by the caller (the CLI's, at its --log-level); wins over `log`. */
  logger?: Logger;
  /** Override the configured log.level (`idres serve --log-level`). */
  logLevel?: LogLevel;
}

export class NodeLogging {
  /** Where the security log's lines go unless a test hands in a sink of its own. */
  readonly securitySink: SecuritySink;
  readonly handlerProblems: HandlerProblems;
  /** Rate-limited writers for the parts that report internal errors as text (HTTP, the DNS gateway). */
  readonly httpErrors: (msg: string) => void;
  readonly dnsErrors: (msg: string) => void;

  private constructor(
    readonly logger: Logger,
    readonly problems: ProblemLog,
    readonly access: AccessLog,
  ) {
    this.securitySink = logger;
    this.handlerProblems = new HandlerProblems(problems);
    this.httpErrors = problems.kind('http', 'internal_error', 'error').text;
    this.dnsErrors = problems.kind('dns', 'internal_error', 'error').text;
  }

  static create(dir: string, config: NodeConfig, opts: LoggingStartOptions, clock: () => number): NodeLogging {
    const level = opts.logLevel ?? config.log.level;
    const logger = opts.logger ?? createLogger({ level, ...(opts.log ? { sink: opts.log } : {}) });
    const problems = new ProblemLog(logger, { intervalMs: config.log.intervalSeconds * 1000, linesPerInterval: config.log.linesPerInterval }, clock);
    const a = config.log.access;
    const access = new AccessLog({ sampleRate: a.sampleRate, logger, ...(a.file ? { file: path.resolve(dir, a.file) } : {}) });
    return new NodeLogging(logger, problems, access);
  }

  /** A function-shaped writer for a component's lines at info (messages such as a worker's start). */
  info(component: string, event: string): (msg: string) => void {
    const log = this.logger.child({ component });
    return (msg) => log.info({ event }, msg);
  }

  /** Write the counts of intervals that are over (the node's timer). */
  flush(): void {
    this.problems.flush();
  }

  /** Open the access log's file again (after a rotation moved it: SIGHUP on `idres serve`). */
  reopen(): void {
    this.access.reopen();
  }

  close(): void {
    this.problems.flush(true);
    this.access.close();
  }
}
