import { type KeyObject, generateKeyPairSync, randomBytes } from 'node:crypto';
import net from 'node:net';
import { OpCode, OpFlag, ResponseCode } from '../../src/protocol/constants.js';
import { encodeChallenge } from '../../src/protocol/bodies.js';
import { type Packet, decodePacket } from '../../src/protocol/message.js';
import { Responder } from '../../src/protocol/responder.js';
import {
  BlockWriter,
  DumpStreamWriter,
  TxnAction,
  TxnStreamStatus,
  TxnStreamWriter,
  encodeNextTxnIdResponse,
  keySigner,
  openStreamedResponse,
} from '../../src/protocol/replication.js';
import { Writer } from '../../src/protocol/writer.js';
import { writeValue } from '../../src/protocol/values.js';
import { makeValue } from '../../src/model/value.js';

// A "primary" on loopback that speaks just enough of replication (docs/replication.md) to feed a mirror bad
// answers: it challenges like a primary (or not) and accepts any proof, then answers GET_NEXT_TXN_ID with an
// id ahead of the mirror, and RETRIEVE_TXN_LOG / DUMP_HANDLES with the stream its current mode calls for —
// garbage, a cut or lying frame, a forged signature, or a stream signed with the real primary's key that is
// wrong inside. A mirror must refuse every one without changing what it holds.

export const GARBAGE_MODES = [
  /** Random bytes where the answer to GET_NEXT_TXN_ID belongs. */
  'random-answer',
  /** Half of a good answer to GET_NEXT_TXN_ID, then the connection closes. */
  'truncated-answer',
  /** An envelope announcing a message of almost 4 GiB. */
  'huge-message-length',
  /** An error response (RC 2) instead of the next id. */
  'error-answer',
  /** Accepts the request and never answers (the mirror's timeout must end it). */
  'silent',
  /** A good opening for RETRIEVE_TXN_LOG, then random bytes as the stream. */
  'random-stream',
  /** A well-formed transaction stream signed with a key that is not the primary's. */
  'bad-signature',
  /** A stream signed with the primary's key whose second block is a record type that does not exist. */
  'unknown-record',
  /** Signed with the primary's key: a transaction, then the connection closes before the end record. */
  'cut-stream',
  /** Signed with the primary's key: a record whose handle claims 2 GiB. */
  'huge-record-length',
  /** Signed with the primary's key: transaction ids that go backwards. */
  'backwards',
  /** NEED_TO_REDUMP, then a dump signed with a key that is not the primary's. */
  'dump-bad-signature',
  /** NEED_TO_REDUMP, then a dump signed with the primary's key that stops before its end. */
  'dump-cut',
  /** A log that ends before the mirror's position (a primary restored from an older backup). */
  'behind',
  /** Announces transactions ahead of the mirror, then sends a good, signed stream holding none of them. */
  'announces-more',
  /** A good transaction stream signed with the primary's key (one signature at its end), one random byte changed. */
  'mutated-stream',
  /** NEED_TO_REDUMP, then a good dump signed with the primary's key, one random byte changed. */
  'mutated-dump',
] as const;
export type GarbageMode = (typeof GARBAGE_MODES)[number];

const STREAM_HASH = 'SHA256';

export class FakePrimary {
  mode: GarbageMode = 'random-answer';
  /** Answer each request with a 402 challenge first (any proof is accepted), as a primary does. */
  challenge = true;
  /** Replication requests answered (after any challenge), per mode. */
  readonly answered = new Map<GarbageMode, number>();
  private readonly server = net.createServer((s) => this.connection(s));
  private readonly sockets = new Set<net.Socket>();
  private readonly responder: Responder;
  private readonly forger: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  /** Challenged requests by the session id given in the 402, to answer when the proof comes. */
  private readonly challenged = new Map<number, Packet>();
  private nextSession = 1;

