import { Limits, ResponseCode } from '../protocol/constants.js';
import { DecodeError } from '../protocol/errors.js';
import { decodeErrorBody, decodeReferral, decodeResolutionRequest, decodeResolutionResponse, encodeResolutionRequest } from '../protocol/bodies.js';
import type { HandleValue } from '../model/value.js';
import type { Answer } from './answer.js';
import { AnswerCache } from './cache/answer-cache.js';
import type { ResolutionPipeline } from './pipeline.js';

// A resolution for front ends that want values, not packets (the HTTP API and its redirect front): the
// request is encoded exactly as a wire client's would be, so it shares the hot cache key, the registry
// answer, recursion and serve-stale with UDP and TCP; the answer body is decoded into values. A read of
// every value of a homed handle takes the miss path that copies the stored value list, as the wire's does.

export interface ReadAnswer {
  responseCode: number;
  /** The values of a success or a referral, in ascending index order. */
  values: HandleValue[];
  /** The message of an error answer. */
  message: string;
  /** Answered from this node's registry (not recursion). */
  local: boolean;
  /**
   * The hot cache's entry the answer is (its key and serial), when it is one: a front end that keeps what
   * it made of the answer may serve that only while that entry is the hot cache's (freshUntilOf).
   */
  source?: { key: string; serial: number };
}

/**
 * Resolve through the pipeline. `recursive` is what REC is on the wire: the pipeline still recurses only
 * where the node allows it.
 */
export async function readValues(
  pipeline: ResolutionPipeline,
  handle: string,
  opts: { indexes?: readonly number[]; types?: readonly string[]; recursive?: boolean } = {},
): Promise<ReadAnswer> {
  // What the wire decoder would refuse is refused here as a bad handle, not thrown.
  if (Buffer.byteLength(handle) > Limits.MAX_HANDLE_LENGTH) {
    return { responseCode: ResponseCode.INVALID_HANDLE, values: [], message: `the handle is longer than ${Limits.MAX_HANDLE_LENGTH} bytes`, local: true };
  }
  if ((opts.indexes?.length ?? 0) + (opts.types?.length ?? 0) > Limits.MAX_VALUES) {
    return { responseCode: ResponseCode.INVALID_VALUE, values: [], message: `more than ${Limits.MAX_VALUES} indexes and types`, local: true };
  }
  const body = encodeResolutionRequest(handle, opts.indexes ?? [], opts.types ?? []);
  const key = AnswerCache.key(body, false);
  const now = pipeline.now();
  const hit = pipeline.lookup(key, now);
  if (hit) return { ...interpret(hit), source: { key, serial: hit.serial } };
  // Every value of a handle this node homes: the miss path copies the stored list into the answer and keeps
  // it in the hot cache (blob-miss.ts), with no request decoded and no answer encoded on the way.
  const miss = (opts.indexes?.length ?? 0) + (opts.types?.length ?? 0) === 0 ? pipeline.blobMiss : undefined;
  if (miss && miss.answer(body, 0, body.length, now)) {
    // The answer is read out of the cache's buffer at once: a copy, since the values are used after this returns.
    const read = interpret({ responseCode: miss.responseCode, body: Buffer.from(miss.body()), local: true });
    const kept = miss.keptAs();
    if (kept) read.source = { key, serial: kept.serial };
    return read;
  }
  let req;
  try {
    req = decodeResolutionRequest(body);
  } catch (err) {
    if (err instanceof DecodeError) return { responseCode: err.responseCode === ResponseCode.PROTOCOL_ERROR ? ResponseCode.INVALID_VALUE : err.responseCode, values: [], message: err.message, local: true };
    throw err;
  }
  const a: Pick<Answer, 'responseCode' | 'body' | 'local'> = await pipeline.resolve(key, req, body, opts.recursive ?? true, 0, now);
  const read = interpret(a);
  // The entry the pipeline kept, if it is this very answer (not one a write or another asker put there since).
  const kept = pipeline.lookup(key, pipeline.now());
  if (kept && kept.responseCode === a.responseCode && kept.body.equals(a.body)) read.source = { key, serial: kept.serial };
  return read;
}

function interpret(a: Pick<Answer, 'responseCode' | 'body' | 'local'>): ReadAnswer {
  const base = { responseCode: a.responseCode, local: a.local };
  if (a.responseCode === ResponseCode.SUCCESS) {
    return { ...base, values: sortByIndex(decodeResolutionResponse(a.body, false).values), message: '' };
  }
  if (a.responseCode === ResponseCode.PREFIX_REFERRAL || a.responseCode === ResponseCode.SERVICE_REFERRAL) {
    return { ...base, values: sortByIndex(decodeReferral(a.body, false).values), message: '' };
  }
  let message = '';
  try {
    message = decodeErrorBody(a.body, false).message;
  } catch {
    // An error body that does not decode still has its code.
  }
  return { ...base, values: [], message };
}

function sortByIndex(values: HandleValue[]): HandleValue[] {
  return values.sort((x, y) => x.index - y.index);
}
