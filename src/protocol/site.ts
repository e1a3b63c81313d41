import { isIPv4, isIPv6 } from 'node:net';
import type { SiteInfo } from '../model/site.js';
import type { HandleValue } from '../model/value.js';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

// The HS_SITE record (docs/protocol.md §5). The reference writes data format version 1 and reads 0 or 1.

/** 16-byte address field: IPv6, or IPv4 as 12 zero bytes and 4 address bytes (no ::ffff: prefix, as the reference). */
export function encodeAddress(address: string): Buffer {
  const out = Buffer.alloc(16);
  if (isIPv4(address)) {
    const parts = address.split('.').map(Number);
    for (let i = 0; i < 4; i++) out[12 + i] = parts[i]!;
    return out;
  }
  if (!isIPv6(address)) throw new Error(`"${address}" is not an IP address`);
  let addr = address;
  const zone = addr.indexOf('%');
  if (zone >= 0) addr = addr.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    addr = addr.slice(0, -v4[1]!.length) + ((p[0]! << 8) | p[1]!).toString(16) + ':' + ((p[2]! << 8) | p[3]!).toString(16);
  }
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16), i * 2);
  return out;
}

export function decodeAddress(b: Buffer): string {
  let v4 = true;
  for (let i = 0; i < 12; i++) if (b[i] !== 0) v4 = false;
  // The ::ffff:a.b.c.d form is read as IPv4 too.
  if (!v4 && b.readUInt16BE(10) === 0xffff) {
    v4 = true;
    for (let i = 0; i < 10; i++) if (b[i] !== 0) v4 = false;
  }
  // 0.x.x.x is no usable IPv4 address: 12 zero bytes followed by one are IPv6 (::1, ::), not IPv4.
  if (v4 && b[12] !== 0) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(i * 2));
  // RFC 5952 text: the longest run (two or more) of zero groups becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

export function writeSite(w: Writer, s: SiteInfo): void {
  w.u16(s.dataFormatVersion).u8(s.protocolMajor).u8(s.protocolMinor).u16(s.serial);
  w.u8((s.primary ? 0x80 : 0) | (s.multiPrimary ? 0x40 : 0)).u8(s.hashOption);
  w.byteString(s.hashFilter);
  w.u32(s.attributes.length);
  for (const [k, v] of s.attributes) w.utf8(k).utf8(v);
  w.u32(s.servers.length);
  for (const srv of s.servers) {
    w.u32(srv.serverId).bytes(encodeAddress(srv.address)).byteString(srv.publicKey);
    w.u32(srv.interfaces.length);
    for (const i of srv.interfaces) w.u8(i.type).u8(i.protocol).u32(i.port);
  }
}

export function encodeSite(s: SiteInfo): Buffer {
  const w = new Writer(512);
  writeSite(w, s);
  return Buffer.from(w.finish());
}

/** Read a site record that runs to the end of the reader's range (trailing bytes are an error). */
export function readSite(r: Reader): SiteInfo {
  const dataFormatVersion = r.u16('site data version');
  const protocolMajor = r.u8('site protocol major');
  const protocolMinor = r.u8('site protocol minor');
  const serial = r.u16('site serial');
  const mask = r.u8('site primary mask');
  const hashOption = r.u8('site hash option');
  const hashFilter = Buffer.from(r.byteString('site hash filter', Limits.MAX_HANDLE_LENGTH));
  const nattr = r.count('site attributes', Limits.MAX_VALUES, 8);
  const attributes: Array<[string, string]> = [];
  for (let i = 0; i < nattr; i++) attributes.push([r.utf8('attribute name'), r.utf8('attribute value')]);
  const nsrv = r.count('site servers', Limits.MAX_VALUES, 28);
  const servers = [];
  for (let i = 0; i < nsrv; i++) {
    const serverId = r.u32('server id');
    const address = decodeAddress(r.bytes(16, 'server address'));
    const publicKey = Buffer.from(r.byteString('server public key'));
    const nif = r.count('server interfaces', Limits.MAX_VALUES, 6);
    const interfaces = [];
    for (let j = 0; j < nif; j++) {
      interfaces.push({ type: r.u8('interface type'), protocol: r.u8('interface protocol'), port: r.u32('interface port') });
    }
    servers.push({ serverId, address, publicKey, interfaces });
  }
  if (dataFormatVersion > 1) throw new DecodeError(`unknown site data format version ${dataFormatVersion}`);
  return {
    dataFormatVersion,
    protocolMajor,
    protocolMinor,
    serial,
    primary: (mask & 0x80) !== 0,
    multiPrimary: (mask & 0x40) !== 0,
    hashOption,
    hashFilter,
    attributes,
    servers,
  };
}

/** Decode HS_SITE value data (the whole buffer is the record). */
export function decodeSite(data: Buffer): SiteInfo {
  const r = new Reader(data);
  const s = readSite(r);
  r.expectEnd('site record');
  return s;
}

/** The value types that list a prefix's sites: HS_SITE, and HS_SITE.PREFIX where it serves derived prefixes. */
export const SITE_LIST_TYPES: readonly string[] = ['HS_SITE', 'HS_SITE.PREFIX'];

/** The site a value lists, or undefined (another type, or data that is not a site). */
export function listedSite(v: Pick<HandleValue, 'type' | 'data'>): SiteInfo | undefined {
  if (!SITE_LIST_TYPES.includes(v.type.toUpperCase())) return undefined;
  try {
    return decodeSite(v.data);
  } catch {
    return undefined;
  }
}

/** Every site these values list (undecodable ones left out). */
export function listedSites(values: readonly Pick<HandleValue, 'type' | 'data'>[]): SiteInfo[] {
  return values.flatMap((v) => listedSite(v) ?? []);
}
