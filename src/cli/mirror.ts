import { type Command, Option } from 'commander';
import { loadConfig } from '../node/config.js';
import { parseIdentity } from '../admin/permissions.js';
import { addMirrorSite, siteOf } from '../admin/delegation.js';
import { makeValue } from '../model/value.js';
import { splitHandle } from '../model/handle.js';
import { allowMirror } from '../store/replication-settings.js';
import { openRegistry } from './open-registry.js';
import { fillKeys, parseSiteSpec } from './site-spec.js';
import { UsageError } from './usage-error.js';
import { dirOption } from './options.js';
import { demoteCommand, followCommand, promoteCommand } from './mirror-switch.js';

// `idres mirror allow`, on a primary: let a mirror pull (docs/replication.md). The mirror's public key is
// asked of it and stored as the HS_PUBKEY of the identity it pulls as; the identity becomes a replication
// administrator at once (no restart); the mirror's site is listed beside the primary's in the prefix handle.

export async function allowMirrorCommand(o: { dir: string; site: string; identity: string; listSite: boolean }): Promise<void> {
  const identity = parseIdentity(o.identity);
  if (!identity) throw new UsageError(`"${o.identity}" is not an identity INDEX:HANDLE, e.g. 301:0.NA/88.118.8`);
  const config = loadConfig(o.dir);
  const servers = parseSiteSpec(o.site);
  await fillKeys(servers, false);
  const key = servers[0]!.publicKey;
  if (!key?.length) throw new UsageError(`${o.site} did not give its public key (GET_SITE_INFO); start the mirror first`);
  const registry = openRegistry(o.dir);
  try {
    if (!registry.exists(identity.handle)) throw new UsageError(`${identity.handle} is not held by this node: name a prefix handle it holds`);
    registry.upsertValues(identity.handle, [makeValue(identity.index, 'HS_PUBKEY', key)]);
    allowMirror(registry, `${identity.index}:${identity.handle}`);
    let listed = '';
    if (o.listSite) {
      const prefix = splitHandle(identity.handle).suffix;
      if (config.prefixes.some((p) => p.toUpperCase() === prefix.toUpperCase())) {
        try {
          addMirrorSite(registry, prefix, siteOf(servers, { primary: false, description: `mirror site of ${prefix}` }));
          listed = `; its site is listed in ${identity.handle}`;
        } catch (err) {
          listed = `; its site was not listed: ${(err as Error).message}`;
        }
      }
    }
    console.log(`${o.site} may pull this node's registry as ${identity.index}:${identity.handle}${listed}`);
  } finally {
    registry.close();
  }
}

export function addMirrorCommand(program: Command): void {
  const mirror = program.command('mirror').description('mirrors of a primary (docs/replication.md)');
  mirror
    .command('allow')
    .description("on a primary: let a mirror pull this node's registry, as an identity proven with the mirror's server key")
    .addOption(dirOption())
    .requiredOption('--site <address:port>', 'the mirror (running: its key is asked of it)')
    .requiredOption('--identity <INDEX:HANDLE>', 'the identity the mirror pulls as (its `idres init --role mirror` printed it)')
    .option('--no-list-site', 'do not list the mirror among the sites of the prefix handle')
    .action((o) => allowMirrorCommand({ dir: o.dir, site: o.site, identity: o.identity, listSite: o.listSite !== false }));
  mirror
    .command('promote')
    .description('on a mirror: become the primary of its prefixes with a higher site serial (docs/replication.md, "Switch-over and fencing")')
    .addOption(dirOption())
    .option('--force', 'promote although the primary does not answer, or answers and still takes writes')
    .addOption(new Option('--role <role>', 'the role it serves as from now on').choices(['top', 'secondary', 'business']).default('business'))
    .option('--parent <address:port>', "the parent that delegates the prefix: its site values are rewritten too (needs --auth and --key)")
    .option('--auth <HANDLE:INDEX>', 'an administrator of the prefix handles at the parent')
    .option('--key <file>', "that administrator's private key")
    .option('--secret <secret>', 'or its HS_SECKEY secret')
    .action((o) => promoteCommand({ dir: o.dir, force: o.force === true, role: o.role, parent: o.parent, auth: o.auth, key: o.key, secret: o.secret }));
  mirror
    .command('demote')
    .description('on an old primary: stop taking writes at once and become a mirror of the new primary at the next start')
    .addOption(dirOption())
    .requiredOption('--primary <address:port>', 'the new primary (running: its key is asked of it)')
    .option('--identity <INDEX:HANDLE>', 'the identity to pull as (default: replication.identity, else 303:0.NA/ the first prefix)')
    .option('--since-txn <n>', "list the handles this node changed after its transaction N (default: what the new primary's site says it was promoted from)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--since-txn: "${v}" is not a transaction id`);
      return n;
    })
    .action((o) => demoteCommand({ dir: o.dir, primary: o.primary, identity: o.identity, ...(o.sinceTxn !== undefined ? { sinceTxn: o.sinceTxn } : {}) }));
  mirror
    .command('follow')
    .description('on a mirror: follow a new primary from the next start (it copies the whole registry again)')
    .addOption(dirOption())
    .requiredOption('--primary <address:port>', 'the new primary (running: its key is asked of it)')
    .action((o) => followCommand({ dir: o.dir, primary: o.primary }));
}
