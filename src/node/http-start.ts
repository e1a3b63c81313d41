import { HandleClient, type ServerAddress, parseServer } from '../client/handle-client.js';
import { type NodeConfig, isMirror } from './config.js';
import type { RunningReplication } from './replication-start.js';
import type { IdentityKeys } from '../admin/identity.js';
import type { AdminService } from '../admin/operations.js';
import type { DnsGatewayStats } from '../dns/gateway.js';
import type { SiteInfo } from '../model/site.js';
import type { HandlerStats } from '../wire/dispatcher.js';
import type { Forwarder } from '../resolve/forwarder.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import type { Recursor } from '../resolve/recursor.js';
import type { Registry } from '../store/registry.js';
import { importProgressRecords } from '../store/bulk-writer.js';
import { parseProgress } from '../admin/import-progress.js';
import type { HttpExchange } from '../http/exchange.js';
import { HttpFrontEnd } from '../server/http.js';
import { JsonApi } from '../http/api.js';
import { httpReadCache } from '../http/read-cache.js';
import { httpApp } from '../http/app.js';
import { HttpAuthenticator } from '../http/auth.js';
import { Health, mirrorReadiness } from '../http/health.js';
import { RedirectFront } from '../http/redirect.js';
import { HttpCounters } from '../http/counters.js';
import { LATENCY_BUCKETS, NodeMetrics, type RegistrySources, type ReplicationSources, type SecuritySources } from './metrics.js';
import { sendStatus } from '../http/status.js';
import type { WireCounters } from '../wire/counters.js';
import type { ConnectionStats } from '../server/connection-guard.js';

// Composition of the HTTP face from a node's parts (as dns-start.ts does for the DNS gateway): the JSON API,
// the redirect front, metrics and health behind one listener.

export interface HttpNodeParts {
  config: NodeConfig;
  pipeline: ResolutionPipeline;
  registry?: Registry;
  admin?: AdminService;
  identities?: IdentityKeys;
  upstream?: Recursor | Forwarder;
  site: () => SiteInfo;
  handlerStats: () => HandlerStats;
  wire: WireCounters;
  dnsStats: () => DnsGatewayStats | undefined;
  /** The other front ends and whether they are bound. */
  ports: () => Array<[string, boolean]>;
  log: (msg: string) => void;
  noticeWrites: () => void;
  /** Connection counters of the other stream front ends (tcp, dns), by transport. */
  connections?: () => ReadonlyArray<readonly [string, ConnectionStats]>;
  /** The security log and the limits (failed authentications, UDP response rates), for the metrics and HTTP's checks. */
  security?: SecuritySources;
  /** Replication as it runs now (a getter: a mirror may be promoted while HTTP stands). */
  replication?: () => RunningReplication | undefined;
}

export interface RunningHttp {
  server: HttpFrontEnd;
  host: string;
  port: number;
  metrics: NodeMetrics;
  api: JsonApi;
  health: Health;
  close(): Promise<void>;
}

export async function startHttp(p: HttpNodeParts, port = p.config.http.port): Promise<RunningHttp> {
  const c = p.config;
  const host = c.http.host ?? c.listen.host;
  const auth = new HttpAuthenticator(
    p.identities,
    (ex) => (c.http.plainHttpAuth === 'always' ? true : c.http.plainHttpAuth === 'loopback' ? ex.peerIsLoopback : false),
    p.security?.auth,
  );
  const api = new JsonApi({
    pipeline: p.pipeline,
    ...(p.admin ? { admin: p.admin } : {}),
    auth,
    site: p.site,
    noticeWrites: p.noticeWrites,
    ...(c.http.readCacheMaxBytes > 0 ? { reads: httpReadCache(c.http.readCacheMaxBytes, p.pipeline) } : {}),
  });
  const upstreamName = c.recursion.upstream;
  let server: HttpFrontEnd | undefined;
  const counters = new HttpCounters(LATENCY_BUCKETS);
  const metrics = new NodeMetrics({
    wire: p.wire,
    http: counters,
    handler: p.handlerStats,
    cache: p.pipeline.cache,
    ...(p.upstream ? { upstream: p.upstream } : {}),
    ...(upstreamName ? { upstreamName } : {}),
    dns: p.dnsStats,
    ...(p.registry ? { registry: registrySources(p.registry) } : {}),
    apiOperations: () => api.operations,
    authFailures: () => auth.failures,
    connections: () => [...(p.connections?.() ?? []), ...(server ? [['http', server.connections] as const] : [])],
    ...(p.security ? { security: p.security } : {}),
    ...(p.replication && p.registry ? { replication: replicationSources(c, p.registry, p.replication) } : {}),
  });
  // A resolving node is ready only when it can reach a server to resolve from.
  const upstreams: ServerAddress[] = c.recursion.allow ? (c.recursion.upstream ? [c.recursion.upstream] : c.recursion.roots).map((s) => parseServer(s)) : [];
  const probeClient = upstreams.length ? new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 700 }) : undefined;
  const health = new Health({
    ...(p.registry ? { registryOpen: () => p.registry!.db.open } : {}),
    ports: () => [...p.ports(), ['http', server?.listening ?? false]],
    upstreams,
    ...(probeClient ? { probeClient } : {}),
    now: p.pipeline.now,
    ...(p.replication && isMirror(c) ? { replication: mirrorReady(p.replication, c.replication.maxLagSeconds) } : {}),
  });
  let boundPort = port;
  const status = (ex: HttpExchange) =>
    sendStatus(ex, {
      config: c,
      ...(p.registry ? { registry: p.registry } : {}),
      cache: p.pipeline.cache,
      ...(p.upstream ? { upstream: p.upstream } : {}),
      site: p.site,
      httpPort: () => boundPort,
      readiness: () => health.readiness(),
    });
  const route = httpApp({ api, health, metrics, status, ...(c.http.redirectFront ? { front: new RedirectFront(p.pipeline) } : {}) });
  server = new HttpFrontEnd(route, c.http, counters, p.log);
  let bound: number;
  try {
    bound = await server.listen(host, port);
  } catch (err) {
    probeClient?.close();
    throw err;
  }
  boundPort = bound;
  const s = server;
  return {
    server: s,
    host,
    port: bound,
    metrics,
    api,
    health,
    close: async () => {
      await s.close();
      probeClient?.close();
    },
  };
}

/** What the metrics read of the registry, as callbacks: they never hold it. */
function registrySources(reg: Registry): RegistrySources {
  return {
    open: () => reg.db.open,
    handleCount: () => reg.count(),
    pointReads: () => reg.pointReadStats,
    importProgress: () => importProgressRecords(reg).map(parseProgress).filter((p) => p !== undefined),
  };
}

/** On a mirror, its loop for the metrics; on a primary, its log and what it served its mirrors. */
function replicationSources(c: NodeConfig, reg: Registry, running: () => RunningReplication | undefined): ReplicationSources {
  if (isMirror(c)) return { mirror: () => running()?.mirror };
  return {
    log: () => (reg.db.open ? { first: reg.firstTxnId(), last: reg.lastTxnId() } : { first: 0, last: 0 }),
    served: () => running()?.source?.stats,
  };
}

/** A mirror's readiness check; once it is a mirror no more (promoted), it has none to fail. */
function mirrorReady(running: () => RunningReplication | undefined, maxLagSeconds: number): () => true | string {
  return () => {
    const m = running()?.mirror;
    return m ? mirrorReadiness(m, maxLagSeconds) : true;
  };
}
