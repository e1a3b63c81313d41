import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { isValidPrefix } from '../model/handle.js';
import { DnsMappingError, normaliseZone } from '../dns/mapping.js';
import type { PrefixQuota } from '../admin/quotas.js';
import { parseIdentity } from '../admin/permissions.js';
import { parseCidr } from '../model/address.js';

// One validated configuration per node, read from <dir>/idres.json, with environment and flag overrides.

export const ROLES = ['top', 'secondary', 'business', 'resolver'] as const;
export type Role = (typeof ROLES)[number];

export interface NodeConfig {
  /** What this node does; one node may combine roles. */
  roles: Role[];
  /** Prefixes this node homes (answers for authoritatively). */
  prefixes: string[];
  listen: { host: string; port: number };
  /** Processes serving the port together (node:cluster); 1 is a single process. */
  workers: number;
  /** The address written into this node's site record: what clients elsewhere use to reach it. */
  publicAddress: string;
  /** Fold the case of suffixes (the reference's default). Fixed once the registry holds data. */
  caseFoldSuffix: boolean;
  site: { serial: number; serverId: number; description: string };
  udp: {
    maxResponseBytes: number;
    /**
     * Responses larger than minBytes also cost their bytes, per source network: at most bytesPerSecond of
     * them (0: off); past it the client gets a short TC answer and asks over TCP, so a forged source gains no
     * amplification.
     */
    rateLimit: { minBytes: number; bytesPerSecond: number };
    /** Response-rate limiting of every UDP answer by source network (docs/security.md). */
    rrl: {
      /** Answers a second per network; 0 turns it off. */
      responsesPerSecond: number;
      /** Answers a quiet network may receive at once. */
      burst: number;
      /** Every slip-th limited answer is sent as a short TC answer, the rest dropped (0: drop all; 1: TC all). */
      slip: number;
      ipv4PrefixLength: number;
      ipv6PrefixLength: number;
      /** Networks tracked at once (a fixed table). */
      tableSize: number;
      /** Address blocks never limited. */
      exempt: string[];
    };
  };
  /** The Handle TCP port; its per-client bounds also bound DNS over TCP (docs/security.md). */
  tcp: {
    /** A connection with no byte either way for this long is closed. */
    idleTimeoutMs: number;
    maxConnections: number;
    /** Connections one address (an IPv6 /64) may hold; past it, new ones are closed at once. */
    maxConnectionsPerAddress: number;
    /** A request must arrive whole within this after its first byte, and an answer be taken within it. */
    requestTimeoutMs: number;
    /** Bytes one connection may hold (requests read and not answered, answers not taken); past it, it is closed. */
    maxQueuedBytes: number;
  };
  /** Resolving on behalf of clients (a resolver always does; other roles when a request sets REC). */
  recursion: {
    allow: boolean;
    /** Root servers where walks start, "host:port" (a top-level node). */
    roots: string[];
    /** Instead of walking: forward to this server ("host:port"), e.g. a business node to its secondary. */
    upstream?: string;
    maxReferrals: number;
    /** A request that has passed through this many servers already gets RC 6. */
    maxRecursionCount: number;
    /** Wait after each UDP try to an upstream server before the next (then TCP). */
    udpTimeoutsMs: number[];
    tcpTimeoutMs: number;
    /**
     * The address queries to other servers go out from (each from a fresh socket on a random port); absent:
     * the listen address. A loopback address is used only towards loopback servers (docs/security.md).
     */
    sourceAddress?: string;
    /** Exchanges with other servers at once (each holds one socket): the resolver's descriptor bound. */
    maxConcurrentQueries: number;
    /** Exchanges waiting for one of those; new work past this gets RC 2 "resolver busy". */
    maxQueuedQueries: number;
    /** How long a prefix whose walk failed or ended in 301 answers so without a new walk. */
    failureTtlSeconds: number;
    /** Ask other servers for certified answers (CT) and believe only those signed with the key of their site. */
    requireCertified: boolean;
    /** Public keys of the roots (and of the upstream), "address:port" → a key file (PEM or HS_PUBKEY), for requireCertified. */
    trustAnchors: Record<string, string>;
  };
  /** The hot cache of answers, for local and recursive answers alike. */
  cache: {
    maxBytes: number;
    /** How long "not found" (100) and "no such values" (200) are kept. */
    negativeTtlSeconds: number;
    /** Upper bound on any answer's time in the cache, whatever its values' TTLs say. */
    maxTtlSeconds: number;
    /** How long past its TTL an answer may still be served when every upstream fails. */
    staleWindowSeconds: number;
    /** At most this long between checks for writes by other processes (the CLI, imports). */
    writeCheckMs: number;
  };
  /** The DNS gateway (docs/dns.md): identifiers answered as DNS names under the zones. Off by default. */
  dns: {
    enabled: boolean;
    /** UDP and TCP port, on the listen address (0: any free port). */
    port: number;
    /** Zones whose names map to identifiers, e.g. "id.example.cn" (canonical: lower case, no trailing dot). */
    zones: string[];
    /** Host names of the zones' name servers (NS records; the first is the SOA's primary). */
    nameServers: string[];
    /** The SOA's mailbox in DNS form; absent: hostmaster.<first zone>. */
    hostmaster?: string;
    /** TTL of the SOA and NS records. */
    ttl: number;
    /** The EDNS UDP payload size offered and honoured (1232: no IP fragmentation on common paths). */
    udpPayloadSize: number;
    /** Bound on the cache of encoded DNS answers. */
    cacheMaxBytes: number;
    tcpIdleTimeoutMs: number;
  };
  /** The HTTP face (docs/http.md): the JSON API, the redirect front, /metrics, /healthz and /readyz. */
  http: {
    enabled: boolean;
    /** TCP port (0: any free port). */
    port: number;
    /** Address to listen on; absent: the listen address. */
    host?: string;
    /** Largest request body accepted (PUT values); larger ones get 413 before they are read. */
    maxBodyBytes: number;
    /** A whole request (headers and body) must arrive within this, or the connection is closed (slow clients). */
    requestTimeoutMs: number;
    /** The request line and headers must arrive within this (at most requestTimeoutMs). */
    headersTimeoutMs: number;
    /** An idle kept-alive connection is closed after this. */
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** Connections one address (an IPv6 /64) may hold; past it, new ones are closed at once. */
    maxConnectionsPerAddress: number;
    /**
     * When credentials sent over plain HTTP are honoured. The reference honours them only over HTTPS; a node
     * without TLS of its own accepts them from loopback peers (a local tool, or a TLS proxy in front) by
     * default, from anyone with "always" (behind a TLS-terminating proxy), or never.
     */
    plainHttpAuth: 'loopback' | 'always' | 'never';
    /** Answer GET /PREFIX/SUFFIX with a redirect to the identifier's URL (or a page of its values). */
    redirectFront: boolean;
  };
  /** Administration over the wire and HTTP (docs/protocol.md §11): who may, for how long, and how much. */
  admin: AdminConfig;
  /** The security log's own limit: per event name, at most linesPerInterval lines each intervalSeconds. */
  securityLog: { intervalSeconds: number; linesPerInterval: number };
  /**
   * What an acknowledged write survives (docs/security.md, Durability): SQLite's synchronous setting for the
   * node's and the CLI's writes, and for bulk imports. "full" survives power loss; "normal" a crash of the
   * process but maybe not the last commits on power loss.
   */
  durability: { synchronous: Synchronous; importSynchronous: Synchronous };
  /** Paths relative to the node folder. */
  database: string;
  serverKey: string;
}

