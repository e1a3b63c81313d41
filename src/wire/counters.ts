import { MessageStream } from '../protocol/message-stream.js';
import type { PacketHandler, Reply, RequestMeta, StreamReply } from './dispatcher.js';

// Answers of the Handle transports by transport, opcode and response code, read from the reply packet
// itself (opcode at byte 20, response code at byte 24, after the 20-byte envelope), so the handler's hot path
// is not touched: counting is two reads and one increment in a flat array. Latency is sampled (one request
// in SAMPLE_EVERY): a clock read per packet would cost more than the cached answer it measures.

const TRANSPORTS = ['udp', 'tcp'] as const;
/** Opcodes in use fall in four bands of 16 (0–15, 100–115, 200–215, 400–415); anything else shares the last slot. */
const OP_SLOTS = 65;
/** Response codes: bands of 16 at 0, 100, 200, 300, 400, 500 and 600; the rest share the last slot. */
const RC_SLOTS = 113;
const OP_BANDS = [0, 100, 200, 400];
const RC_BANDS = [0, 100, 200, 300, 400, 500, 600];
/** A power of two (the test is a mask). */
export const SAMPLE_EVERY = 64;

function slot(v: number, bands: readonly number[], other: number): number {
  for (let b = 0; b < bands.length; b++) {
    const d = v - bands[b]!;
    if (d >= 0 && d < 16) return b * 16 + d;
  }
  return other;
}

/** value → slot for values below 1024, precomputed so counting is a table read, not a search. */
function slotTable(bands: readonly number[], other: number): Uint8Array {
  const t = new Uint8Array(1024);
  for (let v = 0; v < 1024; v++) t[v] = slot(v, bands, other);
  return t;
}
const OP_TABLE = slotTable(OP_BANDS, OP_SLOTS - 1);
const RC_TABLE = slotTable(RC_BANDS, RC_SLOTS - 1);

function unslot(s: number, bands: readonly number[]): number | 'other' {
  const b = Math.floor(s / 16);
  return b < bands.length ? bands[b]! + (s % 16) : 'other';
}

export interface CountRow {
  transport: string;
  opcode: number | 'other';
  code: number | 'other';
  count: number;
}

export class WireCounters {
  private readonly counts = new Float64Array(TRANSPORTS.length * OP_SLOTS * RC_SLOTS);
  private tick = 0;
  /** Sampled latencies (seconds) not yet taken by the metrics, per transport; bounded. */
  readonly samples: number[][] = TRANSPORTS.map(() => []);
  /** Requests that got no answer (dropped or a stray response), per transport. */
  readonly unanswered = new Float64Array(TRANSPORTS.length);

  count(transport: 'udp' | 'tcp', replies: StreamReply): void {
    const t = transport === 'udp' ? 0 : 1;
    let reply: Buffer | null | undefined;
    // One type test for the common answer, a single message (as before this took Array.isArray).
    if (replies instanceof Uint8Array) reply = replies;
    else if (replies instanceof MessageStream) {
      // A streamed answer (LIST_HANDLES) is many messages made later: counted once, by what it says it is.
      const op = replies.opCode < 1024 ? OP_TABLE[replies.opCode]! : OP_SLOTS - 1;
      const rc = replies.responseCode < 1024 ? RC_TABLE[replies.responseCode]! : RC_SLOTS - 1;
      this.counts[(t * OP_SLOTS + op) * RC_SLOTS + rc]!++;
      return;
    } else reply = replies ? replies[0] : null; // several messages: counted once, by the first
    if (!reply || reply.length < 28) {
      this.unanswered[t]!++;
      return;
    }
    // Byte reads rather than readUInt32BE: no bounds checks beyond the length test above. Values of 1024
    // and over (two high bytes set, or the third above 3) take the "other" slot.
    const op = (reply[20]! | reply[21]! | (reply[22]! & 0xfc)) === 0 ? OP_TABLE[(reply[22]! << 8) | reply[23]!]! : OP_SLOTS - 1;
    const rc = (reply[24]! | reply[25]! | (reply[26]! & 0xfc)) === 0 ? RC_TABLE[(reply[26]! << 8) | reply[27]!]! : RC_SLOTS - 1;
    this.counts[(t * OP_SLOTS + op) * RC_SLOTS + rc]!++;
  }

  /** A packet handler that counts what the inner one answers, and times one request in SAMPLE_EVERY. */
  wrap(inner: () => PacketHandler): PacketHandler {
    return new CountingHandler(this, inner);
  }

  /** One request handled: count its answer and, one in SAMPLE_EVERY, its time. */
  handleCounted(h: PacketHandler, bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply> {
    const sampled = (++this.tick & (SAMPLE_EVERY - 1)) === 0;
    const started = sampled ? process.hrtime.bigint() : 0n;
    const r = h.handle(bytes, meta);
    if (r instanceof Promise) {
      return r.then((reply) => {
        this.count(meta.transport, reply);
        if (sampled) this.sample(meta.transport, started);
        return reply;
      });
    }
    this.count(meta.transport, r);
    if (sampled) this.sample(meta.transport, started);
    return r;
  }

  private sample(transport: 'udp' | 'tcp', started: bigint): void {
    const list = this.samples[transport === 'udp' ? 0 : 1]!;
    if (list.length < 100000) list.push(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Every non-zero count. */
  rows(): CountRow[] {
    const out: CountRow[] = [];
    this.counts.forEach((n, i) => {
      if (n === 0) return;
      const rc = i % RC_SLOTS;
      const op = Math.floor(i / RC_SLOTS) % OP_SLOTS;
      const t = Math.floor(i / (RC_SLOTS * OP_SLOTS));
      out.push({ transport: TRANSPORTS[t]!, opcode: unslot(op, OP_BANDS), code: unslot(rc, RC_BANDS), count: n });
    });
    return out;
  }

  /** Take the latency samples gathered since the last call. */
  takeSamples(): Array<{ transport: string; seconds: number[] }> {
    return TRANSPORTS.map((transport, i) => {
      const s = this.samples[i]!.splice(0);
      return { transport, seconds: s };
    });
  }
}

/** The counting wrapper: what it answers is the inner handler's, so over UDP never a stream either. */
class CountingHandler implements PacketHandler {
  // The inner handler exists before the first packet (node.ts fills it in once the port is bound).
  private h: PacketHandler | undefined;

  constructor(
    private readonly counters: WireCounters,
    private readonly inner: () => PacketHandler,
  ) {}

  handle(bytes: Buffer, meta: RequestMeta & { transport: 'udp' }): Reply | Promise<Reply>;
  handle(bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply>;
  handle(bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply> {
    this.h ??= this.inner();
    return this.counters.handleCounted(this.h, bytes, meta);
  }
}
