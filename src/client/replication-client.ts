import type { KeyObject } from 'node:crypto';
import { OpCode, OpFlag, ResponseCode } from '../protocol/constants.js';
import type { Packet } from '../protocol/message.js';
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
import { type AdminAuth, challengeAnswer, refusalText } from './admin-client.js';
import { type StreamConsumer, streamExchange } from './stream-exchange.js';

// A mirror's client of its primary (docs/replication.md): each replication request over TCP, answered 402,
// then proven on a new connection with RESPONSE_TO_CHALLENGE signed by the mirror's key, whose answer is the
// original request's: one message (GET_NEXT_TXN_ID) or a message and a stream (RETRIEVE_TXN_LOG, DUMP_HANDLES).

/** Who a mirror pulls as: an identity proven with its server key. */
export type ReplicationIdentity = AdminAuth & { key: KeyObject };

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
    const first = await streamExchange(this.server, encodeRequest({ opCode, body, flags: FLAGS }), consumer, { idleMs: this.idleMs, streamed });
    let answer = first;
    if (first.packet.header.responseCode === ResponseCode.AUTHENTICATION_NEEDED) {
      const request = challengeAnswer(first.packet, this.identity, FLAGS);
      answer = await streamExchange(this.server, request, consumer, { idleMs: this.idleMs, streamed });
    }
    const p = answer.packet;
    if (p.header.responseCode !== ResponseCode.SUCCESS) throw new ReplicationRefused(refusalText(p), p.header.responseCode);
    if (streamed && !answer.streamed) throw new ClientError('the answer ended without its stream', 'protocol');
    return p;
  }
}
