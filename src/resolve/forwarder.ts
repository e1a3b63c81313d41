import type { KeyObject } from 'node:crypto';
import { OpCode, OpFlag } from '../protocol/constants.js';
import { decodeResolutionResponse } from '../protocol/bodies.js';
import { minTtlSeconds } from '../model/value.js';
import { ClientError, type ClientStats, type HandleClient, type ServerAddress } from '../client/handle-client.js';
import { bodyWithoutDigest } from '../client/answer-check.js';
import { ResponseCode } from '../protocol/constants.js';
import { ResolutionFailure } from './answer.js';
import { UpstreamLimiter, UpstreamWork } from './limiter.js';
import type { UpstreamAnswer } from './recursor.js';

/** What the pipeline hands a resolution it cannot answer itself. */
export interface Upstream {
  resolve(handle: string, body: Buffer, recursionCount: number): Promise<UpstreamAnswer>;
}

export class ForwarderStats {
  upstreamQueries = 0;
  upstreamFailures = 0;
}

export interface ForwarderOptions {
  /** Bounds the exchanges with the upstream; absent: unbounded. */
  limiter?: UpstreamLimiter;
  /** Ask for certified answers (CT) and believe only those signed with this key (needs a hardened client). */
  verifyKey?: KeyObject;
  /** The clock (ms) TTLs are counted from (tests pass a fake one). */
  now?: () => number;
}

/**
 * Forwards a resolution to one configured upstream server with REC set (a business node to its secondary,
 * a site resolver to a public one), and relays the answer.
 */
export class Forwarder implements Upstream {
  readonly stats = new ForwarderStats();
  readonly limiter: UpstreamLimiter;

  constructor(
    private readonly client: HandleClient,
    private readonly upstream: ServerAddress,
    private readonly opts: ForwarderOptions = {},
  ) {
    if (opts.verifyKey && !client.hardened) throw new Error('certified answers need a hardened client');
    this.limiter = opts.limiter ?? new UpstreamLimiter(Infinity, Infinity);
  }

  /** What the client refused and the sockets it holds (for /metrics). */
  get clientStats(): ClientStats {
    return this.client.stats;
  }

  async resolve(_handle: string, body: Buffer, recursionCount: number): Promise<UpstreamAnswer> {
    try {
      const { packet } = await this.limiter.run(new UpstreamWork(), () => {
        this.stats.upstreamQueries++;
        return this.client.request(
          this.upstream,
          { opCode: OpCode.RESOLUTION, body, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, recursionCount: recursionCount + 1 },
          'auto',
          this.opts.verifyKey ? { verifyKey: this.opts.verifyKey } : {},
        );
      });
      const rc = packet.header.responseCode;
      const answerBody = bodyWithoutDigest(packet);
      if (rc !== ResponseCode.SUCCESS) return { responseCode: rc, body: answerBody };
      const values = decodeResolutionResponse(answerBody, false).values;
      return { responseCode: rc, body: answerBody, ttl: minTtlSeconds(values, Math.floor((this.opts.now ?? Date.now)() / 1000)) };
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      this.stats.upstreamFailures++;
      throw new ResolutionFailure(`upstream ${this.upstream.host}:${this.upstream.port} did not answer: ${err.message}`, ResponseCode.ERROR, true);
    }
  }
}
