import { normalisePrefix, prefixAncestry } from '../model/handle.js';
import { ResponseCode } from '../protocol/constants.js';
import type { Registry } from '../store/registry.js';

// Quotas per prefix (off unless configured): how many identifiers a prefix may hold (RC 604), how many
// prefixes may be derived from it (RC 605), and how many administrative requests one client may make under
// it in a UTC day (RC 603). A quota set on a prefix covers the prefixes derived from it too, the nearest
// configured one applying.

export interface PrefixQuota {
  /** Identifiers registered directly under the prefix. */
  maxHandles?: number;
  /** Prefix handles 0.NA/PREFIX.… derived from it. */
  maxPrefixes?: number;
  /** Administrative requests (writes and listings) one client may make in a UTC day. */
  dailyRequestsPerClient?: number;
}

export interface QuotaRefusal {
  responseCode: number;
  message: string;
}

export class Quotas {
  private readonly byPrefix: Map<string, PrefixQuota>;
  private day = '';
  private readonly requests = new Map<string, number>();
  /** Bound on the clients remembered per day, so counting cannot itself exhaust memory. */
  private static readonly MAX_CLIENTS = 1_000_000;

  constructor(
    quotas: Readonly<Record<string, PrefixQuota>>,
    private readonly registry: Registry | undefined,
    private readonly today: () => string = () => new Date().toISOString().slice(0, 10),
  ) {
    this.byPrefix = new Map(Object.entries(quotas).map(([p, q]) => [normalisePrefix(p), q]));
  }

  get enabled(): boolean {
    return this.byPrefix.size > 0;
  }

  private nearest(prefix: string): [string, PrefixQuota] | undefined {
    for (const p of prefixAncestry(normalisePrefix(prefix))) {
      const q = this.byPrefix.get(p);
      if (q) return [p, q];
    }
    return undefined;
  }

  /** Count one administrative request of `client` under `prefix`; a refusal when its daily allowance is spent. */
  countRequest(prefix: string, client: string): QuotaRefusal | undefined {
    const found = this.nearest(prefix);
    if (!found || found[1].dailyRequestsPerClient === undefined) return undefined;
    const day = this.today();
    if (day !== this.day) {
      this.day = day;
      this.requests.clear();
    }
    const key = `${found[0]}|${client}`;
    const n = (this.requests.get(key) ?? 0) + 1;
    if (n > found[1].dailyRequestsPerClient) {
      return { responseCode: ResponseCode.DAILY_REQUEST_LIMIT, message: `daily request limit of ${found[1].dailyRequestsPerClient} under ${found[0]} reached for ${client}` };
    }
    if (this.requests.size < Quotas.MAX_CLIENTS || this.requests.has(key)) this.requests.set(key, n);
    return undefined;
  }

  /** May one more identifier be registered under `prefix`? */
  checkNewHandle(prefix: string): QuotaRefusal | undefined {
    const q = this.byPrefix.get(normalisePrefix(prefix));
    if (!q || q.maxHandles === undefined || !this.registry) return undefined;
    const n = this.registry.countUnder(prefix);
    if (n >= q.maxHandles) return { responseCode: ResponseCode.REGISTRATION_COUNT_LIMIT, message: `registration limit of ${q.maxHandles} identifiers under ${prefix} reached` };
    return undefined;
  }

  /** May one more prefix be derived from `parent`? */
  checkNewPrefix(parent: string): QuotaRefusal | undefined {
    const q = this.byPrefix.get(normalisePrefix(parent));
    if (!q || q.maxPrefixes === undefined || !this.registry) return undefined;
    const n = this.registry.countDerivedPrefixes(parent);
    if (n >= q.maxPrefixes) return { responseCode: ResponseCode.PREFIX_LIMIT, message: `limit of ${q.maxPrefixes} prefixes derived from ${parent} reached` };
    return undefined;
  }
}
