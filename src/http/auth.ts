import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { IdentityKeys } from '../admin/identity.js';
import type { Identity } from '../admin/permissions.js';
import { AuthType } from '../protocol/auth-bodies.js';
import { SecretCode, verifyPubkeyAnswer } from '../protocol/auth-crypto.js';
import { encodePubkeyResponse } from '../protocol/auth-bodies.js';
import { Writer } from '../protocol/writer.js';
import type { HttpExchange } from './exchange.js';
import type { AuthAttempt, AuthLimiter } from '../admin/auth-limits.js';

// Authentication of the JSON API as the reference does it over HTTP (docs/rest-api.md §9):
// `Authorization: Basic` with user `INDEX:HANDLE` (percent-encoded) and the HS_SECKEY bytes as password,
// stateless; and the `Handle` scheme: a session with a server nonce (from any 401's WWW-Authenticate or
// POST /api/sessions), answered by a MAC (HS_SECKEY) or a signature (HS_PUBKEY) over nonce ‖ cnonce. What
// an identity may do is not decided here: that is the admin layer's permission check.

export type { Identity };

export interface Session {
  id: string;
  nonce: Buffer;
  identity?: Identity;
  /** The exact header that authenticated the session: sent again, it is accepted without re-verifying. */
  header?: string;
}

export type AuthResult =
  | { kind: 'anonymous'; session?: Session }
  | { kind: 'identified'; identity: Identity; session?: Session }
  /** Credentials were sent and are wrong: 401 with an empty body and fresh challenges. */
  | { kind: 'failed'; error: string; session?: Session };

/**
 * Sessions, bounded in number and idle time (30 minutes, the reference's documented intent). Sessions that
 * have not authenticated (every 401 hands one out) live in a table of their own with a short idle time, so
 * a stream of anonymous requests cannot push out the sessions of administrators who logged in.
 */
export class HttpSessions {
  private readonly fresh: LRUCache<string, Session>;
  private readonly identified: LRUCache<string, Session>;

  constructor(opts: { max?: number; idleMs?: number; freshIdleMs?: number } = {}) {
    this.identified = new LRUCache({ max: opts.max ?? 10000, ttl: opts.idleMs ?? 30 * 60 * 1000, updateAgeOnGet: true });
    this.fresh = new LRUCache({ max: opts.max ?? 10000, ttl: opts.freshIdleMs ?? 5 * 60 * 1000, updateAgeOnGet: true });
  }

  create(): Session {
    const s: Session = { id: randomBytes(18).toString('base64url'), nonce: randomBytes(16) };
    this.fresh.set(s.id, s);
    return s;
  }

  get(id: string): Session | undefined {
    return this.identified.get(id) ?? this.fresh.get(id);
  }

  /** The session has proven an identity: keep it with the others that have. */
  identify(s: Session, identity: Identity, header: string): void {
    s.identity = identity;
    s.header = header;
    this.fresh.delete(s.id);
    this.identified.set(s.id, s);
  }

  delete(id: string): boolean {
    const a = this.identified.delete(id);
    const b = this.fresh.delete(id);
    return a || b;
  }
}

/**
 * An identity as the REST API writes it: `HANDLE` or `INDEX:HANDLE` (index 0 = any key of the handle). Not
 * the configuration's and CLI's form (admin/permissions.ts parseIdentity), which needs an index.
 */
export function parseRestIdentity(text: string): Identity | undefined {
  const m = /^(\d+):(.+)$/s.exec(text);
  if (m) {
    const index = Number(m[1]);
    return Number.isSafeInteger(index) && index <= 0xffffffff ? { handle: m[2]!, index } : undefined;
  }
  // A colon with nothing numeric before it: the whole text is the handle (an empty index is a failure).
  if (text.startsWith(':') || text.length === 0) return undefined;
  return { handle: text, index: 0 };
}

/** Percent-decode as UTF-8 (`+` stays `+`); undefined when an escape is malformed. */
export function percentDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Basic credentials: `base64(percent-encoded "INDEX:HANDLE" ":" password bytes)`. */
export function parseBasic(header: string): { identity: Identity; password: Buffer } | undefined {
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'basic') return undefined;
  const raw = Buffer.from(parts[1]!, 'base64');
  const colon = raw.indexOf(0x3a);
  if (colon < 0) return undefined;
  const user = percentDecode(raw.subarray(0, colon).toString('utf8'));
  const identity = user === undefined ? undefined : parseRestIdentity(user);
  return identity ? { identity, password: raw.subarray(colon + 1) } : undefined;
}

