import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type NodeConfig, isMirror } from './config.js';
import { decodePublicKey, encodePublicKey } from '../protocol/pubkey.js';
import type { Responder } from '../protocol/responder.js';
import { keySigner, keyVerifier } from '../protocol/replication-framing.js';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { ReplicationClient } from '../client/replication-client.js';
import { type Identity, parseIdentity } from '../admin/permissions.js';
import type { ReplicationAnswerer } from '../admin/wire-context.js';
import { prefixHandle } from '../model/handle.js';
import type { SiteInfo } from '../model/site.js';
import { encodeSite } from '../protocol/site.js';
import type { Registry } from '../store/registry.js';
import { TxnFeed } from '../store/txn-feed.js';
import {
  type Fence,
  recordSwitched,
  allowedMirrors,
  followPrimary,
  fencedBy,
  promotion,
  recordFence,
  siteSerial,
} from '../store/replication-settings.js';
import { ReplicationSource } from '../replicate/source.js';
import { Mirror } from '../replicate/mirror.js';
import { FenceWatch, type NewerPrimary, type SiteClaim, findNewerPrimary } from '../replicate/fencing.js';
import { otherSites } from '../replicate/site-records.js';
import type { Logger } from '../log/logger.js';
import { WriterLock } from './writer-lock.js';

// Replication as a node's configuration and its registry make it (docs/replication.md): a primary answers
// its mirrors from its transaction log, prunes the log it keeps for them and watches for a newer primary
// (fencing); a mirror pulls from its primary until it is promoted, which it notices in place; a fenced
// primary refuses writes but still serves reads and its mirrors.

/** What the streams are signed with: SHA-256 under the server key (a reference mirror also reads SHA1). */
const STREAM_HASH = 'SHA256';
/** Data signed at once in a stream (see replication-framing.ts: one private-key operation per 256 KiB). */
const SIGN_EVERY_BYTES = 256 * 1024;
/** How often the log is pruned. */
const PRUNE_MS = 60_000;
/** How often the registry's settings are read for a promotion or a fence written by a command beside the node. */
const SETTINGS_POLL_MS = 1000;
/** The bound on the fence check at start, before writes are taken (docs/replication.md: the split-brain window). */
const START_CHECK_MS = 2000;
/** How often a process without the folder's writer lock tries to take it (the holder may have died). */
const LOCK_RETRY_MS = 2000;

export type ReplicationMode = 'primary' | 'mirror' | 'fenced';

export interface ReplicationStartOptions {
  dir: string;
  config: NodeConfig;
  registry: Registry;
  responder: Responder;
  serverKey: KeyObject;
  /** HS_PUBKEY bytes of the server key: how the node tells its own site from the others. */
  serverPublicKey: Buffer;
  clock: () => number;
  logger: Logger;
  applied: () => void;
  /** The node's own site with this serial and primary flag (built when asked: the port is known after binding). */
  buildSite: (serial: number, primary: boolean, attributes: Array<[string, string]>) => SiteInfo;
  /** Called after the mode or the serial changed: the node re-reads site() (GET_SITE_INFO, HTTP). */
  changed: () => void;
}

/**
 * The replication side of a running node. Its mode can change while the node runs: a mirror promoted by
 * `idres mirror promote` becomes a primary; a primary that learns of a newer one becomes fenced.
 */
export class RunningReplication {
  private modeNow: ReplicationMode;
  private mirrorNow: Mirror | undefined;
  private sourceNow: ReplicationSource | undefined;
  private answererNow: ReplicationAnswerer | undefined;
  private watch: FenceWatch | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly client = new HandleClient({ udpTimeoutsMs: [250, 500], tcpTimeoutMs: 1000 });
  private switching: Promise<void> | undefined;
  private stopped = false;
  /** The folder's writer lock, held while this process runs the mirror loop. */
  private lock: WriterLock | undefined;
  private lockRetry: NodeJS.Timeout | undefined;
  private waitingForLock = false;

  private constructor(private readonly o: ReplicationStartOptions) {
    this.modeNow = RunningReplication.modeIn(o.config, o.registry);
  }

