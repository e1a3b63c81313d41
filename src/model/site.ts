import { createHash } from 'node:crypto';

// A site (RFC 3651 section 3.2.2): the servers that together serve a prefix, as an HS_SITE value holds them.

export const ServiceType = {
  OUT_OF_SERVICE: 0,
  ADMIN: 1,
  QUERY: 2,
  ADMIN_AND_QUERY: 3,
} as const;

export const Transport = {
  UDP: 0,
  TCP: 1,
  HTTP: 2,
  HTTPS: 3,
} as const;

export const HashOption = {
  BY_PREFIX: 0,
  BY_SUFFIX: 1,
  BY_HANDLE: 2,
} as const;

export interface SiteInterface {
  type: number;
  protocol: number;
  port: number;
}

export interface SiteServer {
  serverId: number;
  /** Text form: dotted IPv4 or IPv6. */
  address: string;
  /** HS_PUBKEY-format bytes (may be empty). */
  publicKey: Buffer;
  interfaces: SiteInterface[];
}

export interface SiteInfo {
  /** Data format version: the reference writes 1, the RFC 0. */
  dataFormatVersion: number;
  protocolMajor: number;
  protocolMinor: number;
  serial: number;
  primary: boolean;
  multiPrimary: boolean;
  hashOption: number;
  hashFilter: Buffer;
  attributes: Array<[string, string]>;
  servers: SiteServer[];
}

function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/**
 * Which server of a multi-server site serves a handle: the reference client hashes the part of the handle
 * the site's HashOption names (upper-cased) with MD5, reads the last four bytes as a signed big-endian
 * integer, and takes its absolute value modulo the number of servers.
 */
export function selectServerIndex(site: Pick<SiteInfo, 'hashOption' | 'servers'>, handle: string): number {
  return serverIndexFor(site.hashOption, site.servers.length, handle);
}

/** selectServerIndex for a site described by its hash option and server count (a replication request's share). */
export function serverIndexFor(hashOption: number, n: number, handle: string): number {
  if (n <= 1) return 0;
  const slash = handle.indexOf('/');
  let part: string;
  if (hashOption === HashOption.BY_PREFIX) part = slash < 0 ? handle : handle.slice(0, slash);
  else if (hashOption === HashOption.BY_SUFFIX) part = slash < 0 ? '' : handle.slice(slash + 1);
  else part = handle;
  const digest = createHash('md5').update(asciiUpper(part), 'utf8').digest();
  const v = digest.readInt32BE(12);
  return Math.abs(v) % n;
}

export function findInterface(server: SiteServer, protocol: number, admin = false): SiteInterface | undefined {
  return server.interfaces.find(
    (i) =>
      i.protocol === protocol &&
      (admin
        ? i.type === ServiceType.ADMIN || i.type === ServiceType.ADMIN_AND_QUERY
        : i.type === ServiceType.QUERY || i.type === ServiceType.ADMIN_AND_QUERY),
  );
}

/**
 * A site's servers as "address:port" (IPv6 in brackets), sorted: the port is the server's first interface's,
 * as a site written by idres has one port per server. Two site records with the same endpoints name the
 * same site whatever their serials, keys or flags say.
 */
export function siteEndpoints(site: Pick<SiteInfo, 'servers'>): string[] {
  return site.servers
    .map((s) => `${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.interfaces[0]?.port ?? '?'}`)
    .sort();
}

/** A site's label, for messages and as its identity among listed sites: its servers' endpoints. */
export function siteLabel(site: Pick<SiteInfo, 'servers'>): string {
  return siteEndpoints(site).join(',');
}
