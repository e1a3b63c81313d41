import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type NodeConfig, isMirror } from './config.js';
import { decodePublicKey } from '../protocol/pubkey.js';
import type { Responder } from '../protocol/responder.js';
import { keySigner, keyVerifier } from '../protocol/replication-framing.js';
import { parseServer } from '../client/handle-client.js';
import { ReplicationClient } from '../client/replication-client.js';
import { type Identity, parseIdentity } from '../admin/permissions.js';
import type { ReplicationAnswerer } from '../admin/wire-context.js';
import type { Registry } from '../store/registry.js';
import { TxnFeed } from '../store/txn-feed.js';
import { allowedMirrors } from '../store/replication-settings.js';
import { ReplicationSource } from '../replicate/source.js';
import { Mirror } from '../replicate/mirror.js';
import type { Logger } from '../log/logger.js';

// Replication as a node's configuration makes it (docs/replication.md): a primary answers its mirrors from
// its transaction log and prunes the log it keeps for them; a mirror pulls from its primary.

/** What the streams are signed with: SHA-256 under the server key (a reference mirror also reads SHA1). */
const STREAM_HASH = 'SHA256';
/** Data signed at once in a stream (see replication-framing.ts: one private-key operation per 256 KiB). */
const SIGN_EVERY_BYTES = 256 * 1024;
/** How often the log is pruned. */
const PRUNE_MS = 60_000;

export interface RunningReplication {
  /** Present on a node that serves mirrors (every node with a registry that is not a mirror). */
  source?: ReplicationSource;
  answerer?: ReplicationAnswerer;
  mirror?: Mirror;
  stop(): Promise<void>;
}

export function startReplication(o: {
  dir: string;
  config: NodeConfig;
  registry: Registry;
  responder: Responder;
  serverKey: KeyObject;
  clock: () => number;
  logger: Logger;
  applied: () => void;
}): RunningReplication {
  const { config, registry } = o;
  const r = config.replication;
  if (isMirror(config)) {
    const identity = parseIdentity(r.identity!)!;
    const primary = parseServer(r.primary!);
    const client = new ReplicationClient(primary, { handle: identity.handle, index: identity.index, key: o.serverKey }, r.timeoutMs);
    const mirror = new Mirror({
      registry,
      client,
      verify: keyVerifier(primaryKey(o.dir, config)),
      pollMs: r.pollMs,
      now: o.clock,
      applied: o.applied,
      log: (level, event, fields, message) => o.logger[level]({ component: 'replication', event, ...fields }, message),
    });
    mirror.start();
    return { mirror, stop: () => mirror.stop() };
  }
  const feed = new TxnFeed(registry);
  const source = new ReplicationSource({
    feed,
    responder: o.responder,
    sign: keySigner(o.serverKey, STREAM_HASH, SIGN_EVERY_BYTES),
    now: o.clock,
  });
  const admins: Identity[] = r.admins.map((s) => parseIdentity(s)!);
  const answerer: ReplicationAnswerer = {
    allows: (id) =>
      [...admins, ...allowedMirrors(registry).flatMap((x) => parseIdentity(x) ?? [])].some((a) => a.index === id.index && a.handle.toUpperCase() === id.handle.toUpperCase()),
    answer: (req, opts) => source.answer(req, opts),
  };
  const prune = () => {
    const gone = registry.pruneTxnLog(r.retainTxns, Math.floor(o.clock() / 1000) - r.retainDays * 86400);
    if (gone > 0) o.logger.info({ component: 'replication', event: 'txn_log_pruned', entries: gone }, `dropped ${gone} transaction log entries past replication.retainTxns / retainDays`);
  };
  prune();
  const timer = setInterval(prune, PRUNE_MS).unref();
  return {
    source,
    answerer,
    stop: async () => clearInterval(timer),
  };
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
