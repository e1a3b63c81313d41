import { ResponseCode } from '../protocol/constants.js';
import { encodeErrorBody, type ResolutionRequest, withLeadingHandle } from '../protocol/bodies.js';
import { barePrefix, handleKey, prefixHandle, prefixOfPrefixHandle, splitHandle } from '../model/handle.js';
import type { Answer } from './answer.js';
import { ResolutionFailure } from './answer.js';
import { type Authority, NOT_HOMED_MESSAGE } from './authority.js';
import type { AnswerCache, CachedAnswer } from './cache/answer-cache.js';
import { BlobMiss } from './blob-miss.js';
import type { ChangeWatcher } from './changes.js';
import type { Delegations } from './delegation.js';
import type { Upstream } from './forwarder.js';

export interface PipelineOptions {
  /** Honour REC for handles this node does not answer for. */
  allowRecursion: boolean;
  /** Recurse for every such handle, REC or not (the resolver role). */
  alwaysRecurse: boolean;
  maxRecursionCount: number;
  negativeTtlSeconds: number;
  /** How long a 301 learnt from other servers is kept (0: not at all). */
  failureTtlSeconds?: number;
  maxTtlSeconds: number;
  foldSuffix: boolean;
  /** The clock (ms) of every TTL and stale window here, and of the transports that ask (tests pass a fake one). */
  now?: () => number;
  /** Answer plain misses by copying the stored blob (blob-miss.ts); on unless false (tests compare both paths). */
  blobMisses?: boolean;
}

/** The registry-backed answerers of a node that has a registry. */
export interface LocalAnswerers {
  authority: Authority;
  delegations: Delegations;
  changes: ChangeWatcher;
}

/**
 * The resolution pipeline, transport-agnostic: the cache first, then the answerer that owns the handle — the
 * authority for homed prefixes, the delegations for prefix handles, the upstream (a recursor or forwarder)
 * for the rest when recursion applies, 301 otherwise. Concurrent misses for the same question share one
 * upstream resolution; when every upstream fails, an answer within the stale window is served.
 */
export class ResolutionPipeline {
  private readonly inflight = new Map<string, Promise<Answer>>();
  /** The clock (ms) answers are cached and looked up by; the handler, the HTTP reads and the DNS gateway read it too. */
  readonly now: () => number;
  /**
   * The miss path for plain requests for every value (blob-miss.ts), used by the wire's hot path after
   * lookupAt missed; undefined on a node without a registry or with it switched off.
   */
  readonly blobMiss: BlobMiss | undefined;

  constructor(
    readonly cache: AnswerCache,
    private readonly local: LocalAnswerers | undefined,
    private readonly upstream: Upstream | undefined,
    private readonly opts: PipelineOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.blobMiss =
      local && opts.blobMisses !== false
        ? new BlobMiss(local.authority, cache, { negativeTtlSeconds: opts.negativeTtlSeconds, maxTtlSeconds: opts.maxTtlSeconds })
        : undefined;
  }

  /** A fresh cached answer for a request body (also notices writes by other processes first). */
  lookup(key: string, now: number): CachedAnswer | undefined {
    this.local?.changes.maybeCheck(now);
    return this.cache.get(key, now);
  }

  /**
   * Until when the fresh cached answer for a key is fresh, if it is the entry with this serial
   * (CachedAnswer.serial); else 0: lookup() without a copy, for derived-cache.ts's DerivationSource.
   */
  freshUntilOf(key: string, serial: number, now: number): number {
    this.local?.changes.maybeCheck(now);
    const slot = this.cache.slotOf(key, now);
    return slot >= 0 && this.cache.serialAt(slot) === serial ? this.cache.freshUntilAt(slot) : 0;
  }

  /** The hot cache's removal count, once writes by other processes are noticed (derived-cache.ts). */
  removals(now: number): number {
    this.local?.changes.maybeCheck(now);
    return this.cache.removals;
  }

  /** lookup() for the hot path: the slot of a fresh answer to the body buf[start, end), or -1. */
  lookupAt(buf: Buffer, start: number, end: number, now: number): number {
    this.local?.changes.maybeCheck(now);
    return this.cache.getAt(buf, start, end, now);
  }

