import { isUtf8 } from 'node:buffer';
import { createHash, createPublicKey } from 'node:crypto';
import { adminPermissionBits } from '../model/admin.js';
import { type SiteInfo, Transport } from '../model/site.js';
import { DEFAULT_PERMISSIONS, type HandleValue, Perm, TtlType } from '../model/value.js';
import { decodeAdmin, decodeVList } from './admin-data.js';
import { decodePublicKey, encodePublicKey } from './pubkey.js';
import { isSm2Key } from './sm2.js';
import { decodeAddress, decodeSite, encodeAddress } from './site.js';

// Values as JSON in the shape of the reference server's REST API (docs/rest-api.md §8): what the CLI
// prints with --json and what the HTTP API serves.

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

/**
 * An RSA key as a JSON Web Key, when reading that back (keyFromJson) gives the same bytes: the reference's
 * binary form. A key stored otherwise (PEM text, an SM2 or DSA key, a blob without the trailer) keeps its
 * bytes as text or base64, so what is printed can be written back unchanged.
 */
export function keyToJson(data: Buffer): JsonData {
  try {
    const jwk = decodePublicKey(data).export({ format: 'jwk' });
    const value = { kty: jwk.kty, n: jwk.n, e: jwk.e };
    if (jwk.kty === 'RSA' && keyFromJson(value).equals(data)) return { format: 'key', value };
  } catch {
    // not a key we can show as JWK
  }
  // PEM is text (and the generic rule would show it so); anything else, empty included, as its bytes.
  const pem = data.length > 0 && data.subarray(0, 10).toString('latin1') === '-----BEGIN' && isTextData(data);
  return pem ? { format: 'string', value: data.toString('utf8') } : { format: 'base64', value: data.toString('base64') };
}

/** What a person needs to recognise a public key: its algorithm, size, and a fingerprint. */
export interface KeyDescription {
  algorithm: 'RSA' | 'DSA' | 'SM2';
  bits: number;
  /** "SHA256:" and the unpadded base64 of SHA-256 over the key's SubjectPublicKeyInfo (DER), as OpenSSH prints them. */
  fingerprint: string;
  /** Stored as PEM text rather than the reference's binary form. */
  pem: boolean;
}

