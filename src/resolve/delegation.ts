import { ResponseCode } from '../protocol/constants.js';
import { encodeErrorBody, encodeReferral, type ResolutionRequest } from '../protocol/bodies.js';
import { prefixAncestry, prefixHandle } from '../model/handle.js';
import { isPublic, minTtlSeconds, type HandleValue } from '../model/value.js';
import type { Registry } from '../store/registry.js';
import type { Answer } from './answer.js';
import type { Authority } from './authority.js';

/** Value types on an ancestor's prefix handle that serve every prefix derived from it. */
const DERIVED_TYPES = new Set(['HS_SITE.PREFIX', 'HS_SERV.PREFIX', 'HS_NA_DELEGATE']);

export function isDerivedPrefixType(type: string): boolean {
  return DERIVED_TYPES.has(type.toUpperCase());
}

/**
 * Prefix handles (0.NA/X), answered as the reference server does: the values when this node holds 0.NA/X;
 * otherwise, when it holds the prefix handle of an ancestor of X that serves derived prefixes
 * (HS_SITE.PREFIX, HS_SERV.PREFIX), 303 PREFIX_REFERRAL with an empty handle and those values; 100 when X
 * falls under a prefix this node homes; and undefined when none of this is so (the caller answers 301 or
 * recurses).
 */
export class Delegations {
  constructor(
    private readonly registry: Registry,
    private readonly authority: Authority,
  ) {}

  answer(req: ResolutionRequest, prefix: string, opts: { nowSeconds: number }): Answer | undefined {
    const ancestry = prefixAncestry(prefix);
    for (let i = 0; i < ancestry.length; i++) {
      const p = ancestry[i]!;
      const held = this.registry.getValues(prefixHandle(p));
      if (held === undefined) continue;
      if (i === 0) return this.authority.resolve(req, opts);
      const referral = held.filter((v) => isDerivedPrefixType(v.type) && isPublic(v));
      if (referral.length > 0) return referralAnswer(this.registry.key(req.handle), referral, opts.nowSeconds);
      break;
    }
    if (ancestry.some((p) => this.authority.homes(p))) {
      return { responseCode: ResponseCode.HANDLE_NOT_FOUND, body: EMPTY, handleKey: this.registry.key(req.handle), local: true };
    }
    return undefined;
  }
}

const EMPTY = encodeErrorBody('');

function referralAnswer(handleKey: string, values: HandleValue[], nowSeconds: number): Answer {
  return {
    responseCode: ResponseCode.PREFIX_REFERRAL,
    body: encodeReferral('', values),
    handleKey,
    ttl: minTtlSeconds(values, nowSeconds),
    local: true,
  };
}
