import { OpCode, ResponseCode } from '../protocol/constants.js';
import { type Packet, type ReceivedPacket, keptPacket } from '../protocol/message.js';
import { AuthType, challengeMessage, decodeChallengeAnswer, decodeLoginRequest } from '../protocol/auth-bodies.js';
import { decodeAdminRequest } from '../protocol/admin-request.js';
import { ADMIN_OPCODES, AUTH_OPCODES } from '../protocol/opcode-sets.js';
import type { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions } from '../protocol/responder.js';
import { type Identity, refMatches } from './permissions.js';
import type { ConnectionLogin, ConnectionScope } from './sessions.js';
import type { AuthAttempt } from './auth-limits.js';
import { type WireContext, type WireMeta, originOf, originalAnsweredBy } from './wire-context.js';
import { type ChallengeResponse, MAX_FAILED_ANSWERS } from './wire-challenges.js';
import type { WireOperations } from './wire-operations.js';

// The national SDK's login (LOGIN_ID_SYSTEM, docs/idis.md): a 402 to the login, proven once with
// RESPONSE_TO_CHALLENGE, after which every request on that TCP connection under the login's SessionId acts
// as its identity, unsigned. The login lives in the connection's scope, so it works with several workers.

/** Failed login proofs one TCP connection may make; after them its logins are refused. */
const MAX_FAILED_LOGINS = 5;

export class LoginWire {
  constructor(
    private readonly c: WireContext,
    private readonly challenges: ChallengeResponse,
    private readonly operations: WireOperations,
  ) {}

