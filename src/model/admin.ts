// HS_ADMIN and HS_VLIST: who may administer a handle (RFC 3651 section 3.2.1).

/** The 12 admin permission bits of an HS_ADMIN value. */
export const AdminPerm = {
  ADD_HANDLE: 0x0001,
  DELETE_HANDLE: 0x0002,
  ADD_NA: 0x0004,
  DELETE_NA: 0x0008,
  MODIFY_VALUE: 0x0010,
  REMOVE_VALUE: 0x0020,
  ADD_VALUE: 0x0040,
  MODIFY_ADMIN: 0x0080,
  REMOVE_ADMIN: 0x0100,
  ADD_ADMIN: 0x0200,
  READ_VALUE: 0x0400,
  LIST_HANDLES: 0x0800,
} as const;

export const ALL_ADMIN_PERMISSIONS = 0x0fff;

export interface AdminRecord {
  /** The 12 permission bits. */
  permissions: number;
  /** The administrator's identity: a handle and the index of its key (or of an HS_VLIST). */
  handle: string;
  index: number;
}

export interface VListEntry {
  handle: string;
  index: number;
}

/** The 12-character bit string the REST API uses: bit 11 (LIST_HANDLES) first, bit 0 (ADD_HANDLE) last. */
export function adminPermissionBits(p: number): string {
  let s = '';
  for (let bit = 11; bit >= 0; bit--) s += p & (1 << bit) ? '1' : '0';
  return s;
}