export interface AdminConfig {
  /**
   * Identities that pass every permission check on this node, as "INDEX:HANDLE" (the reference's
   * server_admins). Absent: the administrator of each homed prefix, 300:0.NA/PREFIX.
   */
  serverAdmins?: string[];
  /** Answer LIST_HANDLES (the reference's allow_list_hdls). */
  allowListHandles: boolean;
  /** How long a 402 challenge may be answered (the reference's max_auth_time). */
  challengeTimeoutSeconds: number;
  /** Upper bound on the idle timeout a client may ask for its session (the reference's max_session_time). */
  maxSessionSeconds: number;
  /** Refuse administrative requests outside a session (the reference's require_sessions). */
  requireSessions: boolean;
  /** Quotas per prefix (off unless set): maxHandles (RC 604), maxPrefixes (605), dailyRequestsPerClient (603). */
  quotas: Record<string, PrefixQuota>;
  /** Failed authentications per identity and per source before lockouts (docs/security.md). */
  failedAuth: {
    perIdentity: number;
    perSource: number;
    lockoutSeconds: number;
    maxLockoutSeconds: number;
    forgetSeconds: number;
  };
}

export const SYNCHRONOUS = ['normal', 'full', 'extra'] as const;
export type Synchronous = (typeof SYNCHRONOUS)[number];

export const CONFIG_FILE = 'idres.json';
export const DEFAULT_DIR = 'idres-node';
export const DEFAULT_PORT = 2641;
/** Not 53 (that needs privileges) nor 5353 (mDNS). */
export const DEFAULT_DNS_PORT = 5300;
/** The reference server's HTTP port. */
export const DEFAULT_HTTP_PORT = 8000;
export const PLAIN_HTTP_AUTH = ['loopback', 'always', 'never'] as const;

