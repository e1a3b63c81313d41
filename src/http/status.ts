import type { SiteInfo } from '../model/site.js';
import { Transport } from '../model/site.js';
import { describePublicKey } from '../protocol/json.js';
import type { AnswerCache } from '../resolve/cache/answer-cache.js';
import { Forwarder } from '../resolve/forwarder.js';
import type { Recursor } from '../resolve/recursor.js';
import type { Registry } from '../store/registry.js';
import type { Readiness } from './health.js';
import type { HttpExchange } from './exchange.js';
import { sendJson } from './json.js';

// GET /api/status: a node's state in one document, for `idres status --api` and for scripts: its roles, the
// prefixes it homes, its handle count, its hot cache, its ports, and, for a node that resolves for others,
// its upstream servers and whether one answers. Read-only and unauthenticated, like /metrics, which counts
// the same things; every figure is read when asked (the handle count is kept by each write, not counted).

export interface PortStatus {
  port: number | null;
  bound: boolean | null;
}

export interface NodeStatus {
  roles: string[];
  prefixes: string[];
  /** Null on a node without a registry (a pure resolver). */
  handles: number | null;
  /** The fingerprint of the server key in the node's site record (which node this is). */
  serverKey: string | null;
  ports: { udp: PortStatus; tcp: PortStatus; http: PortStatus | null; dns: PortStatus | null };
  cache: { entries: number; bytes: number; maxBytes: number; hits: number; misses: number; hitRatio: number | null; staleServed: number } | null;
  upstream: {
    mode: 'walk' | 'forward';
    servers: string[];
    /** true when one of them answered GET_SITE_INFO just now; otherwise why none did. */
    reachable: true | string;
    queries: number;
    failures: number;
  } | null;
}

/** What the status document reads of the node's configuration (a NodeConfig has all of it). */
export interface StatusConfig {
  roles: readonly string[];
  prefixes: readonly string[];
  recursion: { allow: boolean; upstream?: string | undefined; roots: readonly string[] };
  dns: { enabled: boolean; port: number };
  cache: { maxBytes: number };
}

export interface StatusSources {
  config: StatusConfig;
  registry?: Registry;
  cache: AnswerCache;
  upstream?: Recursor | Forwarder;
  site: () => SiteInfo;
  httpPort: () => number;
  readiness: () => Promise<Readiness>;
}

function sitePort(site: SiteInfo, protocol: number): number | null {
  for (const s of site.servers) for (const i of s.interfaces) if (i.protocol === protocol) return i.port;
  return null;
}

export async function nodeStatus(s: StatusSources): Promise<NodeStatus> {
  const c = s.config;
  const r = await s.readiness();
  const bound = (name: string) => (typeof r.checks[name] === 'boolean' ? (r.checks[name] as boolean) : null);
  const site = s.site();
  const key = site.servers.find((x) => x.publicKey.length > 0)?.publicKey;
  const stats = s.cache.stats;
  const lookups = stats.hits + stats.misses;
  let upstream: NodeStatus['upstream'] = null;
  if (s.upstream && c.recursion.allow) {
    const u = s.upstream;
    const failures = u instanceof Forwarder ? u.stats.upstreamFailures : [...u.stats.upstreamFailures.values()].reduce((a, b) => a + b, 0);
    upstream = {
      mode: c.recursion.upstream ? 'forward' : 'walk',
      servers: c.recursion.upstream ? [c.recursion.upstream] : [...c.recursion.roots],
      reachable: r.checks.upstreams === undefined ? 'not probed' : r.checks.upstreams === true ? true : String(r.checks.upstreams),
      queries: u.stats.upstreamQueries,
      failures,
    };
  }
  return {
    roles: [...c.roles],
    prefixes: s.registry?.db.open ? s.registry.homedPrefixes() : [...c.prefixes],
    handles: s.registry?.db.open ? s.registry.count() : null,
    serverKey: key ? (describePublicKey(key)?.fingerprint ?? null) : null,
    ports: {
      udp: { port: sitePort(site, Transport.UDP), bound: bound('udp') },
      tcp: { port: sitePort(site, Transport.TCP), bound: bound('tcp') },
      http: { port: s.httpPort(), bound: bound('http') },
      dns: c.dns.enabled ? { port: c.dns.port || null, bound: bound('dns') } : null,
    },
    cache: {
      entries: s.cache.size,
      bytes: s.cache.bytes,
      maxBytes: c.cache.maxBytes,
      hits: stats.hits,
      misses: stats.misses,
      hitRatio: lookups ? stats.hits / lookups : null,
      staleServed: stats.staleServed,
    },
    upstream,
  };
}

export async function sendStatus(ex: HttpExchange, s: StatusSources): Promise<void> {
  if (ex.method !== 'GET' && ex.method !== 'HEAD') return ex.send(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain;charset=UTF-8' }, 'GET only\n');
  sendJson(ex, 200, await nodeStatus(s), { 'Cache-Control': 'no-store' });
}
