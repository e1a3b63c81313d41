import net from 'node:net';
import { ENVELOPE_SIZE, Limits, ResponseCode } from '../protocol/constants.js';
import { DecodeError } from '../protocol/errors.js';
import { type Packet, decodePacket } from '../protocol/message.js';
import { ClientError, type ServerAddress } from './handle-client.js';

// One request over TCP whose answer may be a streamed response (the replication operations,
// docs/replication.md): a message, and when it is a success, a stream of bytes after it that the caller's
// consumer reads until it says the stream is complete. An answer that is not a success (a 402 challenge,
// an error) is one message and is returned as it is.

export interface StreamConsumer {
  /** Bytes of the stream, in order; true once the stream's end record has been read. Throws to abandon it. */
  data(chunk: Buffer): boolean;
}

export interface StreamExchangeResult {
  /** The message that answered the request. */
  packet: Packet;
  /** True when a stream followed it and was read to its end. */
  streamed: boolean;
}

/**
 * Send `packet` and read the answer. With `streamed`, a successful answer is the message that opens a
 * stream, whose bytes go to the consumer. `idleMs` bounds the wait for each next piece, not the whole stream
 * (a first copy of millions of handles takes as long as it takes).
 */
export function streamExchange(
  server: ServerAddress,
  request: Buffer,
  consumer: StreamConsumer,
  opts: { idleMs: number; streamed: boolean; localAddress?: string },
): Promise<StreamExchangeResult> {
  return new Promise<StreamExchangeResult>((resolve, reject) => {
    let head: Packet | undefined;
    let pending: Buffer = Buffer.alloc(0);
    let settled = false;
    const socket = net.connect({ host: server.host, port: server.port, noDelay: true, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const done = (err?: Error, streamed = false) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve({ packet: head!, streamed });
    };
    socket.setTimeout(opts.idleMs, () => done(new ClientError(`${server.host}:${server.port} sent nothing for ${opts.idleMs} ms`, 'timeout')));
    socket.on('connect', () => socket.write(request));
    socket.on('error', (e) => done(new ClientError(`TCP ${server.host}:${server.port}: ${e.message}`, 'network')));
    socket.on('close', () => done(new ClientError(head ? 'the stream ended before its end record' : 'connection closed before an answer', 'network')));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        if (head) {
          if (consumer.data(chunk)) done(undefined, true);
          return;
        }
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        if (pending.length < ENVELOPE_SIZE) return;
        const len = pending.readUInt32BE(16);
        if (len > Limits.MAX_MESSAGE_LENGTH) throw new DecodeError(`response length ${len} over the limit`);
        if (pending.length < ENVELOPE_SIZE + len) return;
        head = decodePacket(pending.subarray(0, ENVELOPE_SIZE + len));
        const rest = pending.subarray(ENVELOPE_SIZE + len);
        pending = Buffer.alloc(0);
        if (head.header.responseCode !== ResponseCode.SUCCESS || !opts.streamed) return done();
        if (rest.length > 0 && consumer.data(rest)) done(undefined, true);
      } catch (err) {
        done(err instanceof ClientError ? err : new ClientError(`malformed answer from ${server.host}:${server.port}: ${(err as Error).message}`, 'protocol'));
      }
    });
  });
}