export function defaultConfig(): NodeConfig {
  return {
    roles: ['business'],
    prefixes: [],
    listen: { host: '127.0.0.1', port: DEFAULT_PORT },
    workers: 1,
    publicAddress: '127.0.0.1',
    caseFoldSuffix: true,
    site: { serial: 1, serverId: 1, description: 'idres node' },
    // 64 KiB carries the reference's own large answers (a 60-value, 62 KB handle) while bounding what one
    // small unauthenticated datagram can make the node send; larger answers go over TCP. Every answer is
    // metered per network as NSD does by default (200 a second, every second limited answer a TC); the
    // host's own loopback address is exempt (it cannot arrive from outside; local tools, the demo's tiers and
    // benchmarks use it), the rest of 127/8 is not, so other loopback sources stand in for other clients.
    udp: {
      maxResponseBytes: 65536,
      rateLimit: { minBytes: 1232, bytesPerSecond: 1048576 },
      rrl: {
        responsesPerSecond: 200,
        burst: 200,
        slip: 2,
        ipv4PrefixLength: 24,
        ipv6PrefixLength: 56,
        tableSize: 65536,
        exempt: ['127.0.0.1/32', '::1/128'],
      },
    },
    // One address may hold a sixty-fourth of the connections (a pooling SDK needs a handful); a request has
    // 10 s to arrive whole; a connection holds at most 1 MiB (docs/security.md).
    tcp: { idleTimeoutMs: 60000, maxConnections: 4096, maxConnectionsPerAddress: 64, requestTimeoutMs: 10000, maxQueuedBytes: 1024 * 1024 },
    recursion: {
      allow: false,
      roots: [],
      maxReferrals: 40,
      maxRecursionCount: 8,
      udpTimeoutsMs: [500, 1000],
      tcpTimeoutMs: 3000,
      maxConcurrentQueries: 128,
      maxQueuedQueries: 512,
      failureTtlSeconds: 5,
      requireCertified: false,
      trustAnchors: {},
    },
    cache: {
      maxBytes: 64 * 1024 * 1024,
      negativeTtlSeconds: 30,
      maxTtlSeconds: 86400,
      staleWindowSeconds: 3600,
      writeCheckMs: 10,
    },
    dns: {
      enabled: false,
      port: DEFAULT_DNS_PORT,
      zones: ['id.internal'],
      // A gateway listening on loopback by default; an operator names the real servers.
      nameServers: ['localhost.'],
      ttl: 3600,
      udpPayloadSize: 1232,
      cacheMaxBytes: 16 * 1024 * 1024,
      tcpIdleTimeoutMs: 10000,
    },
    // On by default, on the listen address (loopback unless configured otherwise), as the reference serves
    // its API beside the Handle ports.
    http: {
      enabled: true,
      port: DEFAULT_HTTP_PORT,
      maxBodyBytes: 1024 * 1024,
      requestTimeoutMs: 30000,
      headersTimeoutMs: 10000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 1024,
      maxConnectionsPerAddress: 64,
      plainHttpAuth: 'loopback',
      redirectFront: true,
    },
    admin: {
      allowListHandles: true,
      challengeTimeoutSeconds: 60,
      maxSessionSeconds: 86400,
      requireSessions: false,
      quotas: {},
      failedAuth: { perIdentity: 10, perSource: 30, lockoutSeconds: 1, maxLockoutSeconds: 900, forgetSeconds: 3600 },
    },
    securityLog: { intervalSeconds: 10, linesPerInterval: 10 },
    // An acknowledged write survives power loss (one fsync of the WAL per commit); see docs/security.md.
    durability: { synchronous: 'full', importSynchronous: 'full' },
    database: 'registry.db',
    serverKey: 'keys/server.key.pem',
  };
}

/** "192.0.2.1:2641" or "[2001:db8::1]:2641". */
export function isHostPort(s: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) return false;
  const port = Number(m[3]);
  return isIP(m[1] ?? m[2]!) !== 0 && port > 0 && port <= 65535;
}

