import { OpCode } from './constants.js';

// Opcodes grouped by who answers them, so the dispatcher and the admin layer route by the same sets.

/** The administrative operations (docs/protocol.md §11.7): they change or list the registry. */
export const ADMIN_OPCODES: ReadonlySet<number> = new Set([
  OpCode.CREATE_HANDLE,
  OpCode.DELETE_HANDLE,
  OpCode.ADD_VALUE,
  OpCode.REMOVE_VALUE,
  OpCode.MODIFY_VALUE,
  OpCode.LIST_HANDLES,
]);

/** The reference's replication operations (docs/replication.md), asked by mirrors of their primary. */
export const REPLICATION_OPCODES: ReadonlySet<number> = new Set([OpCode.GET_NEXT_TXN_ID, OpCode.RETRIEVE_TXN_LOG, OpCode.DUMP_HANDLES]);

/**
 * Opcodes of administration and authentication: the admin layer answers these (besides every request that
 * names a session), never the resolution pipeline.
 */
export const AUTH_OPCODES: ReadonlySet<number> = new Set([
  ...ADMIN_OPCODES,
  ...REPLICATION_OPCODES,
  OpCode.RESPONSE_TO_CHALLENGE,
  OpCode.SESSION_SETUP,
  OpCode.SESSION_TERMINATE,
  OpCode.SESSION_EXCHANGEKEY,
  OpCode.HOME_NA,
  OpCode.UNHOME_NA,
  OpCode.LIST_HOMED_NAS,
  OpCode.LOGIN_ID_SYSTEM,
]);
