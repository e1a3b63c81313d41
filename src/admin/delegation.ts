import { isValidPrefix, prefixHandle } from '../model/handle.js';
import { HashOption, type SiteInfo, ServiceType, Transport, siteLabel } from '../model/site.js';
import { type HandleValue, makeValue } from '../model/value.js';
import { prefixAdminValue } from './defaults.js';
import { SITE_LIST_TYPES, encodeSite, listedSite } from '../protocol/site.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../protocol/constants.js';
import { type Registry, RegistryError } from '../store/registry.js';

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

/**
 * One site: its servers (each with UDP and TCP on its port), hashed by whole handle unless told otherwise.
 * `primary` (default true) is the site's primary flag: the site that takes administration, as opposed to a
 * mirror that only answers queries.
 */
export function siteOf(
  servers: readonly ServerSpec[],
  opts: { hashOption?: number; description?: string; serial?: number; primary?: boolean } = {},
): SiteInfo {
  return {
    dataFormatVersion: 1,
    protocolMajor: PROTOCOL_MAJOR,
    protocolMinor: PROTOCOL_MINOR,
    serial: opts.serial ?? 1,
    primary: opts.primary ?? true,
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

// Primary and mirror sites. A prefix served from several sites lists them all as HS_SITE values of its prefix
// handle (and as HS_SITE.PREFIX when it also serves derived prefixes); the primary flag is set on the
// primary's only. Resolvers may ask any site; administration goes to the primary.

/**
 * The next free index for a site value, lowest first from 2 (1 is the node's own site; 100 and 300 are the
 * admin's by convention), each handed out once.
 */
export function freeSiteIndex(values: readonly HandleValue[]): () => number {
  const used = new Set(values.map((v) => v.index));
  return () => {
    for (let i = 2; i < 100; i++) if (!used.has(i)) return used.add(i), i;
    throw new RegistryError('no free index below 100 for another site value', 'invalid');
  };
}

/**
 * Add a mirror site (written non-primary whatever `site` says) to the prefix handle 0.NA/PREFIX held in this
 * registry: an HS_SITE, and an HS_SITE.PREFIX beside it when the handle has one (it serves derived prefixes,
 * and so does the mirror). A site whose servers the handle lists already is refused. Returns the values added.
 */
export function addMirrorSite(registry: Registry, prefix: string, site: SiteInfo, opts: { ttl?: number } = {}): HandleValue[] {
  const ph = prefixHandle(prefix);
  const values = registry.getValues(ph);
  if (!values) throw new RegistryError(`${ph} is not held here`, 'not-found');
  const wanted = siteLabel(site);
  const siteValues = values.filter((v) => SITE_LIST_TYPES.includes(v.type.toUpperCase()));
  for (const v of siteValues) {
    const s = listedSite(v);
    if (s && siteLabel(s) === wanted) throw new RegistryError(`${ph} already lists the site ${wanted} (index ${v.index}, ${v.type})`, 'exists');
  }
  const types = ['HS_SITE', ...(siteValues.some((v) => v.type.toUpperCase() === 'HS_SITE.PREFIX') ? ['HS_SITE.PREFIX'] : [])];
  const next = freeSiteIndex(values);
  const indexes = types.map(() => next());
  const data = encodeSite({ ...site, primary: false });
  const ttl = opts.ttl !== undefined ? { ttl: opts.ttl } : {};
  const added = types.map((t, i) => makeValue(indexes[i]!, t, data, ttl));
  registry.upsertValues(ph, added);
  return added;
}

/**
 * Remove a mirror site from the prefix handle 0.NA/PREFIX: every HS_SITE and HS_SITE.PREFIX value whose site
 * has exactly these servers ("address:port", as siteEndpoints gives them). The primary site is refused:
 * a prefix without a primary takes no administration. Returns the indexes removed.
 */
export function removeMirrorSite(registry: Registry, prefix: string, endpoints: readonly string[]): number[] {
  const ph = prefixHandle(prefix);
  const values = registry.getValues(ph);
  if (!values) throw new RegistryError(`${ph} is not held here`, 'not-found');
  const wanted = [...endpoints].sort().join(',');
  const matching = values.filter((v) => {
    const s = listedSite(v);
    return s !== undefined && siteLabel(s) === wanted;
  });
  if (matching.length === 0) throw new RegistryError(`${ph} lists no site ${wanted}`, 'not-found');
  const primary = matching.find((v) => listedSite(v)?.primary);
  if (primary) throw new RegistryError(`${wanted} is the primary site of ${prefix} (index ${primary.index}); only a mirror is removed this way`, 'invalid');
  const indexes = matching.map((v) => v.index);
  registry.removeValues(ph, indexes);
  return indexes;
}