/** "address:port" spelled one way (IPv6 in brackets, lower case), to compare configured servers. */
export function canonicalHostPort(s: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) return s;
  const host = (m[1] ?? m[2]!).toLowerCase();
  return `${host.includes(':') ? `[${host}]` : host}:${Number(m[3])}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge a parsed JSON object over the defaults, checking every field; all problems are reported together. */
export function validateConfig(raw: unknown, where = CONFIG_FILE): NodeConfig {
  const problems: string[] = [];
  const c = defaultConfig();
  if (!isObject(raw)) throw new ConfigError(`${where}: the configuration must be a JSON object`);
  const known = new Set(Object.keys(c));
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`unknown setting "${k}"`);

  const int = (v: unknown, name: string, min: number, max: number): number | undefined => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };
  const str = (v: unknown, name: string): string | undefined => {
    if (typeof v !== 'string' || v.length === 0) {
      problems.push(`${name} must be a non-empty string`);
      return undefined;
    }
    return v;
  };

  if ('roles' in raw) {
    const r = raw.roles;
    const list = typeof r === 'string' ? [r] : r;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => (ROLES as readonly string[]).includes(x as string))) {
      problems.push(`roles must be a list of ${ROLES.join(', ')}`);
    } else c.roles = [...new Set(list as Role[])];
  }
  if ('prefixes' in raw) {
    const p = raw.prefixes;
    if (!Array.isArray(p) || !p.every((x) => typeof x === 'string' && isValidPrefix(x))) {
      problems.push('prefixes must be a list of prefixes such as "88.118.8"');
    } else c.prefixes = p as string[];
  }
  if ('listen' in raw) {
    const l = raw.listen;
    if (!isObject(l)) problems.push('listen must be an object {host, port}');
    else {
      if ('host' in l) {
        const h = str(l.host, 'listen.host');
        if (h !== undefined && !isIP(h)) problems.push(`listen.host must be an IP address, not "${h}"`);
        else if (h) c.listen.host = h;
      }
      if ('port' in l) c.listen.port = int(l.port, 'listen.port', 0, 65535) ?? c.listen.port;
    }
  }
  if ('workers' in raw) c.workers = int(raw.workers, 'workers', 1, 64) ?? c.workers;
  if ('publicAddress' in raw) {
    const a = str(raw.publicAddress, 'publicAddress');
    if (a !== undefined && !isIP(a)) problems.push(`publicAddress must be an IP address, not "${a}"`);
    else if (a) c.publicAddress = a;
  }
  if ('caseFoldSuffix' in raw) {
    if (typeof raw.caseFoldSuffix !== 'boolean') problems.push('caseFoldSuffix must be true or false');
    else c.caseFoldSuffix = raw.caseFoldSuffix;
  }
  if ('site' in raw) {
    const s = raw.site;
    if (!isObject(s)) problems.push('site must be an object');
    else {
      if ('serial' in s) c.site.serial = int(s.serial, 'site.serial', 0, 65535) ?? c.site.serial;
      if ('serverId' in s) c.site.serverId = int(s.serverId, 'site.serverId', 0, 0xffffffff) ?? c.site.serverId;
      if ('description' in s) c.site.description = str(s.description, 'site.description') ?? c.site.description;
    }
  }
  if ('udp' in raw) {
    const u = raw.udp;
    if (!isObject(u)) problems.push('udp must be an object');
    else {
      for (const k of Object.keys(u)) if (!(k in c.udp)) problems.push(`unknown setting "udp.${k}"`);
      if ('maxResponseBytes' in u) c.udp.maxResponseBytes = int(u.maxResponseBytes, 'udp.maxResponseBytes', 492, 262144) ?? c.udp.maxResponseBytes;
      if ('rateLimit' in u) {
        const r = u.rateLimit;
        if (!isObject(r)) problems.push('udp.rateLimit must be an object');
        else {
          for (const k of Object.keys(r)) if (!(k in c.udp.rateLimit)) problems.push(`unknown setting "udp.rateLimit.${k}"`);
          if ('minBytes' in r) c.udp.rateLimit.minBytes = int(r.minBytes, 'udp.rateLimit.minBytes', 492, 262144) ?? c.udp.rateLimit.minBytes;
          if ('bytesPerSecond' in r) c.udp.rateLimit.bytesPerSecond = int(r.bytesPerSecond, 'udp.rateLimit.bytesPerSecond', 0, 2 ** 40) ?? c.udp.rateLimit.bytesPerSecond;
        }
      }
      if ('rrl' in u) validateRrl(u.rrl, c, problems, int);
    }
  }
  if ('tcp' in raw) {
    const t = raw.tcp;
    if (!isObject(t)) problems.push('tcp must be an object');
    else {
      for (const k of Object.keys(t)) if (!(k in c.tcp)) problems.push(`unknown setting "tcp.${k}"`);
      if ('idleTimeoutMs' in t) c.tcp.idleTimeoutMs = int(t.idleTimeoutMs, 'tcp.idleTimeoutMs', 100, 3600000) ?? c.tcp.idleTimeoutMs;
      if ('maxConnections' in t) c.tcp.maxConnections = int(t.maxConnections, 'tcp.maxConnections', 1, 1000000) ?? c.tcp.maxConnections;
      if ('maxConnectionsPerAddress' in t) {
        c.tcp.maxConnectionsPerAddress = int(t.maxConnectionsPerAddress, 'tcp.maxConnectionsPerAddress', 1, 1000000) ?? c.tcp.maxConnectionsPerAddress;
      }
      if ('requestTimeoutMs' in t) c.tcp.requestTimeoutMs = int(t.requestTimeoutMs, 'tcp.requestTimeoutMs', 100, 3600000) ?? c.tcp.requestTimeoutMs;
      // At least what one whole request (256 KiB) and the answer being sent need.
      if ('maxQueuedBytes' in t) c.tcp.maxQueuedBytes = int(t.maxQueuedBytes, 'tcp.maxQueuedBytes', 512 * 1024, 2 ** 30) ?? c.tcp.maxQueuedBytes;
    }
  }
  if ('recursion' in raw) {
    const r = raw.recursion;
    if (!isObject(r)) problems.push('recursion must be an object');
    else {
      for (const k of Object.keys(r)) if (!(k in c.recursion) && k !== 'upstream' && k !== 'sourceAddress') problems.push(`unknown setting "recursion.${k}"`);
      if ('allow' in r) {
        if (typeof r.allow !== 'boolean') problems.push('recursion.allow must be true or false');
        else c.recursion.allow = r.allow;
      }
      if ('roots' in r) {
        if (!Array.isArray(r.roots) || !r.roots.every((x) => typeof x === 'string' && isHostPort(x))) {
          problems.push('recursion.roots must be a list of "address:port"');
        } else c.recursion.roots = r.roots as string[];
      }
      if ('upstream' in r && r.upstream !== undefined && r.upstream !== null) {
        if (typeof r.upstream !== 'string' || !isHostPort(r.upstream)) problems.push('recursion.upstream must be "address:port"');
        else c.recursion.upstream = r.upstream;
      }
      if ('maxReferrals' in r) c.recursion.maxReferrals = int(r.maxReferrals, 'recursion.maxReferrals', 0, 1000) ?? c.recursion.maxReferrals;
      if ('maxRecursionCount' in r) c.recursion.maxRecursionCount = int(r.maxRecursionCount, 'recursion.maxRecursionCount', 1, 255) ?? c.recursion.maxRecursionCount;
      if ('udpTimeoutsMs' in r) {
        if (!Array.isArray(r.udpTimeoutsMs) || !r.udpTimeoutsMs.every((x) => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 60000)) {
          problems.push('recursion.udpTimeoutsMs must be a list of milliseconds');
        } else c.recursion.udpTimeoutsMs = r.udpTimeoutsMs as number[];
      }
      if ('tcpTimeoutMs' in r) c.recursion.tcpTimeoutMs = int(r.tcpTimeoutMs, 'recursion.tcpTimeoutMs', 10, 600000) ?? c.recursion.tcpTimeoutMs;
      if ('sourceAddress' in r && r.sourceAddress !== undefined && r.sourceAddress !== null) {
        if (typeof r.sourceAddress !== 'string' || !isIP(r.sourceAddress)) problems.push('recursion.sourceAddress must be an IP address');
        else c.recursion.sourceAddress = r.sourceAddress;
      }
      if ('maxConcurrentQueries' in r) {
        c.recursion.maxConcurrentQueries = int(r.maxConcurrentQueries, 'recursion.maxConcurrentQueries', 1, 65536) ?? c.recursion.maxConcurrentQueries;
      }
      if ('maxQueuedQueries' in r) c.recursion.maxQueuedQueries = int(r.maxQueuedQueries, 'recursion.maxQueuedQueries', 0, 1000000) ?? c.recursion.maxQueuedQueries;
      if ('failureTtlSeconds' in r) c.recursion.failureTtlSeconds = int(r.failureTtlSeconds, 'recursion.failureTtlSeconds', 0, 3600) ?? c.recursion.failureTtlSeconds;
      if ('requireCertified' in r) {
        if (typeof r.requireCertified !== 'boolean') problems.push('recursion.requireCertified must be true or false');
        else c.recursion.requireCertified = r.requireCertified;
      }
      if ('trustAnchors' in r) {
        const t = r.trustAnchors;
        if (!isObject(t) || !Object.entries(t).every(([k, v]) => isHostPort(k) && typeof v === 'string' && v.length > 0)) {
          problems.push('recursion.trustAnchors must map "address:port" to the file of that server\'s public key');
        } else c.recursion.trustAnchors = t as Record<string, string>;
      }
    }
  }
  if ('cache' in raw) {
    const k = raw.cache;
    if (!isObject(k)) problems.push('cache must be an object');
    else {
      for (const key of Object.keys(k)) if (!(key in c.cache)) problems.push(`unknown setting "cache.${key}"`);
      if ('maxBytes' in k) c.cache.maxBytes = int(k.maxBytes, 'cache.maxBytes', 0, 2 ** 40) ?? c.cache.maxBytes;
      if ('negativeTtlSeconds' in k) c.cache.negativeTtlSeconds = int(k.negativeTtlSeconds, 'cache.negativeTtlSeconds', 0, 86400) ?? c.cache.negativeTtlSeconds;
      if ('maxTtlSeconds' in k) c.cache.maxTtlSeconds = int(k.maxTtlSeconds, 'cache.maxTtlSeconds', 0, 31 * 86400) ?? c.cache.maxTtlSeconds;
      if ('staleWindowSeconds' in k) c.cache.staleWindowSeconds = int(k.staleWindowSeconds, 'cache.staleWindowSeconds', 0, 7 * 86400) ?? c.cache.staleWindowSeconds;
      if ('writeCheckMs' in k) c.cache.writeCheckMs = int(k.writeCheckMs, 'cache.writeCheckMs', 0, 60000) ?? c.cache.writeCheckMs;
    }
  }
  if ('dns' in raw) validateDns(raw.dns, c, problems, int);
  if ('http' in raw) validateHttp(raw.http, c, problems, int);
  checkHttpPort(c, problems);
  if ('admin' in raw) validateAdmin(raw.admin, c, problems, int);
  if (c.roles.includes('resolver')) c.recursion.allow = true;
  if (c.recursion.allow && c.recursion.roots.length === 0 && !c.recursion.upstream) {
    problems.push('recursion needs recursion.roots (where walks start) or recursion.upstream');
  }
  if (c.recursion.allow && c.recursion.requireCertified) {
    // Certified answers are checked with keys: those of the servers a walk starts from must be given.
    const anchored = new Set(Object.keys(c.recursion.trustAnchors).map(canonicalHostPort));
    for (const s of c.recursion.upstream ? [c.recursion.upstream] : c.recursion.roots) {
      if (!anchored.has(canonicalHostPort(s))) problems.push(`recursion.requireCertified needs the public key of ${s} in recursion.trustAnchors`);
    }
  }
  if ('securityLog' in raw) {
    const l = raw.securityLog;
    if (!isObject(l)) problems.push('securityLog must be an object');
    else {
      for (const k of Object.keys(l)) if (!(k in c.securityLog)) problems.push(`unknown setting "securityLog.${k}"`);
      if ('intervalSeconds' in l) c.securityLog.intervalSeconds = int(l.intervalSeconds, 'securityLog.intervalSeconds', 1, 86400) ?? c.securityLog.intervalSeconds;
      if ('linesPerInterval' in l) c.securityLog.linesPerInterval = int(l.linesPerInterval, 'securityLog.linesPerInterval', 1, 1000000) ?? c.securityLog.linesPerInterval;
    }
  }
  if ('durability' in raw) {
    const d = raw.durability;
    if (!isObject(d)) problems.push('durability must be an object');
    else {
      for (const k of Object.keys(d)) if (!(k in c.durability)) problems.push(`unknown setting "durability.${k}"`);
      for (const k of ['synchronous', 'importSynchronous'] as const) {
        if (!(k in d)) continue;
        const v = typeof d[k] === 'string' ? (d[k] as string).toLowerCase() : d[k];
        if (!(SYNCHRONOUS as readonly unknown[]).includes(v)) problems.push(`durability.${k} must be one of ${SYNCHRONOUS.join(', ')} (SQLite's synchronous), not ${JSON.stringify(d[k])}`);
        else c.durability[k] = v as Synchronous;
      }
    }
  }
  if ('database' in raw) c.database = str(raw.database, 'database') ?? c.database;
  if ('serverKey' in raw) c.serverKey = str(raw.serverKey, 'serverKey') ?? c.serverKey;

  if (problems.length) throw new ConfigError(`${where}:\n  - ${problems.join('\n  - ')}`);
  return c;
}