  constructor(
    /** The real primary's private key: a stream signed with it passes the mirror's signature check. */
    private readonly primaryKey: KeyObject,
    /** The mirror's position: the fake always claims transactions after it. */
    private readonly position: number,
  ) {
    this.responder = new Responder(1, true, () => Math.floor(Date.now() / 1000), primaryKey);
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private connection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 20) return;
      const len = pending.readUInt32BE(16);
      if (pending.length < 20 + len) return;
      const req = decodePacket(pending.subarray(0, 20 + len));
      pending = Buffer.alloc(0);
      this.answer(socket, req);
    });
  }

  private answer(socket: net.Socket, req: Packet): void {
    let original = req;
    if (req.header.opCode === OpCode.RESPONSE_TO_CHALLENGE) {
      const asked = this.challenged.get(req.envelope.sessionId);
      if (!asked) return void socket.end(this.responder.error(req, ResponseCode.AUTHENTICATION_FAILED, 'no such challenge'));
      this.challenged.delete(req.envelope.sessionId);
      original = asked;
    } else if (this.challenge) {
      const id = this.nextSession++;
      this.challenged.set(id, req);
      return void socket.end(this.responder.reply(req, ResponseCode.AUTHENTICATION_NEEDED, encodeChallenge(randomBytes(16)), { setFlags: OpFlag.RD, sessionId: id }));
    }
    this.answered.set(this.mode, (this.answered.get(this.mode) ?? 0) + 1);
    const parts = this.respond(original);
    if (parts === 'silent') return;
    for (const p of parts.slice(0, -1)) socket.write(p);
    socket.end(parts[parts.length - 1]);
  }

  /** What to send for `req` in the current mode: the pieces in order (the connection closes after them). */
  private respond(req: Packet): Buffer[] | 'silent' {
    const mode = this.mode;
    const ahead = this.position + 50;
    if (req.header.opCode === OpCode.GET_NEXT_TXN_ID) {
      const good = this.responder.reply(req, ResponseCode.SUCCESS, encodeNextTxnIdResponse(ahead + 1));
      switch (mode) {
        case 'random-answer':
          return [randomBytes(200)];
        case 'truncated-answer':
          return [good.subarray(0, good.length >> 1)];
        case 'huge-message-length': {
          const lying = Buffer.from(good);
          lying.writeUInt32BE(0xfffffff0, 16);
          return [lying];
        }
        case 'error-answer':
          return [this.responder.error(req, ResponseCode.ERROR, 'the fake primary is unwell')];
        case 'silent':
          return 'silent';
        case 'behind':
          return [this.responder.reply(req, ResponseCode.SUCCESS, encodeNextTxnIdResponse(Math.max(1, this.position - 9)))];
        default:
          return [good];
      }
    }
    const opening = openStreamedResponse(this.responder, req);
    const real = keySigner(this.primaryKey, STREAM_HASH);
    const forged = keySigner(this.forger, STREAM_HASH);
    // One signature for the whole stream: the mirror holds every record until it has checked it.
    const signedOnce = keySigner(this.primaryKey, STREAM_HASH, 1 << 20);
    const handle = Buffer.from('88.118.8/PLANTED-BY-FAKE', 'utf8');
    const values = [evilValue()];
    if (req.header.opCode === OpCode.DUMP_HANDLES) {
      const w = new DumpStreamWriter(mode === 'dump-bad-signature' ? forged : mode === 'mutated-dump' ? signedOnce : real);
      const head = [w.header(2), w.serverInfo(Date.now(), ahead)];
      const rows = [w.handle(handle, values), w.handle(Buffer.from('88.118.8/SEED-1', 'utf8'), values)];
      if (mode === 'dump-cut') return [opening, ...head, ...rows];
      if (mode === 'mutated-dump') return [opening, mutated(Buffer.concat([...head, ...rows, w.end()]))];
      return [opening, ...head, ...rows, w.end()];
    }
    const txn = (w: TxnStreamWriter, txnId: number) => w.txn({ txnId, handle, action: TxnAction.CREATE_HANDLE, date: Date.now(), values });
    switch (mode) {
      case 'random-stream':
        return [opening, randomBytes(4096)];
      case 'bad-signature': {
        const w = new TxnStreamWriter(forged);
        return [opening, w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS), txn(w, this.position + 1), w.end(Date.now())];
      }
      case 'unknown-record': {
        const b = new BlockWriter(real);
        return [opening, b.block(new Writer(8).u32(1).u32(TxnStreamStatus.SENDING_TRANSACTIONS).finish()), b.block(Buffer.from([0x09, 1, 2, 3, 4]), true, true)];
      }
      case 'cut-stream': {
        const w = new TxnStreamWriter(real);
        return [opening, w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS), txn(w, this.position + 1), txn(w, this.position + 2)];
      }
      case 'huge-record-length': {
        const b = new BlockWriter(real);
        const rec = new Writer(32).u8(1).u32(0).u32(this.position + 1).u32(0x7fffffff).finish();
        return [opening, b.block(new Writer(8).u32(1).u32(TxnStreamStatus.SENDING_TRANSACTIONS).finish()), b.block(Buffer.from(rec), true, true)];
      }
      case 'backwards': {
        const w = new TxnStreamWriter(real);
        return [opening, w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS), txn(w, this.position + 5), txn(w, this.position + 2), w.end(Date.now())];
      }
      case 'announces-more': {
        const w = new TxnStreamWriter(real);
        return [opening, w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS), w.end(Date.now())];
      }
      case 'mutated-stream': {
        const w = new TxnStreamWriter(signedOnce);
        const records = [1, 2, 3].map((n) => txn(w, this.position + n));
        return [opening, mutated(Buffer.concat([w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS), ...records, w.end(Date.now())]))];
      }
      case 'dump-bad-signature':
      case 'dump-cut':
      case 'mutated-dump': {
        const w = new TxnStreamWriter(real);
        return [opening, w.header(1, TxnStreamStatus.NEED_TO_REDUMP), w.end(0)];
      }
      default:
        return [opening];
    }
  }
}

/**
 * The stream with one byte after its preamble (type word and hash id) replaced by a different one. The
 * preamble is left alone: the hash id is read without regard to case ("sha256" is as good as "SHA256"), so a
 * change there may leave a good stream, which a mirror rightly applies.
 */
function mutated(stream: Buffer): Buffer {
  const out = Buffer.from(stream);
  const preamble = 8 + out.readUInt32BE(4);
  const at = preamble + Math.floor(Math.random() * (out.length - preamble));
  out[at] = (out[at]! + 1 + Math.floor(Math.random() * 255)) & 0xff;
  return out;
}

/** One well-formed URL value (index 1), as a primary stores it: what a forged stream tries to plant. */
function evilValue(): Buffer {
  const w = new Writer(64);
  writeValue(w, makeValue(1, 'URL', 'https://evil.example/planted'));
  return Buffer.from(w.finish());
}
