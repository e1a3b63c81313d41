import { type KeyObject, createDiffieHellman, randomBytes } from 'node:crypto';
import type { HandleValue } from '../model/value.js';
import { OpCode, OpFlag, ResponseCode, responseCodeName } from '../protocol/constants.js';
import { type Packet, encodePacket } from '../protocol/message.js';
import { decodeChallenge, decodeErrorBody, decodeResolutionResponse, encodeResolutionRequest, readDigest } from '../protocol/bodies.js';
import {
  AuthType,
  KeyExchangeMode,
  challengeMessage,
  decodeDhResponseData,
  decodeSessionSetupResponse,
  encodeChallengeAnswer,
  encodeSessionSetupRequest,
} from '../protocol/auth-bodies.js';
import { decodeCreateResponse, decodeHandleList, encodeHandleOnly, encodeHandleWithValues, encodeRemoveValues } from '../protocol/admin-bodies.js';
import { seckeyAnswer, signPubkeyAnswer } from '../protocol/auth-crypto.js';
import { decodeDhPublicKey, encodeDhPublicKey } from '../protocol/pubkey.js';
import { encodeMacCredential, sessionKeyFromSecret, sessionMac } from '../protocol/session-crypto.js';
import { Reader } from '../protocol/reader.js';
import { ClientError, type HandleClient, type ServerAddress } from './handle-client.js';
import { encodeRequest, newRequestId } from './request.js';

// An administrator's client for the wire protocol: each operation over TCP, answered 402 by the server,
// then proven with RESPONSE_TO_CHALLENGE on a new connection (RFC 3652), as the reference client library
// does without a session; or, with `session`, first a Diffie-Hellman session whose requests carry HS_MAC,
// as the reference admin tools do.

export interface AdminAuth {
  handle: string;
  index: number;
  /** HS_PUBKEY: the private key. */
  key?: KeyObject;
  /** HS_SECKEY: the secret. */
  secret?: Buffer;
}

/** The Oakley group 2 prime (RFC 2409), the group the reference client uses for sessions. */
const OAKLEY_2 = Buffer.from(
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF',
  'hex',
);

export class AdminError extends ClientError {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message, 'protocol');
    this.name = 'AdminError';
  }
}

interface Session {
  id: number;
  key: Buffer;
  counter: number;
}

const ADMIN_FLAGS = OpFlag.REC | OpFlag.CA | OpFlag.PO;

export class AdminClient {
  private session?: Session;

  constructor(
    private readonly client: HandleClient,
    private readonly server: ServerAddress,
    private readonly auth: AdminAuth,
    private readonly opts: { session?: boolean } = {},
  ) {}

  /** Send one request, answer its challenge, and return the response message(s) of the operation. */
  async send(opCode: number, body: Buffer, flags = ADMIN_FLAGS): Promise<Packet[]> {
    if (this.opts.session && !this.session) this.session = await this.openSession();
    const requestId = newRequestId();
    const packet = this.session ? this.macd({ opCode, body, flags, requestId, sessionId: this.session.id }) : encodeRequest({ opCode, body, flags, requestId });
    const first = await this.client.tcpSend(this.server, packet);
    const head = first[0]!;
    if (head.header.responseCode !== ResponseCode.AUTHENTICATION_NEEDED) return first;
    return this.client.tcpSend(this.server, challengeAnswer(head, this.auth, flags | OpFlag.REC));
  }

  private macd(spec: { opCode: number; body: Buffer; flags: number; requestId: number; sessionId: number }): Buffer {
    const s = this.session!;
    const plain = encodeRequest(spec);
    const counter = ++s.counter;
    const mac = sessionMac(s.key, plain, counter, plain.subarray(20, plain.length - 4));
    const env = { major: plain[0]!, minor: plain[1]!, compressed: false, encrypted: false, truncated: false, suggestedMajor: plain[2]! & 3, suggestedMinor: plain[3]!, sessionId: spec.sessionId, requestId: spec.requestId, sequence: 0 };
    const header = { opCode: spec.opCode, responseCode: 0, opFlags: spec.flags, siteSerial: plain.readUInt16BE(32), recursionCount: 0, expiration: plain.readUInt32BE(36) };
    return encodePacket(env, header, spec.body, encodeMacCredential(counter, mac));
  }

