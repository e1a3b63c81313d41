import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type NodeConfig, canonicalHostPort, isMirror, loadConfig, registryOptions } from './config.js';
import { decodePublicKey, encodePublicKey } from '../protocol/pubkey.js';
import { UpstreamLimiter } from '../resolve/limiter.js';
import { serverPrivateKey, serverPublicKey } from './init.js';
import { prefixHandle } from '../model/handle.js';
import type { SiteInfo } from '../model/site.js';
import { encodeSite, listedSite } from '../protocol/site.js';
import { isSiteOf } from '../replicate/site-records.js';
import { Registry } from '../store/registry.js';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { Authority } from '../resolve/authority.js';
import { AnswerCache } from '../resolve/cache/answer-cache.js';
import { ChangeWatcher } from '../resolve/changes.js';
import { Delegations } from '../resolve/delegation.js';
import { Forwarder } from '../resolve/forwarder.js';
import { RequestHandler } from '../wire/dispatcher.js';
import { type LocalAnswerers, ResolutionPipeline } from '../resolve/pipeline.js';
import { Recursor } from '../resolve/recursor.js';
import { Responder } from '../protocol/responder.js';
import { ownSite } from '../resolve/site-info.js';
import { TcpFrontEnd } from '../server/tcp.js';
import { UdpFrontEnd } from '../server/udp.js';
import { ResponseRateLimiter } from '../server/udp-rate.js';
import { AuthLimiter, DEFAULT_FAILED_AUTH } from '../admin/auth-limits.js';
import { SecurityLog } from '../admin/security-log.js';
import { type RunningDns, startDns } from './dns-start.js';
import { type RunningHttp, startHttp } from './http-start.js';
import { WireCounters } from '../wire/counters.js';
import type { ConnectionStats } from '../server/connection-guard.js';
import { AdminService } from '../admin/operations.js';
import { IdentityKeys } from '../admin/identity.js';
import { type Identity, parseIdentity } from '../admin/permissions.js';
import { Quotas } from '../admin/quotas.js';
import { AdminWire } from '../admin/wire.js';
import { isPrefixHandle, splitHandle } from '../model/handle.js';
import { type LoggingStartOptions, NodeLogging } from './logging.js';
import { type AuditTrail, openAuditTrail } from '../admin/audit.js';
import { type RunningReplication, startReplication } from './replication-start.js';

export interface StartOptions extends LoggingStartOptions {
  host?: string;
  port?: number;
  /** Override the configured HTTP port (0: any free port). */
  httpPort?: number;
  /** This process is one of several workers serving the same port. */
  shared?: boolean;
  /** Where the security log's JSON lines go; absent: the node's log (component "security"). */
  securityLog?: (line: string) => void;
  /**
   * The clock (ms) of the rate limits, the lockouts, the security log, the cache and every TTL, challenges,
   * sessions and the audit log; tests pass a fake one.
   */
  clock?: () => number;
  /** Answer plain misses by copying the stored blob (resolve/blob-miss.ts); on unless false (tests compare). */
  blobMisses?: boolean;
}

/** The node's defences against floods and guessing (docs/security.md), for the metrics and for tests. */
export interface NodeSecurity {
  log: SecurityLog;
  auth: AuthLimiter;
  /** The Handle UDP front end's response-rate limiter. */
  rrl: ResponseRateLimiter;
  /** The DNS gateway's, when it is on. */
  dnsRrl?: ResponseRateLimiter;
}

/** True for a node that only resolves for others and keeps no registry. */
export function isPureResolver(config: NodeConfig): boolean {
  return config.roles.length === 1 && config.roles[0] === 'resolver';
}

/**
 * Composition: configuration → registry → answerers → pipeline → transports. The one place a node is wired
 * together; a role is a different wiring of the same parts.
 */
