import { Limits } from './constants.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

// The credential section (docs/protocol.md §6), after its 4-byte length:
// version 1 | reserved 1 | flags 2 | signer handle str | signer index 4 | type str | signed-info length 4 |
// digest algorithm str | signature str

export interface Credential {
  version: number;
  flags: number;
  signerHandle: string;
  /** The signer's index; the reference puts a session counter here and leaves the handle empty. */
  signerIndex: number;
  /** "HS_SIGNED", "HS_MAC", … */
  type: string;
  digestAlgorithm: string;
  signature: Buffer;
}

export function encodeCredential(c: Credential): Buffer {
  const w = new Writer(320).u8(c.version).u8(0).u16(c.flags).utf8(c.signerHandle).u32(c.signerIndex).utf8(c.type);
  const at = w.reserveU32();
  w.utf8(c.digestAlgorithm).byteString(c.signature);
  w.patchU32(at, w.pos - at - 4);
  return Buffer.from(w.finish());
}

export function decodeCredential(section: Buffer): Credential {
  const r = new Reader(section);
  const version = r.u8('credential version');
  r.u8('credential reserved');
  const flags = r.u16('credential flags');
  const signerHandle = r.utf8('signer handle', Limits.MAX_HANDLE_LENGTH);
  const signerIndex = r.u32('signer index');
  const type = r.utf8('credential type', 256);
  const infoLength = r.u32('signed info length');
  const info = new Reader(r.bytes(infoLength, 'signed info'));
  const digestAlgorithm = info.utf8('digest algorithm', 256);
  const signature = Buffer.from(info.byteString('signature', 65536));
  info.expectEnd('signed info');
  r.expectEnd('credential');
  return { version, flags, signerHandle, signerIndex, type, digestAlgorithm, signature };
}
