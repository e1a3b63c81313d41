import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { OpCode, OpFlag, ResponseCode, responseCodeName } from '../protocol/constants.js';
import { decodeReferral, decodeResolutionResponse, encodeErrorBody, encodeResolutionRequest } from '../protocol/bodies.js';
import { decodePublicKey } from '../protocol/pubkey.js';
import { decodeSite } from '../protocol/site.js';
import type { Packet } from '../protocol/message.js';
import { NA_PREFIX, asciiUpper, prefixHandle, splitHandle } from '../model/handle.js';
import { type SiteInfo, Transport, findInterface, selectServerIndex } from '../model/site.js';
import { type HandleValue, minTtlSeconds } from '../model/value.js';
import { ClientError, type ClientStats, type HandleClient, type InterfaceTarget } from '../client/handle-client.js';
import { bodyWithoutDigest } from '../client/answer-check.js';
import { ResolutionFailure } from './answer.js';
import { ResolverBusy, UpstreamLimiter, UpstreamWork } from './limiter.js';

// The recursor walks the hierarchy as the reference client does (docs/protocol.md §8.5): resolve the
// prefix handle 0.NA/PREFIX at a root, follow 303 referrals (HS_SITE.PREFIX / HS_SERV.PREFIX of an
// ancestor) from site to site, take the prefix's HS_SITE (or HS_SERV → a service handle → its HS_SITE),
// pick the server of the site by its hash option, and ask it. Servers that do not answer are failed over,
// first within the site, then to the next site.

/** The types the reference client asks for when it resolves a prefix handle. */
export const SITE_TYPES = ['HS_SITE', 'HS_SITE.6', 'HS_SERV', 'HS_NAMESPACE'];
const SERVICE_SITE_TYPES = ['HS_SITE', 'HS_SITE.6'];

/** A root server: where it answers, and its public key (HS_PUBKEY bytes) to check certified answers with. */
export interface RootServer extends InterfaceTarget {
  publicKey?: Buffer;
}

export interface RecursorOptions {
  /** Where every walk starts: the root (top-level) servers. */
  roots: RootServer[];
  /** Referrals followed at most in one walk (the reference client: 40). */
  maxReferrals: number;
  /** How deep HS_SERV service handles may lead to further service handles. */
  maxServiceDepth?: number;
  /** Bounds for caching the sites of prefixes. */
  siteCacheEntries?: number;
  maxSiteTtlSeconds?: number;
  staleWindowMs?: number;
  /** How long a prefix that does not exist (100 for 0.NA/P) answers 100 for every handle under it without a walk. */
  negativeTtlSeconds?: number;
  /** How long a prefix whose walk failed or ended in 301 answers so without a new walk. */
  failureTtlSeconds?: number;
  /**
   * How long a server that did not answer is tried after the servers that did (default 30 s): a prefix
   * whose primary site is down is then answered by its mirror without waiting out the primary's timeouts
   * on every resolution. 0: always the listed order.
   */
  failedServerMs?: number;
  /** Bounds the exchanges with other servers (shared with other upstream users); absent: unbounded. */
  limiter?: UpstreamLimiter;
  /**
   * Ask for certified answers (CT) and believe only those signed with the key of the server asked, from its
   * site record (roots: `publicKey`). Needs a hardened client; servers without a key are not asked.
   */
  requireCertified?: boolean;
  now?: () => number;
}

export class RecursorStats {
  /** Queries sent to other servers (each retry and failover counts once more). */
  upstreamQueries = 0;
  /** Whole walks from a root (prefix site lookups that missed the site cache). */
  walks = 0;
  referralsFollowed = 0;
  siteCacheHits = 0;
  staleSitesUsed = 0;
  /** Handles answered 100 because their prefix is known not to exist (no walk). */
  negativeHits = 0;
  /** Resolutions answered from a prefix's recently failed walk (no walk). */
  failureHits = 0;
  /** Failed exchanges, by server "host:port". */
  readonly upstreamFailures = new Map<string, number>();
}

interface CachedSites {
  sites: SiteInfo[];
  freshUntil: number;
}

interface CachedFailure {
  failure: ResolutionFailure;
  until: number;
}