export class IdresNode {
  private constructor(
    readonly dir: string,
    readonly config: NodeConfig,
    /** Absent on a pure resolver. */
    readonly registry: Registry | undefined,
    readonly pipeline: ResolutionPipeline,
    readonly handler: RequestHandler,
    readonly upstream: Recursor | Forwarder | undefined,
    /** The node's own site now (it changes when the node is promoted or fenced). */
    private readonly siteNow: { current: SiteInfo },
    readonly port: number,
    private readonly udp: UdpFrontEnd,
    private readonly tcp: TcpFrontEnd,
    private readonly client: HandleClient,
    private readonly local: LocalAnswerers | undefined,
    /** The DNS gateway when `dns.enabled` (docs/dns.md). */
    readonly dns: RunningDns | undefined,
    /** Administration (absent on a pure resolver): the same operations for the wire and HTTP. */
    readonly admin: AdminService | undefined,
    /** Identity proofs against the key values held here. */
    readonly identities: IdentityKeys | undefined,
    /** The HTTP face when `http.enabled` (docs/http.md). */
    readonly http: RunningHttp | undefined,
    /** Answers of the Handle transports by transport, opcode and code (read by /metrics). */
    readonly wire: WireCounters,
    readonly security: NodeSecurity,
    private readonly flushTimer: NodeJS.Timeout,
    /** The logger, the limit on lines input can cause, the access log (node/logging.ts). */
    readonly logging: NodeLogging,
    /** The audit log of administrative changes (absent on a pure resolver). */
    readonly audit: AuditTrail | undefined,
    /** Replication: what serves this node's mirrors, or on a mirror what pulls from its primary. */
    readonly replication: RunningReplication | undefined,
  ) {}

