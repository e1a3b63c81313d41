import type { KeyObject } from 'node:crypto';
import dgram from 'node:dgram';
import { OpCode, OpFlag, ResponseCode } from '../../src/protocol/constants.js';
import { decodeResolutionRequest, encodeHandleValues, readDigest } from '../../src/protocol/bodies.js';
import { type Packet, decodePacket, encodePacket } from '../../src/protocol/message.js';
import { Reader } from '../../src/protocol/reader.js';
import { Reassembler, fragmentPacket } from '../../src/protocol/fragment.js';
import { signPacket } from '../../src/protocol/signing.js';
import type { HandleValue } from '../../src/model/value.js';

/**
 * What a forger sends ahead of the real answer; each is built to pass every check but the one it is named
 * for, so a client that skipped that check would believe it.
 */
export const FORGERIES = [
  'other_port', // everything right, from another port of the server's address
  'other_address', // everything right, from 127.0.0.2 on the server's port
  'request_id', // from the server, another RequestId
  'handle', // from the server, right digest, a success for another handle
  'wrong_digest', // from the server, a digest that is not the request's
  'no_digest', // from the server, no digest at all (RD clear)
  'opcode', // from the server, right digest, another opcode
  'truncated_bytes', // from the server, right RequestId, the datagram cut short
  'bad_body', // from the server, right digest, a body that does not decode
] as const;
export type Forgery = (typeof FORGERIES)[number] | 'unsigned' | 'wrong_signature';

export interface ProxyMode {
  /** Sent first, in this order, to the querier's address and port. */
  forgeries: Forgery[];
  /** Then the real answer from the server's own socket (default true) … */
  relayReal?: boolean;
  /** … without its credential … */
  stripSignature?: boolean;
  /** … or signed again with this key instead of the server's. */
  resignWith?: KeyObject;
}

export interface SeenQuery {
  address: string;
  port: number;
  requestId: number;
  handle: string;
  flags: number;
}

/**
 * An on-path forger in front of a real server, over UDP: it relays each query to the server, so it knows the
 * RequestId, the request digest and the real answer, and answers the querier with forgeries (from its own
 * port, another port, another loopback address) before the real answer.
 */
export class SpoofingProxy {
  readonly seen: SeenQuery[] = [];
  mode: ProxyMode = { forgeries: [] };
  private constructor(
    private readonly main: dgram.Socket,
    private readonly side: dgram.Socket,
    private readonly far: dgram.Socket,
    private readonly upstreamPort: number,
    private readonly evil: (handle: string) => HandleValue[],
    readonly attackerKey: KeyObject | undefined,
  ) {
    main.on('message', (msg, rinfo) => void this.onQuery(msg, rinfo));
  }

  static async start(upstreamPort: number, evil: (handle: string) => HandleValue[], attackerKey?: KeyObject): Promise<SpoofingProxy> {
    const main = await bound('127.0.0.1', 0);
    const side = await bound('127.0.0.1', 0);
    // The same port on another loopback address (or any port there, if that one is taken).
    const far = await bound('127.0.0.2', main.address().port).catch(() => bound('127.0.0.2', 0));
    return new SpoofingProxy(main, side, far, upstreamPort, evil, attackerKey);
  }

  get port(): number {
    return this.main.address().port;
  }

  close(): void {
    for (const s of [this.main, this.side, this.far]) s.close();
  }

  private async onQuery(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const q = decodePacket(msg);
    const handle = decodeResolutionRequest(q.body).handle;
    this.seen.push({ address: rinfo.address, port: rinfo.port, requestId: q.envelope.requestId, handle, flags: q.header.opFlags });
    const real = await relay(msg, this.upstreamPort);
    const r = decodePacket(real);
    const to = (s: dgram.Socket, b: Buffer) => {
      for (const d of fragmentPacket(b)) s.send(d, rinfo.port, rinfo.address);
    };
    for (const f of this.mode.forgeries) {
      const forged = this.forge(f, q, r, handle);
      const from = f === 'other_port' ? this.side : f === 'other_address' ? this.far : this.main;
      if (f === 'truncated_bytes') from.send(forged, rinfo.port, rinfo.address);
      else to(from, forged);
    }
    if (this.mode.relayReal === false) return;
    await new Promise((res) => setTimeout(res, 20));
    let answer = real;
    if (this.mode.stripSignature || this.mode.resignWith) {
      const unsigned = encodePacket(r.envelope, r.header, r.body);
      answer = this.mode.resignWith ? resign(unsigned, r, this.mode.resignWith) : unsigned;
    }
    to(this.main, answer);
  }

  private forge(f: Forgery, q: Packet, r: Packet, handle: string): Buffer {
    const digest = digestOf(r);
    const evilBody = encodeHandleValues(handle, this.evil(handle));
    const env = { ...r.envelope };
    const hdr = { ...r.header, responseCode: ResponseCode.SUCCESS, opFlags: (q.header.opFlags | OpFlag.RD) >>> 0 };
    const evilPacket = () => encodePacket(env, hdr, [digest, evilBody]);
    switch (f) {
      case 'other_port':
      case 'other_address':
      case 'unsigned':
        return evilPacket();
      case 'request_id':
        env.requestId = (env.requestId ^ 0x5a5a) >>> 0;
        return evilPacket();
      case 'handle': {
        const other = handle.startsWith('0.NA/') ? '0.NA/88.666' : '88.666/ELSEWHERE';
        return encodePacket(env, hdr, [digest, encodeHandleValues(other, this.evil(handle))]);
      }
      case 'wrong_digest': {
        const d = Buffer.from(digest);
        d[d.length - 1] = d[d.length - 1]! ^ 0xff;
        return encodePacket(env, hdr, [d, evilBody]);
      }
      case 'no_digest':
        return encodePacket(env, { ...hdr, opFlags: (hdr.opFlags & ~OpFlag.RD) >>> 0 }, evilBody);
      case 'opcode':
        return encodePacket(env, { ...hdr, opCode: OpCode.GET_SITE_INFO }, [digest, evilBody]);
      case 'truncated_bytes':
        return evilPacket().subarray(0, 40);
      case 'bad_body':
        return encodePacket(env, hdr, [digest, Buffer.from([0xff, 0xff, 0xff, 0xf0, 0x41])]);
      case 'wrong_signature':
        return resign(evilPacket(), decodePacket(evilPacket()), this.attackerKey!);
    }
  }
}

/** The request digest at the head of an answer's body. */
function digestOf(p: Packet): Buffer {
  const r = new Reader(p.body);
  readDigest(r);
  return Buffer.from(p.body.subarray(0, r.pos));
}

/** An unsigned packet signed (HS_SIGNED) with another key. */
function resign(unsigned: Buffer, p: Packet, key: KeyObject): Buffer {
  const cred = signPacket(unsigned, key, [p.envelope.major, p.envelope.minor]);
  return encodePacket(p.envelope, p.header, p.body, cred);
}

function bound(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.bind(port, address, () => resolve(s));
  });
}

/** One datagram to a server on loopback; its answer, put together from its fragments. */
async function relay(msg: Buffer, port: number): Promise<Buffer> {
  const s = await bound('127.0.0.1', 0);
  const whole = new Reassembler();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the server behind the proxy did not answer')), 3000);
      s.on('message', (m) => {
        const w = whole.add('a', m, Date.now());
        if (!w) return;
        clearTimeout(t);
        resolve(Buffer.from(w));
      });
      s.send(msg, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}
