import path from 'node:path';
import { type Command, Option } from 'commander';
import { DEFAULT_PORT, ROLES, type Role } from '../node/config.js';
import { type InitOptions, initNode } from '../node/init.js';
import { prefixHandle } from '../model/handle.js';
import { collect, dirOption } from './options.js';
import { portOption } from './numbers.js';
import { UsageError } from './usage-error.js';
import { parseSiteSpec, publicKeyOf } from './site-spec.js';

export function initCommand(o: InitOptions): void {
  const c = initNode(o);
  const dir = path.resolve(o.dir);
  console.log(`Created an idres ${c.roles.join('+')} node in ${dir}`);
  if (c.prefixes.length) {
    console.log(`  homes: ${c.prefixes.join(', ')} (prefix handles ${c.prefixes.map(prefixHandle).join(', ')})`);
    console.log(`  administrator keys: ${path.join(dir, 'keys')}/admin-PREFIX.key.pem — keep them safe`);
  } else {
    console.log('  homes no prefix yet: run init again with --prefix P --force');
  }
  console.log(`  listens on ${c.listen.host} port ${c.listen.port} (UDP and TCP)`);
  if (c.http.enabled) console.log(`  HTTP API on ${c.http.host ?? c.listen.host} port ${c.http.port}${c.http.port === 0 ? ' (any free port)' : ''}`);
  if (o.mirrorOf) {
    console.log(`  mirrors ${o.mirrorOf.primary}, pulling as ${o.mirrorOf.identity} with its server key`);
    console.log(`  on the primary: idres mirror allow --dir PRIMARY_DIR --site ${c.publicAddress}:${c.listen.port} --identity ${o.mirrorOf.identity}`);
  }
  console.log(`Next: idres serve --dir ${o.dir}`);
}

/** A mirror's settings: its primary and that primary's public key, asked of it (GET_SITE_INFO). */
async function mirrorOptions(o: { role?: string[]; primary?: string; identity?: string; prefix: string[] }): Promise<Partial<InitOptions>> {
  const mirror = o.role?.includes('mirror') ?? false;
  if (!mirror) {
    if (o.primary) throw new UsageError('--primary is for a mirror: add --role mirror');
    return {};
  }
  if (!o.primary) throw new UsageError('a mirror needs --primary address:port');
  const prefix = o.prefix[0];
  const identity = o.identity ?? (prefix ? `301:${prefixHandle(prefix)}` : undefined);
  if (!identity) throw new UsageError('a mirror needs --prefix (or --identity INDEX:HANDLE)');
  parseSiteSpec(o.primary); // an IP address and a port, or a UsageError
  return { mirrorOf: { primary: o.primary, primaryKey: await publicKeyOf(o.primary, 'is the primary running?'), identity } };
}

/** `idres init`: create a node folder. */
export function addInitCommand(program: Command): void {
  program
    .command('init')
    .description('create a node folder: configuration, server key, registry and the prefix handles of its prefixes')
    .addOption(dirOption())
    .option('-p, --prefix <prefix>', 'a prefix this node homes, e.g. 88.118.8 (repeatable)', collect, [])
    .addOption(new Option('-r, --role <role>', 'what the node does (repeatable)').choices([...ROLES]).argParser(collect))
    .option('--listen <address>', 'IP address to listen on', '127.0.0.1')
    .option('--port <port>', 'UDP and TCP port', portOption('--port'), DEFAULT_PORT)
    .option('--public-address <address>', 'address clients elsewhere use to reach this node (default: --listen)')
    .option('--case-sensitive', 'match suffixes with their case (the default folds case, as the reference does)')
    .option('--description <text>', 'description written into the site record')
    .option('--force', 'rewrite an existing configuration (registry and keys are kept)')
    .option('--root <address:port>', 'a root (top-level) server where recursive walks start (repeatable)', collect, [])
    .option('--upstream <address:port>', 'forward recursive requests to this server instead of walking')
    .option('--allow-recursion', 'resolve for clients that set REC (a resolver always does)')
    .option('--dns-port <port>', 'open the DNS gateway on this UDP and TCP port (docs/dns.md)', portOption('--dns-port'))
    .option('--dns-zone <zone>', 'a zone the DNS gateway answers, e.g. id.example.cn (repeatable; opens the gateway)', collect, [])
    .option('--http-port <port>', 'port of the HTTP API, redirect front and /metrics (default 8000; any free port with --port 0)', portOption('--http-port'))
    .option('--no-http', 'no HTTP face at all')
    .option('--primary <address:port>', 'with --role mirror: the primary this node copies (its public key is asked of it)')
    .option('--identity <INDEX:HANDLE>', 'with --role mirror: the identity it pulls as (default 301:0.NA/ the first prefix); list it in the primary\'s replication.admins')
    .action(async (o) =>
      initCommand({
        ...(await mirrorOptions(o)),
        dir: o.dir,
        prefixes: o.prefix,
        roles: (o.role as Role[] | undefined) ?? ['business'],
        host: o.listen,
        port: o.port,
        publicAddress: o.publicAddress,
        caseFoldSuffix: !o.caseSensitive,
        description: o.description,
        force: Boolean(o.force),
        roots: o.root,
        upstream: o.upstream,
        ...(o.allowRecursion ? { allowRecursion: true } : {}),
        ...(o.dnsPort !== undefined || o.dnsZone.length
          ? { dns: { enabled: true, ...(o.dnsPort !== undefined ? { port: o.dnsPort } : {}), ...(o.dnsZone.length ? { zones: o.dnsZone } : {}) } }
          : {}),
        ...(o.http === false ? { http: { enabled: false } } : o.httpPort !== undefined ? { http: { port: o.httpPort } } : {}),
      }),
    );
}
