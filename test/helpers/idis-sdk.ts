// The national identifier system's Java SDK (teleinfo id-pointer-sdk) as it appears on the wire, rebuilt
// from its captures (test/vectors/idis-golden) and the facts of its source (docs/idis.md): the requests it
// makes, byte for byte, one pooled TCP connection used without KC, and answers read the way its decoder
// reads them, which is stricter in places than a Handle client and looser in others.
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { KeyObject } from 'node:crypto';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { readValueList } from '../../src/protocol/values.js';
import { readSite } from '../../src/protocol/site.js';
import type { HandleValue } from '../../src/model/value.js';
import type { SiteInfo } from '../../src/model/site.js';
import { sm2Sign, sm3, isSm2Key } from '../../src/protocol/sm2.js';
import { createSign } from 'node:crypto';

export const SDK_FLAGS = 0x19000000; // REC | CA | PO: every request's defaults
export const SDK_LOGIN_FLAGS = 0x10800000; // REC | RD: the login and the answer to its challenge
export const SDK_TOKEN_FLAG = 0x00000004; // a resolution that carries a token
export const OW = 0x00400000;

/** A request as the SDK frames it: version 2.10 suggesting 2.11, site serial 0xFFFF, a credential length of 0 unless left out. */
export function sdkRequest(o: { opCode: number; body: Buffer; requestId: number; sessionId?: number; flags?: number; noCredential?: boolean }): Buffer {
  const credential = o.noCredential ? 0 : 4;
  const messageLength = 24 + o.body.length + credential;
  const b = Buffer.alloc(20 + messageLength);
  b[0] = 2;
  b[1] = 10;
  b[2] = 2;
  b[3] = 11;
  b.writeUInt32BE(o.sessionId ?? 0, 4);
  b.writeUInt32BE(o.requestId, 8);
  b.writeUInt32BE(0, 12);
  b.writeUInt32BE(messageLength, 16);
  b.writeUInt32BE(o.opCode, 20);
  b.writeUInt32BE(0, 24);
  b.writeUInt32BE((o.flags ?? SDK_FLAGS) >>> 0, 28);
  b.writeUInt16BE(0xffff, 32);
  b[34] = 0;
  b[35] = 0;
  b.writeUInt32BE(Math.floor(Date.now() / 1000) + 43200, 36);
  b.writeUInt32BE(o.body.length, 40);
  o.body.copy(b, 44);
  return b;
}

/** A resolution body as the SDK's codec writes it: handle, indexes, types, and always the token string. */
export function sdkResolutionBody(handle: string, types: string[] = [], indexes: number[] = [], token = ''): Buffer {
  const w = new Writer(64).utf8(handle).u32(indexes.length);
  for (const i of indexes) w.u32(i);
  w.u32(types.length);
  for (const t of types) w.utf8(t);
  w.utf8(token);
  return Buffer.from(w.finish());
}

export interface SdkResponse {
  requestId: number;
  sessionId: number;
  opCode: number;
  responseCode: number;
  flags: number;
  digest?: Buffer;
  /** RC 1, opcode 1. */
  handle?: string;
  values?: HandleValue[];
  /** RC 1, opcode 2. */
  site?: SiteInfo;
  /** RC 1, opcode 105. */
  handles?: string[];
  /** RC 402. */
  nonce?: Buffer;
  /** An error RC. */
  message?: string;
}

/** The RCs the SDK's decoder accepts as errors; anything else is "Unknown responseCode". */
const SDK_ERROR_CODES = new Set([2, 3, 4, 5, 6, 7, 100, 101, 102, 200, 201, 202, 300, 301, 400, 401, 403, 404, 405, 406, 500, 501, 502, 503, 504, 505, 601, 602, 603, 604, 605]);

/** Read a whole message as the SDK's decoder does; throws where the SDK would fail to decode it. */
export function sdkDecode(m: Buffer): SdkResponse {
  if (m[2]! & 0x20) throw new Error('TC set: the SDK cannot decode a truncated message');
  const messageLength = m.readUInt32BE(16);
  if (m.length !== 20 + messageLength) throw new Error('not one whole message');
  const opCode = m.readUInt32BE(20);
  const responseCode = m.readUInt32BE(24);
  const flags = m.readUInt32BE(28);
  const bodyLength = m.readUInt32BE(40);
  const r = new Reader(m, 44, 44 + bodyLength);
  const out: SdkResponse = { requestId: m.readUInt32BE(8), sessionId: m.readUInt32BE(4), opCode, responseCode, flags };
  // The digest is read when the response says RD, whatever was asked.
  if (flags & 0x00800000) {
    const type = r.u8('digest type');
    const sizes: Record<number, number> = { 1: 16, 2: 20, 3: 32 };
    if (!(type in sizes)) throw new Error(`digest type ${type}`);
    out.digest = Buffer.from(r.bytes(sizes[type]!, 'digest'));
  }
  if (responseCode === 1) {
    if (opCode === 1) {
      out.handle = r.utf8('handle', 2048);
      out.values = readValueList(r);
    } else if (opCode === 2) {
      out.site = readSite(r);
      if (r.remaining !== 0) throw new Error('trailing bytes after the site record');
    } else if (opCode === 105 || opCode === 302) {
      const n = r.u32('count');
      out.handles = [];
      for (let i = 0; i < n; i++) out.handles.push(r.utf8('handle'));
    } else if (![100, 101, 102, 103, 104, 300, 301, 401, 402, 1003, 2001].includes(opCode)) {
      throw new Error('Unknown opCode in response');
    }
  } else if (responseCode === 302 || responseCode === 303) {
    out.handle = r.utf8('referral handle', 2048);
    out.values = r.remaining > 0 ? readValueList(r) : [];
  } else if (responseCode === 402) {
    out.nonce = Buffer.from(r.byteString('nonce'));
  } else if (SDK_ERROR_CODES.has(responseCode)) {
    out.message = r.utf8('message');
  } else {
    throw new Error(`Unknown responseCode ${responseCode}`);
  }
  return out;
}

