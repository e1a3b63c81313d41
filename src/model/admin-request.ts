import type { HandleValue } from './value.js';

/**
 * An administrative operation, however it arrived (a Handle admin opcode, an HTTP API request, the CLI):
 * what the admin layer checks and carries out.
 */
export type AdminRequest =
  | { op: 'create'; handle: string; values: HandleValue[]; overwrite: boolean; mint: boolean }
  | { op: 'delete'; handle: string }
  | { op: 'add'; handle: string; values: HandleValue[]; overwrite: boolean }
  | { op: 'remove'; handle: string; indexes: number[] }
  | { op: 'modify'; handle: string; values: HandleValue[] }
  /** The handles under a prefix ("88.118.8"). */
  | { op: 'list'; prefix: string };
