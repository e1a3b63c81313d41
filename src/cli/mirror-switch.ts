import { WriterLock } from '../node/writer-lock.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE, type NodeConfig, isMirror, loadConfig, validateConfig } from '../node/config.js';
import { serverPrivateKey, serverPublicKey } from '../node/init.js';
import { parseIdentity } from '../admin/permissions.js';
import { AdminClient } from '../client/admin-client.js';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { askSite, publicKeyOf, siteAndKeyOf } from './site-spec.js';
import { ReplicationClient } from '../client/replication-client.js';
import { prefixHandle } from '../model/handle.js';
import type { SiteInfo } from '../model/site.js';
import { decodePublicKey } from '../protocol/pubkey.js';
import { keyVerifier } from '../protocol/replication-framing.js';
import { valueToJson } from '../protocol/json.js';
import { decodeSite, listedSites } from '../protocol/site.js';
import { freeSiteIndex } from '../admin/delegation.js';
import { ownSite } from '../resolve/site-info.js';
import { Mirror } from '../replicate/mirror.js';
import { isSiteOf, promotedSiteValues } from '../replicate/site-records.js';
import type { Registry } from '../store/registry.js';
import {
  mirrorPosition,
  PROMOTED_SETTING,
  recordSwitched,
  switched,
  recordFence,
  promotion,
  recordPromotion,
  resetPosition,
  siteSerial,
} from '../store/replication-settings.js';
import { handlesChangedSince } from '../store/unpulled.js';
import { credentialsFrom } from './credentials.js';
import { openRegistry } from './open-registry.js';
import { UsageError } from './usage-error.js';

// Switch-over (docs/replication.md, "Switch-over and fencing"): `idres mirror promote` makes a mirror the
// primary, `idres mirror demote` makes an old primary a mirror of the new one, `idres mirror follow` points a
// mirror at a new primary. Each works on the node folder, whether the node runs or not: what a running node
// must notice is written into its registry's settings, which it reads every second.

/** How long a command waits for a running node to notice a promotion before it assumes the node is stopped. */
const SWITCH_WAIT_MS = 3000;
/** The bound on catching up with a reachable old primary before a promotion. */
const CATCH_UP_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Edit the node's idres.json as written (what the operator set stays as it was), checked before it is written. */
function rewriteConfig(dir: string, edit: (raw: Record<string, unknown>) => void): NodeConfig {
  const file = path.join(dir, CONFIG_FILE);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(raw);
  const config = validateConfig(raw, file);
  writeFileSync(file, JSON.stringify(raw, null, 2) + '\n');
  return config;
}

function replicationOf(raw: Record<string, unknown>): Record<string, unknown> {
  const r = (raw.replication ?? {}) as Record<string, unknown>;
  raw.replication = r;
  return r;
}

/**
 * Pull from a reachable primary until this mirror has its last transaction. A running node pulls by itself:
 * the command waits for its position to get there, and pulls itself only when the position does not move
 * and no process holds the folder's writer lock (no node runs there).
 */
async function catchUp(dir: string, config: NodeConfig, registry: Registry): Promise<string> {
  const r = config.replication;
  const id = parseIdentity(r.identity!)!;
  const client = new ReplicationClient(parseServer(r.primary!), { handle: id.handle, index: id.index, key: serverPrivateKey(dir, config) }, r.timeoutMs);
  let last: number;
  try {
    last = (await client.nextTxnId()) - 1;
  } catch (err) {
    return `could not ask the primary for its last transaction (${(err as Error).message}): promoted at the position this mirror had`;
  }
  const position = () => mirrorPosition(registry);
  const deadline = Date.now() + CATCH_UP_MS;
  let seen = position();
  let still = Date.now();
  while (position() < last && Date.now() < deadline) {
    if (position() !== seen) [seen, still] = [position(), Date.now()];
    if (Date.now() - still > 3 * r.pollMs + 1000) {
      // Pull here only when no node runs in this folder: a running one may be copying (its position stands
      // still for the whole copy), and two writers in one registry would interleave.
      const lock = await WriterLock.take(dir);
      if (!lock) {
        still = Date.now();
        await sleep(100);
        continue;
      }
      const mirror = new Mirror({
        registry,
        client,
        verify: keyVerifier(decodePublicKey(readFileSync(path.resolve(dir, r.primaryKey)))),
        pollMs: r.pollMs,
        now: Date.now,
        applied: () => undefined,
        log: () => undefined,
      });
      try {
        while (Date.now() < deadline && (await mirror.syncOnce())) {
          // more to pull at once
        }
      } finally {
        await lock.release();
      }
      break;
    }
    await sleep(100);
  }
  return position() >= last ? `caught up with the primary's transaction ${last}` : `NOT caught up: at ${position()} of the primary's ${last} when the ${CATCH_UP_MS / 1000} s ran out`;
}

