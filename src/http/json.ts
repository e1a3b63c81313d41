import { ResponseCode } from '../protocol/constants.js';
import type { HttpExchange } from './exchange.js';

// JSON responses of the API as the reference writes them (docs/rest-api.md §1 and §10): the HTTP
// status follows the Handle response code, `?pretty` indents, `?callback=NAME` wraps the JSON for JSONP.

export const JSON_TYPE = 'application/json;charset=UTF-8';

/** What the request is, where the status of a response code depends on it (200 means different things). */
export type Operation = 'resolve' | 'create' | 'add' | 'remove' | 'delete' | 'list' | 'other';

/** The reference's HTTP status for a response code. */
export function httpStatus(rc: number, op: Operation): number {
  switch (rc) {
    case ResponseCode.SUCCESS:
      return 200;
    case ResponseCode.ERROR:
      return 500;
    case ResponseCode.SERVER_TOO_BUSY:
    case ResponseCode.SERVER_BACKUP:
      return 503;
    case ResponseCode.PROTOCOL_ERROR:
    case ResponseCode.INVALID_HANDLE:
    case ResponseCode.INVALID_VALUE:
    case ResponseCode.SERVER_NOT_RESP:
      return 400;
    case ResponseCode.OPERATION_NOT_SUPPORTED:
      return 501;
    case ResponseCode.HANDLE_NOT_FOUND:
      return 404;
    case ResponseCode.HANDLE_ALREADY_EXISTS:
    case ResponseCode.VALUE_ALREADY_EXISTS:
      return 409;
    case ResponseCode.VALUES_NOT_FOUND:
      return op === 'resolve' ? 200 : 400;
    case ResponseCode.SERVICE_REFERRAL:
    case ResponseCode.PREFIX_REFERRAL:
      return 300;
    case ResponseCode.INVALID_ADMIN:
    case ResponseCode.INSUFFICIENT_PERMISSIONS:
    case ResponseCode.AUTHENTICATION_FAILED:
    case ResponseCode.INVALID_CREDENTIAL:
      return 403;
    case ResponseCode.AUTHENTICATION_NEEDED:
      return 401;
    default:
      return 500;
  }
}

/** Query flags as the reference reads them: absent false, present and empty true, true/yes (any case) true. */
export function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  const l = v.toLowerCase();
  return l === '' || l === 'true' || l === 'yes';
}

/** `overwrite` and `mintNewSuffix`: only "true" (any case) is true; absent gives the default. */
export function strictFlag(q: URLSearchParams, name: string, absent: boolean): boolean {
  const v = q.get(name);
  return v === null ? absent : v.toLowerCase() === 'true';
}

/** A JSONP callback name: anything but letters, `_`, `$`, digits (not first) and characters ≥ U+00A0 becomes `_`. */
export function safeCallback(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    const ok = /[A-Za-z_$]/.test(c) || (i > 0 && /[0-9]/.test(c)) || c.charCodeAt(0) >= 0xa0;
    out += ok ? c : '_';
  }
  return out;
}

/** A JSON object (members in the order given) as ?pretty and ?callback want it written: its type and text. */
export function jsonText(ex: HttpExchange, body: unknown): { contentType: string; text: string } {
  const pretty = flag(ex.query, 'pretty');
  const text = JSON.stringify(body, null, pretty ? 2 : undefined);
  const callback = ex.query.get('callback');
  if (callback) return { contentType: 'application/javascript;charset=UTF-8', text: `${safeCallback(callback)}(${text});` };
  return { contentType: JSON_TYPE, text };
}

/** Send a JSON object (members in the order given) with the status, honouring ?pretty and ?callback. */
export function sendJson(ex: HttpExchange, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const j = jsonText(ex, body);
  ex.send(status, { ...headers, 'Content-Type': j.contentType }, j.text);
}