function validateRrl(
  r: unknown,
  c: NodeConfig,
  problems: string[],
  int: (v: unknown, name: string, min: number, max: number) => number | undefined,
): void {
  if (!isObject(r)) {
    problems.push('udp.rrl must be an object');
    return;
  }
  const d = c.udp.rrl;
  for (const k of Object.keys(r)) if (!(k in d)) problems.push(`unknown setting "udp.rrl.${k}"`);
  if ('responsesPerSecond' in r) d.responsesPerSecond = int(r.responsesPerSecond, 'udp.rrl.responsesPerSecond', 0, 10000000) ?? d.responsesPerSecond;
  if ('burst' in r) d.burst = int(r.burst, 'udp.rrl.burst', 1, 100000000) ?? d.burst;
  if ('slip' in r) d.slip = int(r.slip, 'udp.rrl.slip', 0, 100) ?? d.slip;
  if ('ipv4PrefixLength' in r) d.ipv4PrefixLength = int(r.ipv4PrefixLength, 'udp.rrl.ipv4PrefixLength', 8, 32) ?? d.ipv4PrefixLength;
  if ('ipv6PrefixLength' in r) d.ipv6PrefixLength = int(r.ipv6PrefixLength, 'udp.rrl.ipv6PrefixLength', 16, 64) ?? d.ipv6PrefixLength;
  if ('tableSize' in r) d.tableSize = int(r.tableSize, 'udp.rrl.tableSize', 64, 1 << 24) ?? d.tableSize;
  if ('exempt' in r) {
    const list = r.exempt;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && parseCidr(x) !== undefined)) {
      problems.push('udp.rrl.exempt must be a list of address blocks such as "192.0.2.0/24" or "2001:db8::/48"');
    } else d.exempt = list as string[];
  }
}

