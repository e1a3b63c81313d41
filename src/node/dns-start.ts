import type { NodeConfig } from './config.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import { DnsServer, type DnsServerOptions } from '../server/dns.js';
import type { ZoneData } from '../dns/answers.js';
import { DnsGateway } from '../dns/gateway.js';

// Composition of the DNS front door from a node's configuration: zones → gateway → UDP and TCP server.

/** SOA timers. Nothing transfers these zones (they are generated), so these only inform tools that read them. */
const SOA_TIMERS = { refresh: 3600, retry: 600, expire: 1209600 };

export function zoneData(config: NodeConfig): ZoneData[] {
  const d = config.dns;
  return d.zones.map((zone) => ({
    zone,
    nameServers: d.nameServers,
    hostmaster: d.hostmaster ?? `hostmaster.${d.zones[0]}.`,
    // The node's site serial: an operator bumps it when the node's public face changes.
    serial: config.site.serial,
    ...SOA_TIMERS,
    negativeTtl: config.cache.negativeTtlSeconds,
    ttl: d.ttl,
  }));
}

export interface RunningDns {
  gateway: DnsGateway;
  server: DnsServer;
  port: number;
}

export async function startDns(
  config: NodeConfig,
  pipeline: ResolutionPipeline,
  log: (m: string) => void,
  shared = false,
  /** Response-rate limiting of the UDP answers (the node's udp.rrl). */
  limits: Pick<DnsServerOptions, 'limiter' | 'now' | 'onError'> = {},
): Promise<RunningDns> {
  const gateway = new DnsGateway(
    pipeline,
    {
      zones: zoneData(config),
      udpPayloadSize: config.dns.udpPayloadSize,
      recursionAvailable: config.recursion.allow,
      maxTtlSeconds: config.cache.maxTtlSeconds,
      cacheMaxBytes: config.dns.cacheMaxBytes,
    },
    log,
  );
  const t = config.tcp;
  const server = new DnsServer(gateway, {
    tcpIdleTimeoutMs: config.dns.tcpIdleTimeoutMs,
    maxTcpConnections: t.maxConnections,
    // DNS over TCP is bounded per client by the same settings as the Handle TCP port (counted apart).
    tcpBounds: { maxConnectionsPerAddress: t.maxConnectionsPerAddress, maxQueuedBytes: t.maxQueuedBytes, requestTimeoutMs: t.requestTimeoutMs },
    ...limits,
  });
  const port = await server.listen(config.listen.host, config.dns.port, shared);
  return { gateway, server, port };
}
