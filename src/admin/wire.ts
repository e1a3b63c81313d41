import { type DiffieHellman, createDiffieHellman, getDiffieHellman, randomBytes } from 'node:crypto';
import { NA_PREFIX, prefixOfPrefixHandle } from '../model/handle.js';
import { type HandleValue, Perm, ValueFilter, selectFor } from '../model/value.js';
import { Limits, OpCode, OpFlag, ResponseCode } from '../protocol/constants.js';
import { DecodeError } from '../protocol/errors.js';
import { type Packet, keptPacket, ownBytes } from '../protocol/message.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { decodeCredential } from '../protocol/credential.js';
import { decodeResolutionRequest, encodeChallenge, encodeHandleValues } from '../protocol/bodies.js';
import { requestDigest } from '../protocol/digest.js';
import {
  AuthType,
  KeyExchangeMode,
  SessionCipher,
  challengeMessage,
  decodeChallengeAnswer,
  decodeLoginRequest,
  decodeSessionSetupRequest,
  encodeDhResponseData,
  encodeSessionSetupResponse,
} from '../protocol/auth-bodies.js';
import {
  decodeHandleOnly,
  decodeHandleWithValues,
  decodeRemoveValues,
  encodeCreateResponse,
  encodeHandleList,
} from '../protocol/admin-bodies.js';
import { decodeDhPublicKey, encodeDhPublicKey } from '../protocol/pubkey.js';
import { checkSessionMac, decryptPacket, encryptPacket, sessionKeyFromSecret } from '../protocol/session-crypto.js';
import { versionAtLeast } from '../protocol/envelope.js';
import { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions, Responder } from '../resolve/respond.js';
import type { AdminOutcome, AdminRequest, AdminService, HandleListing } from './operations.js';
import type { IdentityKeys } from './identity.js';
import { type Identity, refMatches } from './permissions.js';
import { type ConnectionLogin, type ConnectionScope, type Session, SessionTable } from './sessions.js';
import type { AuthAttempt, AuthLimiter } from './auth-limits.js';

// Administration and authentication over the Handle wire protocol (docs/protocol.md §11): the admin opcodes
// (100–105), the 402 challenge and its answer (200), sessions (400 with Diffie-Hellman, HS_MAC on the
// requests inside them, 401) and resolutions that ask for non-public values. The operations themselves are
// AdminService's; this file is the protocol around them.

export interface AdminWireOptions {
  challengeTimeoutMs: number;
  maxSessionMs: number;
  requireSessions: boolean;
  /** The values of a handle whose prefix this node homes (non-public ones included), else undefined. */
  localValues: (handle: string) => HandleValue[] | undefined;
  /** Drop cached answers a write just made stale, before the write is acknowledged. */
  noticeWrites?: () => void;
  /**
   * False when several worker processes share the port: sessions and challenges live in one process, and
   * the answer to a challenge may reach another, so authentication is refused with a clear message.
   */
  singleProcess?: boolean;
  /**
   * Failed proofs limited per identity and per source, shared with HTTP (auth-limits.ts): while either is
   * locked an answer is refused unchecked (RC 3); every refusal is logged.
   */
  authLimits?: AuthLimiter;
}

/** Diffie-Hellman groups accepted for sessions: the reference client's (RFC 2409 group 2) and larger standard ones. */
const DH_GROUPS = ['modp2', 'modp5', 'modp14'].map((name) => ({ name, prime: getDiffieHellman(name).getPrime(), dh: undefined as DiffieHellman | undefined }));

/**
 * A fresh key pair in a standard group: one DiffieHellman object per group, made once (making one checks
 * the group and costs about 40 ms, which an unauthenticated datagram must not be able to ask for), given a
 * new random 256-bit private exponent each time (about 0.2 ms in group 2).
 */
function freshDh(group: (typeof DH_GROUPS)[number]): DiffieHellman {
  group.dh ??= createDiffieHellman(group.prime, Buffer.from([2]));
  group.dh.setPrivateKey(randomBytes(32));
  group.dh.generateKeys();
  return group.dh;
}

/** Answers to one challenge that may fail before it is dropped. */
const MAX_FAILED_ANSWERS = 3;

/** Failed login proofs one TCP connection may make; after them its logins are refused. */
const MAX_FAILED_LOGINS = 5;

const WORKERS_MESSAGE = 'administration and authentication need a node serving from one process (workers: 1); this node runs several';

/** Handles that LIST_HANDLES puts in one message; the rest follow in more, CN set on all but the last. */
const LIST_CHUNK = 50;

