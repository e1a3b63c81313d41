import { type Command, Option } from 'commander';
import { loadConfig } from '../node/config.js';
import { isPrefixHandle, isValidPrefix, prefixHandle } from '../model/handle.js';
import { HashOption, siteEndpoints } from '../model/site.js';
import { decodeSite } from '../protocol/site.js';
import { openRegistry } from './open-registry.js';
import { addMirrorSite, delegatePrefix, removeMirrorSite, siteOf } from '../admin/delegation.js';
import { fillKeys, parseSiteSpec } from './site-spec.js';
import { UsageError, formatValues, printJson } from './values.js';
import { audited } from './local-audit.js';
import { collect, dirOption } from './options.js';
import { ttlOption } from './numbers.js';


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
  // The first --site is the primary (it takes administration); every other one is a mirror.
  for (const [i, spec] of o.sites.entries()) {
    const servers = parseSiteSpec(spec);
    if (o.fetchKeys) await fillKeys(servers, false);
    sites.push(siteOf(servers, { hashOption, description: `${i === 0 ? 'primary' : 'mirror'} site of ${prefix}`, primary: i === 0 }));
  }
  const registry = openRegistry(o.dir);
  try {
    const delegation = { prefix, sites, services: o.services, derived: o.derived, ...(o.ttl !== undefined ? { ttl: o.ttl } : {}) };
    const values = audited(registry, { op: 'delegate', handle: prefixHandle(prefix), detail: { prefix } }, () =>
      delegatePrefix(registry, delegation, { overwrite: o.overwrite }),
    );
    console.log(`delegated ${prefix}: ${prefixHandle(prefix)} now holds`);
    console.log(formatValues(values));
  } finally {
    registry.close();
  }
}

export function listPrefixesCommand(o: { dir: string; json?: boolean }): void {
  const registry = openRegistry(o.dir);
  try {
    const homed = registry.homedPrefixes();
    const held = registry.list('0.NA', { limit: 100000 }).filter((h) => isPrefixHandle(h.handle));
    const own = (handle: string) => homed.some((p) => prefixHandle(p).toUpperCase() === handle.toUpperCase());
    const sitesOf = (handle: string) =>
      (registry.getValues(handle) ?? [])
        .filter((v) => v.type.toUpperCase().startsWith('HS_SITE') || v.type.toUpperCase().startsWith('HS_SERV'))
        .map((v) => {
          if (v.type.toUpperCase().startsWith('HS_SERV')) return { type: v.type, service: v.data.toString() };
          try {
            const s = decodeSite(v.data);
            return {
              type: v.type,
              role: s.primary ? ('primary' as const) : ('mirror' as const),
              servers: s.servers.map((x) => `${x.address.includes(':') ? `[${x.address}]` : x.address}:${x.interfaces[0]?.port ?? '?'}`),
            };
          } catch {
            return { type: v.type, undecodable: true };
          }
        });
    if (o.json) {
      printJson({ homed, prefixHandles: held.map((h) => ({ handle: h.handle, own: own(h.handle), sites: sitesOf(h.handle) })) });
      return;
    }
    console.log(`homed here: ${homed.join(', ') || '(none)'}`);
    if (held.length === 0) return void console.log('prefix handles: (none)');
    console.log('prefix handles:');
    for (const h of held) {
      const where = sitesOf(h.handle).map((s) =>
        'service' in s ? `${s.type} ${s.service}` : 'servers' in s ? `${s.type} ${s.servers!.join(',')} (${s.role})` : `${s.type} (undecodable)`,
      );
      console.log(`  ${h.handle}${own(h.handle) ? ' (own)' : ''}: ${where.join('; ') || 'no site'}`);
    }
  } finally {
    registry.close();
  }
}

export interface MirrorOptions {
  dir: string;
  site: string;
  hash: 'prefix' | 'suffix' | 'handle';
  fetchKeys: boolean;
  ttl?: number;
}

/** `prefix mirror add`: list a mirror site (non-primary) in the prefix handle 0.NA/PREFIX held here. */
export async function addMirrorCommand(prefix: string, o: MirrorOptions): Promise<void> {
  if (!isValidPrefix(prefix)) throw new UsageError(`"${prefix}" is not a valid prefix`);
  const servers = parseSiteSpec(o.site);
  if (o.fetchKeys) await fillKeys(servers, false);
  const hashOption = { prefix: HashOption.BY_PREFIX, suffix: HashOption.BY_SUFFIX, handle: HashOption.BY_HANDLE }[o.hash];
  const site = siteOf(servers, { hashOption, description: `mirror site of ${prefix}`, primary: false });
  const registry = openRegistry(o.dir);
  try {
    const ph = prefixHandle(prefix);
    const added = audited(registry, { op: 'update', handle: ph, detail: { prefix, mirror: siteEndpoints(site) } }, () =>
      addMirrorSite(registry, prefix, site, o.ttl !== undefined ? { ttl: o.ttl } : {}),
    );
    console.log(`${ph}: mirror site ${siteEndpoints(site).join(',')} added (${added.map((v) => `${v.type} at index ${v.index}`).join(', ')})`);
  } finally {
    registry.close();
  }
}

