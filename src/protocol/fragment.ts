import { ENVELOPE_SIZE, EnvelopeFlag, Limits } from './constants.js';
import { DecodeError } from './errors.js';

// UDP carries at most 492 message bytes behind each 20-byte envelope (docs/protocol.md §7.1–§7.2). A longer
// message goes as ceil(len/492) datagrams, SequenceNumber 0..n-1, each envelope carrying the TOTAL
// MessageLength. The receiver places fragment k at k*492; order and duplicates do not matter.

const FRAG = Limits.UDP_FRAGMENT_SIZE;

/** Split a packet (envelope + message) into datagrams. A packet that fits is returned as it is. */
export function fragmentPacket(packet: Buffer): Buffer[] {
  const messageLength = packet.length - ENVELOPE_SIZE;
  if (messageLength <= FRAG) return [packet];
  const n = Math.ceil(messageLength / FRAG);
  const out: Buffer[] = new Array(n);
  for (let seq = 0; seq < n; seq++) {
    const start = ENVELOPE_SIZE + seq * FRAG;
    const end = Math.min(start + FRAG, packet.length);
    const d = Buffer.allocUnsafe(ENVELOPE_SIZE + end - start);
    packet.copy(d, 0, 0, ENVELOPE_SIZE);
    // Senders set TC on fragmented messages (RFC); receivers must not rely on it (the reference does not set it).
    d[2] = d[2]! | EnvelopeFlag.TC;
    d.writeUInt32BE(seq, 12);
    packet.copy(d, ENVELOPE_SIZE, start, end);
    out[seq] = d;
  }
  return out;
}

export function fragmentCount(messageLength: number): number {
  return Math.max(1, Math.ceil(messageLength / FRAG));
}

interface Pending {
  buf: Buffer;
  have: Uint8Array;
  missing: number;
  expires: number;
}

export interface ReassemblerOptions {
  /** Messages being reassembled at once; the oldest is dropped past this. */
  maxPending?: number;
  /** Bytes held for messages being reassembled; the oldest are dropped past this. */
  maxBytes?: number;
  /** How long an incomplete message is kept. */
  timeoutMs?: number;
}

/**
 * Puts fragmented messages back together, keyed by the caller (e.g. peer address and RequestId). Bounded in
 * entries and bytes; incomplete messages expire. Time is passed in, so the class stays free of clocks.
 */
export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  private bytes = 0;
  private readonly maxPending: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  dropped = 0;

  constructor(opts: ReassemblerOptions = {}) {
    this.maxPending = opts.maxPending ?? 1024;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Add a datagram. Returns the whole packet (the envelope of the datagram followed by the whole message,
   * with SequenceNumber 0) once every fragment is in, undefined while fragments are missing.
   * Throws DecodeError for a datagram that cannot be a fragment of a valid message.
   */
  add(key: string, d: Buffer, now: number): Buffer | undefined {
    if (d.length < ENVELOPE_SIZE) throw new DecodeError(`datagram of ${d.length} bytes is shorter than an envelope`);
    const messageLength = d.readUInt32BE(16);
    const seq = d.readUInt32BE(12);
    if (messageLength > Limits.MAX_MESSAGE_LENGTH) {
      throw new DecodeError(`message length ${messageLength} exceeds the limit of ${Limits.MAX_MESSAGE_LENGTH}`);
    }
    const n = fragmentCount(messageLength);
    if (seq >= n) throw new DecodeError(`fragment ${seq} of a message that has ${n}`);
    const expected = seq === n - 1 ? messageLength - seq * FRAG : FRAG;
    if (d.length - ENVELOPE_SIZE !== expected) {
      throw new DecodeError(`fragment ${seq} carries ${d.length - ENVELOPE_SIZE} bytes, expected ${expected}`);
    }
    if (n === 1) return d;

    let p = this.pending.get(key);
    if (p && (p.expires <= now || p.buf.length !== ENVELOPE_SIZE + messageLength)) {
      this.remove(key, p);
      p = undefined;
    }
    if (!p) {
      this.makeRoom(ENVELOPE_SIZE + messageLength, now);
      p = {
        buf: Buffer.alloc(ENVELOPE_SIZE + messageLength),
        have: new Uint8Array(n),
        missing: n,
        expires: now + this.timeoutMs,
      };
      this.pending.set(key, p);
      this.bytes += p.buf.length;
    }
    if (p.have[seq]) return undefined; // a duplicate
    p.have[seq] = 1;
    p.missing--;
    d.copy(p.buf, ENVELOPE_SIZE + seq * FRAG, ENVELOPE_SIZE);
    if (seq === 0 || p.missing === 0) {
      // Keep an envelope; the first fragment's is as good as any (they differ only in SequenceNumber).
      d.copy(p.buf, 0, 0, ENVELOPE_SIZE);
      p.buf.writeUInt32BE(0, 12);
      p.buf[2] = p.buf[2]! & ~EnvelopeFlag.TC;
    }
    if (p.missing > 0) return undefined;
    this.remove(key, p);
    return p.buf;
  }

  /** Drop expired entries. */
  sweep(now: number): void {
    for (const [k, p] of this.pending) if (p.expires <= now) this.remove(k, p);
  }

  private remove(key: string, p: Pending): void {
    this.pending.delete(key);
    this.bytes -= p.buf.length;
  }

  private makeRoom(size: number, now: number): void {
    if (size > this.maxBytes) throw new DecodeError(`message of ${size} bytes exceeds the reassembly budget`);
    this.sweep(now);
    for (const [k, p] of this.pending) {
      if (this.pending.size < this.maxPending && this.bytes + size <= this.maxBytes) break;
      this.remove(k, p);
      this.dropped++;
    }
  }
}