  /** The mode the configuration and the registry's settings say (a promotion outranks a mirror's configuration). */
  static modeIn(config: NodeConfig, registry: Registry): ReplicationMode {
    if (isMirror(config) && !promotion(registry)) return 'mirror';
    return fencedBy(registry) ? 'fenced' : 'primary';
  }

  /**
   * Start replication. A primary first asks the other sites of its prefixes (at most START_CHECK_MS) whether
   * one of them is a newer primary, so that an old primary coming back fences itself before it takes a write.
   */
  static async start(o: ReplicationStartOptions): Promise<RunningReplication> {
    const r = new RunningReplication(o);
    if (r.modeNow === 'primary') {
      let asked = -1; // -1: the time ran out before the sites were known
      const check = async () => {
        const sites = await r.sitesToAsk();
        asked = sites.length;
        return findNewerPrimary({ ...r.checkOptions(), sites: () => sites });
      };
      const checking = check().catch(() => undefined);
      const found = await Promise.race([checking, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), START_CHECK_MS).unref())]);
      if (found) r.fence(found, false);
      else {
        if (asked !== 0) {
          o.logger.info(
            { component: 'replication', event: 'fence_check_start', serial: r.serial },
            `no other site of this node's prefixes claims primary with a serial above ${r.serial} (or none answered within ${START_CHECK_MS / 1000} s): serving as primary`,
          );
        }
        // A site that answers after the bound still counts: fence then, not at the first watch tick.
        void checking.then((late) => {
          if (late && r.modeNow === 'primary' && !r.stopped) r.fence(late, true);
        });
      }
    }
    if (r.modeNow === 'mirror') await r.startMirror();
    else r.startSource();
    if (r.modeNow === 'primary') r.startWatch();
    r.timers.push(
      setInterval(() => {
        r.readSettings().catch((err: unknown) =>
          o.logger.error({ component: 'replication', event: 'switch_failed', err: (err as Error).message }, `could not apply a promotion or a fence written beside the node: ${(err as Error).message}; it is tried again in a second`),
        );
      }, SETTINGS_POLL_MS).unref(),
    );
    return r;
  }

  get mode(): ReplicationMode {
    return this.modeNow;
  }

  /** On a mirror, the loop that pulls from its primary. */
  get mirror(): Mirror | undefined {
    return this.mirrorNow;
  }

  /** On a primary (fenced or not), what serves its mirrors. */
  get source(): ReplicationSource | undefined {
    return this.sourceNow;
  }

  /** What answers the replication operations; absent on a mirror (it serves no mirrors). */
  get answerer(): ReplicationAnswerer | undefined {
    return this.answererNow;
  }

  get serial(): number {
    return siteSerial(this.o.registry, this.o.config.site.serial);
  }

  /** Where writes must go instead of here ("address:port"); undefined while this node is the primary. */
  writesGoTo(): string | undefined {
    if (this.modeNow === 'mirror') return this.o.config.replication.primary;
    if (this.modeNow === 'fenced') return fencedBy(this.o.registry)?.site ?? 'a newer primary';
    return undefined;
  }

  /** The node's own site now: primary only while it takes writes, with its current serial. */
  site(): SiteInfo {
    const p = promotion(this.o.registry);
    const attributes: Array<[string, string]> = p ? [['promoted-from-txn', String(p.fromTxn)]] : [];
    return this.o.buildSite(this.serial, this.modeNow === 'primary', attributes);
  }

  /** Read the settings now (the timer does it every second): a promotion or a fence written beside the node. */
  readSettings(): Promise<void> {
    if (this.stopped || this.switching) return this.switching ?? Promise.resolve();
    const want = RunningReplication.modeIn(this.o.config, this.o.registry);
    if (want === this.modeNow) return Promise.resolve();
    if (this.modeNow === 'mirror' && want === 'primary') {
      this.switching = this.promoteInPlace().finally(() => {
        this.switching = undefined;
      });
      return this.switching;
    }
    // A primary fenced by a command, or told to become a mirror (`idres mirror demote`, also on a node that
    // was promoted in place and so still has a mirror's configuration in memory), stops taking writes now and
    // serves as a mirror only after a restart.
    if (this.modeNow === 'primary' && (want === 'fenced' || want === 'mirror')) this.fence(undefined, true);
    else if (this.modeNow === 'fenced' && want === 'primary') {
      this.modeNow = 'primary';
      this.startWatch();
      this.o.logger.warn({ component: 'replication', event: 'unfenced', serial: this.serial }, `this node takes writes again as primary (serial ${this.serial})`);
      this.o.changed();
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.switching?.catch(() => undefined);
    if (this.lockRetry) clearTimeout(this.lockRetry);
    await Promise.all([this.mirrorNow?.stop(), this.watch?.stop()]);
    await this.lock?.release();
    this.lock = undefined;
    this.client.close();
  }

  private checkOptions() {
    return {
      ownSerial: () => this.serial,
      sites: () => this.sitesToAsk(),
      ask: (site: SiteInfo) => this.ask(site),
    };
  }

  /**
   * The sites that may have been promoted over this node: those its own prefix handles list, and those the
   * parent (replication.parent) lists for its prefixes, this node's own site left out.
   */
  private async sitesToAsk(): Promise<SiteInfo[]> {
    const own = this.o.config.prefixes.flatMap((p) => otherSites(this.o.registry.getValues(prefixHandle(p)) ?? [], this.o.serverPublicKey));
    const parent = this.o.config.replication.parent;
    if (!parent) return own;
    const listed = await Promise.all(
      this.o.config.prefixes.map(async (p) => {
        try {
          const r = await this.client.resolve(parseServer(parent), prefixHandle(p), { types: ['HS_SITE', 'HS_SITE.PREFIX'] });
          return otherSites(r.values, this.o.serverPublicKey);
        } catch {
          return [];
        }
      }),
    );
    return [...own, ...listed.flat()];
  }

  /** GET_SITE_INFO of a site's first server: what it says it is. */
  private async ask(site: SiteInfo): Promise<SiteClaim | undefined> {
    const server = site.servers[0];
    const port = server?.interfaces.find((i) => i.port > 0)?.port;
    if (!server || !port) return undefined;
    try {
      // Over TCP (a forged datagram cannot fence a primary), and only from the server whose key the site
      // record lists: another service at that address proves nothing.
      const s = await this.client.siteInfo({ host: server.address, port }, 'tcp');
      const listed = server.publicKey;
      if (listed?.length && !s.servers.some((x) => x.publicKey?.equals(listed))) return undefined;
      const at = server.address.includes(':') ? `[${server.address}]:${port}` : `${server.address}:${port}`;
      return { at, primary: s.primary, serial: s.serial };
    } catch {
      return undefined;
    }
  }

  /** Stop taking writes: `by` is the newer primary found (recorded), or undefined when a command recorded it. */
  private fence(by: NewerPrimary | undefined, running: boolean): void {
    if (by) recordFence(this.o.registry, { site: by.site, serial: by.serial, at: this.o.clock() } satisfies Fence);
    const f = fencedBy(this.o.registry);
    this.modeNow = 'fenced';
    const watch = this.watch;
    this.watch = undefined;
    void watch?.stop();
    this.o.logger.error(
      { component: 'replication', event: 'fenced', newPrimary: f?.site, newSerial: f?.serial, serial: this.serial },
      `${f?.site ?? 'another site'} is primary with site serial ${f?.serial ?? '?'} (this node's is ${this.serial}): this node refuses writes from now on and serves reads and its mirrors; make it a mirror with \`idres mirror demote\``,
    );
    if (running) this.o.changed();
  }

  private startWatch(): void {
    if (this.watch) return;
    this.watch = new FenceWatch({
      ...this.checkOptions(),
      intervalMs: this.o.config.replication.fenceCheckSeconds * 1000,
      fence: (by) => this.fence(by, true),
    });
    this.watch.start();
  }

  /**
   * Pull from the primary, once this process holds the folder's writer lock (src/node/writer-lock.ts): of a
   * mirror's workers one pulls, the others serve what it writes and try again every LOCK_RETRY_MS, so one
   * takes over if it dies.
   */
  private async startMirror(): Promise<void> {
    const lock = await WriterLock.take(this.o.dir);
    if (this.stopped || this.modeNow !== 'mirror') {
      await lock?.release();
      return;
    }
    if (!lock) {
      if (!this.waitingForLock) {
        this.waitingForLock = true;
        this.o.logger.info({ component: 'replication', event: 'mirror_loop_elsewhere' }, 'another process of this node folder pulls from the primary (a worker, or `idres mirror promote`): this one serves what it writes');
      }
      this.lockRetry = setTimeout(() => void this.startMirror(), LOCK_RETRY_MS).unref();
      return;
    }
    this.lock = lock;
    const { config } = this.o;
    const r = config.replication;
    const key = primaryKey(this.o.dir, config);
    if (followPrimary(this.o.registry, encodePublicKey(key).toString('hex'))) {
      this.o.logger.warn({ component: 'replication', event: 'new_primary', primary: r.primary }, `${r.primary} is not the primary this mirror's position came from: it copies the new primary's registry whole`);
    }
    const identity = parseIdentity(r.identity!)!;
    const client = new ReplicationClient(parseServer(r.primary!), { handle: identity.handle, index: identity.index, key: this.o.serverKey }, r.timeoutMs);
    this.mirrorNow = new Mirror({
      registry: this.o.registry,
      client,
      verify: keyVerifier(key),
      pollMs: r.pollMs,
      now: this.o.clock,
      applied: this.o.applied,
      log: (level, event, fields, message) => this.o.logger[level]({ component: 'replication', event, ...fields }, message),
    });
    this.mirrorNow.start();
  }

  private startSource(): void {
    if (this.sourceNow) return; // a promotion tried again after a failure
    const { registry, config } = this.o;
    const r = config.replication;
    const source = new ReplicationSource({
      feed: new TxnFeed(registry),
      responder: this.o.responder,
      sign: keySigner(this.o.serverKey, STREAM_HASH, SIGN_EVERY_BYTES),
      now: this.o.clock,
    });
    const admins: Identity[] = r.admins.map((s) => parseIdentity(s)!);
    this.sourceNow = source;
    this.answererNow = {
      allows: (id) =>
        [...admins, ...allowedMirrors(registry).flatMap((x) => parseIdentity(x) ?? [])].some((a) => a.index === id.index && a.handle.toUpperCase() === id.handle.toUpperCase()),
      answer: (req, opts) => source.answer(req, opts),
    };
    const prune = () => {
      const gone = registry.pruneTxnLog(r.retainTxns, Math.floor(this.o.clock() / 1000) - r.retainDays * 86400);
      if (gone > 0) this.o.logger.info({ component: 'replication', event: 'txn_log_pruned', entries: gone }, `dropped ${gone} transaction log entries past replication.retainTxns / retainDays`);
    };
    prune();
    this.timers.push(setInterval(prune, PRUNE_MS).unref());
  }

  /** A mirror promoted while it runs: stop pulling, serve mirrors, take writes, watch for a newer primary. */
  private async promoteInPlace(): Promise<void> {
    if (this.lockRetry) clearTimeout(this.lockRetry);
    await this.mirrorNow?.stop();
    this.mirrorNow = undefined;
    await this.lock?.release();
    this.lock = undefined;
    if (this.stopped) return;
    for (const p of this.o.config.prefixes) this.o.registry.home(p);
    this.startSource();
    this.modeNow = fencedBy(this.o.registry) ? 'fenced' : 'primary';
    if (this.modeNow === 'primary') this.startWatch();
    recordSwitched(this.o.registry, { serial: this.serial, site: encodeSite(this.site()).toString('hex') });
    this.o.logger.warn({ component: 'replication', event: 'promoted', serial: this.serial }, `promoted: this node is now the primary of ${this.o.config.prefixes.join(', ')} (site serial ${this.serial}); it takes writes and serves mirrors`);
    this.o.changed();
  }
}

/** The primary's key, as `idres init --role mirror` fetched it (HS_PUBKEY bytes). */
function primaryKey(dir: string, config: NodeConfig): KeyObject {
  const file = path.resolve(dir, config.replication.primaryKey);
  try {
    return decodePublicKey(readFileSync(file));
  } catch (err) {
    throw new ConfigError(`replication.primaryKey: cannot read the primary's public key from ${file}: ${(err as Error).message}`);
  }
}

/** Start replication as the configuration and the registry say (see RunningReplication.start). */
export function startReplication(o: ReplicationStartOptions): Promise<RunningReplication> {
  return RunningReplication.start(o);
}
