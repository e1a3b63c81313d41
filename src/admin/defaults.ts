import { ALL_ADMIN_PERMISSIONS } from '../model/admin.js';
import { prefixHandle } from '../model/handle.js';
import { type HandleValue, Index, makeValue } from '../model/value.js';
import { encodeAdmin } from '../protocol/admin-data.js';

// What every way of creating identifiers (register, import, delegation, init, the demo) agrees on.

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
