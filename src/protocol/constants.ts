// Numbers of the Handle protocol (RFC 3652, as Handle.Net 9.x speaks it at version 2.11).
// See docs/protocol.md §1, §2.4 and §3.

export const OpCode = {
  RESERVED: 0,
  RESOLUTION: 1,
  GET_SITE_INFO: 2,
  CREATE_HANDLE: 100,
  DELETE_HANDLE: 101,
  ADD_VALUE: 102,
  REMOVE_VALUE: 103,
  MODIFY_VALUE: 104,
  LIST_HANDLES: 105,
  RESPONSE_TO_CHALLENGE: 200,
  VERIFY_CHALLENGE: 201,
  HOME_NA: 300,
  UNHOME_NA: 301,
  LIST_HOMED_NAS: 302,
  SESSION_SETUP: 400,
  SESSION_TERMINATE: 401,
  SESSION_EXCHANGEKEY: 402,
  // Replication between servers of the reference (docs/replication.md, "The protocol"): not in RFC 3652.
  GET_NEXT_TXN_ID: 1000,
  RETRIEVE_TXN_LOG: 1001,
  DUMP_HANDLES: 1002,
  LOGIN_ID_SYSTEM: 2001,
} as const;

export const ResponseCode = {
  RESERVED: 0,
  SUCCESS: 1,
  ERROR: 2,
  SERVER_TOO_BUSY: 3,
  PROTOCOL_ERROR: 4,
  OPERATION_NOT_SUPPORTED: 5,
  RECURSION_COUNT_TOO_HIGH: 6,
  SERVER_BACKUP: 7,
  HANDLE_NOT_FOUND: 100,
  HANDLE_ALREADY_EXISTS: 101,
  INVALID_HANDLE: 102,
  VALUES_NOT_FOUND: 200,
  VALUE_ALREADY_EXISTS: 201,
  INVALID_VALUE: 202,
  OUT_OF_DATE_SITE_INFO: 300,
  SERVER_NOT_RESP: 301,
  SERVICE_REFERRAL: 302,
  PREFIX_REFERRAL: 303,
  INVALID_ADMIN: 400,
  INSUFFICIENT_PERMISSIONS: 401,
  AUTHENTICATION_NEEDED: 402,
  AUTHENTICATION_FAILED: 403,
  INVALID_CREDENTIAL: 404,
  AUTHEN_TIMEOUT: 405,
  AUTHEN_ERROR: 406,
  SESSION_TIMEOUT: 500,
  SESSION_FAILED: 501,
  INVALID_SESSION_KEY: 502,
  NEED_RSAKEY_FOR_SESSIONEXCHANGE: 503,
  INVALID_SESSIONSETUP_REQUEST: 504,
  SESSION_MESSAGE_REJECTED: 505,
  DAILY_REQUEST_LIMIT: 603,
  REGISTRATION_COUNT_LIMIT: 604,
  PREFIX_LIMIT: 605,
} as const;

const rcNames = new Map<number, string>(Object.entries(ResponseCode).map(([k, v]) => [v, k]));
const opNames = new Map<number, string>(Object.entries(OpCode).map(([k, v]) => [v, k]));

export function responseCodeName(rc: number): string {
  return rcNames.get(rc) ?? `RC_${rc}`;
}

export function opCodeName(op: number): string {
  return opNames.get(op) ?? `OC_${op}`;
}

/** OpFlag bits of the message header (32-bit word). */
export const OpFlag = {
  AT: 0x80000000, // authoritative
  CT: 0x40000000, // certify (sign the response)
  ENC: 0x20000000, // encrypt the response
  REC: 0x10000000, // recursion allowed
  CA: 0x08000000, // cache-authenticate
  CN: 0x04000000, // continuous: more messages follow
  KC: 0x02000000, // keep the TCP connection open
  PO: 0x01000000, // public values only
  RD: 0x00800000, // return the request digest
  OW: 0x00400000, // overwrite (create/add)
  MINT: 0x00200000, // mint a new suffix on create
  DNRF: 0x00100000, // do not refer
} as const;

export const flagNames: ReadonlyArray<[number, string]> = Object.entries(OpFlag).map(([k, v]) => [v, k]);

/** Byte 2 of the envelope: CP, EC, TC in the high bits, the suggested major version in the low two. */
export const EnvelopeFlag = {
  CP: 0x80,
  EC: 0x40,
  TC: 0x20,
} as const;

/** Limits the reference server enforces; every decoder checks them. */
export const Limits = {
  MAX_MESSAGE_LENGTH: 262144,
  MAX_HANDLE_LENGTH: 2048,
  MAX_VALUES: 2048,
  MAX_ARRAY: 1048576,
  /** Message bytes per UDP datagram (512 minus the 20-byte envelope). */
  UDP_FRAGMENT_SIZE: 492,
} as const;

export const ENVELOPE_SIZE = 20;
export const HEADER_SIZE = 24;

/** The protocol version this implementation speaks. */
export const PROTOCOL_MAJOR = 2;
export const PROTOCOL_MINOR = 11;

/** Hash type bytes that lead a request digest. */
export const DigestType = {
  OLD_MD5: 0,
  MD5: 1,
  SHA1: 2,
  SHA256: 3,
} as const;
