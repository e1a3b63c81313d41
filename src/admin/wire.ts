import { OpCode, ResponseCode } from '../protocol/constants.js';
import type { ReceivedPacket } from '../protocol/message.js';
import { decodeAdminRequest } from '../protocol/admin-request.js';
import { ADMIN_OPCODES, AUTH_OPCODES, REPLICATION_OPCODES } from '../protocol/opcode-sets.js';
import type { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions, Responder } from '../protocol/responder.js';
import type { AdminService } from './operations.js';
import type { IdentityKeys } from './identity.js';
import { type Session, SessionTable } from './sessions.js';
import { type AdminWireOptions, AdminWireStats, NOT_A_REPLICATION_ADMIN, WORKERS_MESSAGE, type WireContext, type WireMeta, originOf } from './wire-context.js';
import { SessionWire } from './wire-sessions.js';
import { ChallengeResponse } from './wire-challenges.js';
import { LoginWire } from './wire-login.js';
import { WireOperations } from './wire-operations.js';

// Administration and authentication over the Handle wire protocol (docs/protocol.md §11): the admin opcodes
// (100–105), the 402 challenge and its answer (200), sessions (400 with Diffie-Hellman, HS_MAC on the
// requests inside them, 401), the national SDK's login (2001) and resolutions that ask for non-public
// values. The operations themselves are AdminService's. This file routes each request to the part that
// answers it: wire-sessions.ts, wire-challenges.ts, wire-login.ts, wire-operations.ts.

export class AdminWire {
  readonly stats = new AdminWireStats();
  readonly table: SessionTable;
  private readonly responder: Responder;
  private readonly opts: AdminWireOptions;
  private readonly service: AdminService;
  private readonly sessions: SessionWire;
  private readonly challenges: ChallengeResponse;
  private readonly logins: LoginWire;
  private readonly operations: WireOperations;

  constructor(service: AdminService, identities: IdentityKeys, responder: Responder, opts: AdminWireOptions, table?: SessionTable) {
    this.table = table ?? new SessionTable(undefined, opts.now);
    this.responder = responder;
    this.opts = opts;
    this.service = service;
    const c: WireContext = { service, identities, responder, opts, table: this.table, stats: this.stats, now: opts.now ?? Date.now };
    this.sessions = new SessionWire(c);
    this.operations = new WireOperations(c);
    this.challenges = new ChallengeResponse(c, this.operations);
    this.logins = new LoginWire(c, this.challenges, this.operations);
  }

  /**
   * An encrypted request (EC): its message decrypted with the key of the session its envelope names, so it
   * can be decoded like any other. A reply instead when there is no such session or the key does not fit.
   */
  openEncrypted(bytes: Buffer): { plain: Buffer } | { reply: Buffer } {
    return this.sessions.openEncrypted(bytes);
  }

  /**
   * A request the wire layer must see: an admin or session opcode, anything naming a session, or a
   * resolution without PO. Returns the response(s), or undefined when the request is an ordinary resolution
   * after all (the normal pipeline answers it).
   */
  handle(req: ReceivedPacket, meta: WireMeta, keep: ReplyOptions): Buffer | Buffer[] | MessageStream | undefined {
    const op = req.header.opCode;
    // The national SDK's login, and everything under its SessionId on the connection it was made on. This
    // lives in one connection, so it works with several worker processes too.
    if (op === OpCode.LOGIN_ID_SYSTEM) return this.logins.login(req, meta, keep);
    const login = meta.connection?.login;
    if (login && req.envelope.sessionId === login.sessionId) return this.logins.inLogin(req, login, meta, keep);
    // A site's description is public: the SDK asks for it under a SessionId it chose itself, before any.
    if (op === OpCode.GET_SITE_INFO) return undefined;
    if (this.opts.singleProcess === false) {
      if (AUTH_OPCODES.has(op) || req.envelope.sessionId !== 0) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, WORKERS_MESSAGE, keep);
    }
    if (op === OpCode.RESPONSE_TO_CHALLENGE) return this.challenges.answer(req, meta);
    if (op === OpCode.SESSION_SETUP) return this.sessions.setup(req, meta);
    let session: Session | undefined;
    if (req.envelope.sessionId !== 0) {
      session = this.table.session(req.envelope.sessionId);
      if (!session) return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'Invalid session id or session time out. Please try again.', keep);
      // Every request in a session carries its MAC, authenticated yet or not: without the session key a
      // stranger can neither act in it nor replace the challenge pending in it.
      const bad = this.sessions.checkMac(req, session, keep);
      if (bad) return bad;
      if (op === OpCode.SESSION_TERMINATE) {
        this.table.closeSession(session.id);
        return this.responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), keep);
      }
    } else if (req.envelope.encrypted) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'encrypted messages need a session', keep);
    }

    if (op === OpCode.RESOLUTION) return this.challenges.resolution(req, session, keep, meta);
    if (op === OpCode.SESSION_TERMINATE) return this.responder.error(req, ResponseCode.SESSION_TIMEOUT, 'not in a session', keep);
    if (op === OpCode.SESSION_EXCHANGEKEY) return this.responder.error(req, ResponseCode.SESSION_FAILED, 'only Diffie-Hellman sessions (key exchange mode 4) are supported', keep);
    if (op === OpCode.HOME_NA || op === OpCode.UNHOME_NA || op === OpCode.LIST_HOMED_NAS) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'homing prefixes is done with "idres prefix home" on the node', keep);
    }
    if (REPLICATION_OPCODES.has(op)) return this.replication(req, session, meta, keep);
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
    if (verdict && verdict.responseCode !== ResponseCode.AUTHENTICATION_NEEDED) return this.operations.reply(req, adminReq, this.service.refused(adminReq, asIdentity, originOf(meta), verdict), keep);
    if (!verdict) return this.operations.reply(req, adminReq, this.operations.run(adminReq, asIdentity, meta), keep);
    return this.challenges.challenge(req, session, keep, meta);
  }

  /**
   * GET_NEXT_TXN_ID, RETRIEVE_TXN_LOG, DUMP_HANDLES: over TCP, to a proven replication administrator (a
   * session's identity, or one that answers the challenge); a node that serves no mirrors says so.
   */
  private replication(req: ReceivedPacket, session: Session | undefined, meta: WireMeta, keep: ReplyOptions): Buffer | MessageStream {
    const replication = this.opts.replication;
    if (!replication) return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'this node serves no mirrors', keep);
    if (meta.transport === 'udp') return this.responder.error(req, ResponseCode.PROTOCOL_ERROR, 'Received admin request on non-admin interface', keep);
    const identity = session?.authenticated ? session.identity : undefined;
    if (!identity) return this.challenges.challenge(req, session, keep, meta);
    if (!replication.allows(identity)) return this.responder.error(req, ResponseCode.INVALID_ADMIN, NOT_A_REPLICATION_ADMIN, keep);
    return replication.answer(req, keep);
  }
}
