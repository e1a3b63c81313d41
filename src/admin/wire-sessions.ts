import { type DiffieHellman, createDiffieHellman, getDiffieHellman, randomBytes } from 'node:crypto';
import { OpFlag, ResponseCode } from '../protocol/constants.js';
import type { Packet, ReceivedPacket } from '../protocol/message.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { decodeCredential } from '../protocol/credential.js';
import { KeyExchangeMode, SessionCipher, decodeSessionSetupRequest, encodeDhResponseData, encodeSessionSetupResponse } from '../protocol/auth-bodies.js';
import { decodeDhPublicKey, encodeDhPublicKey } from '../protocol/pubkey.js';
import { checkSessionMac, decryptPacket, sessionKeyFromSecret } from '../protocol/session-crypto.js';
import type { ReplyOptions } from '../protocol/responder.js';
import type { Session } from './sessions.js';
import type { WireContext, WireMeta } from './wire-context.js';

// Sessions over the wire (docs/protocol.md §11.3): SESSION_SETUP with Diffie-Hellman, the HS_MAC every
// request inside a session carries, and messages encrypted with the session key. The table of sessions
// itself is sessions.ts.

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

export class SessionWire {
  constructor(private readonly c: WireContext) {}

  /**
   * An encrypted request (EC): its message decrypted with the key of the session its envelope names, so it
   * can be decoded like any other. A reply instead when there is no such session or the key does not fit.
   */
  openEncrypted(bytes: Buffer): { plain: Buffer } | { reply: Buffer } {
    const env = decodeEnvelope(bytes);
    const session = env.sessionId !== 0 && this.c.opts.singleProcess !== false ? this.c.table.session(env.sessionId) : undefined;
    if (!session) return { reply: this.c.responder.unread(env.requestId, 0, ResponseCode.SESSION_TIMEOUT, 'encrypted message outside a live session') };
    try {
      return { plain: decryptPacket(session.key, bytes) };
    } catch {
      return { reply: this.c.responder.unread(env.requestId, 0, ResponseCode.INVALID_SESSION_KEY, 'The session key authentication failed.') };
    }
  }

  /** SESSION_SETUP: Diffie-Hellman (mode 4) with the client's group; the reply is signed because the request asks (CT). */
  setup(req: Packet, meta: WireMeta): Buffer {
    const responder = this.c.responder;
    const s = decodeSessionSetupRequest(req.body);
    if (s.mode !== KeyExchangeMode.DIFFIE_HELLMAN) return responder.error(req, ResponseCode.SESSION_FAILED, 'Unrecognized key exchange mode');
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
      return responder.error(req, ResponseCode.SESSION_FAILED, `key exchange failed: ${(err as Error).message}`);
    }
    const identity = s.identityIndex > 0 && s.identityHandle.length > 0 ? { handle: s.identityHandle, index: s.identityIndex } : undefined;
    const timeoutMs = Math.min(Math.max(s.timeoutSeconds, 1) * 1000, this.c.opts.maxSessionMs);
    const session = this.c.table.openSession(key, identity, timeoutMs, meta.peer ?? '');
    if (!session) return responder.error(req, ResponseCode.SERVER_TOO_BUSY, 'too many sessions; try again later');
    this.c.stats.sessions++;
    const data = encodeDhResponseData(SessionCipher.AES, encodeDhPublicKey({ y: serverY, p: group.p, g: group.g }));
    return responder.reply(req, ResponseCode.SUCCESS, encodeSessionSetupResponse(KeyExchangeMode.DIFFIE_HELLMAN, data), {
      setFlags: OpFlag.RD,
      sessionId: session.id,
    });
  }

  /** The HS_MAC of a request inside a session: 404 without one, 502 when wrong, 505 for a replayed counter. */
  checkMac(req: ReceivedPacket, session: Session, opts: ReplyOptions, answerAs: Packet = req): Buffer | undefined {
    const responder = this.c.responder;
    if (req.credential.length === 0) return responder.error(answerAs, ResponseCode.INVALID_CREDENTIAL, 'Session request missing MAC code.', opts);
    let cred;
    try {
      cred = decodeCredential(req.credential);
    } catch {
      return responder.error(answerAs, ResponseCode.INVALID_SESSION_KEY, 'Session authentication failed.', opts);
    }
    if (!checkSessionMac(session.key, req.raw, cred, req.headerAndBody)) {
      return responder.error(answerAs, ResponseCode.INVALID_SESSION_KEY, 'Session authentication failed.', opts);
    }
    if (!this.c.table.useCounter(session, cred.signerIndex)) {
      return responder.error(answerAs, ResponseCode.SESSION_MESSAGE_REJECTED, `Duplicate session counter ${cred.signerIndex} in session ${session.id}`, opts);
    }
    return undefined;
  }
}