/** Messages of a streamed list made at a time (one read of the registry's keys): other clients are served between pages. */
const LIST_PAGE_MESSAGES = 20;

/** The largest list answered in one message (what the protocol's message limit leaves for the body). */
const LIST_ONE_MESSAGE_BYTES = Limits.MAX_MESSAGE_LENGTH - 1024;

const ADMIN_OPCODES: ReadonlySet<number> = new Set([
  OpCode.CREATE_HANDLE,
  OpCode.DELETE_HANDLE,
  OpCode.ADD_VALUE,
  OpCode.REMOVE_VALUE,
  OpCode.MODIFY_VALUE,
  OpCode.LIST_HANDLES,
]);

/** Opcodes the wire layer answers itself (besides every request that names a session). */
export const AUTH_OPCODES: ReadonlySet<number> = new Set([
  ...ADMIN_OPCODES,
  OpCode.RESPONSE_TO_CHALLENGE,
  OpCode.SESSION_SETUP,
  OpCode.SESSION_TERMINATE,
  OpCode.SESSION_EXCHANGEKEY,
  OpCode.HOME_NA,
  OpCode.UNHOME_NA,
  OpCode.LIST_HOMED_NAS,
  OpCode.LOGIN_ID_SYSTEM,
]);

export interface WireMeta {
  transport: 'udp' | 'tcp';
  /** Who sent it (an address), for the daily quota when no identity is known. */
  peer?: string;
  /** The TCP connection's state (the national SDK's login lives there); absent on UDP. */
  connection?: ConnectionScope;
}

/** Counters for operators. */
export class AdminWireStats {
  challenges = 0;
  answers = 0;
  authFailures = 0;
  sessions = 0;
  operations = 0;
  /** LOGIN_ID_SYSTEM logins proven (the national SDK's). */
  logins = 0;
}

export class AdminWire {
  readonly stats = new AdminWireStats();
  readonly table: SessionTable;

  constructor(
    private readonly service: AdminService,
    private readonly identities: IdentityKeys,
    private readonly responder: Responder,
    private readonly opts: AdminWireOptions,
    table?: SessionTable,
  ) {
    this.table = table ?? new SessionTable();
  }

  /**
   * An encrypted request (EC): its message decrypted with the key of the session its envelope names, so it
   * can be decoded like any other. A reply instead when there is no such session or the key does not fit.
   */
  openEncrypted(bytes: Buffer): { plain: Buffer } | { reply: Buffer } {
    const env = decodeEnvelope(bytes);
    const session = env.sessionId !== 0 && this.opts.singleProcess !== false ? this.table.session(env.sessionId) : undefined;
    if (!session) return { reply: this.responder.unread(env.requestId, 0, ResponseCode.SESSION_TIMEOUT, 'encrypted message outside a live session') };
    try {
      return { plain: decryptPacket(session.key, bytes) };
    } catch {
      return { reply: this.responder.unread(env.requestId, 0, ResponseCode.INVALID_SESSION_KEY, 'The session key authentication failed.') };
    }
  }