  static async start(dir: string, opts: StartOptions = {}): Promise<IdresNode> {
    const config = loadConfig(dir);
    if (opts.host !== undefined) config.listen.host = opts.host;
    if (opts.port !== undefined) config.listen.port = opts.port;
    const clock = opts.clock ?? Date.now;
    const logging = NodeLogging.create(dir, config, opts, clock);
    const securityLog = new SecurityLog(
      opts.securityLog ?? logging.securitySink,
      { intervalMs: config.securityLog.intervalSeconds * 1000, linesPerInterval: config.securityLog.linesPerInterval },
      clock,
    );
    const authLimits = new AuthLimiter({ ...DEFAULT_FAILED_AUTH, ...config.admin.failedAuth }, securityLog, clock);
    const rateReport = (event: 'udp_rate_limited' | 'dns_rate_limited') => (source: string, limited: number, slipped: number) =>
      securityLog.event(event, { source, limited, slipped, responsesPerSecond: config.udp.rrl.responsesPerSecond });
    const rrl = new ResponseRateLimiter(config.udp.rrl, config.udp.rateLimit, rateReport('udp_rate_limited'), securityLog.intervalMs);

    // The server key, read once: the responder signs with it, the site record and replication carry it.
    const serverKey = serverPrivateKey(dir, config);
    const serverKeyPublic = serverPublicKey(dir, config);
    const responder = new Responder(config.site.serial, true, undefined, serverKey);
    const cache = new AnswerCache({
      maxBytes: config.cache.maxBytes,
      staleWindowMs: config.cache.staleWindowSeconds * 1000,
      packetOf: (rc, body) => responder.template(rc, body),
      now: clock,
    });
    let registry: Registry | undefined;
    let local: LocalAnswerers | undefined;
    if (!isPureResolver(config)) {
      registry = new Registry(path.join(dir, config.database), { ...registryOptions(config), clock });
      // A mirror's homed prefixes are its primary's, copied with the rest: it writes nothing of its own.
      if (!isMirror(config)) for (const p of config.prefixes) registry.home(p);
      const authority = new Authority(registry);
      local = {
        authority,
        delegations: new Delegations(registry, authority),
        changes: new ChangeWatcher(registry, cache, authority, config.cache.writeCheckMs, clock),
      };
    }
    // Replication starts before the ports are bound (a primary's first fence check runs before it takes a
    // write); who takes writes is asked of it at each request, since a promotion or a fence changes it.
    let replication: RunningReplication | undefined;
    let admin: AdminService | undefined;
    let identities: IdentityKeys | undefined;
    let audit: AuditTrail | undefined;
    if (registry) {
      const reg = registry;
      const authority = local!.authority;
      audit = openAuditTrail(reg.db, { retainDays: config.audit.retainDays, now: clock, logger: logging.logger });
      admin = new AdminService(reg, {
        homes: (p) => authority.homes(p),
        serverAdmins: serverAdminsOf(config),
        allowListHandles: config.admin.allowListHandles,
        quotas: new Quotas(config.admin.quotas, reg, () => new Date(clock()).toISOString().slice(0, 10)),
        now: clock,
        audit,
        primary: () => replication?.writesGoTo(),
      });
      identities = new IdentityKeys((h) => reg.getValues(h));
    }
    // The client of the recursor or forwarder: hardened against forged answers (docs/security.md), sending
    // from the listen address (or recursion.sourceAddress).
    const client = new HandleClient({
      udpTimeoutsMs: config.recursion.udpTimeoutsMs,
      tcpTimeoutMs: config.recursion.tcpTimeoutMs,
      hardened: { sourceAddress: config.recursion.sourceAddress ?? config.listen.host },
    });
    const upstream = makeUpstream(dir, config, client, clock);
    const pipeline = new ResolutionPipeline(cache, local, upstream, {
      allowRecursion: config.recursion.allow,
      alwaysRecurse: config.roles.includes('resolver'),
      maxRecursionCount: config.recursion.maxRecursionCount,
      negativeTtlSeconds: config.cache.negativeTtlSeconds,
      failureTtlSeconds: config.recursion.failureTtlSeconds,
      maxTtlSeconds: config.cache.maxTtlSeconds,
      foldSuffix: config.caseFoldSuffix,
      now: clock,
      ...(opts.blobMisses === false ? { blobMisses: false } : {}),
    });

    // The handler needs the site, the site needs the bound port, and binding needs the handler: the
    // transports get a handler that is filled in once the port is known (before any packet can arrive).
    // The wrapper also counts every answer for the metrics, from the reply bytes (off the handler's hot path).
    let handler!: RequestHandler;
    const counters = new WireCounters();
    // The access log, when it is on, around the counted handler (off, the transports get the counted handler itself).
    const front = logging.access.wrap(counters.wrap(() => handler));
    const udp = new UdpFrontEnd(front, {
      maxResponseBytes: config.udp.maxResponseBytes,
      limiter: rrl,
      onRateLimited: () => handler.stats.udpRateLimited++,
      now: clock,
      onError: (err) => logging.logger.error({ component: 'udp', event: 'socket_error', err }, err.message),
    });
    const tcp = new TcpFrontEnd(front, config.tcp);
    let port = config.listen.port;
    const siteNow = { current: undefined as unknown as SiteInfo };
    const buildSite = (serial: number, primary: boolean, attributes: Array<[string, string]> = []) =>
      ownSite({
        serial,
        primary,
        attributes,
        serverId: config.site.serverId,
        publicAddress: config.publicAddress,
        port,
        publicKey: serverKeyPublic,
        description: config.site.description,
      });
    if (registry) {
      const reg = registry;
      try {
        replication = await startReplication({
          dir,
          config,
          registry: reg,
          responder,
          serverKey,
          serverPublicKey: serverKeyPublic,
          clock,
          logger: logging.logger,
          applied: () => local!.changes.check(),
          buildSite,
          // The prefix handles are `idres mirror promote`'s to rewrite (it waits for the switch to do so).
          changed: () => {
            siteNow.current = replication!.site();
            handler?.setSite(siteNow.current);
          },
        });
      } catch (err) {
        // A mirror without its primary's key, say: nothing opened so far may outlive the failed start.
        client.close();
        reg.close();
        throw err;
      }
    }
    try {
      port = opts.shared
        ? await bindShared(udp, tcp, config.listen.host, config.listen.port)
        : await bindBoth(udp, tcp, config.listen.host, config.listen.port);
    } catch (err) {
      // A port that is taken ends the start; nothing opened so far may outlive it.
      await Promise.all([udp.close(), tcp.close(), replication?.stop()]);
      client.close();
      registry?.close();
      throw err;
    }

    siteNow.current = replication ? replication.site() : buildSite(config.site.serial, true);
    const site = siteNow.current;
    const wire =
      admin && identities && registry
        ? new AdminWire(admin, identities, responder, {
            // Read at each request: a mirror serves no mirrors until it is promoted.
            get replication() {
              return replication?.answerer;
            },
            challengeTimeoutMs: config.admin.challengeTimeoutSeconds * 1000,
            maxSessionMs: config.admin.maxSessionSeconds * 1000,
            requireSessions: config.admin.requireSessions,
            localValues: localValuesOf(registry, local!.authority),
            noticeWrites: () => local!.changes.check(),
            singleProcess: !opts.shared,
            authLimits,
            now: clock,
          })
        : undefined;
    handler = new RequestHandler(pipeline, responder, site, logging.handlerProblems, wire);
    if (registry) {
      if (!replication || replication.mode === 'primary') refreshOwnSite(registry, config.prefixes, site);
      local!.changes.check();
    }

    // The DNS front door, after the Handle transports: the same pipeline, so the same hot cache.
    let dns: RunningDns | undefined;
    let dnsRrl: ResponseRateLimiter | undefined;
    if (config.dns.enabled) {
      try {
        // The same limits for the gateway's UDP answers (no byte budget: they are at most udpPayloadSize).
        dnsRrl = new ResponseRateLimiter(config.udp.rrl, undefined, rateReport('dns_rate_limited'), securityLog.intervalMs);
        dns = await startDns(config, pipeline, logging.dnsErrors, opts.shared ?? false, {
          limiter: dnsRrl,
          now: clock,
          onError: (err) => logging.logger.error({ component: 'dns', event: 'socket_error', err }, err.message),
        });
      } catch (err) {
        await Promise.all([udp.close(), tcp.close(), replication?.stop()]);
        client.close();
        registry?.close();
        throw err;
      }
    }

    // The HTTP face last: it reports on everything above.
    let http: RunningHttp | undefined;
    if (config.http.enabled) {
      try {
        http = await startHttp(
          {
            config,
            pipeline,
            ...(registry ? { registry } : {}),
            ...(admin ? { admin } : {}),
            ...(identities ? { identities } : {}),
            ...(upstream ? { upstream } : {}),
            site: () => siteNow.current,
            handlerStats: () => handler.stats,
            wire: counters,
            dnsStats: () => dns?.gateway.stats,
            ports: () => [
              ['udp', udp.listening],
              ['tcp', tcp.listening],
              ...(dns ? [['dns', dns.server.listening] as [string, boolean]] : []),
            ],
            log: logging.httpErrors,
            noticeWrites: () => local?.changes.check(),
            connections: () => [['tcp', tcp.connections] as const, ...(dns ? [['dns', dns.server.connections] as const] : [])],
            security: { log: securityLog, auth: authLimits, rrl, ...(dnsRrl ? { dnsRrl } : {}) },
            replication: () => replication,
          },
          opts.httpPort ?? config.http.port,
        );
      } catch (err) {
        await Promise.all([udp.close(), tcp.close(), dns?.server.close(), replication?.stop()]);
        client.close();
        registry?.close();
        throw err;
      }
    }

    // Lines left out by the security log's own limit are summed up when their interval ends.
    // So are the node's rate-limited lines and the audit log's anonymous refusals; old audit rows go daily.
    const flushTimer = setInterval(() => {
      securityLog.flush();
      logging.flush();
      audit?.flush();
      audit?.maybePrune(config.audit.retainDays);
    }, securityLog.intervalMs).unref();
    const security: NodeSecurity = { log: securityLog, auth: authLimits, rrl, ...(dnsRrl ? { dnsRrl } : {}) };
    return new IdresNode(dir, config, registry, pipeline, handler, upstream, siteNow, port, udp, tcp, client, local, dns, admin, identities, http, counters, security, flushTimer, logging, audit, replication);
  }