/** The raw answer of the server that finally answered. */
export interface UpstreamAnswer {
  responseCode: number;
  /** The body as received, without the request digest (the client's own is added when the answer goes out). */
  body: Buffer;
  /** Seconds this answer may be cached, from its values. */
  ttl?: number;
}

export class Recursor {
  readonly stats = new RecursorStats();
  readonly limiter: UpstreamLimiter;
  private readonly sites: LRUCache<string, CachedSites>;
  /** Prefixes that do not exist (for the negative TTL), or whose walk failed (briefly). */
  private readonly failures: LRUCache<string, CachedFailure>;
  private readonly inflightSites = new Map<string, Promise<SiteInfo[]>>();
  /** Public keys of servers as their site records hold them, decoded once (null: undecodable). */
  private readonly keys = new LRUCache<string, { key: KeyObject | null }>({ max: 1000 });
  /** Servers ("host:port") that recently failed an exchange, and until when they are tried last. */
  private readonly failedServers = new LRUCache<string, number>({ max: 1000 });
  private readonly now: () => number;
  private readonly rootSites: SiteInfo[];

  constructor(
    private readonly client: HandleClient,
    private readonly opts: RecursorOptions,
  ) {
    if (opts.requireCertified && !client.hardened) throw new Error('certified answers need a hardened client');
    this.now = opts.now ?? Date.now;
    this.sites = new LRUCache({ max: opts.siteCacheEntries ?? 10000, ttl: 0 });
    this.failures = new LRUCache({ max: opts.siteCacheEntries ?? 10000, ttl: 0 });
    this.limiter = opts.limiter ?? new UpstreamLimiter(Infinity, Infinity);
    this.rootSites = opts.roots.map((r, i) => rootSite(r, i + 1));
  }

  /** What the client refused and the sockets it holds (for /metrics). */
  get clientStats(): ClientStats {
    return this.client.stats;
  }

  /** Resolve a handle for a client: find its prefix's sites, ask a server of them. */
  async resolve(handle: string, body: Buffer, recursionCount: number): Promise<UpstreamAnswer> {
    const work = new UpstreamWork();
    const prefix = prefixOfQuery(handle);
    if (asciiUpper(prefix) === NA_PREFIX) {
      // A prefix handle: the walk itself is the answer — unless the prefix is known not to exist.
      const named = splitHandle(handle).suffix;
      const missing = this.failures.get(asciiUpper(named));
      if (missing && missing.until > this.now() && missing.failure.responseCode === ResponseCode.HANDLE_NOT_FOUND) {
        this.stats.negativeHits++;
        return { responseCode: ResponseCode.HANDLE_NOT_FOUND, body: EMPTY_MESSAGE };
      }
      const answer = await this.walkPrefixHandle(named, body, recursionCount, work);
      if (answer.responseCode === ResponseCode.HANDLE_NOT_FOUND) {
        this.noteFailure(asciiUpper(named), new ResolutionFailure(`prefix ${named} is not registered`, ResponseCode.HANDLE_NOT_FOUND, false));
      }
      return answer;
    }
    const sites = await this.sitesFor(prefix, recursionCount, 0, work);
    const packet = await this.askSites(sites, handle, body, recursionCount, work);
    return toUpstreamAnswer(packet, this.now());
  }

  /**
   * The sites that serve a prefix, from the site cache or by a walk from the roots; one walk per prefix at a
   * time, shared by all who ask meanwhile. A prefix that does not exist, or whose walk just failed, fails
   * again without a walk for a while.
   */
  async sitesFor(prefix: string, recursionCount: number, serviceDepth = 0, work = new UpstreamWork()): Promise<SiteInfo[]> {
    const key = asciiUpper(prefix);
    const cached = this.sites.get(key);
    if (cached && cached.freshUntil > this.now()) {
      this.stats.siteCacheHits++;
      return cached.sites;
    }
    const failed = this.failures.get(key);
    if (failed && failed.until > this.now()) {
      if (failed.failure.responseCode === ResponseCode.HANDLE_NOT_FOUND) this.stats.negativeHits++;
      else this.stats.failureHits++;
      if (cached && this.staleUsable(failed.failure, cached)) return cached.sites;
      throw failed.failure;
    }
    let p = this.inflightSites.get(key);
    if (!p) {
      p = this.lookUpSites(prefix, recursionCount, serviceDepth, work)
        .catch((err: unknown) => {
          // Noted before the walk stops being in flight, so no one starts another in between.
          this.noteFailure(key, err);
          throw err;
        })
        .finally(() => this.inflightSites.delete(key));
      this.inflightSites.set(key, p);
    }
    try {
      return await p;
    } catch (err) {
      if (cached && this.staleUsable(err, cached)) return cached.sites;
      throw err;
    }
  }