/** The description of HS_PUBKEY data, or undefined when it is no key we read. */
export function describePublicKey(data: Buffer): KeyDescription | undefined {
  let key;
  try {
    key = decodePublicKey(data);
  } catch {
    return undefined;
  }
  const algorithm = isSm2Key(key) ? 'SM2' : key.asymmetricKeyType === 'rsa' ? 'RSA' : key.asymmetricKeyType === 'dsa' ? 'DSA' : undefined;
  if (!algorithm) return undefined;
  const bits = algorithm === 'SM2' ? 256 : (key.asymmetricKeyDetails?.modulusLength ?? 0);
  const spki = key.export({ type: 'spki', format: 'der' });
  const fingerprint = 'SHA256:' + createHash('sha256').update(spki).digest('base64').replace(/=+$/, '');
  return { algorithm, bits, fingerprint, pem: data.subarray(0, 10).toString('latin1') === '-----BEGIN' };
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
    if (isType(type, 'HS_PUBKEY')) return keyToJson(data);
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

// The input direction (client → server): the structured formats a client may send back, as the reference
// reads them. string, base64, hex, admin and vlist are read in admin/import-values.ts; site and key here,
// beside their output forms.

/** A structured value that does not read; the message names the problem. */
export class JsonInputError extends Error {
  override name = 'JsonInputError';
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JsonInputError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function uint(v: unknown, what: string, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) throw new JsonInputError(`${what} must be a whole number from 0 to ${max}`);
  return n;
}

function bool(v: unknown, fallback: boolean): boolean {
  return v === undefined || v === null ? fallback : v === true || v === 'true';
}

/** A JSON Web Key (RSA: kty, n, e; either Base64 alphabet) as HS_PUBKEY bytes. */
export function keyFromJson(v: unknown): Buffer {
  const o = obj(v, 'a key');
  if (typeof o.kty !== 'string' || o.kty.toUpperCase() !== 'RSA') throw new JsonInputError(`key type ${JSON.stringify(o.kty)} is not supported (RSA only)`);
  if (typeof o.n !== 'string' || typeof o.e !== 'string') throw new JsonInputError('an RSA key needs "n" and "e"');
  const b64url = (s: string) => Buffer.from(s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url').toString('base64url');
  try {
    return encodePublicKey(createPublicKey({ key: { kty: 'RSA', n: b64url(o.n), e: b64url(o.e) }, format: 'jwk' }));
  } catch (err) {
    throw new JsonInputError(`not a usable RSA key: ${(err as Error).message}`);
  }
}

const protocolNumbers: Record<string, number> = { UDP: Transport.UDP, TCP: Transport.TCP, HTTP: Transport.HTTP, HTTPS: Transport.HTTPS };

/** A site object (the output form of siteToJson, plus serverList/interfaceList and an attributes object) as a SiteInfo. */
export function siteFromJson(v: unknown): SiteInfo {
  const o = obj(v, 'a site');
  const pv = typeof o.protocolVersion === 'string' ? /^(\d{1,3})\.(\d{1,3})$/.exec(o.protocolVersion) : null;
  if (o.protocolVersion !== undefined && !pv) throw new JsonInputError('protocolVersion must be "MAJOR.MINOR", e.g. "2.10"');
  let attributes: Array<[string, string]> = [];
  if (Array.isArray(o.attributes)) {
    attributes = o.attributes.map((a) => {
      const x = obj(a, 'an attribute');
      if (typeof x.name !== 'string' || typeof x.value !== 'string') throw new JsonInputError('an attribute needs a "name" and a "value" (text)');
      return [x.name, x.value];
    });
  } else if (o.attributes !== undefined && o.attributes !== null) {
    attributes = Object.entries(obj(o.attributes, 'attributes')).map(([k, x]) => [k, String(x)]);
  }
  const servers = o.servers ?? o.serverList;
  if (!Array.isArray(servers)) throw new JsonInputError('a site needs "servers" (a list)');
  return {
    dataFormatVersion: uint(o.version, 'version', 0xffff, 1),
    protocolMajor: pv ? Number(pv[1]) : 2,
    protocolMinor: pv ? Number(pv[2]) : 10,
    serial: uint(o.serialNumber, 'serialNumber', 0xffff, 1),
    primary: bool(o.primarySite, true),
    multiPrimary: bool(o.multiPrimary, false),
    hashOption: uint(o.hashOption, 'hashOption', 255, 2),
    hashFilter: typeof o.hashFilter === 'string' ? Buffer.from(o.hashFilter, 'base64') : Buffer.alloc(0),
    attributes,
    servers: servers.map((s, i) => {
      const x = obj(s, `server ${i + 1}`);
      if (typeof x.address !== 'string') throw new JsonInputError(`server ${i + 1} needs an "address"`);
      let address: string;
      try {
        address = decodeAddress(encodeAddress(x.address));
      } catch {
        throw new JsonInputError(`server ${i + 1}: "${x.address}" is not an IP address`);
      }
      let publicKey: Buffer = Buffer.alloc(0);
      if (x.publicKey !== undefined && x.publicKey !== null) {
        const k = obj(x.publicKey, `server ${i + 1} publicKey`);
        if (k.format === 'key') publicKey = keyFromJson(k.value);
        else if (k.format === 'base64' && typeof k.value === 'string') publicKey = Buffer.from(k.value, 'base64');
        else if (k.format === 'string' && typeof k.value === 'string') publicKey = Buffer.from(k.value, 'utf8');
        else if (k.format === 'hex' && typeof k.value === 'string' && /^(?:[0-9a-fA-F]{2})*$/.test(k.value)) publicKey = Buffer.from(k.value, 'hex');
        else throw new JsonInputError(`server ${i + 1}: publicKey must be {"format": "key"|"base64"|"hex"|"string", "value": …}`);
      }
      const ifs = x.interfaces ?? x.interfaceList;
      if (!Array.isArray(ifs)) throw new JsonInputError(`server ${i + 1} needs "interfaces" (a list)`);
      return {
        serverId: uint(x.serverId, `server ${i + 1} serverId`, 0xffffffff, i + 1),
        address,
        publicKey,
        interfaces: ifs.map((f, j) => {
          const y = obj(f, `interface ${j + 1}`);
          const protocol = typeof y.protocol === 'string' ? protocolNumbers[y.protocol.toUpperCase()] : uint(y.protocol, 'protocol', 255);
          if (protocol === undefined) throw new JsonInputError(`interface ${j + 1}: protocol ${JSON.stringify(y.protocol)} is not UDP, TCP, HTTP or HTTPS`);
          const type = (bool(y.query, false) ? 2 : 0) | (bool(y.admin, false) ? 1 : 0);
          return { type, protocol, port: uint(y.port, `interface ${j + 1} port`, 0xffffffff) };
        }),
      };
    }),
  };
}