  /**
   * A request the wire layer must see: an admin or session opcode, anything naming a session, or a
   * resolution without PO. Returns the response(s), or undefined when the request is an ordinary resolution
   * after all (the normal pipeline answers it).
   */
  handle(req: Packet, bytes: Buffer, meta: WireMeta, keep: ReplyOptions): Buffer | Buffer[] | MessageStream | undefined {
    (req as RawPacket).raw = bytes;
    const op = req.header.opCode;
    // The national SDK's login, and everything under its SessionId on the connection it was made on. This
    // lives in one connection, so it works with several worker processes too.
    if (op === OpCode.LOGIN_ID_SYSTEM) return this.login(req, meta, keep);
    const login = meta.connection?.login;
    if (login && req.envelope.sessionId === login.sessionId) return this.inLogin(req, login, meta, keep);
    // A site's description is public: the SDK asks for it under a SessionId it chose itself, before any.
    if (op === OpCode.GET_SITE_INFO) return undefined;
    if (this.opts.singleProcess === false) {
      if (AUTH_OPCODES.has(op) || req.envelope.sessionId !== 0) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, WORKERS_MESSAGE, keep);
    }
    if (op === OpCode.RESPONSE_TO_CHALLENGE) return this.answer(req, meta);
    if (op === OpCode.SESSION_SETUP) return this.setup(req, meta);
    let session: Session | undefined;
    if (req.envelope.sessionId !== 0) {
      session = this.table.session(req.envelope.sessionId);
      if (!session) return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'Invalid session id or session time out. Please try again.', keep);
      // Every request in a session carries its MAC, authenticated yet or not: without the session key a
      // stranger can neither act in it nor replace the challenge pending in it.
      const bad = this.checkMac(req, session, keep);
      if (bad) return bad;
      if (op === OpCode.SESSION_TERMINATE) {
        this.table.closeSession(session.id);
        return this.responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), keep);
      }
    } else if (req.envelope.encrypted) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'encrypted messages need a session', keep);
    }

    if (op === OpCode.RESOLUTION) return this.resolution(req, session, keep, meta);
    if (op === OpCode.SESSION_TERMINATE) return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'not in a session', keep);
    if (op === OpCode.SESSION_EXCHANGEKEY) return this.responder.error(req, ResponseCode.SESSION_FAILED, 'only Diffie-Hellman sessions (key exchange mode 4) are supported', keep);
    if (op === OpCode.HOME_NA || op === OpCode.UNHOME_NA || op === OpCode.LIST_HOMED_NAS) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'homing prefixes is done with "idres prefix home" on the node', keep);
    }
    if (!ADMIN_OPCODES.has(op)) {
      // Some other opcode inside a session: the handler's usual answer.
      return undefined;
    }
    if (meta.transport === 'udp') {
      // Our site record offers UDP for queries only, as the reference's default does; admin goes over TCP.
      return this.responder.error(req, ResponseCode.PROTOCOL_ERROR, 'Received admin request on non-admin interface', keep);
    }
    const adminReq = decodeAdminRequest(req);
    if (!session && this.opts.requireSessions) {
      return this.responder.error(req, ResponseCode.INVALID_CREDENTIAL, 'Sessions are required for administration on this server', keep);
    }
    const asIdentity = session?.authenticated ? session.identity : undefined;
    const verdict = this.service.check(adminReq, asIdentity);
    if (verdict && verdict.responseCode !== ResponseCode.AUTHENTICATION_NEEDED) return this.outcomeReply(req, adminReq, verdict, keep);
    if (!verdict) {
      this.stats.operations++;
      return this.outcomeReply(req, adminReq, this.run(adminReq, clientOf(asIdentity, meta), asIdentity), keep);
    }
    return this.challenge(req, session, keep, meta);
  }

  /** Carry out an operation and, when it wrote, drop the cached answers it made stale before it is acknowledged. */
  private run(adminReq: AdminRequest, client: string, identity: Identity | undefined): AdminOutcome {
    const outcome = this.service.execute(adminReq, client, identity);
    if (outcome.responseCode === ResponseCode.SUCCESS && adminReq.op !== 'list') this.opts.noticeWrites?.();
    return outcome;
  }

  /** A resolution without PO (or inside a session): challenged when it selects values that are not public. */
  private resolution(req: Packet, session: Session | undefined, keep: ReplyOptions, meta: WireMeta, loggedIn?: Identity): Buffer | undefined {
    if (req.header.opFlags & OpFlag.PO) return undefined;
    const r = decodeResolutionRequest(req.body);
    const values = this.opts.localValues(r.handle);
    if (values === undefined) return undefined;
    const sel = selectFor(values, ValueFilter.of(r.indexes, r.types));
    const hidden = sel.restricted.length > 0 || sel.unreadable;
    if (sel.public.length + sel.restricted.length === 0 && !sel.unreadable) return undefined;
    if (!hidden && !session) return undefined;
    if (loggedIn) {
      if (sel.unreadable) return this.responder.error(req, ResponseCode.INSUFFICIENT_PERMISSIONS, 'a selected value is readable by nobody', keep);
      return this.authenticatedResolution(req, loggedIn, keep);
    }
    if (this.opts.singleProcess === false) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, WORKERS_MESSAGE, keep);
    if (sel.unreadable) return this.responder.error(req, ResponseCode.INSUFFICIENT_PERMISSIONS, 'a selected value is readable by nobody', keep);
    if (session?.authenticated && session.identity) return this.authenticatedResolution(req, session.identity, keep, session);
    return this.challenge(req, session, keep, meta);
  }

  private authenticatedResolution(req: Packet, identity: Identity, keep: ReplyOptions, session?: Session, as?: ReplyOptions): Buffer {
    const r = decodeResolutionRequest(req.body);
    // The reader's permission is needed here even when every selected value is public (the reference's rule
    // for an authenticated resolution).
    const o = this.service.read(r.handle, ValueFilter.of(r.indexes, r.types), identity, { requireReader: true });
    if (o.responseCode !== ResponseCode.SUCCESS) return this.responder.error(req, o.responseCode, o.message, { ...keep, ...as });
    const selected = o.values!;
    const reply = this.responder.reply(req, ResponseCode.SUCCESS, encodeHandleValues(r.handle, selected), { ...keep, ...as });
    // From 2.8 a response carrying non-public values inside a session goes encrypted with the session key.
    const secret = selected.some((v) => !(v.permissions & Perm.PUBLIC_READ));
    if (session && (req.header.opFlags & OpFlag.ENC || (secret && versionAtLeast(this.responder.versionFor(req), 2, 8)))) {
      return encryptPacket(session.key, reply);
    }
    return reply;
  }

  /** Answer with 402: the request digest (always) and a fresh nonce, under the session's id or a new one. */
  private challenge(req: Packet, session: Session | undefined, keep: ReplyOptions, meta: WireMeta): Buffer {
    // A retransmitted request in a session gets the same challenge again.
    const prior = session?.pending;
    if (prior && !prior.answered && prior.request.envelope.requestId === req.envelope.requestId && !this.table.isExpired(prior)) {
      return this.challengeReply(req, prior.nonce, prior.id, keep);
    }
    const { nonce, digest, digestWithType } = this.freshChallenge(req);
    const pending = this.table.addChallenge(
      {
        nonce,
        digest,
        request: keptPacket(rawOf(req)),
        sessionId: session?.id ?? 0,
        expiresAt: Date.now() + this.opts.challengeTimeoutMs,
        peer: meta.peer ?? '',
        bytes: rawOf(req).length,
      },
      session,
    );
    if (!pending) return this.responder.error(req, ResponseCode.SERVER_TOO_BUSY, 'too many authentications pending; try again', keep);
    this.stats.challenges++;
    return this.challengeReply(req, nonce, pending.id, keep, digestWithType);
  }

  /** A new nonce, and the request's digest at the response's version: with its type, and raw (what is signed). */
  private freshChallenge(req: Packet): { nonce: Buffer; digest: Buffer; digestWithType: Buffer } {
    const version = this.responder.versionFor(req);
    const digestWithType = requestDigest(req.headerAndBody, version);
    // The signed data is the raw digest: after the type byte (SHA-1/SHA-256), after the length (old MD5).
    const digest = ownBytes(versionAtLeast(version, 2, 1) ? digestWithType.subarray(1) : digestWithType.subarray(4));
    return { nonce: ownBytes(randomBytes(16)), digest, digestWithType };
  }

  /** The 402: RD set whatever the request asked (the client checks the digest), the nonce, the challenge's id. */
  private challengeReply(req: Packet, nonce: Buffer, id: number, keep: ReplyOptions, digest?: Buffer): Buffer {
    return this.responder.reply(req, ResponseCode.AUTHENTICATION_NEEDED, encodeChallenge(nonce), {
      ...keep,
      setFlags: (keep.setFlags ?? 0) | OpFlag.RD,
      sessionId: id,
      ...(digest ? { digest } : {}),
    });
  }

  /** RESPONSE_TO_CHALLENGE: find the challenge, check permission then proof, run the original request once. */
  private answer(req: Packet, meta: WireMeta): Buffer | Buffer[] | MessageStream {
    const id = req.envelope.sessionId;
    if (id === 0) return this.responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'the answer names no challenge (SessionId 0)');
    const { challenge, session } = this.table.challenge(id);
    if (!challenge) {
      if (session) return this.responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'no challenge is pending in this session');
      return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'Invalid session id or session time out. Please try again.');
    }
    if (challenge.answered) {
      // The same answer again (a UDP retransmission) gets the same response; any other reuse is refused.
      if (challenge.answered.requestId === req.envelope.requestId) return challenge.answered.reply;
      return this.responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'this challenge has been answered already');
    }
    if (this.table.isExpired(challenge)) return this.responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'the challenge has expired');
    this.stats.answers++;
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
    const asOriginal = { ...original, envelope: { ...original.envelope, requestId: req.envelope.requestId } } as Packet;
    // Only an answer that proves its identity uses the challenge up: anyone may send an answer under a
    // challenge's id, and a failed one must not spoil it for the client it was issued to. A few failures
    // drop it, so a secret cannot be guessed at leisure against one nonce.
    const finish = (reply: Buffer | Buffer[] | MessageStream) => {
      challenge.answered = { requestId: req.envelope.requestId, reply: Buffer.isBuffer(reply) ? ownBytes(reply) : Array.isArray(reply) ? reply.map(ownBytes) : reply };
      return reply;
    };
    const refuse = (reply: Buffer) => {
      if (++challenge.failures >= MAX_FAILED_ANSWERS) this.table.dropChallenge(challenge, session);
      return reply;
    };
    if (answer.authType !== AuthType.PUBKEY && answer.authType !== AuthType.SECKEY) {
      this.opts.authLimits?.rejected(attempt, 'unknown authentication type');
      return refuse(this.responder.error(asOriginal, ResponseCode.INVALID_CREDENTIAL, `unknown authentication type "${answer.authType}"`, as));
    }
    if (answer.identityIndex === 0) {
      this.opts.authLimits?.rejected(attempt, 'no key index');
      return refuse(this.responder.error(asOriginal, ResponseCode.INVALID_ADMIN, 'the identity must name the index of its key', as));
    }
    const identity: Identity = { handle: answer.identityHandle, index: answer.identityIndex };
    const isResolution = original.header.opCode === OpCode.RESOLUTION;
    const adminReq = isResolution ? undefined : decodeAdminRequest(original);
    // Permission before proof: a non-administrator gets 400 whatever it signed (as the reference).
    const refused = adminReq ? this.service.check(adminReq, identity) : this.service.authorizeRead(decodeResolutionRequest(original.body).handle, identity);
    if (refused) return refuse(this.outcomeReply(asOriginal, adminReq, refused, as) as Buffer);
    // Locked: refused before the proof is looked at, and the challenge stays for its client.
    const locked = this.opts.authLimits?.check(attempt);
    if (locked) return this.responder.error(asOriginal, ResponseCode.SERVER_TOO_BUSY, locked.message, as);
    if (!this.identities.verifyAnswer(answer, challengeMessage(challenge.nonce, challenge.digest))) {
      this.stats.authFailures++;
      this.opts.authLimits?.failed(attempt, 'the signature or MAC does not verify');
      return refuse(this.responder.error(asOriginal, ResponseCode.AUTHENTICATION_FAILED, 'the signature or MAC does not verify for this identity', as));
    }
    this.opts.authLimits?.succeeded(attempt);
    if (session && session.identity && refMatches({ handle: session.identity.handle, index: session.identity.index }, identity)) {
      // The session now belongs to this identity (its requests, the original among them, carry the MAC).
      this.table.authenticate(session);
    }
    if (isResolution) return finish(this.authenticatedResolution(asOriginal, identity, {}, session, as));
    this.stats.operations++;
    return finish(this.outcomeReply(asOriginal, adminReq, this.run(adminReq!, clientOf(identity, meta), identity), as));
  }

  /**
   * LOGIN_ID_SYSTEM (2001), on a TCP connection: a 402 with the request digest and a nonce, under the
   * SessionId the client chose (a fresh one if it chose none). Whether the identity exists is not told
   * until its proof is checked.
   */
  private login(req: Packet, meta: WireMeta, keep: ReplyOptions): Buffer {
    const conn = meta.connection;
    if (!conn) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'LOGIN_ID_SYSTEM needs a TCP connection', keep);
    if ((conn.failedLogins ?? 0) >= MAX_FAILED_LOGINS) {
      return this.responder.error(req, ResponseCode.AUTHENTICATION_FAILED, 'too many failed logins on this connection', keep);
    }
    const l = decodeLoginRequest(req.body);
    if (l.identityIndex <= 0 || l.identityHandle.length === 0) {
      return this.responder.error(req, ResponseCode.INVALID_ADMIN, 'the login must name an identity handle and the index of its key', keep);
    }
    const sessionId = req.envelope.sessionId !== 0 ? req.envelope.sessionId : this.table.nextId();
    const { nonce, digest, digestWithType } = this.freshChallenge(req);
    const now = Date.now();
    const pending = {
      id: sessionId,
      nonce,
      digest,
      request: keptPacket(rawOf(req)),
      sessionId,
      expiresAt: now + this.opts.challengeTimeoutMs,
      peer: meta.peer ?? '',
      bytes: 0,
      failures: 0,
    };
    conn.login = { sessionId, claimed: { handle: l.identityHandle, index: l.identityIndex }, proven: false, pending, expiresAt: pending.expiresAt };
    this.stats.challenges++;
    return this.challengeReply(req, nonce, sessionId, keep, digestWithType);
  }

  /**
   * A request under the SessionId of the connection's login: the answer to its challenge, or, once it is
   * proven, a request acting as its identity. Nothing here is ever answered 402: the SDK takes a 402 for
   * success, so a refusal is 400/401.
   */
  private inLogin(req: Packet, login: ConnectionLogin, meta: WireMeta, keep: ReplyOptions): Buffer | Buffer[] | MessageStream | undefined {
    const conn = meta.connection!;
    const op = req.header.opCode;
    const now = Date.now();
    if (login.expiresAt <= now) {
      delete conn.login;
      return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'the login on this connection has expired; log in again', keep);
    }
    if (op === OpCode.RESPONSE_TO_CHALLENGE) return this.answerLogin(req, login, conn, meta);
    if (op === OpCode.GET_SITE_INFO) return undefined;
    if (!login.proven) return this.responder.error(req, ResponseCode.SESSION_FAILED, 'the login on this connection has not been completed', keep);
    login.expiresAt = now + this.opts.maxSessionMs;
    const identity = login.claimed;
    if (op === OpCode.SESSION_TERMINATE) {
      delete conn.login;
      return this.responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), keep);
    }
    if (op === OpCode.RESOLUTION) return this.resolution(req, undefined, keep, meta, identity);
    if (!ADMIN_OPCODES.has(op)) {
      if (AUTH_OPCODES.has(op)) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, `${op} is not supported inside a login`, keep);
      return undefined;
    }
    const adminReq = decodeAdminRequest(req);
    const verdict = this.service.check(adminReq, identity);
    if (verdict) {
      const refusal = verdict.responseCode === ResponseCode.AUTHENTICATION_NEEDED ? { ...verdict, responseCode: ResponseCode.INSUFFICIENT_PERMISSIONS } : verdict;
      return this.outcomeReply(req, adminReq, refusal, keep);
    }
    this.stats.operations++;
    // The SDK takes each message on its connection for the answer to one request: a list is one message.
    return this.outcomeReply(req, adminReq, this.run(adminReq, clientOf(identity, meta), identity), keep, true);
  }

  /**
   * RESPONSE_TO_CHALLENGE to a login's 402: the proof checked against the identity the login named, then
   * RC 1 as the answer to the login itself (opcode 2001, its flags and digest), which is what the SDK reads.
   */
  private answerLogin(req: Packet, login: ConnectionLogin, conn: ConnectionScope, meta: WireMeta): Buffer {
    const challenge = login.pending;
    if (!challenge) return this.responder.error(req, ResponseCode.AUTHEN_TIMEOUT, 'no login challenge is pending on this connection');
    const asOriginal = { ...challenge.request, envelope: { ...challenge.request.envelope, requestId: req.envelope.requestId } } as Packet;
    const as: ReplyOptions = { sessionId: login.sessionId };
    if (this.table.isExpired(challenge)) {
      delete login.pending;
      return this.responder.error(asOriginal, ResponseCode.AUTHEN_TIMEOUT, 'the challenge has expired', as);
    }
    this.stats.answers++;
    const answer = decodeChallengeAnswer(req.body);
    const identity: Identity = { handle: answer.identityHandle, index: answer.identityIndex };
    const attempt: AuthAttempt = { identity: login.claimed, source: meta.peer ?? '', transport: meta.transport };
    const fail = (rc: number, message: string, proofFailed = false): Buffer => {
      this.stats.authFailures++;
      conn.failedLogins = (conn.failedLogins ?? 0) + 1;
      if (++challenge.failures >= MAX_FAILED_ANSWERS) delete login.pending;
      if (proofFailed) this.opts.authLimits?.failed(attempt, message);
      else this.opts.authLimits?.rejected(attempt, message);
      return this.responder.error(asOriginal, rc, message, as);
    };
    if (answer.authType !== AuthType.PUBKEY && answer.authType !== AuthType.SECKEY) return fail(ResponseCode.INVALID_CREDENTIAL, `unknown authentication type "${answer.authType}"`);
    // The login named an index, so this is the same handle (its prefix without regard to case) and index.
    if (!refMatches(login.claimed, identity)) {
      return fail(ResponseCode.INVALID_CREDENTIAL, 'the answer names another identity than the login');
    }
    // Locked: refused unchecked (not counted against the connection either: nothing was tried).
    const locked = this.opts.authLimits?.check(attempt);
    if (locked) return this.responder.error(asOriginal, ResponseCode.SERVER_TOO_BUSY, locked.message, as);
    if (!this.identities.verifyAnswer(answer, challengeMessage(challenge.nonce, challenge.digest))) {
      return fail(ResponseCode.AUTHENTICATION_FAILED, 'the signature or MAC does not verify for this identity', true);
    }
    this.opts.authLimits?.succeeded(attempt);
    delete login.pending;
    login.proven = true;
    login.expiresAt = Date.now() + this.opts.maxSessionMs;
    this.stats.logins++;
    return this.responder.reply(asOriginal, ResponseCode.SUCCESS, Buffer.alloc(0), as);
  }

  /** SESSION_SETUP: Diffie-Hellman (mode 4) with the client's group; the reply is signed because the request asks (CT). */
  private setup(req: Packet, meta: WireMeta): Buffer {
    const s = decodeSessionSetupRequest(req.body);
    if (s.mode !== KeyExchangeMode.DIFFIE_HELLMAN) return this.responder.error(req, ResponseCode.SESSION_FAILED, 'Unrecognized key exchange mode');
    let key: Buffer;
    let serverY: Buffer;
    let group: { p: Buffer; g: Buffer };
    try {
      const client = decodeDhPublicKey(s.publicKey ?? Buffer.alloc(0));
      // Only well-known safe-prime groups with generator 2: a group the client makes up could be weak, or
      // huge and slow, which an unauthenticated datagram must not be able to ask of us.
      const known = DH_GROUPS.find((x) => x.prime.equals(client.p));
      if (!known || client.g.length !== 1 || client.g[0] !== 2) throw new Error('only the standard groups RFC 2409 group 2, RFC 3526 groups 5 and 14 with generator 2 are accepted');
      const dh = freshDh(known);
      serverY = dh.getPublicKey();
      const z = dh.computeSecret(client.y);
      key = sessionKeyFromSecret(z, client.p.length);
      group = { p: client.p, g: client.g };
    } catch (err) {
      return this.responder.error(req, ResponseCode.SESSION_FAILED, `key exchange failed: ${(err as Error).message}`);
    }
    const identity = s.identityIndex > 0 && s.identityHandle.length > 0 ? { handle: s.identityHandle, index: s.identityIndex } : undefined;
    const timeoutMs = Math.min(Math.max(s.timeoutSeconds, 1) * 1000, this.opts.maxSessionMs);
    const session = this.table.openSession(key, identity, timeoutMs, meta.peer ?? '');
    if (!session) return this.responder.error(req, ResponseCode.SERVER_TOO_BUSY, 'too many sessions; try again later');
    this.stats.sessions++;
    const data = encodeDhResponseData(SessionCipher.AES, encodeDhPublicKey({ y: serverY, p: group.p, g: group.g }));
    return this.responder.reply(req, ResponseCode.SUCCESS, encodeSessionSetupResponse(KeyExchangeMode.DIFFIE_HELLMAN, data), {
      setFlags: OpFlag.RD,
      sessionId: session.id,
    });
  }

  /** The HS_MAC of a request inside a session: 404 without one, 502 when wrong, 505 for a replayed counter. */
  private checkMac(req: Packet, session: Session, opts: ReplyOptions, answerAs: Packet = req): Buffer | undefined {
    if (req.credential.length === 0) return this.responder.error(answerAs, ResponseCode.INVALID_CREDENTIAL, 'Session request missing MAC code.', opts);
    let cred;
    try {
      cred = decodeCredential(req.credential);
    } catch {
      return this.responder.error(answerAs, ResponseCode.INVALID_SESSION_KEY, 'Session authentication failed.', opts);
    }
    const raw = rawOf(req);
    if (!checkSessionMac(session.key, raw, cred, req.headerAndBody)) {
      return this.responder.error(answerAs, ResponseCode.INVALID_SESSION_KEY, 'Session authentication failed.', opts);
    }
    if (!this.table.useCounter(session, cred.signerIndex)) {
      return this.responder.error(answerAs, ResponseCode.SESSION_MESSAGE_REJECTED, `Duplicate session counter ${cred.signerIndex} in session ${session.id}`, opts);
    }
    return undefined;
  }

  /**
   * The response to an admin operation: its body (the handle for CREATE, the list for LIST) or its error. A
   * list is streamed: LIST_CHUNK handles a message, CN on all but the last, made a page at a time as the
   * connection takes them; with `oneMessage` (inside the national SDK's login, whose client reads one
   * message per request) it is one message, or an error when the handles would not fit in one.
   */
  private outcomeReply(req: Packet, adminReq: AdminRequest | undefined, o: AdminOutcome, opts: ReplyOptions, oneMessage = false): Buffer | MessageStream {
    if (o.responseCode !== ResponseCode.SUCCESS) return this.responder.error(req, o.responseCode, o.message, opts);
    const ow = o.overwritten ? { setFlags: (opts.setFlags ?? 0) | OpFlag.OW } : {};
    const mint = adminReq?.op === 'create' && adminReq.mint ? { setFlags: (opts.setFlags ?? 0) | OpFlag.MINT } : {};
    if (adminReq?.op === 'create') return this.responder.reply(req, ResponseCode.SUCCESS, encodeCreateResponse(o.handle!), { ...opts, ...ow, ...mint });
    if (adminReq?.op === 'list') {
      const listing = o.listing ?? (() => []);
      if (oneMessage) return this.listInOneMessage(req, listing, opts);
      const more = { ...opts, setFlags: (opts.setFlags ?? 0) | OpFlag.CN };
      const message = (handles: readonly string[], last: boolean) => this.responder.reply(req, ResponseCode.SUCCESS, encodeHandleList(handles), last ? opts : more);
      return new MessageStream(req.header.opCode, ResponseCode.SUCCESS, () => listMessages(listing(LIST_CHUNK * LIST_PAGE_MESSAGES), message));
    }
    return this.responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), { ...opts, ...ow });
  }

  /** Every handle of a listing in one message, read only as far as the message's bound. */
  private listInOneMessage(req: Packet, listing: HandleListing, opts: ReplyOptions): Buffer {
    const handles: string[] = [];
    let bytes = 4;
    for (const h of listing(LIST_CHUNK * LIST_PAGE_MESSAGES)) {
      bytes += 4 + Buffer.byteLength(h, 'utf8');
      if (bytes > LIST_ONE_MESSAGE_BYTES) {
        return this.responder.error(req, ResponseCode.ERROR, `more than ${handles.length} handles do not fit in one message; list them over HTTP or in a Handle session`, opts);
      }
      handles.push(h);
    }
    return this.responder.reply(req, ResponseCode.SUCCESS, encodeHandleList(handles), opts);
  }
}

