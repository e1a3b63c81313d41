import { timingSafeEqual } from 'node:crypto';
import type { HandleValue } from '../model/value.js';
import { AuthType, type ChallengeAnswer } from '../protocol/auth-bodies.js';
import { MAX_PBKDF2_ITERATIONS, verifyPubkeyAnswer, verifySeckeyAnswer } from '../protocol/auth-crypto.js';
import type { Identity, ValueLookup } from './permissions.js';

// Proofs of identity against the key values this node holds: an HS_PUBKEY signature or an HS_SECKEY MAC in a
// RESPONSE_TO_CHALLENGE, or (HTTP Basic) a secret equal to an HS_SECKEY value. The values are read whatever
// their permissions (a key is normally admin-read only). Identities held on other nodes are not looked up:
// such an answer does not verify (the reference would ask the responsible server).

export type KeyType = typeof AuthType.PUBKEY | typeof AuthType.SECKEY;

export class IdentityKeys {
  constructor(
    private readonly lookup: ValueLookup,
    /** Cap on a client-chosen PBKDF2 iteration count. */
    private readonly maxIterations = MAX_PBKDF2_ITERATIONS,
  ) {}

  /**
   * The key values an identity may prove itself with: at index N, the value there if it has the type; at
   * index 0, every value of the type in ascending index order.
   */
  candidates(id: Identity, type: KeyType): HandleValue[] {
    const values = this.lookup(id.handle);
    if (!values) return [];
    const ofType = (v: HandleValue) => v.type === type || (type === AuthType.SECKEY && v.type.startsWith(`${type}.`));
    if (id.index > 0) return values.filter((v) => v.index === id.index && ofType(v));
    return values.filter(ofType).sort((a, b) => a.index - b.index);
  }

  /**
   * The identity proven by the first key value (in candidates() order) whose data `verifies` accepts, with
   * the index of that value; undefined when none does.
   */
  prove(id: Identity, type: KeyType, verifies: (keyData: Buffer) => boolean): Identity | undefined {
    for (const v of this.candidates(id, type)) if (verifies(v.data)) return { handle: id.handle, index: v.index };
    return undefined;
  }

  /** Does a RESPONSE_TO_CHALLENGE prove its identity over `message` (nonce ‖ digest)? */
  verifyAnswer(answer: ChallengeAnswer, message: Buffer): boolean {
    const id = { handle: answer.identityHandle, index: answer.identityIndex };
    if (answer.authType === AuthType.PUBKEY) return this.prove(id, AuthType.PUBKEY, (key) => verifyPubkeyAnswer(key, answer.signedResponse, message, answer.identityHandle)) !== undefined;
    if (answer.authType === AuthType.SECKEY) return this.prove(id, AuthType.SECKEY, (key) => this.secretAnswerVerifies(key, answer.signedResponse, message)) !== undefined;
    return false;
  }

  /** An HS_SECKEY answer (any of the coded MAC forms) over `message`, with this node's PBKDF2 cap. */
  secretAnswerVerifies(secret: Buffer, signedResponse: Buffer, message: Buffer): boolean {
    return verifySeckeyAnswer(secret, signedResponse, message, this.maxIterations);
  }

  /** HTTP Basic: the identity whose HS_SECKEY data equals the password, byte for byte (constant time). */
  secretMatches(id: Identity, password: Buffer): Identity | undefined {
    return this.prove(id, AuthType.SECKEY, (data) => data.length === password.length && timingSafeEqual(data, password));
  }
}
