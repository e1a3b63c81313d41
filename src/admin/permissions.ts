import { asciiUpper, splitHandle } from '../model/handle.js';
import type { HandleValue } from '../model/value.js';
import { decodeAdmin, decodeVList } from '../protocol/admin-data.js';

// Who may do what (docs/protocol.md §11.8): the HS_ADMIN values of a handle grant permission bits to an
// identity (a handle and the index of its key) or to a group (an HS_VLIST value listing identities and
// further groups). All the bits an operation needs must come from one HS_ADMIN value.

/** An administrator: the handle holding the key, and the key's index. */
export interface Identity {
  handle: string;
  index: number;
}

export function formatIdentity(id: Identity): string {
  return `${id.index}:${id.handle}`;
}

/** "300:0.NA/88.118.8" (the reference's server_admins form) or "0.NA/88.118.8:300". */
export function parseIdentity(s: string): Identity | undefined {
  let m = /^(\d+):(.+)$/.exec(s);
  if (m && m[2]!.includes('/')) return { index: Number(m[1]), handle: m[2]! };
  m = /^(.+\/.*):(\d+)$/.exec(s);
  if (m) return { handle: m[1]!, index: Number(m[2]) };
  return undefined;
}

/**
 * Handle comparison for identities, as the reference does it: the prefix without regard to case, the suffix
 * byte for byte, and handles under 0. without regard to case throughout.
 */
export function sameHandle(a: string, b: string): boolean {
  if (a === b) return true;
  if (asciiUpper(a.slice(0, 2)) === '0.' && asciiUpper(b.slice(0, 2)) === '0.') return asciiUpper(a) === asciiUpper(b);
  const pa = splitHandle(a);
  const pb = splitHandle(b);
  return pa.suffix === pb.suffix && asciiUpper(pa.prefix) === asciiUpper(pb.prefix);
}

/** Does a reference (an AdminRef or a group member) name this identity? Index 0 in the reference matches any key. */
export function refMatches(ref: Identity, id: Identity): boolean {
  return (ref.index === 0 || ref.index === id.index) && sameHandle(ref.handle, id.handle);
}

/** Values of a handle this node holds (non-public ones included), or undefined when it holds none. */
export type ValueLookup = (handle: string) => readonly HandleValue[] | undefined;

/** A bound on group expansion, so that a hostile web of groups cannot make one check expensive. */
const MAX_GROUP_LOOKUPS = 256;

export class Authorizer {
  constructor(
    private readonly lookup: ValueLookup,
    /** Identities (and groups) that pass every check on every handle (the reference's server_admins). */
    private readonly serverAdmins: readonly Identity[],
  ) {}

  /** Is the identity a server administrator, directly or through groups? */
  isServerAdmin(id: Identity): boolean {
    return this.serverAdmins.some((ref) => this.memberOf(ref, id));
  }

  /**
   * Does one HS_ADMIN value among `values` grant every bit of `bits` to the identity? Server administrators
   * always pass.
   */
  permits(values: readonly HandleValue[] | undefined, bits: number, id: Identity): boolean {
    if (this.isServerAdmin(id)) return true;
    if (!values) return false;
    for (const v of values) {
      if (v.type !== 'HS_ADMIN') continue;
      let admin;
      try {
        admin = decodeAdmin(v.data);
      } catch {
        continue; // a broken HS_ADMIN grants nothing
      }
      if ((admin.permissions & bits) !== bits) continue;
      if (this.memberOf({ handle: admin.handle, index: admin.index }, id)) return true;
    }
    return false;
  }

  /**
   * Does `ref` name the identity, directly or through HS_VLIST groups held here? Breadth-first, each
   * reference looked at once (cycles end), references with index 0 not expanded.
   */
  memberOf(ref: Identity, id: Identity): boolean {
    const queue: Identity[] = [ref];
    const seen = new Set<string>();
    let lookups = 0;
    while (queue.length > 0) {
      const r = queue.shift()!;
      if (refMatches(r, id)) return true;
      if (r.index === 0) continue;
      const key = `${r.index}:${asciiUpper(r.handle)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (++lookups > MAX_GROUP_LOOKUPS) return false;
      const v = this.lookup(r.handle)?.find((x) => x.index === r.index);
      if (!v || v.type !== 'HS_VLIST') continue;
      try {
        queue.push(...decodeVList(v.data));
      } catch {
        // a broken group has no members
      }
    }
    return false;
  }
}