/** A host name for NS and SOA fields: letters, digits, "-" and "_" in labels, written absolute. */
function hostName(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const n = v.trim().replace(/\.$/, '').toLowerCase();
  if (n.length === 0 || n.length > 253 || !n.split('.').every((l) => /^[a-z0-9_-]{1,63}$/.test(l))) return undefined;
  return n + '.';
}

function validateDns(
  d: unknown,
  c: NodeConfig,
  problems: string[],
  int: (v: unknown, name: string, min: number, max: number) => number | undefined,
): void {
  if (!isObject(d)) {
    problems.push('dns must be an object');
    return;
  }
  for (const k of Object.keys(d)) if (!(k in c.dns) && k !== 'hostmaster') problems.push(`unknown setting "dns.${k}"`);
  if ('enabled' in d) {
    if (typeof d.enabled !== 'boolean') problems.push('dns.enabled must be true or false');
    else c.dns.enabled = d.enabled;
  }
  if ('port' in d) c.dns.port = int(d.port, 'dns.port', 0, 65535) ?? c.dns.port;
  if ('zones' in d) {
    if (!Array.isArray(d.zones) || d.zones.length === 0) problems.push('dns.zones must be a list of zone names such as "id.example.cn"');
    else {
      const zones: string[] = [];
      for (const z of d.zones) {
        try {
          if (typeof z !== 'string') throw new DnsMappingError(`${JSON.stringify(z)} is not a zone name`);
          zones.push(normaliseZone(z));
        } catch (err) {
          if (!(err instanceof DnsMappingError)) throw err;
          problems.push(`dns.zones: ${err.message}`);
        }
      }
      if (new Set(zones).size !== zones.length) problems.push('dns.zones lists a zone twice');
      c.dns.zones = zones;
    }
  }
  if ('nameServers' in d) {
    const list = Array.isArray(d.nameServers) ? d.nameServers.map(hostName) : [];
    if (list.length === 0 || list.some((x) => x === undefined)) problems.push('dns.nameServers must be a list of host names such as "ns1.example.cn"');
    else c.dns.nameServers = list as string[];
  }
  if ('hostmaster' in d && d.hostmaster !== undefined && d.hostmaster !== null) {
    const h = hostName(d.hostmaster);
    if (!h) problems.push('dns.hostmaster must be a mailbox in DNS form such as "hostmaster.example.cn"');
    else c.dns.hostmaster = h;
  }
  if ('ttl' in d) c.dns.ttl = int(d.ttl, 'dns.ttl', 0, 7 * 86400) ?? c.dns.ttl;
  if ('udpPayloadSize' in d) c.dns.udpPayloadSize = int(d.udpPayloadSize, 'dns.udpPayloadSize', 512, 4096) ?? c.dns.udpPayloadSize;
  if ('cacheMaxBytes' in d) c.dns.cacheMaxBytes = int(d.cacheMaxBytes, 'dns.cacheMaxBytes', 0, 2 ** 40) ?? c.dns.cacheMaxBytes;
  if ('tcpIdleTimeoutMs' in d) c.dns.tcpIdleTimeoutMs = int(d.tcpIdleTimeoutMs, 'dns.tcpIdleTimeoutMs', 100, 3600000) ?? c.dns.tcpIdleTimeoutMs;
}

