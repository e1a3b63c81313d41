/** What an answerer produces for a resolution: a response code and the body that goes with it. */
export interface Answer {
  responseCode: number;
  /** The body without the request digest (the responder adds that per request). */
  body: Buffer;
  /** Lookup key of the handle the answer is about. */
  handleKey: string;
  /** Seconds the answer may be cached; undefined means not at all. Negative answers get the node's negative TTL. */
  ttl?: number;
  /** Answered from this node's own registry. */
  local: boolean;
  /** The filter also selects values that only an authenticated reader may see (left out of this answer). */
  restricted?: boolean;
  /** The cached response packet, when the answer was cached: the hot path patches it instead of encoding. */
  packet?: Buffer;
}

/** A resolution that could not be completed; `upstream` marks failures of other servers (serve-stale applies). */
export class ResolutionFailure extends Error {
  constructor(
    message: string,
    readonly responseCode: number,
    readonly upstream: boolean,
  ) {
    super(message);
    this.name = 'ResolutionFailure';
  }
}