  /** Every upstream failed (or there was no room to ask): a stale site list within the window is better than nothing. */
  private staleUsable(err: unknown, cached: CachedSites): boolean {
    if (!(err instanceof ResolutionFailure && err.upstream && cached.freshUntil + (this.opts.staleWindowMs ?? 0) > this.now())) return false;
    this.stats.staleSitesUsed++;
    return true;
  }

  /** Remember a failed walk: a prefix that does not exist for the negative TTL, other failures briefly. */
  private noteFailure(key: string, err: unknown): void {
    if (!(err instanceof ResolutionFailure) || err instanceof ResolverBusy) return;
    const seconds = err.responseCode === ResponseCode.HANDLE_NOT_FOUND ? this.opts.negativeTtlSeconds : this.opts.failureTtlSeconds;
    if (!seconds || seconds <= 0) return;
    this.failures.set(key, { failure: err, until: this.now() + seconds * 1000 }, { ttl: seconds * 1000 });
  }

  private async lookUpSites(prefix: string, recursionCount: number, serviceDepth: number, work: UpstreamWork): Promise<SiteInfo[]> {
    const body = encodeResolutionRequest(prefixHandle(prefix), [], SITE_TYPES);
    const answer = await this.walkPrefixHandle(prefix, body, recursionCount, work);
    if (answer.responseCode === ResponseCode.HANDLE_NOT_FOUND || answer.responseCode === ResponseCode.VALUES_NOT_FOUND) {
      throw new ResolutionFailure(`prefix ${prefix} is not registered`, ResponseCode.HANDLE_NOT_FOUND, false);
    }
    if (answer.responseCode !== ResponseCode.SUCCESS) {
      throw new ResolutionFailure(
        `the prefix handle ${prefixHandle(prefix)} answered ${responseCodeName(answer.responseCode)}`,
        answer.responseCode,
        false,
      );
    }
    const values = decodeResolutionResponse(answer.body, false).values;
    const sites = await this.sitesFromValues(values, 'HS_SITE', 'HS_SERV', recursionCount, serviceDepth, work);
    if (sites.length === 0) {
      throw new ResolutionFailure(`the prefix handle ${prefixHandle(prefix)} names no usable site`, ResponseCode.SERVER_NOT_RESP, false);
    }
    const ttl = Math.min(minTtlSeconds(values, Math.floor(this.now() / 1000)), this.opts.maxSiteTtlSeconds ?? 86400);
    const keep = ttl * 1000 + (this.opts.staleWindowMs ?? 0);
    if (keep > 0) this.sites.set(asciiUpper(prefix), { sites, freshUntil: this.now() + ttl * 1000 }, { ttl: keep });
    return sites;
  }

  /**
   * Ask for 0.NA/PREFIX from the roots, following 303 referrals; returns the first answer that is not a
   * referral. Referrals are bounded, and a referral back to a site already asked is a loop.
   */
  async walkPrefixHandle(prefix: string, body: Buffer, recursionCount: number, work = new UpstreamWork()): Promise<UpstreamAnswer> {
    this.stats.walks++;
    const handle = prefixHandle(prefix);
    let sites = this.rootSites;
    const asked = new Set<string>();
    for (let referrals = 0; ; referrals++) {
      const signature = sites.map(siteSignature).sort().join(' ');
      if (asked.has(signature)) {
        throw new ResolutionFailure(`referral loop resolving ${handle}: referred back to ${signature}`, ResponseCode.ERROR, false);
      }
      asked.add(signature);
      const packet = await this.askSites(sites, handle, body, recursionCount, work);
      if (packet.header.responseCode !== ResponseCode.PREFIX_REFERRAL) return toUpstreamAnswer(packet, this.now());
      if (referrals >= this.opts.maxReferrals) {
        throw new ResolutionFailure(`more than ${this.opts.maxReferrals} referrals resolving ${handle}`, ResponseCode.ERROR, false);
      }
      this.stats.referralsFollowed++;
      const ref = decodeReferral(packet.body, (packet.header.opFlags & OpFlag.RD) !== 0);
      sites = await this.sitesFromValues(ref.values, 'HS_SITE.PREFIX', 'HS_SERV.PREFIX', recursionCount, 0, work);
      if (sites.length === 0) {
        throw new ResolutionFailure(`a referral for ${handle} names no usable site`, ResponseCode.ERROR, false);
      }
    }
  }

