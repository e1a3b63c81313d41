import { ALL_ADMIN_PERMISSIONS, AdminPerm } from '../model/admin.js';
import { UsageError } from './usage-error.js';

// The twelve HS_ADMIN permission bits by name, for people: `--perms add-handle,read-value` in, the same
// names (or `all`, or `none`) out. Names are the REST API's (docs/rest-api.md §8.4) in lower case with
// hyphens; ADD_NA and DELETE_NA, this code's names for the derived-prefix bits, are accepted too.

const NAMED: ReadonlyArray<readonly [name: string, bit: number, aliases: readonly string[]]> = [
  ['add-handle', AdminPerm.ADD_HANDLE, []],
  ['delete-handle', AdminPerm.DELETE_HANDLE, []],
  ['add-derived-prefix', AdminPerm.ADD_NA, ['add-na']],
  ['delete-derived-prefix', AdminPerm.DELETE_NA, ['delete-na']],
  ['modify-value', AdminPerm.MODIFY_VALUE, []],
  ['remove-value', AdminPerm.REMOVE_VALUE, []],
  ['add-value', AdminPerm.ADD_VALUE, []],
  ['modify-admin', AdminPerm.MODIFY_ADMIN, []],
  ['remove-admin', AdminPerm.REMOVE_ADMIN, []],
  ['add-admin', AdminPerm.ADD_ADMIN, []],
  ['read-value', AdminPerm.READ_VALUE, []],
  ['list-handles', AdminPerm.LIST_HANDLES, []],
];

const BY_NAME = new Map<string, number>();
for (const [name, bit, aliases] of NAMED) for (const n of [name, ...aliases]) BY_NAME.set(n, bit);

/** Every permission name, in bit order (ADD_HANDLE first). */
export const PERMISSION_NAMES: readonly string[] = NAMED.map(([name]) => name);

/**
 * `all`, `none`, a comma-separated list of names (any case, `_` or `-`), or the REST API's string of up to
 * twelve 0/1 characters (LIST_HANDLES first).
 */
export function parsePermissions(text: string): number {
  const t = text.trim();
  if (t === '') throw new UsageError('no permissions given: name them (e.g. add-handle,read-value), or all');
  if (/^[01]{12}$/.test(t)) return parseInt(t, 2);
  let mask = 0;
  for (const part of t.split(',')) {
    const name = part.trim().toLowerCase().replace(/_/g, '-');
    if (name === 'all') mask |= ALL_ADMIN_PERMISSIONS;
    else if (name === 'none') continue;
    else {
      const bit = BY_NAME.get(name);
      if (bit === undefined) throw new UsageError(`"${part.trim()}" is not a permission; they are all, none, ${PERMISSION_NAMES.join(', ')}`);
      mask |= bit;
    }
  }
  return mask;
}

/** The names of the bits set, in bit order. */
export function permissionNames(mask: number): string[] {
  return NAMED.filter(([, bit]) => mask & bit).map(([name]) => name);
}

/** `all`, `none`, or the names joined by commas: what parsePermissions reads back to the same mask. */
export function formatPermissions(mask: number): string {
  const m = mask & ALL_ADMIN_PERMISSIONS;
  if (m === ALL_ADMIN_PERMISSIONS) return 'all';
  if (m === 0) return 'none';
  return permissionNames(m).join(',');
}