  /** The node's own site as GET_SITE_INFO answers it now (primary only while it takes writes). */
  get site(): SiteInfo {
    return this.siteNow.current;
  }

  /** Counters of the node, for operators (SIGUSR2 on `idres serve`) and benchmarks. */
  stats(): Record<string, unknown> {
    const h = this.handler.stats;
    const c = this.pipeline.cache.stats;
    const u = this.upstream?.stats;
    return {
      requests: h.requests,
      responseCodes: Object.fromEntries(h.byResponseCode),
      dropped: h.dropped,
      udpRateLimited: h.udpRateLimited,
      rrl: { dropped: this.security.rrl.stats.dropped, slipped: this.security.rrl.stats.slipped, truncated: this.security.rrl.stats.truncated },
      security: this.security.log.counts,
      protocolErrors: h.protocolErrors,
      internalErrors: h.internalErrors,
      cache: { entries: this.pipeline.cache.size, bytes: this.pipeline.cache.bytes, hits: c.hits, misses: c.misses, staleServed: c.staleServed },
      // The miss path (resolve/blob-miss.ts): misses answered by copying the stored blob, and declines by reason.
      ...(this.pipeline.blobMiss ? { missPath: { answered: this.pipeline.blobMiss.stats.answered, declined: [...this.pipeline.blobMiss.stats.declined] } } : {}),
      ...(u
        ? {
            upstream: {
              queries: u.upstreamQueries,
              ...('walks' in u ? { walks: u.walks, referrals: u.referralsFollowed, negativeHits: u.negativeHits, failureHits: u.failureHits } : {}),
              refusedAnswers: { ...this.upstream!.clientStats.refused },
              busy: this.upstream!.limiter.stats.refused,
            },
          }
        : {}),
      connections: this.connectionStats(),
      memory: process.memoryUsage(),
    };
  }