  /** Sites from HS_SITE-like values, or from the service handles that HS_SERV-like values name. */
  private async sitesFromValues(
    values: HandleValue[],
    siteType: string,
    servType: string,
    recursionCount: number,
    depth: number,
    work: UpstreamWork,
  ): Promise<SiteInfo[]> {
    const sites: SiteInfo[] = [];
    const services: string[] = [];
    const legacy = siteType === 'HS_SITE.PREFIX' ? 'HS_NA_DELEGATE' : undefined;
    for (const v of values) {
      const t = v.type.toUpperCase();
      if (t === siteType || t === `${siteType}.6` || (siteType === 'HS_SITE' && t === 'HS_SITE.6') || t === legacy) {
        try {
          sites.push(decodeSite(v.data));
        } catch {
          // An undecodable site is skipped; the others may serve.
        }
      } else if (t === servType) services.push(v.data.toString('utf8'));
    }
    if (sites.length > 0 || services.length === 0) return sites;
    if (depth >= (this.opts.maxServiceDepth ?? 3)) {
      throw new ResolutionFailure(`service handles nest deeper than ${this.opts.maxServiceDepth ?? 3}`, ResponseCode.ERROR, false);
    }
    for (const service of services) {
      try {
        const svcSites = await this.sitesFor(prefixOfQuery(service), recursionCount, depth + 1, work);
        const packet = await this.askSites(svcSites, service, encodeResolutionRequest(service, [], SERVICE_SITE_TYPES), recursionCount, work);
        if (packet.header.responseCode !== ResponseCode.SUCCESS) continue;
        for (const v of decodeResolutionResponse(packet.body, (packet.header.opFlags & OpFlag.RD) !== 0).values) {
          try {
            sites.push(decodeSite(v.data));
          } catch {
            // skipped as above
          }
        }
        if (sites.length > 0) return sites;
      } catch (err) {
        // A service that fails is skipped for the next; no room to ask is no failure of the service.
        if (!(err instanceof ResolutionFailure) || err instanceof ResolverBusy) throw err;
      }
    }
    return sites;
  }

  /**
   * Ask a handle of the first site that answers: within a site, the server its hash option selects first,
   * then the others; then the next site. A 301 from a server (not responsible) also moves on. Sites are
   * tried in their listed order (a delegation lists the primary first), except that a site none of whose
   * servers answered lately goes after the others. Every site is tried at most once, each server with the
   * client's retry schedule, so a walk is bounded by the sites listed.
   */
  async askSites(sites: SiteInfo[], handle: string, body: Buffer, recursionCount: number, work = new UpstreamWork()): Promise<Packet> {
    const failures: string[] = [];
    let notResponsible: Packet | undefined;
    for (const site of this.inTryingOrder(sites)) {
      const n = site.servers.length;
      if (n === 0) continue;
      const first = selectServerIndex(site, handle);
      for (let k = 0; k < n; k++) {
        const server = site.servers[(first + k) % n]!;
        const udp = findInterface(server, Transport.UDP);
        const tcp = findInterface(server, Transport.TCP);
        if (!udp && !tcp) continue;
        const target: InterfaceTarget = {
          host: server.address,
          ...(udp ? { udpPort: udp.port } : {}),
          ...(tcp ? { tcpPort: tcp.port } : {}),
        };
        const label = `${server.address}:${udp?.port ?? tcp?.port}`;
        let verifyKey: KeyObject | undefined;
        if (this.opts.requireCertified) {
          verifyKey = this.keyOf(server.publicKey);
          if (!verifyKey) {
            failures.push(`${label}: no usable public key in its site record to check a certified answer with`);
            continue;
          }
        }
        try {
          const { packet } = await this.limiter.run(work, () => {
            this.stats.upstreamQueries++;
            return this.client.requestAt(
              target,
              { opCode: OpCode.RESOLUTION, body, flags: OpFlag.CA | OpFlag.PO, recursionCount: recursionCount + 1 },
              verifyKey ? { verifyKey } : {},
            );
          });
          this.failedServers.delete(label);
          if (packet.header.responseCode === ResponseCode.SERVER_NOT_RESP) {
            notResponsible = packet;
            failures.push(`${label}: not responsible`);
            continue;
          }
          return packet;
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          this.stats.upstreamFailures.set(label, (this.stats.upstreamFailures.get(label) ?? 0) + 1);
          this.noteServerFailed(label);
          failures.push(`${label}: ${err.message}`);
        }
      }
    }
    if (notResponsible) return notResponsible;
    throw new ResolutionFailure(
      `no server answered for ${handle}${failures.length ? ` (${failures.join('; ')})` : ''}`,
      ResponseCode.ERROR,
      true,
    );
  }