function validateHttp(
  h: unknown,
  c: NodeConfig,
  problems: string[],
  int: (v: unknown, name: string, min: number, max: number) => number | undefined,
): void {
  if (!isObject(h)) {
    problems.push('http must be an object');
    return;
  }
  for (const k of Object.keys(h)) if (!(k in c.http) && k !== 'host') problems.push(`unknown setting "http.${k}"`);
  for (const k of ['enabled', 'redirectFront'] as const) {
    if (k in h) {
      if (typeof h[k] !== 'boolean') problems.push(`http.${k} must be true or false`);
      else c.http[k] = h[k];
    }
  }
  if ('port' in h) c.http.port = int(h.port, 'http.port', 0, 65535) ?? c.http.port;
  if ('host' in h && h.host !== undefined && h.host !== null) {
    if (typeof h.host !== 'string' || !isIP(h.host)) problems.push(`http.host must be an IP address, not ${JSON.stringify(h.host)}`);
    else c.http.host = h.host;
  }
  if ('maxBodyBytes' in h) c.http.maxBodyBytes = int(h.maxBodyBytes, 'http.maxBodyBytes', 1024, 256 * 1024 * 1024) ?? c.http.maxBodyBytes;
  if ('requestTimeoutMs' in h) c.http.requestTimeoutMs = int(h.requestTimeoutMs, 'http.requestTimeoutMs', 100, 3600000) ?? c.http.requestTimeoutMs;
  if ('headersTimeoutMs' in h) c.http.headersTimeoutMs = int(h.headersTimeoutMs, 'http.headersTimeoutMs', 100, 3600000) ?? c.http.headersTimeoutMs;
  if ('keepAliveTimeoutMs' in h) c.http.keepAliveTimeoutMs = int(h.keepAliveTimeoutMs, 'http.keepAliveTimeoutMs', 100, 3600000) ?? c.http.keepAliveTimeoutMs;
  if ('maxConnections' in h) c.http.maxConnections = int(h.maxConnections, 'http.maxConnections', 1, 1000000) ?? c.http.maxConnections;
  if ('maxConnectionsPerAddress' in h) {
    c.http.maxConnectionsPerAddress = int(h.maxConnectionsPerAddress, 'http.maxConnectionsPerAddress', 1, 1000000) ?? c.http.maxConnectionsPerAddress;
  }
  if ('plainHttpAuth' in h) {
    if (!(PLAIN_HTTP_AUTH as readonly unknown[]).includes(h.plainHttpAuth)) problems.push(`http.plainHttpAuth must be one of ${PLAIN_HTTP_AUTH.join(', ')}`);
    else c.http.plainHttpAuth = h.plainHttpAuth as NodeConfig['http']['plainHttpAuth'];
  }
}

/** The HTTP port must not be one the Handle or DNS front ends take on the same address. */
function checkHttpPort(c: NodeConfig, problems: string[]): void {
  if (c.http.enabled && c.dns.enabled && c.http.port !== 0 && c.http.port === c.dns.port) {
    // DNS over TCP and HTTP cannot share a port on the same address.
    const host = c.http.host ?? c.listen.host;
    if (host === c.listen.host) problems.push(`http.port ${c.http.port} is also the DNS gateway's port`);
  }
  if (c.http.enabled && c.http.port !== 0 && c.http.port === c.listen.port && (c.http.host ?? c.listen.host) === c.listen.host) {
    problems.push(`http.port ${c.http.port} is also the Handle TCP port (listen.port)`);
  }
}