  /** Connections of the stream front ends, by transport: open, refused, closed by reason, peak bytes held. */
  connectionStats(): Record<string, ConnectionStats> {
    return {
      tcp: this.tcp.connections,
      ...(this.dns ? { dns: this.dns.server.connections } : {}),
      ...(this.http ? { http: this.http.server.connections } : {}),
    };
  }

  /** Drop cached answers made stale by writes (this process's or another's) now, without waiting. */
  noticeWrites(): void {
    this.local?.changes.check();
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.replication?.stop();
    this.security.log.flush(true);
    this.audit?.flush(true);
    this.logging.close();
    await this.http?.close();
    await Promise.all([this.udp.close(), this.tcp.close(), this.dns?.server.close()]);
    this.client.close();
    this.registry?.close();
  }
}

/** Values of handles this node answers for itself (its homed prefixes, and prefix handles it holds). */
function localValuesOf(registry: Registry, authority: Authority): (handle: string) => import('../model/value.js').HandleValue[] | undefined {
  return (handle) => {
    if (!isPrefixHandle(handle) && !authority.homes(splitHandle(handle).prefix)) return undefined;
    return registry.getValues(handle);
  };
}

/** The configured server administrators; by default the administrator of each homed prefix (300:0.NA/PREFIX). */
export function serverAdminsOf(config: NodeConfig): Identity[] {
  const list = config.admin.serverAdmins ?? config.prefixes.map((p) => `300:${prefixHandle(p)}`);
  return list.map((s) => parseIdentity(s)!);
}

