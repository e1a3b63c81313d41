import { isIP } from 'node:net';
import { loadConfig } from '../config.js';
import { isPrefixHandle, isValidPrefix, prefixHandle } from '../model/handle.js';
import { HashOption } from '../model/site.js';
import { decodeSite } from '../protocol/site.js';
import { openRegistry } from './open-registry.js';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { type ServerSpec, delegatePrefix, siteOf } from '../admin/delegation.js';
import { UsageError, formatValues } from './values.js';


/** "a:p,b:p" → servers; each must be an IP address with a port. */
export function parseSiteSpec(spec: string): ServerSpec[] {
  return spec.split(',').map((part) => {
    const s = parseServer(part.trim(), 0);
    if (!isIP(s.host) || s.port === 0) throw new UsageError(`"${part}" is not address:port (an IP address and a port)`);
    return { address: s.host, port: s.port };
  });
}

/** Ask each server for its own site info, to put its real public key into the delegation. */
async function fillKeys(servers: ServerSpec[], quiet: boolean): Promise<void> {
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 1500 });
  try {
    for (const s of servers) {
      try {
        const site = await client.siteInfo({ host: s.address, port: s.port });
        const me = site.servers.find((x) => x.address === s.address) ?? site.servers[0];
        if (me?.publicKey.length) s.publicKey = me.publicKey;
      } catch {
        if (!quiet) console.error(`idres: ${s.address}:${s.port} did not answer GET_SITE_INFO; delegating without its public key`);
      }
    }
  } finally {
    client.close();
  }
}

export interface DelegateOptions {
  dir: string;
  sites: string[];
  services: string[];
  derived: boolean;
  hash: 'prefix' | 'suffix' | 'handle';
  overwrite: boolean;
  fetchKeys: boolean;
  ttl?: number;
}

export async function delegateCommand(prefix: string, o: DelegateOptions): Promise<void> {
  if (!isValidPrefix(prefix)) throw new UsageError(`"${prefix}" is not a valid prefix`);
  if (o.sites.length === 0 && o.services.length === 0) throw new UsageError('give --site address:port[,address:port…] (or --serv HANDLE)');
  const hashOption = { prefix: HashOption.BY_PREFIX, suffix: HashOption.BY_SUFFIX, handle: HashOption.BY_HANDLE }[o.hash];
  const sites = [];
  for (const spec of o.sites) {
    const servers = parseSiteSpec(spec);
    if (o.fetchKeys) await fillKeys(servers, false);
    sites.push(siteOf(servers, { hashOption, description: `site of ${prefix}` }));
  }
  const registry = openRegistry(o.dir);
  try {
    const values = delegatePrefix(
      registry,
      { prefix, sites, services: o.services, derived: o.derived, ...(o.ttl !== undefined ? { ttl: o.ttl } : {}) },
      { overwrite: o.overwrite },
    );
    console.log(`delegated ${prefix}: ${prefixHandle(prefix)} now holds`);
    console.log(formatValues(values));
  } finally {
    registry.close();
  }
}

export function listPrefixesCommand(o: { dir: string }): void {
  const registry = openRegistry(o.dir);
  try {
    const homed = registry.homedPrefixes();
    console.log(`homed here: ${homed.join(', ') || '(none)'}`);
    const held = registry.list('0.NA', { limit: 100000 }).filter((h) => isPrefixHandle(h.handle));
    if (held.length === 0) return void console.log('prefix handles: (none)');
    console.log('prefix handles:');
    for (const h of held) {
      const values = registry.getValues(h.handle) ?? [];
      const where = values
        .filter((v) => v.type.toUpperCase().startsWith('HS_SITE') || v.type.toUpperCase().startsWith('HS_SERV'))
        .map((v) => {
          if (v.type.toUpperCase().startsWith('HS_SERV')) return `${v.type} ${v.data.toString()}`;
          try {
            const s = decodeSite(v.data);
            return `${v.type} ${s.servers.map((x) => `${x.address}:${x.interfaces[0]?.port ?? '?'}`).join(',')}`;
          } catch {
            return `${v.type} (undecodable)`;
          }
        });
      console.log(`  ${h.handle}${homed.some((p) => prefixHandle(p).toUpperCase() === h.handle.toUpperCase()) ? ' (own)' : ''}: ${where.join('; ') || 'no site'}`);
    }
  } finally {
    registry.close();
  }
}

export function homePrefixCommand(prefix: string, o: { dir: string; unhome: boolean }): void {
  if (!isValidPrefix(prefix)) throw new UsageError(`"${prefix}" is not a valid prefix`);
  const config = loadConfig(o.dir);
  const registry = openRegistry(o.dir);
  try {
    if (o.unhome) {
      if (!registry.unhome(prefix)) throw new UsageError(`${prefix} is not homed here`);
      const listed = config.prefixes.some((p) => p.toUpperCase() === prefix.toUpperCase());
      console.log(`${prefix} is no longer homed here${listed ? ' (remove it from "prefixes" in idres.json too, or the next start homes it again)' : ''}`);
    } else {
      registry.home(prefix);
      console.log(`${prefix} is homed here: this node now answers for ${prefix}/… (a running node notices at once)`);
    }
  } finally {
    registry.close();
  }
}