  resolve(key: string, req: ResolutionRequest, body: Buffer, recursive: boolean, recursionCount: number, now: number): Answer | Promise<Answer> {
    // A bare prefix (88.118.8) is asked as its prefix handle, and answered with the handle as asked.
    let echo: string | undefined;
    const bare = barePrefix(req.handle);
    if (bare !== undefined) {
      echo = req.handle;
      req = { ...req, handle: prefixHandle(bare) };
      body = withLeadingHandle(body, req.handle);
    }
    const nowSeconds = Math.floor(now / 1000);
    const local = this.answerLocally(req, nowSeconds);
    if (local) {
      if (echo !== undefined) echoHandle(local, echo);
      const cached = this.remember(key, local, now);
      if (cached) local.packet = cached.packet;
      return local;
    }
    if (!this.upstream || !(this.opts.alwaysRecurse || (this.opts.allowRecursion && recursive))) {
      return notHomed(this.keyOf(req.handle));
    }
    if (recursionCount >= this.opts.maxRecursionCount) {
      return {
        responseCode: ResponseCode.RECURSION_COUNT_TOO_HIGH,
        body: encodeErrorBody(`recursion count ${recursionCount} reached the limit of ${this.opts.maxRecursionCount}`),
        handleKey: this.keyOf(req.handle),
        local: false,
      };
    }
    // Shared by concurrent asks of one question — but not across recursion counts, or a request that comes
    // back round a loop would wait on itself.
    const flight = `${recursionCount}|${key}`;
    let p = this.inflight.get(flight);
    if (!p) {
      p = this.recurse(key, req, body, recursionCount, echo).finally(() => this.inflight.delete(flight));
      this.inflight.set(flight, p);
    }
    return p;
  }

  private answerLocally(req: ResolutionRequest, nowSeconds: number): Answer | undefined {
    if (!this.local) return undefined;
    const opts = { nowSeconds };
    const prefix = prefixOfPrefixHandle(req.handle);
    if (prefix !== undefined) return this.local.delegations.answer(req, prefix, opts);
    if (this.local.authority.homes(splitHandle(req.handle).prefix)) return this.local.authority.resolve(req, opts);
    return undefined;
  }

  private async recurse(key: string, req: ResolutionRequest, body: Buffer, recursionCount: number, echo: string | undefined): Promise<Answer> {
    const handleKey = this.keyOf(req.handle);
    try {
      const up = await this.upstream!.resolve(req.handle, body, recursionCount);
      const answer: Answer = { responseCode: up.responseCode, body: up.body, handleKey, local: false, ...(up.ttl !== undefined ? { ttl: up.ttl } : {}) };
      if (echo !== undefined) echoHandle(answer, echo);
      const cached = this.remember(key, answer, this.now());
      if (cached) answer.packet = cached.packet;
      return answer;
    } catch (err) {
      if (!(err instanceof ResolutionFailure)) throw err;
      if (err.upstream) {
        const stale = this.cache.getStale(key, this.now());
        if (stale) return { responseCode: stale.responseCode, body: stale.body, handleKey, local: false };
      }
      const answer: Answer = { responseCode: err.responseCode, body: encodeErrorBody(err.message), handleKey, local: false };
      if (err.responseCode === ResponseCode.HANDLE_NOT_FOUND || err.responseCode === ResponseCode.SERVER_NOT_RESP) this.remember(key, answer, this.now());
      return answer;
    }
  }

  /**
   * Keep an answer: positive ones for their values' TTL (bounded), negative ones briefly, a 301 from other
   * servers more briefly still, others never.
   */
  private remember(key: string, a: Answer, now: number): CachedAnswer | undefined {
    let ttl: number | undefined;
    if (a.responseCode === ResponseCode.HANDLE_NOT_FOUND || a.responseCode === ResponseCode.VALUES_NOT_FOUND) {
      ttl = this.opts.negativeTtlSeconds;
    } else if (a.responseCode === ResponseCode.SERVER_NOT_RESP && !a.local) {
      ttl = this.opts.failureTtlSeconds;
    } else if (a.responseCode === ResponseCode.SUCCESS || a.responseCode === ResponseCode.PREFIX_REFERRAL) {
      ttl = a.ttl;
    }
    if (ttl === undefined || ttl <= 0) return undefined;
    ttl = Math.min(ttl, this.opts.maxTtlSeconds);
    return this.cache.set(
      key,
      { responseCode: a.responseCode, body: a.body, handleKey: a.handleKey, freshUntil: now + ttl * 1000, local: a.local, ...(a.restricted ? { restricted: true } : {}) },
      now,
    );
  }

  private keyOf(handle: string): string {
    return handleKey(handle, this.opts.foldSuffix);
  }
}

/** A success answer's handle set to the one the client asked for. */
function echoHandle(a: Answer, handle: string): void {
  if (a.responseCode === ResponseCode.SUCCESS) a.body = withLeadingHandle(a.body, handle);
}

const NOT_HOMED_BODY = encodeErrorBody(NOT_HOMED_MESSAGE);

function notHomed(handleKey: string): Answer {
  return { responseCode: ResponseCode.SERVER_NOT_RESP, body: NOT_HOMED_BODY, handleKey, local: true };
}
