import { randomBytes } from 'node:crypto';
import { Perm, ValueFilter, selectFor } from '../model/value.js';
import { OpCode, OpFlag, ResponseCode } from '../protocol/constants.js';
import { type Packet, type ReceivedPacket, keptPacket, ownBytes } from '../protocol/message.js';
import { decodeResolutionRequest, encodeChallenge, encodeHandleValues } from '../protocol/bodies.js';
import { requestDigest } from '../protocol/digest.js';
import { AuthType, challengeMessage, decodeChallengeAnswer } from '../protocol/auth-bodies.js';
import { decodeAdminRequest } from '../protocol/admin-request.js';
import { REPLICATION_OPCODES } from '../protocol/opcode-sets.js';
import { encryptPacket } from '../protocol/session-crypto.js';
import { versionAtLeast } from '../protocol/envelope.js';
import type { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions } from '../protocol/responder.js';
import { type Identity, refMatches } from './permissions.js';
import type { Session } from './sessions.js';
import type { AuthAttempt } from './auth-limits.js';
import { NOT_A_REPLICATION_ADMIN, WORKERS_MESSAGE, type WireContext, type WireMeta, originOf, originalAnsweredBy } from './wire-context.js';
import type { WireOperations } from './wire-operations.js';

// Challenge-response (docs/protocol.md §11.2): a request that needs a proven identity is answered 402 with
// the request digest and a nonce; RESPONSE_TO_CHALLENGE proves an identity by signing them, and the
// original request is then checked and run once. Resolutions that select non-public values are challenged
// so, and answered (encrypted inside a session from 2.8) once the reader is proven.

/** Answers to one challenge that may fail before it is dropped. */
export const MAX_FAILED_ANSWERS = 3;

export class ChallengeResponse {
  constructor(
    private readonly c: WireContext,
    private readonly operations: WireOperations,
  ) {}

