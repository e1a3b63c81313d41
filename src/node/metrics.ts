import path from 'node:path';
import client from 'prom-client';
import type { ImportProgress } from '../admin/import-progress.js';
import type { DnsGatewayStats } from '../dns/gateway.js';
import { opCodeName } from '../protocol/constants.js';
import type { AnswerCache } from '../resolve/cache/answer-cache.js';
import type { HandlerStats } from '../wire/dispatcher.js';
import { Forwarder } from '../resolve/forwarder.js';
import { Recursor } from '../resolve/recursor.js';
import { SAMPLE_EVERY, type WireCounters } from '../wire/counters.js';
import { CLOSE_REASONS, type ConnectionStats } from '../server/connection-guard.js';
import type { AuthLimiter } from '../admin/auth-limits.js';
import { SECURITY_EVENTS, type SecurityLog } from '../admin/security-log.js';
import type { ResponseRateLimiter } from '../server/udp-rate.js';
import type { MirrorStats } from '../replicate/mirror.js';
import type { HttpCounters } from '../http/counters.js';
import { CollectedHistogram } from './collected-histogram.js';

// /metrics (Prometheus text format, prom-client). Everything is read at scrape time from the plain counters
// the node already keeps (collect callbacks), so neither the packet path nor the HTTP one pays for metrics
// beyond bumping a number in a flat array (wire/counters.ts, http/counters.ts). Each node has a registry of
// its own, so several nodes in one process (tests, the demo) do not mix their figures.

export interface MetricSources {
  wire: WireCounters;
  /** HTTP requests by route, method and status, and their times (absent: no HTTP metrics). */
  http?: HttpCounters;
  handler: () => HandlerStats;
  cache: AnswerCache;
  upstream?: Recursor | Forwarder;
  /** "host:port" of a forwarder's one upstream, for its failures' label. */
  upstreamName?: string;
  dns?: () => DnsGatewayStats | undefined;
  /** Absent on a node without a registry. */
  registry?: RegistrySources;
  /** HTTP API answers by operation, and failed HTTP authentications. */
  apiOperations?: () => ReadonlyMap<string, number>;
  authFailures?: () => number;
  /** Connection counters of the stream front ends, by transport (tcp, dns, http). */
  connections?: () => ReadonlyArray<readonly [string, ConnectionStats]>;
  security?: SecuritySources;
  /** Replication (docs/replication.md), on a mirror or on a primary that serves mirrors. */
  replication?: ReplicationSources;
}

/**
 * Replication, read at scrape time. A getter rather than the object: the node may stop being a mirror
 * (promotion) while the metrics stand.
 */
export interface ReplicationSources {
  /** On a mirror: its loop's counters, and its lag in seconds (+Inf before it first caught up). */
  mirror?: () => { stats: MirrorStats; lagSeconds(): number } | undefined;
  /** On a primary: the transaction ids its log holds (0 when empty), and what it served its mirrors. */
  log?: () => { first: number; last: number };
  served?: () => { pulls: number; dumps: number; redumpsAsked: number; transactionsSent: number; handlesDumped: number } | undefined;
}

/** The registry, read at scrape time through these rather than held: whether it is open, its size, its imports. */
export interface RegistrySources {
  open: () => boolean;
  /** Counting the handles of a large registry is a scan: called at most every REGISTRY_COUNT_EVERY_MS. */
  handleCount: () => number;
  /** Where each import file has got to (docs/import.md). */
  importProgress: () => ImportProgress[];
  /** The miss path's point reads and the read transactions they shared (store/point-reader.ts), if used. */
  pointReads: () => { reads: number; snapshots: number } | undefined;
}

/** The node's defences (docs/security.md), read at scrape time. */
export interface SecuritySources {
  log: SecurityLog;
  auth?: AuthLimiter;
  /** The Handle UDP front end's response-rate limiter, and the DNS gateway's. */
  rrl?: ResponseRateLimiter;
  dnsRrl?: ResponseRateLimiter;
}

