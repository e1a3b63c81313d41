import { ENVELOPE_SIZE, Limits } from '../protocol/constants.js';

// Cutting a TCP byte stream into requests, in time linear in the bytes whatever the size of the pieces they
// arrive in: the Handle protocol's frames (a 20-byte envelope whose MessageLength says how much follows) and
// DNS over TCP's (a two-octet length, RFC 1035 4.2.2).

/** The stream cannot be framed any further (a length over the limit); the connection ends. */
export class BrokenStream {
  constructor(
    /** A request to answer before closing (the Handle envelope alone, answered RC 4), if any. */
    readonly lastRequest?: Buffer,
  ) {}
}

export interface Framer {
  /** Bytes received and not yet handed out as a frame (the frame being read). */
  readonly buffered: number;
  push(chunk: Buffer): void;
  /** The next whole frame, undefined until more bytes come, or BrokenStream when nothing more can be read. */
  next(): Buffer | undefined | BrokenStream;
}

/** Pieces smaller than this are copied together, not kept one by one (a dribbler would cost an object a byte). */
const SMALL_PIECE = 512;
/** The buffer small pieces are gathered into. */
const GATHER_BYTES = 4096;

/**
 * Frames of a header of `headerBytes` whose length field (`bodyLength`) says how many bytes follow it; the
 * frame handed out is header and body. Chunks are kept as they come and joined once per frame, when the
 * whole frame is there (the header once more when it straddles pieces); small pieces are first gathered
 * into buffers of a few KiB. So every byte is copied a bounded number of times, and a frame dribbled in
 * tiny pieces costs time and memory linear in its length.
 */
export class LengthFramer implements Framer {
  private readonly chunks: Buffer[] = [];
  buffered = 0;
  /** The header of the frame being read, once its bytes are in. */
  private header: Buffer | undefined;
  /** Where small pieces are being gathered: the last element of `chunks` is a view of it. */
  private gather: Buffer | undefined;
  private gathered = 0;
  /** Buffer.concat calls so far (a test holds it to at most two per frame). */
  joins = 0;

  constructor(
    private readonly headerBytes: number,
    private readonly bodyLength: (header: Buffer) => number,
    private readonly maxBody: number,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.buffered += chunk.length;
    if (chunk.length < SMALL_PIECE) {
      const g = this.gather;
      if (g && this.gathered + chunk.length <= g.length) {
        chunk.copy(g, this.gathered);
        this.gathered += chunk.length;
        this.chunks[this.chunks.length - 1] = g.subarray(0, this.gathered);
        return;
      }
      const fresh = Buffer.allocUnsafe(GATHER_BYTES);
      chunk.copy(fresh, 0);
      this.gather = fresh;
      this.gathered = chunk.length;
      this.chunks.push(fresh.subarray(0, chunk.length));
      return;
    }
    this.gather = undefined;
    this.chunks.push(chunk);
  }

  next(): Buffer | undefined | BrokenStream {
    if (this.header === undefined) {
      if (this.buffered < this.headerBytes) return undefined;
      this.header = this.take(this.headerBytes, false);
    }
    const length = this.bodyLength(this.header);
    if (length > this.maxBody) return new BrokenStream(this.header);
    const frameLength = this.headerBytes + length;
    if (this.buffered < frameLength) return undefined;
    const frame = this.take(frameLength, true);
    this.header = undefined;
    return frame;
  }

  /** The first n buffered bytes as one Buffer; consumed when `consume`, else only joined in place. */
  private take(n: number, consume: boolean): Buffer {
    // Whatever happens to the chunks here, gathering starts afresh (never into bytes handed out).
    this.gather = undefined;
    let head = this.chunks[0]!;
    if (head.length < n) {
      // Join just the chunks that hold the n bytes, once.
      let have = 0;
      let k = 0;
      while (have < n) have += this.chunks[k++]!.length;
      head = Buffer.concat(this.chunks.slice(0, k), have);
      this.joins++;
      this.chunks.splice(0, k, head);
    }
    const out = head.subarray(0, n);
    if (consume) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.buffered -= n;
    }
    return out;
  }
}

/** Handle protocol frames: the envelope and MessageLength bytes; a longer frame than the protocol allows breaks the stream. */
export class FrameReader extends LengthFramer {
  constructor() {
    super(ENVELOPE_SIZE, (envelope) => envelope.readUInt32BE(16), Limits.MAX_MESSAGE_LENGTH);
  }
}

/** DNS messages over TCP: a two-octet length, then the message (the frame handed out keeps the length). */
export class DnsFrameReader extends LengthFramer {
  constructor() {
    super(2, (prefix) => prefix.readUInt16BE(0), 0xffff);
  }
}