/** `prefix mirror remove`: take a mirror site out of the prefix handle 0.NA/PREFIX held here. */
export function removeMirrorCommand(prefix: string, o: { dir: string; site: string }): void {
  if (!isValidPrefix(prefix)) throw new UsageError(`"${prefix}" is not a valid prefix`);
  const endpoints = siteEndpoints(siteOf(parseSiteSpec(o.site)));
  const registry = openRegistry(o.dir);
  try {
    const ph = prefixHandle(prefix);
    const removed = audited(registry, { op: 'update', handle: ph, detail: { prefix, removedMirror: endpoints } }, () =>
      removeMirrorSite(registry, prefix, endpoints),
    );
    console.log(`${ph}: mirror site ${endpoints.join(',')} removed (index ${removed.join(', ')})`);
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
      audited(registry, { op: 'unhome', handle: prefix, valuesOf: null }, () => {
        if (!registry.unhome(prefix)) throw new UsageError(`${prefix} is not homed here`);
      });
      const listed = config.prefixes.some((p) => p.toUpperCase() === prefix.toUpperCase());
      console.log(`${prefix} is no longer homed here${listed ? ' (remove it from "prefixes" in idres.json too, or the next start homes it again)' : ''}`);
    } else {
      audited(registry, { op: 'home', handle: prefix, valuesOf: null }, () => registry.home(prefix));
      console.log(`${prefix} is homed here: this node now answers for ${prefix}/… (a running node notices at once)`);
    }
  } finally {
    registry.close();
  }
}

/** `idres prefix delegate|list|home|mirror add|mirror remove`. */
export function addPrefixCommand(program: Command): void {
  const prefix = program.command('prefix').description('prefixes: what this node homes, what it delegates to other nodes, and the mirror sites that serve them');
  prefix
    .command('delegate')
    .description(
      'delegate a prefix to the node(s) that serve it: writes the prefix handle 0.NA/PREFIX here. ' +
        'The first --site is the primary site (primary flag set: it takes administration), every further --site a mirror',
    )
    .argument('<prefix>', 'the child prefix, e.g. 88.118.8')
    .addOption(dirOption())
    .option('--site <address:port,…>', 'a site serving the prefix: its servers, comma-separated (repeatable: the first is the primary, the others mirrors)', collect, [])
    .option('--serv <handle>', 'a service handle whose HS_SITE values give the sites (repeatable)', collect, [])
    .option('--no-derived', 'do not also serve prefixes derived from it (no HS_SITE.PREFIX / HS_SERV.PREFIX)')
    .addOption(new Option('--hash <part>', 'how clients pick a server of a multi-server site').choices(['prefix', 'suffix', 'handle']).default('handle'))
    .option('--ttl <seconds>', 'TTL of the delegation values', ttlOption('--ttl'))
    .option('--overwrite', 'replace an existing delegation')
    .option('--no-fetch-keys', "do not ask the servers for their public keys (GET_SITE_INFO)")
    .action((p, o) =>
      delegateCommand(p, {
        dir: o.dir,
        sites: o.site,
        services: o.serv,
        derived: o.derived,
        hash: o.hash,
        overwrite: Boolean(o.overwrite),
        fetchKeys: o.fetchKeys,
        ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
      }),
    );
  prefix
    .command('list')
    .description('list the prefixes homed here and the prefix handles held here (own and delegated)')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON')
    .action((o) => listPrefixesCommand({ dir: o.dir, json: Boolean(o.json) }));
  prefix
    .command('home')
    .description('answer for identifiers under a prefix here (a secondary hosting a small enterprise, say)')
    .argument('<prefix>')
    .addOption(dirOption())
    .option('--unhome', 'stop answering for it')
    .action((p, o) => homePrefixCommand(p, { dir: o.dir, unhome: Boolean(o.unhome) }));

  const mirror = prefix
    .command('mirror')
    .description(
      'list or unlist a mirror site in the prefix handle 0.NA/PREFIX held here: on the primary (its own prefix handle) ' +
        'and on the parent (the delegation), so that clients find the mirror whichever they read',
    );
  mirror
    .command('add')
    .description('add a mirror (non-primary) site: HS_SITE, and HS_SITE.PREFIX too when the handle has one')
    .argument('<prefix>', 'the prefix, e.g. 88.118.8')
    .addOption(dirOption())
    .requiredOption('--site <address:port,…>', "the mirror site's servers, comma-separated")
    .addOption(new Option('--hash <part>', 'how clients pick a server of a multi-server site').choices(['prefix', 'suffix', 'handle']).default('handle'))
    .option('--ttl <seconds>', 'TTL of the site values', ttlOption('--ttl'))
    .option('--no-fetch-keys', 'do not ask the servers for their public keys (GET_SITE_INFO)')
    .action((p, o) =>
      addMirrorCommand(p, { dir: o.dir, site: o.site, hash: o.hash, fetchKeys: o.fetchKeys, ...(o.ttl !== undefined ? { ttl: o.ttl } : {}) }),
    );
  mirror
    .command('remove')
    .description('remove a mirror site: every HS_SITE and HS_SITE.PREFIX value listing exactly these servers (never the primary)')
    .argument('<prefix>')
    .addOption(dirOption())
    .requiredOption('--site <address:port,…>', "the mirror site's servers, as given to add")
    .action((p, o) => removeMirrorCommand(p, { dir: o.dir, site: o.site }));
}