/** Buckets for answers from ~20 µs (a cached answer) to seconds (a walk that fails over); HTTP's too. */
export const LATENCY_BUCKETS = [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets for a mirror's delay behind its primary: milliseconds (a poll) to half a minute (the default bound). */
const APPLY_DELAY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Counting the handles of a large registry is a scan; do it at most this often. */
const REGISTRY_COUNT_EVERY_MS = 15000;

/** How a metric read at scrape time gives its values: each labelled value through `set`. */
type Read = (set: (labels: Record<string, string | number>, v: number) => void) => void;
/** Makes a counter or a gauge read by `read`. */
type MakeMetric = (name: string, help: string, labelNames: string[], read: Read) => unknown;

export class NodeMetrics {
  readonly registry = new client.Registry();
  private handleCount: { n: number; at: number } | undefined;

  constructor(s: MetricSources) {
    const registers = [this.registry];
    // Every metric is read from its source when scraped: cleared, then each labelled value put back.
    const collected =
      <M extends { reset(): void }>(read: Read, put: (m: M, labels: Record<string, string | number>, v: number) => void) =>
      function (this: M): void {
        this.reset();
        read((labels, v) => put(this, labels, v));
      };
    const counter = (name: string, help: string, labelNames: string[], read: Read) =>
      new client.Counter({ name, help, labelNames, registers, collect: collected<client.Counter<string>>(read, (m, l, v) => m.inc(l, v)) });
    const gauge = (name: string, help: string, labelNames: string[], read: Read) =>
      new client.Gauge({ name, help, labelNames, registers, collect: collected<client.Gauge<string>>(read, (m, l, v) => m.set(l, v)) });

    counter('idres_requests_total', 'Handle protocol requests answered, by transport, opcode and response code', ['transport', 'opcode', 'code'], (set) => {
      for (const r of s.wire.rows()) set({ transport: r.transport, opcode: r.opcode === 'other' ? 'other' : opCodeName(r.opcode), code: r.code }, r.count);
    });
    counter('idres_requests_unanswered_total', 'Handle protocol packets given no answer (undecodable, or responses)', ['transport'], (set) => {
      set({ transport: 'udp' }, s.wire.unanswered[0]!);
      set({ transport: 'tcp' }, s.wire.unanswered[1]!);
    });
    counter('idres_request_errors_total', 'Handle protocol requests that failed, by kind', ['kind'], (set) => {
      const h = s.handler();
      set({ kind: 'protocol' }, h.protocolErrors);
      set({ kind: 'internal' }, h.internalErrors);
      set({ kind: 'dropped' }, h.dropped);
      set({ kind: 'stray_response' }, h.strayResponses);
      set({ kind: 'too_large_for_udp' }, h.tooLargeForUdp);
      set({ kind: 'udp_rate_limited' }, h.udpRateLimited);
    });
    const wireLatency = new client.Histogram({
      name: 'idres_request_duration_seconds',
      help: `Handle protocol request handling time (sampled: one request in ${SAMPLE_EVERY}), by transport`,
      labelNames: ['transport'],
      buckets: LATENCY_BUCKETS,
      registers,
      collect() {
        for (const t of s.wire.takeSamples()) for (const v of t.seconds) this.observe({ transport: t.transport }, v);
      },
    });
    void wireLatency;

    const c = s.cache;
    counter('idres_cache_hits_total', 'Hot cache lookups answered fresh', [], (set) => set({}, c.stats.hits));
    counter('idres_cache_misses_total', 'Hot cache lookups that missed (or found only a stale answer)', [], (set) => set({}, c.stats.misses));
    counter('idres_cache_stale_served_total', 'Stale answers served because every upstream failed', [], (set) => set({}, c.stats.staleServed));
    counter('idres_cache_inserts_total', 'Answers put in the hot cache', [], (set) => set({}, c.stats.inserts));
    counter('idres_cache_invalidations_total', 'Drops of cached answers made stale by writes', [], (set) => set({}, c.stats.invalidations));
    gauge('idres_cache_entries', 'Answers in the hot cache', [], (set) => set({}, c.size));
    gauge('idres_cache_bytes', 'Bytes the hot cache counts against its bound', [], (set) => set({}, c.bytes));

    const u = s.upstream;
    if (u) {
      counter('idres_upstream_queries_total', 'Queries sent to other servers (each retry and failover counts)', [], (set) => set({}, u.stats.upstreamQueries));
      counter('idres_upstream_failures_total', 'Failed exchanges with other servers, by server', ['server'], (set) => {
        if (u instanceof Recursor) for (const [server, n] of u.stats.upstreamFailures) set({ server }, n);
        else set({ server: s.upstreamName ?? 'upstream' }, u.stats.upstreamFailures);
      });
      // The defences of docs/security.md: answers not believed, and the bound on upstream work.
      counter('idres_upstream_answers_refused_total', 'Answers from other servers dropped unbelieved, by the check they failed', ['reason'], (set) => {
        for (const [reason, n] of Object.entries(u.clientStats.refused)) set({ reason }, n);
      });
      gauge('idres_upstream_sockets', 'Sockets open to other servers now (one per exchange in flight)', [], (set) => set({}, u.clientStats.openSockets));
      gauge('idres_upstream_queries_in_flight', 'Exchanges with other servers in flight', [], (set) => set({}, u.limiter.inFlight));
      gauge('idres_upstream_queries_waiting', 'Exchanges waiting for a slot (recursion.maxConcurrentQueries)', [], (set) => set({}, u.limiter.waiting));
      counter('idres_upstream_queries_queued_total', 'Exchanges that had to wait for a slot', [], (set) => set({}, u.limiter.stats.queued));
      counter('idres_upstream_refused_total', 'Resolutions refused (RC 2, resolver busy) because the queue was full', [], (set) => set({}, u.limiter.stats.refused));
      if (u instanceof Recursor) {
        counter('idres_recursor_walks_total', 'Walks of the hierarchy from a root', [], (set) => set({}, u.stats.walks));
        counter('idres_recursor_referrals_total', 'Prefix referrals followed', [], (set) => set({}, u.stats.referralsFollowed));
        counter('idres_recursor_site_cache_hits_total', 'Prefix sites found in the site cache', [], (set) => set({}, u.stats.siteCacheHits));
        counter('idres_recursor_negative_cache_hits_total', 'Resolutions answered without a walk from what a recent walk learnt, by kind', ['kind'], (set) => {
          set({ kind: 'prefix_not_found' }, u.stats.negativeHits);
          set({ kind: 'walk_failed' }, u.stats.failureHits);
        });
      }
    }

    if (s.dns) {
      const dns = s.dns;
      counter('idres_dns_queries_total', 'DNS gateway queries, by outcome', ['outcome'], (set) => {
        const d = dns();
        if (!d) return;
        set({ outcome: 'all' }, d.queries);
        set({ outcome: 'cache_hit' }, d.cacheHits);
        set({ outcome: 'blob_copy' }, d.blobCopies);
        set({ outcome: 'dropped' }, d.dropped);
        set({ outcome: 'form_error' }, d.formErrors);
        set({ outcome: 'truncated' }, d.truncated);
        set({ outcome: 'internal_error' }, d.internalErrors);
      });
    }

    const reg = s.registry;
    if (reg) {
      gauge('idres_registry_handles', `Handles in the registry (counted at most every ${REGISTRY_COUNT_EVERY_MS / 1000} s)`, [], (set) => {
        if (!reg.open()) return;
        const now = Date.now();
        if (!this.handleCount || now - this.handleCount.at > REGISTRY_COUNT_EVERY_MS) this.handleCount = { n: reg.handleCount(), at: now };
        set({}, this.handleCount.n);
      });
      counter('idres_registry_point_reads_total', "The miss path's reads of stored values, and the read transactions they shared (one per event-loop turn that read more than once)", ['kind'], (set) => {
        const p = reg.pointReads();
        if (!p) return;
        set({ kind: 'read' }, p.reads);
        set({ kind: 'transaction' }, p.snapshots);
      });
      const imports = () => (reg.open() ? reg.importProgress() : []);
      gauge('idres_import_rows', 'Rows of each import file committed so far, by outcome', ['file', 'outcome'], (set) => {
        for (const p of imports()) {
          const file = path.basename(p.file);
          for (const [outcome, n] of Object.entries(p.counts)) set({ file, outcome }, n);
        }
      });
      gauge('idres_import_done', 'Whether each import file was read and committed to its end (1) or is still partial (0)', ['file'], (set) => {
        for (const p of imports()) set({ file: path.basename(p.file) }, p.done ? 1 : 0);
      });
    }

    if (s.connections) {
      const conns = s.connections;
      gauge('idres_connections_open', 'Connections open now, by transport', ['transport'], (set) => {
        for (const [transport, c] of conns()) set({ transport }, c.open);
      });
      counter('idres_connections_accepted_total', 'Connections accepted, by transport', ['transport'], (set) => {
        for (const [transport, c] of conns()) set({ transport }, c.accepted);
      });
      counter(
        'idres_connections_refused_total',
        'New connections closed at once: their address held its share (per_address), or the server held maxConnections (max_connections)',
        ['transport', 'reason'],
        (set) => {
          for (const [transport, c] of conns()) {
            set({ transport, reason: 'per_address' }, c.refusedPerAddress);
            set({ transport, reason: 'max_connections' }, c.refusedMaxConnections);
          }
        },
      );
      counter(
        'idres_connections_closed_total',
        'Connections the node closed, by transport and reason: idle, request_deadline, write_stall, queue_limit, frame_too_long',
        ['transport', 'reason'],
        (set) => {
          for (const [transport, c] of conns()) for (const reason of CLOSE_REASONS) set({ transport, reason }, c.closed[reason]);
        },
      );
      gauge('idres_connection_queued_bytes_peak', 'The most bytes one connection has held at once (requests not answered, answers not taken), by transport', ['transport'], (set) => {
        for (const [transport, c] of conns()) if (transport !== 'http') set({ transport }, c.peakQueuedBytes);
      });
    }

    if (s.apiOperations) {
      const ops = s.apiOperations;
      counter('idres_http_api_operations_total', 'JSON API requests, by operation', ['operation'], (set) => {
        for (const [operation, n] of ops()) set({ operation }, n);
      });
    }
    if (s.authFailures) {
      const f = s.authFailures;
      counter('idres_http_auth_failures_total', 'HTTP requests whose credentials did not verify', [], (set) => set({}, f()));
    }

    const sec = s.security;
    if (sec) {
      counter('idres_security_events_total', 'Security log events (docs/security.md), every one, written to the log or not', ['event'], (set) => {
        for (const e of SECURITY_EVENTS) set({ event: e }, sec.log.counts[e]);
      });
      counter('idres_security_log_suppressed_total', "Security log lines left out by the log's own limit (summed up in one line per interval)", [], (set) =>
        set({}, sec.log.suppressed),
      );
      if (sec.auth) {
        const a = sec.auth;
        gauge('idres_auth_locked', 'Identities and sources locked now after failed authentications', ['scope'], (set) => {
          const n = a.lockedNow();
          set({ scope: 'identity' }, n.identity);
          set({ scope: 'source' }, n.source);
        });
      }
      const limiters: Array<[string, ResponseRateLimiter]> = [];
      if (sec.rrl) limiters.push(['handle', sec.rrl]);
      if (sec.dnsRrl) limiters.push(['dns', sec.dnsRrl]);
      if (limiters.length) {
        counter('idres_udp_rate_limited_total', 'UDP answers limited by source network: dropped, sent as TC instead (slipped), large ones over the byte budget sent as TC (truncated)', ['front', 'action'], (set) => {
          for (const [front, l] of limiters) {
            set({ front, action: 'dropped' }, l.stats.dropped);
            set({ front, action: 'slipped' }, l.stats.slipped);
            set({ front, action: 'truncated' }, l.stats.truncated);
          }
        });
        counter('idres_udp_rrl_evictions_total', "Entries of the rate limiter's table taken over by another network while still active", ['front'], (set) => {
          for (const [front, l] of limiters) set({ front }, l.stats.evictions);
        });
        gauge('idres_udp_rrl_entries', "Networks in the rate limiter's table (fixed size: udp.rrl.tableSize)", ['front'], (set) => {
          for (const [front, l] of limiters) set({ front }, l.stats.used);
        });
      }
    }

    if (s.replication) this.replicationMetrics(s.replication, counter, gauge, registers);

    if (s.http) {
      const http = s.http;
      counter('idres_http_requests_total', 'HTTP requests, by route, method and status', ['route', 'method', 'status'], (set) => {
        for (const r of http.rows()) set({ route: r.route, method: r.method, status: String(r.status) }, r.count);
      });
      new CollectedHistogram('idres_http_request_duration_seconds', 'HTTP request handling time, by route', 'route', http.buckets, () =>
        http.latencies().map((h) => ({ label: h.route, counts: h.counts, count: h.count, sum: h.sum })),
      ).registerIn(this.registry);
    }
    client.collectDefaultMetrics({ register: this.registry, prefix: 'idres_process_' });
  }

  private replicationMetrics(
    r: ReplicationSources,
    counter: MakeMetric,
    gauge: MakeMetric,
    registers: client.Registry[],
  ): void {
    if (r.mirror) {
      const m = r.mirror;
      // Each reads the mirror as it is at the scrape; none is set once the node is a mirror no more.
      const of = (read: (x: { stats: MirrorStats; lagSeconds(): number }) => number): Read => (set) => {
        const x = m();
        if (x) set({}, read(x));
      };
      gauge('idres_replication_position', "The primary's transaction id this mirror has applied up to", [], of((x) => x.stats.position));
      gauge('idres_replication_primary_txn', "The primary's last transaction id, as this mirror last heard it", [], of((x) => x.stats.primaryLastTxn));
      gauge('idres_replication_lag_transactions', "Transactions the primary had that this mirror had not applied, at its last poll", [], of((x) => Math.max(0, x.stats.primaryLastTxn - x.stats.position)));
      gauge('idres_replication_lag_seconds', 'Seconds since this mirror last held everything its primary held (+Inf before the first time)', [], of((x) => x.lagSeconds()));
      gauge('idres_replication_last_pull_timestamp_seconds', 'When (Unix seconds) the last exchange with the primary ended well (0 before the first)', [], of((x) => x.stats.lastPullAt / 1000));
      gauge('idres_replication_copying', 'Whether the mirror is copying the whole registry now (a first copy or a re-copy)', [], of((x) => (x.stats.copying ? 1 : 0)));
      counter('idres_replication_transactions_applied_total', "The primary's transactions this mirror applied from its log", [], of((x) => x.stats.transactionsApplied));
      counter('idres_replication_pulls_total', 'RETRIEVE_TXN_LOG exchanges with the primary', [], of((x) => x.stats.pulls));
      counter('idres_replication_recopies_total', "Copies of the primary's whole registry (the first one counts)", [], of((x) => x.stats.recopies));
      counter('idres_replication_errors_total', 'Rounds with the primary that failed (unreachable, refused, a bad stream)', [], of((x) => x.stats.errors));
      const delay = new client.Histogram({
        name: 'idres_replication_apply_delay_seconds',
        help: "For each transaction applied: from its date at the primary to this mirror's commit",
        buckets: APPLY_DELAY_BUCKETS,
        registers,
        collect() {
          for (const v of m()?.stats.takeApplyDelays() ?? []) this.observe(v);
        },
      });
      void delay;
    }
    if (r.log) {
      const log = r.log;
      gauge('idres_replication_log_first_txn', 'The oldest transaction id the log keeps for mirrors (0: empty); a mirror behind it must re-copy', [], (set) => set({}, log().first));
      gauge('idres_replication_log_last_txn', 'The newest transaction id in the log', [], (set) => set({}, log().last));
    }
    if (r.served) {
      const served = r.served;
      counter('idres_replication_served_total', 'Replication answers given to mirrors, by kind: log pulls, whole copies, pulls told to re-copy', ['kind'], (set) => {
        const x = served();
        if (!x) return;
        set({ kind: 'retrieve_txn_log' }, x.pulls);
        set({ kind: 'dump_handles' }, x.dumps);
        set({ kind: 'redump_asked' }, x.redumpsAsked);
      });
      counter('idres_replication_items_sent_total', 'Transactions and handles streamed to mirrors', ['kind'], (set) => {
        const x = served();
        if (!x) return;
        set({ kind: 'transaction' }, x.transactionsSent);
        set({ kind: 'handle' }, x.handlesDumped);
      });
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
