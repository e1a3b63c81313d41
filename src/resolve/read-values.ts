import { ResponseCode } from '../protocol/constants.js';
import { decodeErrorBody, decodeReferral, decodeResolutionRequest, decodeResolutionResponse, encodeResolutionRequest } from '../protocol/bodies.js';
import type { HandleValue } from '../model/value.js';
import type { Answer } from './answer.js';
import { AnswerCache } from './cache.js';
import type { ResolutionPipeline } from './pipeline.js';

// A resolution for front ends that want values, not packets (the HTTP API and its redirect front): the
// request is encoded exactly as a wire client's would be, so it shares the hot cache key, the registry
// answer, recursion and serve-stale with UDP and TCP; the answer body is decoded into values.

export interface ReadAnswer {
  responseCode: number;
  /** The values of a success or a referral, in ascending index order. */
  values: HandleValue[];
  /** The message of an error answer. */
  message: string;
  /** Answered from this node's registry (not recursion). */
  local: boolean;
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
  const body = encodeResolutionRequest(handle, opts.indexes ?? [], opts.types ?? []);
  const key = AnswerCache.key(body, false);
  const now = Date.now();
  const hit = pipeline.lookup(key, now);
  const a: Pick<Answer, 'responseCode' | 'body' | 'local'> =
    hit ?? (await pipeline.resolve(key, decodeResolutionRequest(body), body, opts.recursive ?? true, 0, now));
  return interpret(a);
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
