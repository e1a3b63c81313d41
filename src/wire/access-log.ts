import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { OpCode, opCodeName, responseCodeName } from '../protocol/constants.js';
import { MessageStream } from '../protocol/message-stream.js';
import { ADMIN_OPCODES } from '../protocol/opcode-sets.js';
import type { Logger } from '../log/logger.js';
import type { PacketHandler, RequestMeta, StreamReply } from './dispatcher.js';

// The access log of Handle requests (docs/operations.md), as the reference server keeps one: for each
// request, the client's address, the transport, the opcode, the handle, the response code and how long the
// answer took in microseconds, one JSON object a line, to a file of its own or to the node's log.
//
// Sampled: one request in round(1/sampleRate). Off (sampleRate 0, the default) nothing is added to the
// path of a request at all: the transports are given the handler itself, not this wrapper. On, a request
// not sampled costs a counter decrement and a compare; only a sampled one reads the clock twice and makes
// its line. A file is written in blocks (at 64 KiB buffered, each second, and when the node stops); a file
// that cannot be written is reported on the log and never stops the node.

/** Opcodes whose body starts with the handle they are about. */
const HANDLE_FIRST: ReadonlySet<number> = new Set([OpCode.RESOLUTION, ...ADMIN_OPCODES]);

/** Longest handle written into a line (the rest is cut: a line must stay a line). */
const MAX_HANDLE_CHARS = 256;

export interface AccessLogOptions {
  /** 0: off; 1: every request; 0.01: one in a hundred. */
  sampleRate: number;
  /** A file (appended to, made if missing), or else the logger (at info, component "access"). */
  file?: string;
  /** The node's logger: the access lines without a file, and an error of the file (which never stops the node). */
  logger?: Logger;
  /** Each line to this function instead (tests). */
  sink?: (line: string) => void;
}

export interface AccessRecord {
  time: string;
  client: string;
  transport: string;
  opcode: string;
  handle?: string;
  rc: number;
  code: string;
  us: number;
}

/** Lines are written when this much is buffered, and at least every FLUSH_MS. */
const BUFFER_CHARS = 64 * 1024;
const FLUSH_MS = 1000;

/**
 * An append-only file written in blocks: lines are buffered and written synchronously when the buffer is
 * full, on a timer and when closed, so memory is bounded and a line is on disk within a second.
 */
class AppendFile {
  private fd: number | undefined;
  private buffer = '';
  private readonly timer: NodeJS.Timeout;
  /** Lines lost to write errors (reported once per error streak). */
  lost = 0;
  private failing = false;

  constructor(
    readonly file: string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.open();
    this.timer = setInterval(() => this.flush(), FLUSH_MS).unref();
  }

  private open(): void {
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a');
      this.failing = false;
    } catch (err) {
      this.fd = undefined;
      this.onError(err);
    }
  }

  write(line: string): void {
    this.buffer += line;
    if (this.buffer.length >= BUFFER_CHARS) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const text = this.buffer;
    this.buffer = '';
    if (this.fd === undefined) {
      this.lost += text.split('\n').length - 1;
      return;
    }
    try {
      writeSync(this.fd, text);
      this.failing = false;
    } catch (err) {
      this.lost += text.split('\n').length - 1;
      if (!this.failing) this.onError(err);
      this.failing = true;
    }
  }

  /** Write what is buffered and open the file again (after a rotation moved it away). */
  reopen(): void {
    this.flush();
    this.closeFd();
    this.open();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Closed already.
    }
    this.fd = undefined;
  }
}

export class AccessLog {
  readonly enabled: boolean;
  /** Sample one request in this many. */
  readonly every: number;
  /** Lines written. */
  lines = 0;
  private countdown = 1;
  private readonly file: AppendFile | undefined;
  private readonly write: (r: AccessRecord) => void;

  constructor(opts: AccessLogOptions) {
    this.enabled = opts.sampleRate > 0;
    this.every = this.enabled ? Math.max(1, Math.round(1 / opts.sampleRate)) : 0;
    if (!this.enabled) {
      this.write = () => undefined;
      return;
    }
    if (opts.sink) {
      const sink = opts.sink;
      this.write = (r) => sink(JSON.stringify(r));
    } else if (opts.file) {
      const where = opts.file;
      const file = new AppendFile(where, (err) =>
        opts.logger?.error({ component: 'access', event: 'file_error', file: where, err }, `the access log cannot be written to ${where}`),
      );
      this.file = file;
      this.write = (r) => file.write(JSON.stringify(r) + '\n');
    } else {
      const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'access' });
      this.write = ({ time: _time, ...r }) => log.info({ event: 'request', ...r });
    }
  }

  /** The handler the transports should call: `inner` itself when the log is off. */
  wrap(inner: PacketHandler): PacketHandler {
    if (!this.enabled) return inner;
    const handle = (bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply> => {
      if (--this.countdown > 0) return inner.handle(bytes, meta);
      this.countdown = this.every;
      const started = performance.now();
      const reply = inner.handle(bytes, meta);
      if (reply instanceof Promise) {
        return reply.then((r) => {
          this.record(bytes, meta, r, started);
          return r;
        });
      }
      this.record(bytes, meta, reply, started);
      return reply;
    };
    return { handle } as PacketHandler;
  }

  private record(bytes: Buffer, meta: RequestMeta, reply: StreamReply, started: number): void {
    const us = Math.round((performance.now() - started) * 1000);
    try {
      const op = bytes.length >= 24 ? bytes.readUInt32BE(20) : -1;
      const rc = responseCodeOf(reply);
      const handle = HANDLE_FIRST.has(op) ? handleOf(bytes) : undefined;
      this.write({
        time: new Date().toISOString(),
        client: meta.peer ?? '',
        transport: meta.transport,
        opcode: op < 0 ? 'none' : opCodeName(op),
        ...(handle !== undefined ? { handle } : {}),
        rc,
        code: rc < 0 ? 'NO_ANSWER' : responseCodeName(rc),
        us,
      });
      this.lines++;
    } catch {
      // The access log never changes an answer.
    }
  }

  /** Open the file again (after it was moved away by a log rotation). */
  reopen(): void {
    this.file?.reopen();
  }

  /** Write what is buffered and close the file. */
  close(): void {
    this.file?.close();
  }
}

/** The response code of an answer (the first message's), or -1 for none (dropped). */
function responseCodeOf(reply: StreamReply): number {
  if (reply === null) return -1;
  if (reply instanceof MessageStream) return reply.responseCode;
  const first = Array.isArray(reply) ? reply[0] : reply;
  return first && first.length >= 28 ? first.readUInt32BE(24) : -1;
}

/** The handle at the start of a plain (not encrypted) request's body, or undefined. */
function handleOf(b: Buffer): string | undefined {
  if (b.length < 48 || b[2]! & 0x40) return undefined;
  const n = b.readUInt32BE(44);
  if (n > b.length - 48) return undefined;
  return b.toString('utf8', 48, 48 + Math.min(n, MAX_HANDLE_CHARS));
}
