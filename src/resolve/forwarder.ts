import { OpCode, OpFlag } from '../protocol/constants.js';
import { decodeResolutionResponse } from '../protocol/bodies.js';
import { minTtlSeconds } from '../model/value.js';
import { ClientError, type HandleClient, type ServerAddress } from '../client/handle-client.js';
import { ResponseCode } from '../protocol/constants.js';
import { ResolutionFailure } from './answer.js';
import type { UpstreamAnswer } from './recursor.js';

/** What the pipeline hands a resolution it cannot answer itself. */
export interface Upstream {
  resolve(handle: string, body: Buffer, recursionCount: number): Promise<UpstreamAnswer>;
}

export class ForwarderStats {
  upstreamQueries = 0;
  upstreamFailures = 0;
}

/**
 * Forwards a resolution to one configured upstream server with REC set (a business node to its secondary,
 * a site resolver to a public one), and relays the answer.
 */
export class Forwarder implements Upstream {
  readonly stats = new ForwarderStats();

  constructor(
    private readonly client: HandleClient,
    private readonly upstream: ServerAddress,
  ) {}

  async resolve(_handle: string, body: Buffer, recursionCount: number): Promise<UpstreamAnswer> {
    this.stats.upstreamQueries++;
    try {
      const { packet } = await this.client.request(this.upstream, {
        opCode: OpCode.RESOLUTION,
        body,
        flags: OpFlag.REC | OpFlag.CA | OpFlag.PO,
        recursionCount: recursionCount + 1,
      });
      const rc = packet.header.responseCode;
      if (rc !== ResponseCode.SUCCESS) return { responseCode: rc, body: packet.body };
      const values = decodeResolutionResponse(packet.body, false).values;
      return { responseCode: rc, body: packet.body, ttl: minTtlSeconds(values, Math.floor(Date.now() / 1000)) };
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      this.stats.upstreamFailures++;
      throw new ResolutionFailure(`upstream ${this.upstream.host}:${this.upstream.port} did not answer: ${err.message}`, ResponseCode.ERROR, true);
    }
  }
}
