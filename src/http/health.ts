import type { HandleClient, ServerAddress } from '../client/handle-client.js';
import type { HttpExchange } from './exchange.js';

// /healthz: the process is alive and answering HTTP. /readyz: the node can do its work — its registry is
// open, its ports are bound, and, for a node that resolves for others, at least one of its upstream servers
// (recursion roots, or the forwarding upstream) answers GET_SITE_INFO; for a mirror, it is not copying the
// primary's registry and its lag stays within replication.maxLagSeconds, so a load balancer stops sending
// it readers while its answers would be stale. The probe's result is kept briefly so that a load balancer
// probing every second does not become a stream of upstream queries.

export interface ReadinessSources {
  /** Absent on a node without a registry. */
  registryOpen?: () => boolean;
  /** Each front end and whether it is bound. */
  ports: () => Array<[name: string, bound: boolean]>;
  /** The servers a resolving node depends on; absent or empty when it resolves only from its registry. */
  upstreams?: readonly ServerAddress[];
  /** A client with short timeouts, for the probes. */
  probeClient?: HandleClient;
  /** How long a probe's result stands. */
  probeTtlMs?: number;
  /** The clock (ms) that times it (the pipeline's; tests pass a fake one). */
  now?: () => number;
  /** On a mirror: true while it keeps up with its primary, else why not (see mirrorReadiness). */
  replication?: () => true | string;
}

/** What the readiness of a mirror reads of its loop. */
export interface MirrorProgress {
  stats: { copying: boolean };
  /** Seconds since it last held everything its primary held; Infinity before the first time. */
  lagSeconds(): number;
}

/** A mirror is ready while it is not copying and has caught up within the last `maxLagSeconds`. */
export function mirrorReadiness(m: MirrorProgress, maxLagSeconds: number): true | string {
  if (m.stats.copying) return "copying the primary's registry";
  const lag = m.lagSeconds();
  if (lag === Infinity) return 'not caught up with the primary yet';
  if (lag > maxLagSeconds) return `lag ${Math.floor(lag)} s over the bound of ${maxLagSeconds} s`;
  return true;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

export class Health {
  private probe: { at: number; result: Promise<string | true> } | undefined;

  constructor(private readonly s: ReadinessSources) {}

  live(ex: HttpExchange): void {
    ex.send(200, { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store' }, '{"status":"alive"}');
  }

  async ready(ex: HttpExchange): Promise<void> {
    const r = await this.readiness();
    ex.send(r.ready ? 200 : 503, { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store' }, JSON.stringify({ status: r.ready ? 'ready' : 'not ready', ...r.checks }));
  }

  async readiness(): Promise<Readiness> {
    const checks: Record<string, boolean | string> = {};
    let ready = true;
    if (this.s.registryOpen) {
      checks.registry = this.s.registryOpen();
      ready &&= checks.registry;
    }
    for (const [name, bound] of this.s.ports()) {
      checks[name] = bound;
      ready &&= bound;
    }
    if (this.s.replication) {
      const r = this.s.replication();
      checks.replication = r;
      ready &&= r === true;
    }
    if (this.s.upstreams?.length && this.s.probeClient) {
      const up = await this.upstreamsReachable();
      checks.upstreams = up === true ? true : up;
      ready &&= up === true;
    }
    return { ready, checks };
  }

  /** True when one upstream answered, else why none did. */
  private upstreamsReachable(): Promise<string | true> {
    const now = (this.s.now ?? Date.now)();
    if (this.probe && now - this.probe.at < (this.s.probeTtlMs ?? 1000)) return this.probe.result;
    const client = this.s.probeClient!;
    const servers = this.s.upstreams!;
    const result = Promise.any(servers.map((srv) => client.siteInfo(srv))).then(
      () => true as const,
      () => `none of ${servers.map((x) => `${x.host}:${x.port}`).join(', ')} answered`,
    );
    this.probe = { at: now, result };
    return result;
  }
}