/** The parameters of a `Handle` header (keys lower-cased; the last of a repeated key wins), or undefined. */
export function parseHandleHeader(header: string): Map<string, string> | undefined {
  const m = /^[\s]*handle[\s]+/i.exec(header);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9!#$%&'*+./^_`|~=-]+))/gs;
  const rest = header.slice(m[0].length);
  for (let p = re.exec(rest); p; p = re.exec(rest)) {
    const value = p[2] !== undefined ? p[2].replace(/\\(.)/gs, '$1') : p[3]!;
    params.set(p[1]!.toLowerCase(), value);
  }
  return params.size ? params : undefined;
}

/** HS_SECKEY `alg` names → the code byte of a wire HS_SECKEY answer (the reference's names, section 9.3.3). */
function secretCode(alg: string): number | undefined {
  const plain = alg.toUpperCase();
  if (plain === 'MD5') return SecretCode.MD5;
  if (plain === 'SHA1' || plain === 'SHA-1' || plain === 'SHA') return SecretCode.SHA1;
  if (plain === 'SHA256' || plain === 'SHA-256' || plain === 'SHA2' || plain === 'SHA-2') return SecretCode.SHA256;
  const squashed = plain.replace(/[^A-Z0-9]/g, '');
  if (squashed === 'HMACSHA1') return SecretCode.HMAC_SHA1;
  if (squashed === 'HMACSHA256') return SecretCode.HMAC_SHA256;
  if (squashed === 'PBKDF2HMACSHA1' || squashed === 'PBKDF2WITHHMACSHA1') return SecretCode.PBKDF2_HMAC_SHA1;
  return undefined;
}

function pubkeyHash(alg: string): string | undefined {
  const a = alg.toUpperCase();
  if (a === 'SHA1' || a === 'SHA-1' || a === 'SHA') return 'SHA1';
  if (a === 'SHA256' || a === 'SHA-256' || a === 'SHA2' || a === 'SHA-2') return 'SHA-256';
  if (a === 'MD5') return 'MD5';
  if (a === 'SM3') return 'SM3';
  return undefined;
}

/**
 * Credentials were sent while their identity or the peer is locked after failures (auth-limits.ts): the
 * request is answered 429 with Retry-After, its credentials not looked at.
 */
export class AuthThrottled extends Error {
  override name = 'AuthThrottled';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

export class HttpAuthenticator {
  readonly sessions = new HttpSessions();
  /** Failed proofs (wrong password, bad signature, unknown session), for the metrics. */
  failures = 0;

  constructor(
    /** The identities' key values held here (absent on a resolver: every proof fails). */
    private readonly keys: IdentityKeys | undefined,
    /** Whether credentials from this exchange are honoured (the reference: only over HTTPS). */
    private readonly honoured: (ex: HttpExchange) => boolean,
    /** Failed proofs limited per identity and per peer, shared with the wire; refusals logged. */
    private readonly limits?: AuthLimiter,
  ) {}

  /** Credentials are honoured for this exchange; if not, they are ignored and a 401 is sent as 403. */
  honours(ex: HttpExchange): boolean {
    return this.honoured(ex);
  }