function validateAdmin(
  a: unknown,
  c: NodeConfig,
  problems: string[],
  int: (v: unknown, name: string, min: number, max: number) => number | undefined,
): void {
  if (!isObject(a)) {
    problems.push('admin must be an object');
    return;
  }
  for (const k of Object.keys(a)) if (!(k in c.admin) && k !== 'serverAdmins') problems.push(`unknown setting "admin.${k}"`);
  if ('failedAuth' in a) {
    const f = a.failedAuth;
    const d = c.admin.failedAuth;
    if (!isObject(f)) problems.push('admin.failedAuth must be an object');
    else {
      for (const k of Object.keys(f)) if (!(k in d)) problems.push(`unknown setting "admin.failedAuth.${k}"`);
      if ('perIdentity' in f) d.perIdentity = int(f.perIdentity, 'admin.failedAuth.perIdentity', 0, 1000000) ?? d.perIdentity;
      if ('perSource' in f) d.perSource = int(f.perSource, 'admin.failedAuth.perSource', 0, 1000000) ?? d.perSource;
      if ('lockoutSeconds' in f) d.lockoutSeconds = int(f.lockoutSeconds, 'admin.failedAuth.lockoutSeconds', 1, 86400) ?? d.lockoutSeconds;
      if ('maxLockoutSeconds' in f) d.maxLockoutSeconds = int(f.maxLockoutSeconds, 'admin.failedAuth.maxLockoutSeconds', 1, 7 * 86400) ?? d.maxLockoutSeconds;
      if ('forgetSeconds' in f) d.forgetSeconds = int(f.forgetSeconds, 'admin.failedAuth.forgetSeconds', 1, 30 * 86400) ?? d.forgetSeconds;
      if (d.maxLockoutSeconds < d.lockoutSeconds) problems.push('admin.failedAuth.maxLockoutSeconds must not be less than lockoutSeconds');
      if (d.forgetSeconds < d.maxLockoutSeconds) problems.push('admin.failedAuth.forgetSeconds must not be less than maxLockoutSeconds (the doubling would restart after each lockout)');
    }
  }
  if ('serverAdmins' in a) {
    const list = a.serverAdmins;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && parseIdentity(x) !== undefined)) {
      problems.push('admin.serverAdmins must be a list of identities such as "300:0.NA/88.118.8"');
    } else c.admin.serverAdmins = list as string[];
  }
  for (const k of ['allowListHandles', 'requireSessions'] as const) {
    if (k in a) {
      if (typeof a[k] !== 'boolean') problems.push(`admin.${k} must be true or false`);
      else c.admin[k] = a[k] as boolean;
    }
  }
  if ('challengeTimeoutSeconds' in a) c.admin.challengeTimeoutSeconds = int(a.challengeTimeoutSeconds, 'admin.challengeTimeoutSeconds', 1, 3600) ?? c.admin.challengeTimeoutSeconds;
  if ('maxSessionSeconds' in a) c.admin.maxSessionSeconds = int(a.maxSessionSeconds, 'admin.maxSessionSeconds', 1, 7 * 86400) ?? c.admin.maxSessionSeconds;
  if ('quotas' in a) {
    const q = a.quotas;
    if (!isObject(q)) {
      problems.push('admin.quotas must be an object keyed by prefix');
      return;
    }
    for (const [prefix, quota] of Object.entries(q)) {
      if (!isValidPrefix(prefix)) problems.push(`admin.quotas: "${prefix}" is not a prefix`);
      if (!isObject(quota)) {
        problems.push(`admin.quotas.${prefix} must be an object`);
        continue;
      }
      const out: PrefixQuota = {};
      for (const [k, v] of Object.entries(quota)) {
        if (k !== 'maxHandles' && k !== 'maxPrefixes' && k !== 'dailyRequestsPerClient') {
          problems.push(`unknown setting "admin.quotas.${prefix}.${k}"`);
          continue;
        }
        const n = int(v, `admin.quotas.${prefix}.${k}`, 0, Number.MAX_SAFE_INTEGER);
        if (n !== undefined) out[k] = n;
      }
      c.admin.quotas[prefix] = out;
    }
  }
}

/** Read <dir>/idres.json and apply IDRES_LISTEN_HOST / IDRES_PORT / IDRES_HTTP_PORT from the environment. */
export function loadConfig(dir: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const file = path.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`no node in ${dir}: ${CONFIG_FILE} not found (run "idres init --dir ${dir}" first)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const c = validateConfig(raw, file);
  if (env.IDRES_LISTEN_HOST) {
    if (!isIP(env.IDRES_LISTEN_HOST)) throw new ConfigError(`IDRES_LISTEN_HOST must be an IP address`);
    c.listen.host = env.IDRES_LISTEN_HOST;
  }
  if (env.IDRES_PORT) {
    const p = Number(env.IDRES_PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ConfigError(`IDRES_PORT must be a port number`);
    c.listen.port = p;
  }
  if (env.IDRES_HTTP_PORT) {
    const p = Number(env.IDRES_HTTP_PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ConfigError(`IDRES_HTTP_PORT must be a port number`);
    c.http.port = p;
  }
  return c;
}

/**
 * How to open the node's registry: its case folding, and the durability of commits — the node's and the
 * CLI's writes, or a bulk import's (docs/security.md, Durability).
 */
export function registryOptions(c: NodeConfig, purpose: 'writes' | 'import' = 'writes'): { foldSuffix: boolean; synchronous: Synchronous } {
  return { foldSuffix: c.caseFoldSuffix, synchronous: purpose === 'import' ? c.durability.importSynchronous : c.durability.synchronous };
}
