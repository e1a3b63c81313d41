import { isValidPrefix, prefixHandle } from '../model/handle.js';
import { HashOption, type SiteInfo, ServiceType, Transport } from '../model/site.js';
import { type HandleValue, makeValue } from '../model/value.js';
import { prefixAdminValue } from './defaults.js';
import { encodeSite } from '../protocol/site.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../protocol/constants.js';
import type { Registry } from '../store/registry.js';

// Delegation: a parent node (top-level, secondary) holds the prefix handle 0.NA/CHILD of each prefix it
// delegates. HS_SITE says where CHILD itself is served; HS_SITE.PREFIX says the same for every prefix
// derived from CHILD (so the parent refers 0.NA/CHILD.x there with a 303); HS_SERV / HS_SERV.PREFIX name a
// service handle instead; HS_ADMIN names the child's administrator (0.NA/CHILD, key 300).

export interface ServerSpec {
  address: string;
  port: number;
  /** HS_PUBKEY bytes, when known (fetched from the server's own site info). */
  publicKey?: Buffer;
}

/** One site: its servers (each with UDP and TCP on its port), hashed by whole handle unless told otherwise. */
export function siteOf(servers: readonly ServerSpec[], opts: { hashOption?: number; description?: string; serial?: number } = {}): SiteInfo {
  return {
    dataFormatVersion: 1,
    protocolMajor: PROTOCOL_MAJOR,
    protocolMinor: PROTOCOL_MINOR,
    serial: opts.serial ?? 1,
    primary: true,
    multiPrimary: false,
    hashOption: opts.hashOption ?? HashOption.BY_HANDLE,
    hashFilter: Buffer.alloc(0),
    attributes: opts.description ? [['desc', opts.description]] : [],
    servers: servers.map((s, i) => ({
      serverId: i + 1,
      address: s.address,
      publicKey: s.publicKey ?? Buffer.alloc(0),
      interfaces: [
        { type: ServiceType.ADMIN_AND_QUERY, protocol: Transport.TCP, port: s.port },
        { type: ServiceType.QUERY, protocol: Transport.UDP, port: s.port },
      ],
    })),
  };
}

export interface DelegationSpec {
  prefix: string;
  sites: SiteInfo[];
  /** Service handles (HS_SERV) instead of, or beside, sites. */
  services?: string[];
  /** Also serve prefixes derived from this one (HS_SITE.PREFIX / HS_SERV.PREFIX); default true. */
  derived?: boolean;
  ttl?: number;
}

export function delegationValues(d: DelegationSpec): HandleValue[] {
  if (!isValidPrefix(d.prefix)) throw new Error(`"${d.prefix}" is not a valid prefix`);
  if (d.sites.length === 0 && !d.services?.length) throw new Error('a delegation needs at least one site or service handle');
  const values: HandleValue[] = [];
  let index = 1;
  const ttl = d.ttl !== undefined ? { ttl: d.ttl } : {};
  for (const site of d.sites) values.push(makeValue(index++, 'HS_SITE', encodeSite(site), ttl));
  for (const s of d.services ?? []) values.push(makeValue(index++, 'HS_SERV', s, ttl));
  if (d.derived ?? true) {
    for (const site of d.sites) values.push(makeValue(index++, 'HS_SITE.PREFIX', encodeSite(site), ttl));
    for (const s of d.services ?? []) values.push(makeValue(index++, 'HS_SERV.PREFIX', s, ttl));
  }
  values.push(prefixAdminValue(d.prefix));
  return values;
}

/** Write (or with overwrite, replace) the prefix handle of a delegated prefix. */
export function delegatePrefix(registry: Registry, d: DelegationSpec, opts: { overwrite?: boolean } = {}): HandleValue[] {
  const values = delegationValues(d);
  registry.create(prefixHandle(d.prefix), values, { overwrite: opts.overwrite ?? false });
  return values;
}