export interface PromoteOptions {
  dir: string;
  force: boolean;
  role: string;
  parent?: string;
  auth?: string;
  key?: string;
  secret?: string;
}

export async function promoteCommand(o: PromoteOptions): Promise<void> {
  const config = loadConfig(o.dir);
  const auth = o.parent !== undefined ? credentialsFrom(o) : undefined;
  if (o.parent !== undefined && !auth) throw new UsageError('--parent needs --auth HANDLE:INDEX and --key (or --secret): an administrator of the prefix handles there');
  if (!isMirror(config)) return promotedAlready(o, config, auth);
  const oldPrimary = config.replication.primary!;
  const registry = openRegistry(o.dir);
  try {
    const theirs = await askSite(oldPrimary);
    if (theirs?.primary && !o.force) {
      throw new UsageError(
        `the primary at ${oldPrimary} answers and still takes writes (site serial ${theirs.serial}). For a planned switch-over run ` +
          `\`idres mirror demote --dir OLD_PRIMARY_DIR --primary THIS_MIRROR:PORT\` on it first (it stops taking writes at once), then promote; ` +
          `or give --force to take over now (it fences itself within its replication.fenceCheckSeconds, and what it takes until then is only on it)`,
      );
    }
    if (!theirs && !o.force) {
      throw new UsageError(`the primary at ${oldPrimary} does not answer: give --force to promote this mirror as it is (writes the primary took that this mirror has not pulled are not here; \`idres mirror demote\` on the old primary lists them)`);
    }
    const caught = theirs ? await catchUp(o.dir, config, registry) : `the primary does not answer: promoted at the position this mirror had`;
    const ownKey = serverPublicKey(o.dir, config);
    const handles = config.prefixes.map((p) => ({ prefix: p, values: registry.getValues(prefixHandle(p)) ?? [] }));
    const known = [siteSerial(registry, config.site.serial), theirs?.serial ?? 0, ...handles.flatMap((h) => listedSites(h.values).map((s) => s.serial))];
    const serial = Math.max(...known) + 1;
    if (serial > 0xffff) throw new UsageError(`the site serial would pass 65535 (it is ${serial - 1}): reset the serials of the sites of ${config.prefixes.join(', ')} first`);
    const fromTxn = mirrorPosition(registry);
    recordSwitched(registry, null);
    recordPromotion(registry, { serial, fromTxn, oldPrimary, at: Date.now() });
    rewriteConfig(o.dir, (raw) => {
      raw.roles = [o.role];
      delete replicationOf(raw).primary;
    });

    // A running mirror notices within a second and stops pulling; only then is the prefix handle rewritten,
    // so that no transaction still arriving from the old primary overwrites it.
    const until = Date.now() + SWITCH_WAIT_MS;
    while (switched(registry)?.serial !== serial && Date.now() < until) await sleep(100);
    const running = switched(registry);

    // This node's site, now primary: as the running node serves it (its real port), else as the prefix
    // handles or the parent list it, else as the configuration says.
    const parentListing = o.parent !== undefined && !running ? await listedAtParent(o.parent, config.prefixes, ownKey) : undefined;
    const listedMine = handles.flatMap((h) => listedSites(h.values)).find((s) => isSiteOf(s, ownKey)) ?? parentListing;
    const base =
      (running && decodeSite(Buffer.from(running.site, 'hex'))) ||
      listedMine ||
      ownSite({ serial, serverId: config.site.serverId, publicAddress: config.publicAddress, port: config.listen.port, publicKey: ownKey, description: config.site.description });
    const mine: SiteInfo = { ...base, serial, primary: true };
    for (const h of handles) {
      if (h.values.length === 0) continue;
      const changes = promotedSiteValues(h.values, mine, freeSiteIndex(h.values));
      if (changes.length) registry.upsertValues(prefixHandle(h.prefix), changes);
    }
    console.log(`promoted: ${o.dir} is the primary of ${config.prefixes.join(', ')} with site serial ${serial} (role ${o.role}); ${caught}`);
    console.log(running ? '  the running node switched in place: it takes writes and serves mirrors now' : '  the node is not running (or did not notice within 3 s): it starts as primary');
    if (!running && !listedMine) console.log(`  this node's site was listed nowhere: listed as ${config.publicAddress}:${config.listen.port} (its configuration)`);

    if (o.parent !== undefined) {
      for (const h of handles) console.log(`  ${await rewriteParent(o.parent, auth!, h.prefix, mine)}`);
    } else {
      console.log('  the parent still lists the old primary as primary: run again with --parent HOST:PORT --auth … --key …, or re-delegate there');
    }
    console.log(`  the old primary, once back, fences itself when it sees serial ${serial}; make it a mirror with: idres mirror demote --dir OLD_DIR --primary ${config.publicAddress}:PORT`);
    console.log(`  each other mirror: idres mirror follow --dir MIRROR_DIR --primary ${config.publicAddress}:PORT, and here: idres mirror allow --dir ${o.dir} --site MIRROR --identity ITS_IDENTITY`);
    console.log(`  (promoted from the old primary's transaction ${fromTxn}; the setting ${PROMOTED_SETTING} keeps it)`);
  } finally {
    registry.close();
  }
}