  /** SESSION_SETUP with Diffie-Hellman over the Oakley group 2, as the reference tools open theirs. */
  private async openSession(): Promise<Session> {
    const dh = createDiffieHellman(OAKLEY_2, Buffer.from([2]));
    const y = dh.generateKeys();
    const body = encodeSessionSetupRequest({
      mode: KeyExchangeMode.DIFFIE_HELLMAN,
      timeoutSeconds: 86400,
      identityHandle: this.auth.handle,
      identityIndex: this.auth.index,
      publicKey: encodeDhPublicKey({ y, p: OAKLEY_2, g: Buffer.from([2]) }),
    });
    const [resp] = await this.client.tcpSend(this.server, encodeRequest({ opCode: OpCode.SESSION_SETUP, body, flags: OpFlag.CT | OpFlag.REC | OpFlag.CA | OpFlag.PO | OpFlag.RD }));
    const p = resp!;
    if (p.header.responseCode !== ResponseCode.SUCCESS) throw failure(p, 'session setup');
    const r = new Reader(p.body);
    readDigest(r);
    const server = decodeDhPublicKey(decodeDhResponseData(decodeSessionSetupResponse(r).data).serverKey);
    return { id: p.envelope.sessionId, key: sessionKeyFromSecret(dh.computeSecret(server.y), OAKLEY_2.length), counter: 0 };
  }

  async create(handle: string, values: readonly HandleValue[], o: { overwrite?: boolean; mint?: boolean } = {}): Promise<string> {
    const flags = ADMIN_FLAGS | (o.overwrite ? OpFlag.OW : 0) | (o.mint ? OpFlag.MINT : 0);
    const p = ok(await this.send(OpCode.CREATE_HANDLE, encodeHandleWithValues(handle, values), flags), 'create');
    return decodeCreateResponse(p.body) ?? handle;
  }

  async delete(handle: string): Promise<void> {
    ok(await this.send(OpCode.DELETE_HANDLE, encodeHandleOnly(handle)), 'delete');
  }

  async add(handle: string, values: readonly HandleValue[], o: { overwrite?: boolean } = {}): Promise<void> {
    ok(await this.send(OpCode.ADD_VALUE, encodeHandleWithValues(handle, values), ADMIN_FLAGS | (o.overwrite ? OpFlag.OW : 0)), 'add');
  }

  async modify(handle: string, values: readonly HandleValue[]): Promise<void> {
    ok(await this.send(OpCode.MODIFY_VALUE, encodeHandleWithValues(handle, values)), 'modify');
  }

  async remove(handle: string, indexes: readonly number[]): Promise<void> {
    ok(await this.send(OpCode.REMOVE_VALUE, encodeRemoveValues(handle, indexes)), 'remove');
  }

  async list(prefix: string): Promise<string[]> {
    const packets = await this.send(OpCode.LIST_HANDLES, encodeHandleOnly(`0.NA/${prefix}`));
    ok(packets, 'list');
    return packets.flatMap((p) => decodeHandleList(new Reader(p.body)));
  }

  /** A resolution without PO: the server challenges when values are not public, and the answer has them all. */
  async resolveAll(handle: string): Promise<HandleValue[]> {
    const p = ok(await this.send(OpCode.RESOLUTION, encodeResolutionRequest(handle), OpFlag.REC | OpFlag.CA), 'resolve');
    return decodeResolutionResponse(p.body, (p.header.opFlags & OpFlag.RD) !== 0).values;
  }
}

/**
 * RESPONSE_TO_CHALLENGE for a 402: the nonce and digest signed with the identity's key (or its secret), under
 * the challenge's SessionId and version.
 */
export function challengeAnswer(head: Packet, auth: AdminAuth, flags: number): Buffer {
  const { nonce, digest } = decodeChallenge(head.body);
  const message = challengeMessage(nonce, digest.digest);
  const version: [number, number] = [head.envelope.major, head.envelope.minor];
  const signed = auth.key
    ? { authType: AuthType.PUBKEY, signedResponse: signPubkeyAnswer(auth.key, message, version, auth.handle) }
    : auth.secret
      ? { authType: AuthType.SECKEY, signedResponse: seckeyAnswer(auth.secret, message, randomBytes(16)) }
      : undefined;
  if (!signed) throw new AdminError('the server asks for authentication: give --auth HANDLE:INDEX with --key or --secret', ResponseCode.AUTHENTICATION_NEEDED);
  const body = encodeChallengeAnswer({ ...signed, identityHandle: auth.handle, identityIndex: auth.index });
  return encodeRequest({ opCode: OpCode.RESPONSE_TO_CHALLENGE, body, flags, sessionId: head.envelope.sessionId, version });
}

/** An error response as text: its code's name, and its message when the body carries one. */
export function refusalText(p: Packet): string {
  const rc = p.header.responseCode;
  let message = '';
  try {
    message = decodeErrorBody(p.body, (p.header.opFlags & OpFlag.RD) !== 0).message;
  } catch {
    // the code says enough
  }
  return `${rc} ${responseCodeName(rc)}${message ? `: ${message}` : ''}`;
}

function failure(p: Packet, what: string): AdminError {
  return new AdminError(`${what}: ${refusalText(p)}`, p.header.responseCode);
}

function ok(packets: Packet[], what: string): Packet {
  const p = packets[0];
  if (!p) throw new AdminError(`${what}: no answer`, ResponseCode.ERROR);
  if (p.header.responseCode !== ResponseCode.SUCCESS) throw failure(p, what);
  return p;
}