  /** Sites whose servers all failed lately after the others, otherwise in the order given. */
  private inTryingOrder(sites: SiteInfo[]): SiteInfo[] {
    if (sites.length < 2 || this.failedServers.size === 0) return sites;
    const now = this.now();
    const down = (site: SiteInfo) =>
      site.servers.length > 0 &&
      site.servers.every((server) => {
        const port = findInterface(server, Transport.UDP)?.port ?? findInterface(server, Transport.TCP)?.port;
        const until = this.failedServers.get(`${server.address}:${port}`);
        return until !== undefined && until > now;
      });
    const up = sites.filter((s) => !down(s));
    return up.length === sites.length ? sites : [...up, ...sites.filter(down)];
  }

  private noteServerFailed(label: string): void {
    const ms = this.opts.failedServerMs ?? 30_000;
    if (ms > 0) this.failedServers.set(label, this.now() + ms);
  }

  /** A server's key from its site record, decoded (once per distinct key). */
  private keyOf(data: Buffer): KeyObject | undefined {
    if (data.length === 0) return undefined;
    const id = data.toString('base64');
    let entry = this.keys.get(id);
    if (!entry) {
      try {
        entry = { key: decodePublicKey(data) };
      } catch {
        entry = { key: null };
      }
      this.keys.set(id, entry);
    }
    return entry.key ?? undefined;
  }
}

const EMPTY_MESSAGE = encodeErrorBody('');

/** The prefix a handle's sites are looked up by (0.NA for prefix handles, whose sites are the roots'). */
function prefixOfQuery(handle: string): string {
  return splitHandle(handle).prefix;
}

function siteSignature(s: SiteInfo): string {
  return s.servers.map((x) => `${x.address}/${x.interfaces.map((i) => `${i.protocol}:${i.port}`).join(',')}`).join('+');
}

/** A root given as an address and port becomes a one-server site with UDP and TCP on that port. */
function rootSite(r: RootServer, serverId: number): SiteInfo {
  return {
    dataFormatVersion: 1,
    protocolMajor: 2,
    protocolMinor: 11,
    serial: 0,
    primary: true,
    multiPrimary: false,
    hashOption: 2,
    hashFilter: Buffer.alloc(0),
    attributes: [],
    servers: [
      {
        serverId,
        address: r.host,
        publicKey: r.publicKey ?? Buffer.alloc(0),
        interfaces: [
          ...(r.udpPort !== undefined ? [{ type: 2, protocol: Transport.UDP, port: r.udpPort }] : []),
          ...(r.tcpPort !== undefined ? [{ type: 2, protocol: Transport.TCP, port: r.tcpPort }] : []),
        ],
      },
    ],
  };
}

function toUpstreamAnswer(packet: Packet, nowMs: number): UpstreamAnswer {
  const rc = packet.header.responseCode;
  // A hardened client asks for the request digest (and checked it); the body goes on without it (the client's
  // own digest is added when the answer goes out).
  const body = bodyWithoutDigest(packet);
  if (rc === ResponseCode.SUCCESS) {
    const r = decodeResolutionResponse(body, false);
    return { responseCode: rc, body, ttl: minTtlSeconds(r.values, Math.floor(nowMs / 1000)) };
  }
  return { responseCode: rc, body };
}