/** Promote run again on a node it promoted: only the parent's records, which the first run could not update. */
async function promotedAlready(o: PromoteOptions, config: NodeConfig, auth: ReturnType<typeof credentialsFrom>): Promise<void> {
  const registry = openRegistry(o.dir);
  try {
    const p = promotion(registry);
    if (!p) throw new UsageError(`${o.dir} is not a mirror (role "mirror"): only a mirror is promoted`);
    if (o.parent === undefined || !auth) throw new UsageError(`${o.dir} was promoted already (site serial ${p.serial}); give --parent with --auth and --key to update the parent's records`);
    const ownKey = serverPublicKey(o.dir, config);
    const mine = config.prefixes.flatMap((x) => listedSites(registry.getValues(prefixHandle(x)) ?? [])).find((s) => isSiteOf(s, ownKey));
    if (!mine) throw new UsageError(`${o.dir}'s prefix handles do not list its own site: list it first (idres prefix mirror add), then run this again`);
    for (const x of config.prefixes) console.log(await rewriteParent(o.parent, auth, x, { ...mine, serial: siteSerial(registry, config.site.serial), primary: true }));
  } finally {
    registry.close();
  }
}

/** This node's site as the parent lists it for one of its prefixes (anonymous resolution), if it does. */
async function listedAtParent(parent: string, prefixes: readonly string[], ownKey: Buffer): Promise<SiteInfo | undefined> {
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 1500 });
  try {
    for (const p of prefixes) {
      const r = await client.resolve(parseServer(parent), prefixHandle(p)).catch(() => undefined);
      const s = r ? listedSites(r.values).find((x) => isSiteOf(x, ownKey)) : undefined;
      if (s) return s;
    }
    return undefined;
  } finally {
    client.close();
  }
}

/** Rewrite the parent's site values of 0.NA/PREFIX the same way, through the admin protocol. */
async function rewriteParent(parent: string, auth: NonNullable<ReturnType<typeof credentialsFrom>>, prefix: string, mine: SiteInfo): Promise<string> {
  const client = new HandleClient({ tcpTimeoutMs: 10_000 });
  const admin = new AdminClient(client, parseServer(parent), auth);
  const ph = prefixHandle(prefix);
  try {
    const values = await admin.resolveAll(ph);
    const changes = promotedSiteValues(values, mine, freeSiteIndex(values));
    const existing = new Set(values.map((v) => v.index));
    const modify = changes.filter((v) => existing.has(v.index));
    const add = changes.filter((v) => !existing.has(v.index));
    if (modify.length) await admin.modify(ph, modify);
    if (add.length) await admin.add(ph, add);
    if (listedSites(values).length === 0) return `the parent ${parent}: ${ph} lists no site (nothing rewritten)`;
    return `the parent ${parent}: ${ph} lists this node first, primary with serial ${mine.serial} (${changes.length ? `${changes.length} site values rewritten` : 'already'})`;
  } catch (err) {
    return `the parent ${parent} was NOT updated for ${ph}: ${(err as Error).message}; run promote again with --parent once it answers (the promotion itself is done)`;
  } finally {
    client.close();
  }
}

