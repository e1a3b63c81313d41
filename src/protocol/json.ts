import { isUtf8 } from 'node:buffer';
import { adminPermissionBits } from '../model/admin.js';
import { type SiteInfo, Transport } from '../model/site.js';
import { DEFAULT_PERMISSIONS, type HandleValue, Perm, TtlType } from '../model/value.js';
import { decodeAdmin, decodeVList } from './admin-data.js';
import { decodePublicKey } from './pubkey.js';
import { decodeSite } from './site.js';

// Values as JSON in the shape of the reference server's REST API (handle-rest-api.md section 8): what the CLI
// prints with --json and what the HTTP API will serve.

export interface JsonData {
  format: string;
  value: unknown;
}

export interface JsonValue {
  index: number;
  type: string;
  data: JsonData;
  permissions?: string;
  ttl: number | string;
  timestamp?: string;
  references?: Array<{ handle: string; index: number }>;
}

/** Text unless it is not UTF-8 or holds a byte 0x00–0x08, 0x14–0x1F or 0x7F (the reference's rule). */
export function isTextData(data: Buffer): boolean {
  if (!isUtf8(data)) return false;
  for (const c of data) if (c <= 0x08 || (c >= 0x14 && c <= 0x1f) || c === 0x7f) return false;
  return true;
}

function isType(type: string, base: string): boolean {
  const u = type.toUpperCase();
  return u === base || u.startsWith(base + '.');
}

const protocolNames: Record<number, string> = {
  [Transport.UDP]: 'UDP',
  [Transport.TCP]: 'TCP',
  [Transport.HTTP]: 'HTTP',
  [Transport.HTTPS]: 'HTTPS',
};

export function keyToJson(data: Buffer): JsonData {
  try {
    const jwk = decodePublicKey(data).export({ format: 'jwk' });
    return { format: 'key', value: { kty: jwk.kty, n: jwk.n, e: jwk.e } };
  } catch {
    return { format: 'base64', value: data.toString('base64') };
  }
}

export function siteToJson(s: SiteInfo): Record<string, unknown> {
  const o: Record<string, unknown> = {
    version: s.dataFormatVersion,
    protocolVersion: `${s.protocolMajor}.${s.protocolMinor}`,
    serialNumber: s.serial,
    primarySite: s.primary,
    multiPrimary: s.multiPrimary,
  };
  if (s.hashOption !== 2) o.hashOption = s.hashOption;
  if (s.hashFilter.length) o.hashFilter = s.hashFilter.toString('base64');
  o.attributes = s.attributes.map(([name, value]) => ({ name, value }));
  o.servers = s.servers.map((srv) => ({
    serverId: srv.serverId,
    address: srv.address,
    publicKey: keyToJson(srv.publicKey),
    interfaces: srv.interfaces.map((i) => ({
      query: (i.type & 2) !== 0,
      admin: (i.type & 1) !== 0,
      protocol: protocolNames[i.protocol] ?? i.protocol,
      port: i.port,
    })),
  }));
  return o;
}

export function dataToJson(type: string, data: Buffer): JsonData {
  try {
    if (isType(type, 'HS_ADMIN')) {
      const a = decodeAdmin(data);
      return { format: 'admin', value: { handle: a.handle, index: a.index, permissions: adminPermissionBits(a.permissions) } };
    }
    if (isType(type, 'HS_VLIST')) return { format: 'vlist', value: decodeVList(data) };
    if (isType(type, 'HS_SITE') || type.toUpperCase() === 'HS_NA_DELEGATE') return { format: 'site', value: siteToJson(decodeSite(data)) };
    if (isType(type, 'HS_PUBKEY')) {
      const k = keyToJson(data);
      if (k.format === 'key') return k;
    }
  } catch {
    // A structured value that does not decode is shown as its bytes.
  }
  return isTextData(data) ? { format: 'string', value: data.toString('utf8') } : { format: 'base64', value: data.toString('base64') };
}

function isoSeconds(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function valueToJson(v: HandleValue): JsonValue {
  // Member order as the reference writes it: index, type, data, permissions?, ttl, timestamp?, references?
  const permissions =
    v.permissions === DEFAULT_PERMISSIONS
      ? undefined
      : [Perm.ADMIN_READ, Perm.ADMIN_WRITE, Perm.PUBLIC_READ, Perm.PUBLIC_WRITE].map((b) => (v.permissions & b ? '1' : '0')).join('');
  const o: JsonValue = {
    index: v.index,
    type: v.type,
    data: dataToJson(v.type, v.data),
    ...(permissions ? { permissions } : {}),
    ttl: v.ttlType === TtlType.ABSOLUTE ? isoSeconds(v.ttl) : v.ttl,
  };
  if (v.timestamp) o.timestamp = isoSeconds(v.timestamp);
  if (v.references.length) o.references = v.references.map((r) => ({ handle: r.handle, index: r.index }));
  return o;
}
