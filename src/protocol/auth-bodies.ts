import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

// Bodies of authentication and sessions (docs/protocol.md §11.4 and §11.6): RESPONSE_TO_CHALLENGE (200) and
// SESSION_SETUP (400), request and response. Pure.

export const AuthType = { PUBKEY: 'HS_PUBKEY', SECKEY: 'HS_SECKEY' } as const;

/** RESPONSE_TO_CHALLENGE (200). */
export interface ChallengeAnswer {
  authType: string;
  identityHandle: string;
  identityIndex: number;
  /** Layout depends on authType: `str hashAlg + str signature` (HS_PUBKEY) or `u8 code + MAC` (HS_SECKEY). */
  signedResponse: Buffer;
}

export function encodeChallengeAnswer(a: ChallengeAnswer): Buffer {
  return Buffer.from(
    new Writer(320).utf8(a.authType).utf8(a.identityHandle).u32(a.identityIndex).byteString(a.signedResponse).finish(),
  );
}

export function decodeChallengeAnswer(body: Buffer): ChallengeAnswer {
  const r = new Reader(body);
  const authType = r.utf8('auth type', 64);
  const identityHandle = r.utf8('identity handle', Limits.MAX_HANDLE_LENGTH);
  const identityIndex = r.u32('identity index');
  const signedResponse = Buffer.from(r.byteString('signed response', 16384));
  r.restOfBody();
  return { authType, identityHandle, identityIndex, signedResponse };
}

/**
 * LOGIN_ID_SYSTEM (2001), the national SDK's login (docs/idis.md): the identity's handle and the index of
 * its key. The SDK sends it with no credential section at all.
 */
export interface LoginRequest {
  identityHandle: string;
  identityIndex: number;
}

export function encodeLoginRequest(l: LoginRequest): Buffer {
  return Buffer.from(new Writer(64).utf8(l.identityHandle).u32(l.identityIndex >>> 0).finish());
}

export function decodeLoginRequest(body: Buffer): LoginRequest {
  const r = new Reader(body);
  const identityHandle = r.utf8('identity handle', Limits.MAX_HANDLE_LENGTH);
  const identityIndex = r.i32('identity index');
  r.restOfBody();
  return { identityHandle, identityIndex };
}

/** The HS_PUBKEY signed response: the hash algorithm's name (or one type byte) and the signature. */
export function encodePubkeyResponse(hashAlg: string, signature: Buffer): Buffer {
  return Buffer.from(new Writer(300).utf8(hashAlg).byteString(signature).finish());
}

export function decodePubkeyResponse(b: Buffer): { hashAlg: Buffer; signature: Buffer } {
  const r = new Reader(b);
  const hashAlg = r.byteString('hash algorithm', 64);
  const signature = r.byteString('signature', 8192);
  r.expectEnd('public-key response');
  return { hashAlg, signature };
}

/** The message the challenger's nonce and the request digest make: what a client signs or MACs. */
export function challengeMessage(nonce: Buffer, digest: Buffer): Buffer {
  return Buffer.concat([nonce, digest]);
}

export const KeyExchangeMode = {
  CIPHER_CLIENT: 1,
  CIPHER_SERVER: 2,
  CIPHER_HDL: 3,
  DIFFIE_HELLMAN: 4,
} as const;

/** The session cipher a 400 response announces. */
export const SessionCipher = { DES: 1, DESEDE: 2, AES: 3 } as const;

/** SESSION_SETUP (400) request. */
export interface SessionSetupRequest {
  mode: number;
  timeoutSeconds: number;
  identityHandle: string;
  /** -1 for an anonymous session. */
  identityIndex: number;
  /** Mode 1 and 4: the client's public key blob (mode 4: DH_PUB_KEY). */
  publicKey?: Buffer;
  /** Mode 3: where the exchange key lives. */
  exchangeKeyHandle?: string;
  exchangeKeyIndex?: number;
}

export function encodeSessionSetupRequest(s: SessionSetupRequest): Buffer {
  const w = new Writer(400).u16(s.mode).u32(s.timeoutSeconds).utf8(s.identityHandle).u32(s.identityIndex >>> 0);
  if (s.mode === KeyExchangeMode.CIPHER_CLIENT || s.mode === KeyExchangeMode.DIFFIE_HELLMAN) w.byteString(s.publicKey ?? Buffer.alloc(0));
  if (s.mode === KeyExchangeMode.CIPHER_HDL) w.utf8(s.exchangeKeyHandle ?? '').u32(s.exchangeKeyIndex ?? 0);
  w.u16(0); // the reference sizes the mode as four bytes but writes two: two padding bytes follow
  return Buffer.from(w.finish());
}

export function decodeSessionSetupRequest(body: Buffer): SessionSetupRequest {
  const r = new Reader(body);
  const mode = r.u16('key exchange mode');
  const timeoutSeconds = r.u32('session timeout');
  const identityHandle = r.utf8('identity handle', Limits.MAX_HANDLE_LENGTH);
  const identityIndex = r.i32('identity index');
  const out: SessionSetupRequest = { mode, timeoutSeconds, identityHandle, identityIndex };
  if (mode === KeyExchangeMode.CIPHER_CLIENT || mode === KeyExchangeMode.DIFFIE_HELLMAN) out.publicKey = Buffer.from(r.byteString('session public key', 8192));
  else if (mode === KeyExchangeMode.CIPHER_HDL) {
    out.exchangeKeyHandle = r.utf8('exchange key handle', Limits.MAX_HANDLE_LENGTH);
    out.exchangeKeyIndex = r.u32('exchange key index');
  }
  // The two padding bytes are optional on input: a client that sizes the mode correctly leaves them out.
  if (r.remaining === 2) r.u16('padding');
  r.restOfBody();
  return out;
}

/** SESSION_SETUP (400) success body after the digest: mode, and for DH the cipher and the server's DH key. */
export function encodeSessionSetupResponse(mode: number, data: Buffer): Buffer {
  return Buffer.from(new Writer(320).u16(mode).byteString(data).u16(0).finish());
}

export function decodeSessionSetupResponse(r: Reader): { mode: number; data: Buffer } {
  const mode = r.u16('key exchange mode');
  const data = Buffer.from(r.byteString('session data', 8192));
  if (r.remaining === 2) r.u16('padding');
  r.restOfBody();
  return { mode, data };
}

/** Mode 4's response data: the cipher, then the server's DH_PUB_KEY blob. */
export function encodeDhResponseData(cipher: number, serverKey: Buffer): Buffer {
  return Buffer.from(new Writer(300).u32(cipher).bytes(serverKey).finish());
}

export function decodeDhResponseData(data: Buffer): { cipher: number; serverKey: Buffer } {
  if (data.length < 4) throw new DecodeError('session data too short for a cipher');
  return { cipher: data.readUInt32BE(0), serverKey: data.subarray(4) };
}
