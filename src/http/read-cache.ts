import { DerivedCache, type DerivationSource, type DerivedEntry } from '../resolve/cache/derived-cache.js';

// Finished answers of anonymous GET/HEAD /api/handles/… reads, kept as the bytes that went out, keyed by
// the request target exactly as sent (path and query: everything of an anonymous read that shapes its
// answer — handle, index, type, publicOnly, pretty, callback). A hit writes the bytes back without
// parsing the query, encoding a Handle request, decoding an answer or writing JSON. Freshness is the hot
// cache's (resolve/cache/derived-cache.ts, as the DNS gateway's); the JSON carries no countdown (values'
// TTLs are as stored, no Cache-Control or Age), so the bytes never need patching.

/** One kept answer: status, the headers that depend on it, the body, and the hot-cache entry it came from. */
export interface HttpReply extends DerivedEntry {
  status: number;
  /** Content-Type and Content-Length as a flat [name, value, …] list, made once: a hit passes it to writeHead as is. */
  head: readonly string[];
  sourceKey: string;
  sourceSerial: number;
}

/** The headers a kept reply is sent with, in the order a whole reply's are (exchange.ts send). */
export function replyHead(contentType: string, bytes: Buffer): readonly string[] {
  return ['Content-Type', contentType, 'Content-Length', String(bytes.length)];
}

export type HttpReadCache = DerivedCache<HttpReply>;

/** What a reply costs beyond its body and key strings: the reply object and its header list, the LRU's node and map slot. */
const ENTRY_OVERHEAD = 320;

export function httpReadCache(maxBytes: number, source: DerivationSource): HttpReadCache {
  // Strings counted at two bytes a character, as V8 may hold them.
  return new DerivedCache<HttpReply>(maxBytes, source, (r, target) => r.bytes.length + 2 * (target.length + r.sourceKey.length) + ENTRY_OVERHEAD);
}