/**
 * LIST_HANDLES' messages, LIST_CHUNK handles each, in pages of LIST_PAGE_MESSAGES. A full chunk goes out
 * once the next handle shows it is not the last; the last message (empty when there are no handles) has no CN.
 */
function* listMessages(handles: Iterable<string>, message: (chunk: readonly string[], last: boolean) => Buffer): Generator<Buffer[]> {
  let page: Buffer[] = [];
  let chunk: string[] = [];
  for (const h of handles) {
    if (chunk.length === LIST_CHUNK) {
      page.push(message(chunk, false));
      chunk = [];
      if (page.length === LIST_PAGE_MESSAGES) {
        yield page;
        page = [];
      }
    }
    chunk.push(h);
  }
  page.push(message(chunk, true));
  yield page;
}

/** Decode an admin opcode's body into the operation it asks for. */
export function decodeAdminRequest(req: Packet): AdminRequest {
  const flags = req.header.opFlags;
  switch (req.header.opCode) {
    case OpCode.CREATE_HANDLE: {
      const b = decodeHandleWithValues(req.body, 'create request');
      return { op: 'create', handle: b.handle, values: b.values, overwrite: (flags & OpFlag.OW) !== 0, mint: (flags & OpFlag.MINT) !== 0 };
    }
    case OpCode.DELETE_HANDLE:
      return { op: 'delete', handle: decodeHandleOnly(req.body, 'delete request') };
    case OpCode.ADD_VALUE: {
      const b = decodeHandleWithValues(req.body, 'add-value request');
      return { op: 'add', handle: b.handle, values: b.values, overwrite: (flags & OpFlag.OW) !== 0 };
    }
    case OpCode.REMOVE_VALUE: {
      const b = decodeRemoveValues(req.body);
      return { op: 'remove', handle: b.handle, indexes: b.indexes };
    }
    case OpCode.MODIFY_VALUE: {
      const b = decodeHandleWithValues(req.body, 'modify-value request');
      return { op: 'modify', handle: b.handle, values: b.values };
    }
    case OpCode.LIST_HANDLES: {
      const h = decodeHandleOnly(req.body, 'list request');
      // "88.118.8" is taken as "0.NA/88.118.8".
      const prefix = prefixOfPrefixHandle(h) ?? (h.includes('/') ? undefined : h);
      if (prefix === undefined || prefix === NA_PREFIX) throw new DecodeError(`"${h}" is not a prefix handle`, ResponseCode.INVALID_HANDLE);
      return { op: 'list', prefix };
    }
    default:
      throw new DecodeError(`opcode ${req.header.opCode} is not an admin operation`, ResponseCode.OPERATION_NOT_SUPPORTED);
  }
}

function clientOf(identity: Identity | undefined, meta: WireMeta): string {
  return identity ? `${identity.index}:${identity.handle}` : (meta.peer ?? 'unknown');
}

/** A decoded request with the bytes it came in (the session MAC covers envelope fields). */
type RawPacket = Packet & { raw?: Buffer };

function rawOf(req: Packet): Buffer {
  const raw = (req as RawPacket).raw;
  if (!raw) throw new Error('a request reached the admin layer without its bytes');
  return raw;
}

