import type { KeyObject } from 'node:crypto';
import { OpCode, OpFlag, ResponseCode, responseCodeName } from '../protocol/constants.js';
import type { Packet } from '../protocol/message.js';
import { decodeChallenge, decodeErrorBody } from '../protocol/bodies.js';
import { AuthType, challengeMessage, encodeChallengeAnswer } from '../protocol/auth-bodies.js';
import { signPubkeyAnswer } from '../protocol/auth-crypto.js';
import { encodeHandleOnly } from '../protocol/admin-bodies.js';
import {
  type DumpHandlesRequest,
  type RetrieveTxnRequest,
  decodeNextTxnIdResponse,
  encodeDumpHandlesRequest,
  encodeRetrieveTxnRequest,
} from '../protocol/replication-requests.js';
import { ClientError, type ServerAddress } from './handle-client.js';
import { encodeRequest } from './request.js';
import { type StreamConsumer, streamExchange } from './stream-exchange.js';

// A mirror's client of its primary (docs/replication.md): each replication request over TCP, answered 402,
// then proven on a new connection with RESPONSE_TO_CHALLENGE signed by the mirror's key, whose answer is the
// original request's: one message (GET_NEXT_TXN_ID) or a message and a stream (RETRIEVE_TXN_LOG, DUMP_HANDLES).

export interface ReplicationIdentity {
  handle: string;
  index: number;
  key: KeyObject;
}

export class ReplicationRefused extends ClientError {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message, 'protocol');
    this.name = 'ReplicationRefused';
  }
}

const FLAGS = OpFlag.REC | OpFlag.CA;

const NO_STREAM: StreamConsumer = {
  data: () => {
    throw new ClientError('a stream where one message was expected', 'protocol');
  },
};

export class ReplicationClient {
  constructor(
    private readonly server: ServerAddress,
    private readonly identity: ReplicationIdentity,
    private readonly idleMs: number,
  ) {}

  /** The id the primary's next transaction will get: its last is one less. */
  async nextTxnId(): Promise<number> {
    const p = await this.exchange(OpCode.GET_NEXT_TXN_ID, encodeHandleOnly('0.NA/0.NA'), NO_STREAM, false);
    return decodeNextTxnIdResponse(p.body).nextTxnId;
  }

  /** RETRIEVE_TXN_LOG: the stream goes to `consumer`, which must read it to its end record. */
  async retrieve(q: RetrieveTxnRequest, consumer: StreamConsumer): Promise<void> {
    await this.exchange(OpCode.RETRIEVE_TXN_LOG, encodeRetrieveTxnRequest(q), consumer, true);
  }

  /** DUMP_HANDLES: every handle of the primary in the requesting server's share, to `consumer`. */
  async dump(q: DumpHandlesRequest, consumer: StreamConsumer): Promise<void> {
    await this.exchange(OpCode.DUMP_HANDLES, encodeDumpHandlesRequest(q), consumer, true);
  }

  private async exchange(opCode: number, body: Buffer, consumer: StreamConsumer, streamed: boolean): Promise<Packet> {
    const follows = () => streamed;
    const first = await streamExchange(this.server, encodeRequest({ opCode, body, flags: FLAGS }), consumer, { idleMs: this.idleMs, streamFollows: follows });
    let answer = first;
    if (first.packet.header.responseCode === ResponseCode.AUTHENTICATION_NEEDED) {
      const head = first.packet;
      const { nonce, digest } = decodeChallenge(head.body);
      const version: [number, number] = [head.envelope.major, head.envelope.minor];
      const signed = signPubkeyAnswer(this.identity.key, challengeMessage(nonce, digest.digest), version, this.identity.handle);
      const proof = encodeChallengeAnswer({ authType: AuthType.PUBKEY, signedResponse: signed, identityHandle: this.identity.handle, identityIndex: this.identity.index });
      const request = encodeRequest({ opCode: OpCode.RESPONSE_TO_CHALLENGE, body: proof, flags: FLAGS, sessionId: head.envelope.sessionId, version });
      answer = await streamExchange(this.server, request, consumer, { idleMs: this.idleMs, streamFollows: follows });
    }
    const p = answer.packet;
    if (p.header.responseCode !== ResponseCode.SUCCESS) {
      let message = '';
      try {
        message = decodeErrorBody(p.body, (p.header.opFlags & OpFlag.RD) !== 0).message;
      } catch {
        // the code says enough
      }
      throw new ReplicationRefused(`${responseCodeName(p.header.responseCode)}${message ? `: ${message}` : ''}`, p.header.responseCode);
    }
    if (streamed && !answer.streamed) throw new ClientError('the answer ended without its stream', 'protocol');
    return p;
  }
}