  /**
   * The credentials of a request, checked. Throws AuthThrottled when they would be checked but their
   * identity or the peer is locked.
   */
  authenticate(ex: HttpExchange): AuthResult {
    const header = ex.header('authorization');
    // A JSONP request is a <script> any site can include, and the browser adds the credentials it cached:
    // it is always answered as for an anonymous reader.
    if (!header || !this.honoured(ex) || ex.query.has('callback')) return { kind: 'anonymous' };
    const peer: AuthAttempt = { source: ex.peer, transport: 'http' };
    if (/^\s*basic\s/i.test(header)) {
      const b = parseBasic(header);
      if (!b) return this.fail(peer, 'Error parsing Authorization: Basic');
      const attempt: AuthAttempt = { ...peer, identity: b.identity };
      this.throttle(attempt);
      // The password bytes equal the HS_SECKEY data (at the index, or any for index 0).
      const identity = this.keys?.secretMatches(b.identity, b.password);
      if (!identity) return this.fail(attempt, 'Identity not verified', undefined, true);
      this.limits?.succeeded(attempt);
      return { kind: 'identified', identity };
    }
    const p = parseHandleHeader(header);
    if (!p) return this.fail(peer, 'Error parsing Authorization: Handle');
    const version = p.get('version');
    if (version !== undefined && version !== '0') return this.fail(peer, 'Unknown version in Authorization: Handle');
    let session: Session | undefined;
    const sid = p.get('sessionid');
    if (sid !== undefined) {
      session = this.sessions.get(sid);
      if (!session) return this.fail(peer, 'Unknown session');
    }
    const authenticating = p.has('id') || p.has('type') || p.has('alg') || p.has('signature');
    if (!authenticating) {
      if (!session && p.has('cnonce')) session = this.sessions.create();
      return session?.identity ? { kind: 'identified', identity: session.identity, session } : { kind: 'anonymous', ...(session ? { session } : {}) };
    }
    if (!session) return this.fail(peer, 'Missing fields in authentication data');
    if (session.header === header && session.identity) return { kind: 'identified', identity: session.identity, session };
    for (const k of ['id', 'cnonce', 'type', 'alg', 'signature']) if (!p.has(k)) return this.fail(peer, 'Missing fields in authentication data', session);
    const idText = percentDecode(p.get('id')!);
    const claimed = idText === undefined ? undefined : parseRestIdentity(idText);
    if (!claimed) return this.fail(peer, 'Error parsing Authorization: Handle', session);
    const attempt: AuthAttempt = { ...peer, identity: claimed };
    const message = Buffer.concat([session.nonce, Buffer.from(p.get('cnonce')!, 'base64')]);
    const signature = Buffer.from(p.get('signature')!, 'base64');
    const type = p.get('type')!;
    let identity: Identity | undefined;
    if (type === 'HS_SECKEY') {
      const code = secretCode(p.get('alg')!);
      if (code === undefined) return this.fail(attempt, 'Error parsing Authorization: Handle', session);
      let answer: Buffer;
      if (code === SecretCode.PBKDF2_HMAC_SHA1) {
        const iterations = Number(p.get('iterations'));
        const length = Number(p.get('length'));
        if (!p.has('salt') || !Number.isInteger(iterations) || !Number.isInteger(length) || iterations < 0 || length < 0) {
          return this.fail(attempt, 'Missing fields in authentication data', session);
        }
        answer = Buffer.from(
          new Writer(96).u8(code).byteString(Buffer.from(p.get('salt')!, 'base64')).u32(iterations).u32(length).byteString(signature).finish(),
        );
      } else answer = Buffer.concat([Buffer.from([code]), signature]);
      this.throttle(attempt);
      identity = this.keys?.prove(claimed, AuthType.SECKEY, (data) => this.keys!.secretAnswerVerifies(data, answer, message));
    } else if (type === 'HS_PUBKEY') {
      const hash = pubkeyHash(p.get('alg')!);
      if (!hash) return this.fail(attempt, 'Error parsing Authorization: Handle', session);
      const answer = encodePubkeyResponse(hash, signature);
      this.throttle(attempt);
      identity = this.keys?.prove(claimed, AuthType.PUBKEY, (data) => verifyPubkeyAnswer(data, answer, message, claimed.handle));
    } else return this.fail(attempt, 'Error parsing Authorization: Handle', session);
    if (!identity) return this.fail(attempt, 'Identity not verified', session, true);
    this.limits?.succeeded(attempt);
    this.sessions.identify(session, identity, header);
    return { kind: 'identified', identity, session };
  }

  /** Refused credentials: counted and logged; `proof`: a secret or signature that did not verify (a guess). */
  private fail(attempt: AuthAttempt, error: string, session?: Session, proof = false): AuthResult {
    this.failures++;
    if (proof) this.limits?.failed(attempt, error);
    else this.limits?.rejected(attempt, error);
    return { kind: 'failed', error, ...(session ? { session } : {}) };
  }

  /** Refuse unchecked while the identity or the peer is locked. */
  private throttle(attempt: AuthAttempt): void {
    const locked = this.limits?.check(attempt);
    if (locked) throw new AuthThrottled(locked.message, locked.retryAfterSeconds);
  }

  /** The WWW-Authenticate headers of a 401 (section 9.1): Basic when it fits, and always a Handle challenge. */
  challenge(ex: HttpExchange, session: Session | undefined, error?: string): string[] {
    const out: string[] = [];
    const auth = ex.header('authorization');
    if ((auth && /^\s*basic/i.test(auth)) || (!auth && ex.header('x-requested-with') !== 'XMLHttpRequest')) out.push('Basic realm="handle"');
    const s = session ?? this.sessions.create();
    let h = `Handle sessionId="${s.id}", nonce="${s.nonce.toString('base64')}"`;
    if (error) h += `, error="${quoteError(error)}"`;
    out.push(h);
    return out;
  }
}

/** Inside a quoted error: `"` and `\` escaped, `%`, controls and non-ASCII as %XX of their UTF-8 bytes. */
function quoteError(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += '\\' + String.fromCharCode(byte);
    else if (byte === 0x25 || byte < 0x20 || byte >= 0x7f) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(byte);
  }
  return out;
}