  /**
   * LOGIN_ID_SYSTEM (2001), on a TCP connection: a 402 with the request digest and a nonce, under the
   * SessionId the client chose (a fresh one if it chose none). Whether the identity exists is not told
   * until its proof is checked.
   */
  login(req: ReceivedPacket, meta: WireMeta, keep: ReplyOptions): Buffer {
    const conn = meta.connection;
    if (!conn) return this.c.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'LOGIN_ID_SYSTEM needs a TCP connection', keep);
    if ((conn.failedLogins ?? 0) >= MAX_FAILED_LOGINS) {
      return this.c.responder.error(req, ResponseCode.AUTHENTICATION_FAILED, 'too many failed logins on this connection', keep);
    }
    const l = decodeLoginRequest(req.body);
    if (l.identityIndex <= 0 || l.identityHandle.length === 0) {
      return this.c.responder.error(req, ResponseCode.INVALID_ADMIN, 'the login must name an identity handle and the index of its key', keep);
    }
    const sessionId = req.envelope.sessionId !== 0 ? req.envelope.sessionId : this.c.table.nextId();
    const { nonce, digest, digestWithType } = this.challenges.freshChallenge(req);
    const now = this.c.now();
    const pending = {
      id: sessionId,
      nonce,
      digest,
      request: keptPacket(req.raw),
      sessionId,
      expiresAt: now + this.c.opts.challengeTimeoutMs,
      peer: meta.peer ?? '',
      bytes: 0,
      failures: 0,
    };
    conn.login = { sessionId, claimed: { handle: l.identityHandle, index: l.identityIndex }, proven: false, pending, expiresAt: pending.expiresAt };
    this.c.stats.challenges++;
    return this.challenges.challengeReply(req, nonce, sessionId, keep, digestWithType);
  }

  /**
   * A request under the SessionId of the connection's login: the answer to its challenge, or, once it is
   * proven, a request acting as its identity. Nothing here is ever answered 402: the SDK takes a 402 for
   * success, so a refusal is 400/401.
   */
  inLogin(req: ReceivedPacket, login: ConnectionLogin, meta: WireMeta, keep: ReplyOptions): Buffer | Buffer[] | MessageStream | undefined {
    const conn = meta.connection!;
    const op = req.header.opCode;
    const now = this.c.now();
    if (login.expiresAt <= now) {
      delete conn.login;
      return this.c.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'the login on this connection has expired; log in again', keep);
    }
    if (op === OpCode.RESPONSE_TO_CHALLENGE) return this.answerLogin(req, login, conn, meta);
    if (op === OpCode.GET_SITE_INFO) return undefined;
    if (!login.proven) return this.c.responder.error(req, ResponseCode.SESSION_FAILED, 'the login on this connection has not been completed', keep);
    login.expiresAt = now + this.c.opts.maxSessionMs;
    const identity = login.claimed;
    if (op === OpCode.SESSION_TERMINATE) {
      delete conn.login;
      return this.c.responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), keep);
    }
    if (op === OpCode.RESOLUTION) return this.challenges.resolution(req, undefined, keep, meta, identity);
    if (!ADMIN_OPCODES.has(op)) {
      if (AUTH_OPCODES.has(op)) return this.c.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, `${op} is not supported inside a login`, keep);
      return undefined;
    }
    const adminReq = decodeAdminRequest(req);
    const verdict = this.c.service.check(adminReq, identity);
    if (verdict) {
      const refusal = verdict.responseCode === ResponseCode.AUTHENTICATION_NEEDED ? { ...verdict, responseCode: ResponseCode.INSUFFICIENT_PERMISSIONS } : verdict;
      return this.operations.reply(req, adminReq, this.c.service.refused(adminReq, identity, originOf(meta), refusal), keep);
    }
    // The SDK takes each message on its connection for the answer to one request: a list is one message.
    return this.operations.reply(req, adminReq, this.operations.run(adminReq, identity, meta), keep, true);
  }

  /**
   * RESPONSE_TO_CHALLENGE to a login's 402: the proof checked against the identity the login named, then
   * RC 1 as the answer to the login itself (opcode 2001, its flags and digest), which is what the SDK reads.
   */
  private answerLogin(req: Packet, login: ConnectionLogin, conn: ConnectionScope, meta: WireMeta): Buffer {
    const { responder, opts, stats } = this.c;
    const challenge = login.pending;
    if (!challenge) return responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'no login challenge is pending on this connection');
    const asOriginal = originalAnsweredBy(challenge.request, req);
    const as: ReplyOptions = { sessionId: login.sessionId };
    if (this.c.table.isExpired(challenge)) {
      delete login.pending;
      return responder.error(asOriginal, ResponseCode.AUTHEN_TIMEOUT, 'the challenge has expired', as);
    }
    stats.answers++;
    const answer = decodeChallengeAnswer(req.body);
    const identity: Identity = { handle: answer.identityHandle, index: answer.identityIndex };
    const attempt: AuthAttempt = { identity: login.claimed, source: meta.peer ?? '', transport: meta.transport };
    const fail = (rc: number, message: string, proofFailed = false): Buffer => {
      stats.authFailures++;
      conn.failedLogins = (conn.failedLogins ?? 0) + 1;
      if (++challenge.failures >= MAX_FAILED_ANSWERS) delete login.pending;
      if (proofFailed) opts.authLimits?.failed(attempt, message);
      else opts.authLimits?.rejected(attempt, message);
      return responder.error(asOriginal, rc, message, as);
    };
    if (answer.authType !== AuthType.PUBKEY && answer.authType !== AuthType.SECKEY) return fail(ResponseCode.INVALID_CREDENTIAL, `unknown authentication type "${answer.authType}"`);
    // The login named an index, so this is the same handle (its prefix without regard to case) and index.
    if (!refMatches(login.claimed, identity)) {
      return fail(ResponseCode.INVALID_CREDENTIAL, 'the answer names another identity than the login');
    }
    // Locked: refused unchecked (not counted against the connection either: nothing was tried).
    const locked = opts.authLimits?.check(attempt);
    if (locked) return responder.error(asOriginal, ResponseCode.SERVER_TOO_BUSY, locked.message, as);
    if (!this.c.identities.verifyAnswer(answer, challengeMessage(challenge.nonce, challenge.digest))) {
      return fail(ResponseCode.AUTHENTICATION_FAILED, 'the signature or MAC does not verify for this identity', true);
    }
    opts.authLimits?.succeeded(attempt);
    delete login.pending;
    login.proven = true;
    login.expiresAt = this.c.now() + opts.maxSessionMs;
    stats.logins++;
    return responder.reply(asOriginal, ResponseCode.SUCCESS, Buffer.alloc(0), as);
  }
}