/**
 * One of the SDK's pooled TCP connections: requests written one at a time, each answer the next whole
 * message on the connection (the SDK matches by connection, not by RequestId).
 */
export class SdkConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiting?: { resolve: (m: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  closed = false;
  /** Messages that arrived with no request waiting (the SDK would mistake them for the next answer). */
  strays: Buffer[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 20 && this.buf.length >= 20 + this.buf.readUInt32BE(16)) {
        const len = 20 + this.buf.readUInt32BE(16);
        const msg = this.buf.subarray(0, len);
        this.buf = this.buf.subarray(len);
        const w = this.waiting;
        this.waiting = undefined;
        if (w) {
          clearTimeout(w.timer);
          w.resolve(msg);
        } else this.strays.push(msg);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = undefined;
      if (w) {
        clearTimeout(w.timer);
        w.reject(new Error('the server closed the connection'));
      }
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<SdkConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, noDelay: true }, () => resolve(new SdkConnection(s)));
      s.once('error', reject);
    });
  }

  /** Send one request and wait for the next message (the SDK waits without a timeout; tests do not). */
  exchange(request: Buffer, timeoutMs = 5000): Promise<Buffer> {
    if (this.waiting) throw new Error('one request at a time on an SDK connection');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error('no answer'));
      }, timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket.write(request);
    });
  }

  async request(request: Buffer): Promise<SdkResponse> {
    return sdkDecode(await this.exchange(request));
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * The challenge answer the SDK sends for its login: "HS_PUBKEY", the identity, and the signed response:
 * SHA256withRSA over nonce ‖ digest for RSA keys; for SM2 keys SM2 with the identity's handle as user ID
 * over SM3(nonce ‖ digest), hash name "SM3".
 */
export function sdkChallengeAnswerBody(identityHandle: string, identityIndex: number, key: KeyObject, nonce: Buffer, digest: Buffer): Buffer {
  const signed = Buffer.concat([nonce, digest]);
  const [alg, signature] = isSm2Key(key)
    ? ['SM3', sm2Sign(key, Buffer.from(identityHandle, 'utf8'), sm3(signed))]
    : ['SHA-256', createSign('sha256').update(signed).sign(key)];
  const response = new Writer(300).utf8(alg).byteString(signature).finish();
  return Buffer.from(new Writer(400).utf8('HS_PUBKEY').utf8(identityHandle).u32(identityIndex).byteString(response).finish());
}

/** The SDK's own check of a 402: the digest must be that of the login request's header and body as sent. */
export function digestOfRequest(request: Buffer): Buffer {
  const bodyLength = request.readUInt32BE(40);
  return createHash('sha256').update(request.subarray(20, 44 + bodyLength)).digest();
}

/**
 * The SDK's login on a connection: GET_SITE_INFO under its own SessionId, LOGIN_ID_SYSTEM (no credential
 * section), the 402 checked, the challenge answered under the 402's SessionId; RC 1 on opcode 2001 is
 * success. Returns every answer, for the test to look at.
 */
export async function sdkLogin(
  c: SdkConnection,
  identity: { handle: string; index: number; key: KeyObject },
  o: { sessionId: number; firstRequestId: number },
): Promise<{ siteInfo: SdkResponse; challenge: SdkResponse; result: SdkResponse }> {
  let id = o.firstRequestId;
  const siteInfo = await c.request(sdkRequest({ opCode: 2, body: Buffer.from(new Writer(8).utf8('/').finish()), requestId: id++, sessionId: o.sessionId }));
  const loginReq = sdkRequest({
    opCode: 2001,
    body: Buffer.from(new Writer(64).utf8(identity.handle).u32(identity.index).finish()),
    requestId: id++,
    sessionId: o.sessionId,
    flags: SDK_LOGIN_FLAGS,
    noCredential: true,
  });
  const challenge = await c.request(loginReq);
  if (challenge.responseCode !== 402) return { siteInfo, challenge, result: challenge };
  if (!challenge.digest || !challenge.digest.equals(digestOfRequest(loginReq))) throw new Error('Asked to sign unidentified request!');
  const result = await c.request(
    sdkRequest({
      opCode: 200,
      body: sdkChallengeAnswerBody(identity.handle, identity.index, identity.key, challenge.nonce!, challenge.digest),
      requestId: id++,
      sessionId: challenge.sessionId,
      flags: SDK_LOGIN_FLAGS,
    }),
  );
  return { siteInfo, challenge, result };
}
