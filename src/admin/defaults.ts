import { ALL_ADMIN_PERMISSIONS } from '../model/admin.js';
import { NA_PREFIX, prefixHandle, prefixOfPrefixHandle, splitHandle } from '../model/handle.js';
import { type HandleValue, Index, makeValue } from '../model/value.js';
import { encodeAdmin } from '../protocol/admin-data.js';

// What every way of creating identifiers (register, import, delegation, init, the demo, creation over the
// wire and HTTP) agrees on.

/** An administrator reference: a handle and the index of its key (or of an HS_VLIST group). */
export interface AdminRef {
  handle: string;
  index: number;
}

/** Where HS_ADMIN values go, by convention (the reference and IDIS put the first at 100). */
export const ADMIN_INDEXES = { first: Index.HS_ADMIN, last: 199 } as const;

/**
 * HS_ADMIN data naming a prefix's administrator (0.NA/PREFIX, key index 300) with every permission: what the
 * reference tools put on the handles they create.
 */
export function prefixAdminData(prefix: string): Buffer {
  return encodeAdmin({ permissions: ALL_ADMIN_PERMISSIONS, handle: prefixHandle(prefix), index: Index.HS_PUBKEY });
}

/** The default HS_ADMIN value (index 100) of a handle under `prefix`. */
export function prefixAdminValue(prefix: string): HandleValue {
  return makeValue(Index.HS_ADMIN, 'HS_ADMIN', prefixAdminData(prefix));
}

/** The lowest index from `first` to `last` that `taken` does not hold. */
export function freeIndexIn(taken: ReadonlySet<number>, first: number, last: number): number | undefined {
  for (let i = first; i <= last; i++) if (!taken.has(i)) return i;
  return undefined;
}

/**
 * An HS_ADMIN value naming `admin` with every permission (as the reference's tools write the creator's), at
 * 100 or the first index from 100 to 199 that `beside` leaves free; undefined when all are taken.
 */
export function adminValueFor(admin: AdminRef, beside: readonly HandleValue[] = []): HandleValue | undefined {
  const index = freeIndexIn(new Set(beside.map((v) => v.index)), ADMIN_INDEXES.first, ADMIN_INDEXES.last);
  if (index === undefined) return undefined;
  return makeValue(index, 'HS_ADMIN', encodeAdmin({ permissions: ALL_ADMIN_PERMISSIONS, handle: admin.handle, index: admin.index }));
}

/** The HS_ADMIN a handle created over the wire or HTTP without one gets: the identity that created it. */
export function creatorAdminValue(creator: AdminRef, beside: readonly HandleValue[] = []): HandleValue | undefined {
  return adminValueFor(creator, beside);
}

/**
 * Who administers a handle created without an HS_ADMIN by the node's operator: for PREFIX/SUFFIX the prefix's
 * administrator (300:0.NA/PREFIX); for a prefix handle 0.NA/A.B the administrator of its parent prefix
 * (300:0.NA/A), at whose site it is created (0.NA/A: the root's, 300:0.NA/0.NA).
 */
export function defaultAdministrator(handle: string): AdminRef {
  const na = prefixOfPrefixHandle(handle);
  if (na === undefined) return { handle: prefixHandle(splitHandle(handle).prefix), index: Index.HS_PUBKEY };
  const dot = na.lastIndexOf('.');
  return { handle: prefixHandle(dot > 0 ? na.slice(0, dot) : NA_PREFIX), index: Index.HS_PUBKEY };
}

/** The default HS_ADMIN value of a handle (defaultAdministrator), at 100 or the first free index up to 199. */
export function defaultAdminValue(handle: string, beside: readonly HandleValue[] = []): HandleValue | undefined {
  return adminValueFor(defaultAdministrator(handle), beside);
}

/**
 * The indexes of values given with or without one: given ones kept (one given twice is `duplicate`'s error),
 * the others numbered 1, 2, 3 … skipping those taken and 100 (HS_ADMIN's).
 */
export function assignIndexes(given: ReadonlyArray<number | undefined>, duplicate: (index: number) => Error): number[] {
  const used = new Set<number>();
  for (const i of given) {
    if (i === undefined) continue;
    if (used.has(i)) throw duplicate(i);
    used.add(i);
  }
  let next = 1;
  return given.map((i) => {
    if (i !== undefined) return i;
    while (used.has(next) || next === Index.HS_ADMIN) next++;
    used.add(next);
    return next;
  });
}