export interface DemoteOptions {
  dir: string;
  primary: string;
  identity?: string;
  sinceTxn?: number;
}

export async function demoteCommand(o: DemoteOptions): Promise<void> {
  const config = loadConfig(o.dir);
  if (isMirror(config)) throw new UsageError(`${o.dir} is a mirror already: point it at another primary with \`idres mirror follow\``);
  const { site, key } = await siteAndKeyOf(o.primary, 'is the new primary running?');
  const identity = o.identity ?? config.replication.identity ?? `303:${prefixHandle(config.prefixes[0] ?? '')}`;
  if (!parseIdentity(identity)) throw new UsageError(`"${identity}" is not an identity INDEX:HANDLE`);
  const registry = openRegistry(o.dir);
  try {
    // Writes stop at once: a running node reads the fence within a second.
    recordFence(registry, { site: o.primary, serial: site.serial, at: Date.now() });
    registry.setSetting(PROMOTED_SETTING, 'null');

    // What the new primary may never have pulled: the log after the transaction it was promoted from.
    const attr = site.attributes.find(([k]) => k === 'promoted-from-txn')?.[1];
    const since = o.sinceTxn ?? (attr !== undefined ? Number(attr) : undefined);
    let kept = '';
    if (since !== undefined && Number.isInteger(since) && since >= 0) {
      const changed = handlesChangedSince(registry, since);
      const file = path.join(o.dir, `unpulled-after-txn-${since}.ndjson`);
      const lines: string[] = [];
      const gone: string[] = [];
      for (const h of changed) {
        const values = registry.getValues(h);
        if (values) lines.push(JSON.stringify({ handle: h, values: values.map(valueToJson) }));
        else gone.push(h);
      }
      writeFileSync(file, lines.join('\n') + (lines.length ? '\n' : ''));
      if (gone.length) writeFileSync(`${file}.deleted.txt`, gone.join('\n') + '\n');
      kept =
        changed.length === 0
          ? `nothing was written here after transaction ${since}: nothing is lost`
          : `${changed.length} handles changed here after transaction ${since} may be missing at the new primary: their values are in ${file}` +
            (gone.length ? ` (and handles deleted here, in ${file}.deleted.txt)` : '') +
            `; re-apply what should stay with: idres import ${file} --server ${o.primary} --auth … --key …`;
    } else if (!site.primary) {
      kept = `${o.primary} is not primary yet: promote it now; it catches up from this node (which still serves its mirrors) before it takes over`;
    } else {
      kept = `${o.primary} does not say which transaction it was promoted from: give --since-txn N (its promote printed N) to list what it may not have`;
    }

    writeFileSync(path.resolve(o.dir, config.replication.primaryKey), key);
    rewriteConfig(o.dir, (raw) => {
      raw.roles = ['mirror'];
      const r = replicationOf(raw);
      r.primary = o.primary;
      r.identity = identity;
    });
    resetPosition(registry);
    console.log(`demoted: ${o.dir} refuses writes now, and becomes a mirror of ${o.primary} pulling as ${identity} when it restarts (it copies the whole registry again)`);
    console.log(`  ${kept}`);
    console.log(`  on the new primary: idres mirror allow --dir NEW_PRIMARY_DIR --site ${config.publicAddress}:${config.listen.port || 'PORT'} --identity ${identity}`);
  } finally {
    registry.close();
  }
}

export async function followCommand(o: { dir: string; primary: string }): Promise<void> {
  const config = loadConfig(o.dir);
  if (!isMirror(config)) throw new UsageError(`${o.dir} is not a mirror: a primary becomes one with \`idres mirror demote\``);
  const key = await publicKeyOf(o.primary, 'is the new primary running?');
  writeFileSync(path.resolve(o.dir, config.replication.primaryKey), key);
  rewriteConfig(o.dir, (raw) => {
    replicationOf(raw).primary = o.primary;
  });
  const registry = openRegistry(o.dir);
  try {
    resetPosition(registry);
  } finally {
    registry.close();
  }
  console.log(`${o.dir} follows ${o.primary} from its next start: restart it; it copies the whole registry again (the new primary's log ids are its own)`);
  console.log(`  on the new primary: idres mirror allow --dir NEW_PRIMARY_DIR --site ${config.publicAddress}:${config.listen.port || 'PORT'} --identity ${config.replication.identity}`);
}