  /** A resolution without PO (or inside a session): challenged when it selects values that are not public. */
  resolution(req: ReceivedPacket, session: Session | undefined, keep: ReplyOptions, meta: WireMeta, loggedIn?: Identity): Buffer | undefined {
    if (req.header.opFlags & OpFlag.PO) return undefined;
    const r = decodeResolutionRequest(req.body);
    const values = this.c.opts.localValues(r.handle);
    if (values === undefined) return undefined;
    const sel = selectFor(values, ValueFilter.of(r.indexes, r.types));
    const hidden = sel.restricted.length > 0 || sel.unreadable;
    if (sel.public.length + sel.restricted.length === 0 && !sel.unreadable) return undefined;
    if (!hidden && !session) return undefined;
    if (loggedIn) {
      if (sel.unreadable) return this.c.responder.error(req, ResponseCode.INSUFFICIENT_PERMISSIONS, 'a selected value is readable by nobody', keep);
      return this.authenticatedResolution(req, loggedIn, keep);
    }
    if (this.c.opts.singleProcess === false) return this.c.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, WORKERS_MESSAGE, keep);
    if (sel.unreadable) return this.c.responder.error(req, ResponseCode.INSUFFICIENT_PERMISSIONS, 'a selected value is readable by nobody', keep);
    if (session?.authenticated && session.identity) return this.authenticatedResolution(req, session.identity, keep, session);
    return this.challenge(req, session, keep, meta);
  }

  private authenticatedResolution(req: Packet, identity: Identity, keep: ReplyOptions, session?: Session, as?: ReplyOptions): Buffer {
    const r = decodeResolutionRequest(req.body);
    // The reader's permission is needed here even when every selected value is public (the reference's rule
    // for an authenticated resolution).
    const o = this.c.service.read(r.handle, ValueFilter.of(r.indexes, r.types), identity, { requireReader: true });
    if (o.responseCode !== ResponseCode.SUCCESS) return this.c.responder.error(req, o.responseCode, o.message, { ...keep, ...as });
    const selected = o.values!;
    const reply = this.c.responder.reply(req, ResponseCode.SUCCESS, encodeHandleValues(r.handle, selected), { ...keep, ...as });
    // From 2.8 a response carrying non-public values inside a session goes encrypted with the session key.
    const secret = selected.some((v) => !(v.permissions & Perm.PUBLIC_READ));
    if (session && (req.header.opFlags & OpFlag.ENC || (secret && versionAtLeast(this.c.responder.versionFor(req), 2, 8)))) {
      return encryptPacket(session.key, reply);
    }
    return reply;
  }

  /** Answer with 402: the request digest (always) and a fresh nonce, under the session's id or a new one. */
  challenge(req: ReceivedPacket, session: Session | undefined, keep: ReplyOptions, meta: WireMeta): Buffer {
    // A retransmitted request in a session gets the same challenge again.
    const prior = session?.pending;
    if (prior && !prior.answered && prior.request.envelope.requestId === req.envelope.requestId && !this.c.table.isExpired(prior)) {
      return this.challengeReply(req, prior.nonce, prior.id, keep);
    }
    const { nonce, digest, digestWithType } = this.freshChallenge(req);
    const pending = this.c.table.addChallenge(
      {
        nonce,
        digest,
        request: keptPacket(req.raw),
        sessionId: session?.id ?? 0,
        expiresAt: this.c.now() + this.c.opts.challengeTimeoutMs,
        peer: meta.peer ?? '',
        bytes: req.raw.length,
      },
      session,
    );
    if (!pending) return this.c.responder.error(req, ResponseCode.SERVER_TOO_BUSY, 'too many authentications pending; try again', keep);
    this.c.stats.challenges++;
    return this.challengeReply(req, nonce, pending.id, keep, digestWithType);
  }

  /** A new nonce, and the request's digest at the response's version: with its type, and raw (what is signed). */
  freshChallenge(req: Packet): { nonce: Buffer; digest: Buffer; digestWithType: Buffer } {
    const version = this.c.responder.versionFor(req);
    const digestWithType = requestDigest(req.headerAndBody, version);
    // The signed data is the raw digest: after the type byte (SHA-1/SHA-256), after the length (old MD5).
    const digest = ownBytes(versionAtLeast(version, 2, 1) ? digestWithType.subarray(1) : digestWithType.subarray(4));
    return { nonce: ownBytes(randomBytes(16)), digest, digestWithType };
  }

  /** The 402: RD set whatever the request asked (the client checks the digest), the nonce, the challenge's id. */
  challengeReply(req: Packet, nonce: Buffer, id: number, keep: ReplyOptions, digest?: Buffer): Buffer {
    return this.c.responder.reply(req, ResponseCode.AUTHENTICATION_NEEDED, encodeChallenge(nonce), {
      ...keep,
      setFlags: (keep.setFlags ?? 0) | OpFlag.RD,
      sessionId: id,
      ...(digest ? { digest } : {}),
    });
  }

  /** RESPONSE_TO_CHALLENGE: find the challenge, check permission then proof, run the original request once. */
  answer(req: Packet, meta: WireMeta): Buffer | Buffer[] | MessageStream {
    const { responder, table, opts } = this.c;
    const id = req.envelope.sessionId;
    if (id === 0) return responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'the answer names no challenge (SessionId 0)');
    const { challenge, session } = table.challenge(id);
    if (!challenge) {
      if (session) return responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'no challenge is pending in this session');
      return responder.error(req, ResponseCode.SESSION_TIMEOUT, 'Invalid session id or session time out. Please try again.');
    }
    if (challenge.answered) {
      // The same answer again (a UDP retransmission) gets the same response; any other reuse is refused.
      if (challenge.answered.requestId === req.envelope.requestId) return challenge.answered.reply;
      return responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'this challenge has been answered already');
    }
    if (table.isExpired(challenge)) return responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'the challenge has expired');
    this.c.stats.answers++;
    const answer = decodeChallengeAnswer(req.body);
    // Failures count against where the challenge was sent: only who received it knows its id and nonce,
    // while the source of a UDP answer could be anyone's (and a forged one must not lock its owner out).
    const attempt: AuthAttempt = {
      identity: { handle: answer.identityHandle, index: answer.identityIndex },
      source: challenge.peer || meta.peer || '',
      transport: meta.transport,
    };
    const original = challenge.request;
    // The response to the answer is the original request's: its opcode, flags and digest, the answer's
    // RequestId, the original's SessionId.
    const as: ReplyOptions = { sessionId: challenge.sessionId };
    const asOriginal = originalAnsweredBy(original, req);
    // Only an answer that proves its identity uses the challenge up: anyone may send an answer under a
    // challenge's id, and a failed one must not spoil it for the client it was issued to. A few failures
    // drop it, so a secret cannot be guessed at leisure against one nonce.
    const finish = (reply: Buffer | Buffer[] | MessageStream) => {
      challenge.answered = { requestId: req.envelope.requestId, reply: Buffer.isBuffer(reply) ? ownBytes(reply) : Array.isArray(reply) ? reply.map(ownBytes) : reply };
      return reply;
    };
    const refuse = (reply: Buffer) => {
      if (++challenge.failures >= MAX_FAILED_ANSWERS) table.dropChallenge(challenge, session);
      return reply;
    };
    if (answer.authType !== AuthType.PUBKEY && answer.authType !== AuthType.SECKEY) {
      opts.authLimits?.rejected(attempt, 'unknown authentication type');
      return refuse(responder.error(asOriginal, ResponseCode.INVALID_CREDENTIAL, `unknown authentication type "${answer.authType}"`, as));
    }
    if (answer.identityIndex === 0) {
      opts.authLimits?.rejected(attempt, 'no key index');
      return refuse(responder.error(asOriginal, ResponseCode.INVALID_ADMIN, 'the identity must name the index of its key', as));
    }
    const identity: Identity = { handle: answer.identityHandle, index: answer.identityIndex };
    const replicating = REPLICATION_OPCODES.has(original.header.opCode);
    const isResolution = original.header.opCode === OpCode.RESOLUTION;
    const adminReq = isResolution || replicating ? undefined : decodeAdminRequest(original);
    // Permission before proof: a non-administrator gets 400 whatever it signed (as the reference).
    if (replicating) {
      if (!opts.replication?.allows(identity)) {
        opts.authLimits?.rejected(attempt, 'not a replication administrator');
        return refuse(responder.error(asOriginal, ResponseCode.INVALID_ADMIN, NOT_A_REPLICATION_ADMIN, as));
      }
    } else {
      const refused = adminReq ? this.c.service.check(adminReq, identity) : this.c.service.authorizeRead(decodeResolutionRequest(original.body).handle, identity);
      // (Recorded in the audit log with the identity as claimed: its proof has not been looked at.)
      if (refused) return refuse(this.operations.reply(asOriginal, adminReq, adminReq ? this.c.service.refused(adminReq, identity, originOf(meta), refused, false) : refused, as) as Buffer);
    }
    // Locked: refused before the proof is looked at, and the challenge stays for its client.
    const locked = opts.authLimits?.check(attempt);
    if (locked) return responder.error(asOriginal, ResponseCode.SERVER_TOO_BUSY, locked.message, as);
    if (!this.c.identities.verifyAnswer(answer, challengeMessage(challenge.nonce, challenge.digest))) {
      this.c.stats.authFailures++;
      opts.authLimits?.failed(attempt, 'the signature or MAC does not verify');
      return refuse(responder.error(asOriginal, ResponseCode.AUTHENTICATION_FAILED, 'the signature or MAC does not verify for this identity', as));
    }
    opts.authLimits?.succeeded(attempt);
    if (session && session.identity && refMatches({ handle: session.identity.handle, index: session.identity.index }, identity)) {
      // The session now belongs to this identity (its requests, the original among them, carry the MAC).
      table.authenticate(session);
    }
    if (replicating) {
      // Replication goes over TCP only, where no answer is retransmitted: a proven challenge is done with.
      table.dropChallenge(challenge, session);
      return opts.replication!.answer(asOriginal, as);
    }
    if (isResolution) return finish(this.authenticatedResolution(asOriginal, identity, {}, session, as));
    return finish(this.operations.reply(asOriginal, adminReq, this.operations.run(adminReq!, identity, meta), as));
  }
}
