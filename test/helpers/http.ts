import { request } from 'undici';
import { ALL_ADMIN_PERMISSIONS } from '../../src/model/admin.js';
import { makeValue, Perm } from '../../src/model/value.js';
import { encodeAdmin } from '../../src/protocol/admin-data.js';
import type { IdresNode } from '../../src/node/node.js';

// HTTP helpers for tests: undici against a node's HTTP face, and the identities the write tests use.

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export function baseOf(node: IdresNode): string {
  if (!node.http) throw new Error('the node has no HTTP face');
  return `http://127.0.0.1:${node.http.port}`;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpAnswer> {
  const r = await request(base + path, {
    method: method as 'GET',
    headers: opts.headers ?? {},
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    headersTimeout: 10000,
    bodyTimeout: 10000,
  });
  const text = await r.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Basic credentials as PYHANDLE builds them: every ":" of the user name written %3A. */
export function basic(identity: string, password: string): Record<string, string> {
  const user = encodeURIComponent(identity).replace(/%2F/g, '/');
  return { Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') };
}

export const USER = '88.118.8/USER01';
export const USER_SECRET = 's3cret';
export const NOBODY = '88.118.8/NOBODY';
export const NOBODY_SECRET = 'nobody-secret';

/**
 * A registry with two identities: USER01 (secret at 300), an administrator of the prefix (HS_ADMIN at 101 of
 * 0.NA/88.118.8, every permission), and NOBODY (secret at 300), in no HS_ADMIN anywhere.
 */
export function addIdentities(node: IdresNode): void {
  const r = node.registry!;
  const secret = (s: string) => makeValue(300, 'HS_SECKEY', s, { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE });
  r.create(USER, [secret(USER_SECRET), makeValue(100, 'HS_ADMIN', encodeAdmin({ handle: USER, index: 300, permissions: ALL_ADMIN_PERMISSIONS }))]);
  r.create(NOBODY, [secret(NOBODY_SECRET), makeValue(100, 'HS_ADMIN', encodeAdmin({ handle: NOBODY, index: 300, permissions: ALL_ADMIN_PERMISSIONS }))]);
  r.upsertValues('0.NA/88.118.8', [makeValue(101, 'HS_ADMIN', encodeAdmin({ handle: USER, index: 300, permissions: ALL_ADMIN_PERMISSIONS }))]);
  node.noticeWrites();
}

/** An HS_ADMIN value (REST JSON) naming USER01, for records created in tests so USER01 can change them later. */
export const USER_ADMIN_JSON = {
  index: 100,
  type: 'HS_ADMIN',
  data: { format: 'admin', value: { handle: USER, index: '300', permissions: '011111111111' } },
};