function makeUpstream(dir: string, config: NodeConfig, client: HandleClient, now: () => number): Recursor | Forwarder | undefined {
  const r = config.recursion;
  if (!r.allow) return undefined;
  const limiter = new UpstreamLimiter(r.maxConcurrentQueries, r.maxQueuedQueries);
  const anchors = trustAnchors(dir, config);
  if (r.upstream) {
    const key = anchors.get(canonicalHostPort(r.upstream));
    return new Forwarder(client, parseServer(r.upstream), { limiter, now, ...(r.requireCertified && key ? { verifyKey: decodePublicKey(key) } : {}) });
  }
  return new Recursor(client, {
    roots: r.roots.map((root) => {
      const s = parseServer(root);
      const publicKey = anchors.get(canonicalHostPort(root));
      return { host: s.host, udpPort: s.port, tcpPort: s.port, ...(publicKey ? { publicKey } : {}) };
    }),
    maxReferrals: r.maxReferrals,
    staleWindowMs: config.cache.staleWindowSeconds * 1000,
    maxSiteTtlSeconds: config.cache.maxTtlSeconds,
    negativeTtlSeconds: config.cache.negativeTtlSeconds,
    failureTtlSeconds: r.failureTtlSeconds,
    limiter,
    requireCertified: r.requireCertified,
    now,
  });
}

/** recursion.trustAnchors read: "address:port" (canonical) → the server's public key as HS_PUBKEY bytes. */
function trustAnchors(dir: string, config: NodeConfig): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [server, file] of Object.entries(config.recursion.trustAnchors)) {
    const where = path.resolve(dir, file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(where);
    } catch (err) {
      throw new ConfigError(`recursion.trustAnchors: cannot read the key of ${server} from ${where}: ${(err as Error).message}`);
    }
    try {
      // PEM (a public key, as openssl pkey -pubout writes it) or the HS_PUBKEY bytes of a site record.
      const key = bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN')
        ? encodePublicKey(createPublicKey({ key: bytes.toString('utf8'), format: 'pem' }))
        : bytes;
      decodePublicKey(key);
      out.set(canonicalHostPort(server), key);
    } catch (err) {
      throw new ConfigError(`recursion.trustAnchors: ${where} holds no public key this node can use: ${(err as Error).message}`);
    }
  }
  return out;
}

/** UDP and TCP on one port number; with port 0, the port the kernel gives UDP, retried if TCP finds it taken. */
async function bindBoth(udp: UdpFrontEnd, tcp: TcpFrontEnd, host: string, port: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const bound = await udp.listen(host, port);
    try {
      await tcp.listen(host, bound);
      return bound;
    } catch (err) {
      await udp.close();
      if (port !== 0 || attempt >= 20) throw err;
    }
  }
}

async function bindShared(udp: UdpFrontEnd, tcp: TcpFrontEnd, host: string, port: number): Promise<number> {
  if (port === 0) throw new Error('workers need a fixed port');
  await udp.listen(host, port, true);
  await tcp.listen(host, port, true);
  return port;
}

/**
 * Keep this node's own site in its own prefix handles in step with the address and port it serves on: the
 * HS_SITE that lists this node's key (index 1 as `init` writes it and a promotion leaves it; index 1 too when
 * none does), and any HS_SITE.PREFIX that was a copy of it. Every other site value (mirror sites an operator
 * listed with `prefix mirror add`, an old primary a promotion kept) is left as it is.
 */
function refreshOwnSite(registry: Registry, prefixes: readonly string[], site: SiteInfo): void {
  const bytes = encodeSite(site);
  const key = site.servers[0]!.publicKey;
  for (const p of prefixes) {
    const ph = prefixHandle(p);
    const h = registry.get(ph);
    if (!h) continue;
    const sites = h.values.filter((x) => x.type === 'HS_SITE');
    const own = sites.find((x) => {
      const listed = listedSite(x);
      return listed !== undefined && isSiteOf(listed, key);
    }) ?? sites.find((x) => x.index === 1);
    if (!own || own.data.equals(bytes)) continue;
    const copies = h.values.filter((x) => x.type === 'HS_SITE.PREFIX' && x.data.equals(own.data));
    registry.upsertValues(ph, [own, ...copies].map((v) => ({ ...v, data: bytes })));
  }
}
