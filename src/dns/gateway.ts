import { ResponseCode } from '../protocol/constants.js';
import { ownBytes } from '../protocol/message.js';
import { decodeErrorBody, decodeResolutionRequest, decodeResolutionResponse, encodeResolutionRequest } from '../protocol/bodies.js';
import { TtlType } from '../model/value.js';
import type { Answer } from '../resolve/answer.js';
import { AnswerCache, type CachedAnswer } from '../resolve/cache/answer-cache.js';
import { DerivedCache, type DerivedEntry } from '../resolve/cache/derived-cache.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import { type AnyRecord, QClass, QType, type ZoneData, answerTtl, apexRecords, identifierRecords, negativeSoa, publicValues } from './answers.js';
import { type NameMeaning, interpretLabels } from './mapping.js';
import { Ede, type EncodedResponse, type ResponseParts, encodeHeaderOnly, encodeResponse } from './message.js';
import { type DnsQuery, DnsFormatError, Rcode, isResponse, parseQuery } from './query.js';

// The DNS gateway: query bytes in, response bytes out, transport-agnostic (server/dns.ts moves the bytes).
// Identifier names are answered through the node's resolution pipeline, so DNS shares the hot cache, the
// registry and recursion with the Handle front ends.
//
// Encoded responses are cached too, keyed by query name (lower case), type, class and the size the
// response may take, so a hit is a copy with the query's ID, RD bit and question written in — no
// dns-packet, no mapping. An entry made from a Handle answer is served only while the hot cache's entry it
// came from is (resolve/cache/derived-cache.ts), at the cost of one more cache lookup per hit.

export interface GatewayOptions {
  zones: ZoneData[];
  /** Our EDNS UDP payload size (1232 by default, the DNS flag day 2020 value). */
  udpPayloadSize: number;
  /** The node may recurse (RA): a resolver, or a node with recursion allowed, for queries with RD. */
  recursionAvailable: boolean;
  /** No record's TTL exceeds this (the hot cache's own bound). */
  maxTtlSeconds: number;
  /** Bound on the encoded answers kept, in bytes. */
  cacheMaxBytes: number;
}

export class DnsGatewayStats {
  queries = 0;
  cacheHits = 0;
  /** Packets not answered: too short for a header, or responses. */
  dropped = 0;
  formErrors = 0;
  truncated = 0;
  /** Identifier queries answered by copying the stored value list (resolve/blob-miss.ts), not the pipeline. */
  blobCopies = 0;
  internalErrors = 0;
}

/** An encoded answer (derived-cache.ts: valid while the hot-cache entry it was made from is, if any). */
interface Entry extends DerivedEntry {
  /** When the TTLs reach zero (epoch ms), for answers whose TTLs count down; with the offsets to rewrite. */
  expiresAt?: number;
  ttlOffsets?: number[];
}

interface Zone {
  data: ZoneData;
  labels: string[];
}

const MAX_TCP_MESSAGE = 65535;

export class DnsGateway {
  readonly stats = new DnsGatewayStats();
  private readonly zones: Zone[];
  private readonly cache: DerivedCache<Entry>;

  constructor(
    private readonly pipeline: ResolutionPipeline,
    private readonly opts: GatewayOptions,
    private readonly log: (msg: string) => void = (m) => console.error(m),
  ) {
    // Longest zone first, so a zone nested in another is matched before its parent.
    this.zones = opts.zones
      .map((data) => ({ data, labels: data.zone.split('.') }))
      .sort((a, b) => b.labels.length - a.labels.length);
    // An entry's bytes are a copy of their own (ownBytes): their length and the objects around them.
    this.cache = new DerivedCache<Entry>(opts.cacheMaxBytes, pipeline, (e, k) => e.bytes.length + k.length + 320);
  }

  /** Answer one query; null means no answer at all (not a query, or not even a header). */
  handle(bytes: Buffer, transport: 'udp' | 'tcp'): Buffer | null | Promise<Buffer | null> {
    this.stats.queries++;
    if (isResponse(bytes)) {
      this.stats.dropped++;
      return null;
    }
    let q: DnsQuery;
    try {
      q = parseQuery(bytes);
    } catch (err) {
      return this.malformed(err);
    }
    try {
      const limit = transport === 'tcp' ? MAX_TCP_MESSAGE : q.edns ? Math.min(q.edns.payloadSize, this.opts.udpPayloadSize) : 512;
      if (q.opcode !== 0) return this.encode(q, this.error(Rcode.NOTIMP), limit).bytes;
      if (q.edns && q.edns.version !== 0) return this.encode(q, this.error(Rcode.BADVERS), limit).bytes;
      const key = `${q.nameKey}|${q.qtype}|${q.qclass}|${q.edns ? 'e' : 'n'}${limit}`;
      const now = this.pipeline.now();
      const hit = this.cache.get(key, now);
      if (hit) {
        this.stats.cacheHits++;
        return serve(hit, q, now);
      }
      const r = this.answer(q, key, limit, now);
      if (r instanceof Promise) return r.catch((err: unknown) => this.failed(q, limit, err));
      return r;
    } catch (err) {
      return this.failed(q, MAX_TCP_MESSAGE, err);
    }
  }

  private malformed(err: unknown): Buffer | null {
    if (!(err instanceof DnsFormatError)) {
      this.stats.internalErrors++;
      this.log(`dns: internal error reading a query: ${(err as Error).stack ?? err}`);
      this.stats.dropped++;
      return null;
    }
    if (err.id === undefined) {
      this.stats.dropped++;
      return null;
    }
    this.stats.formErrors++;
    return encodeHeaderOnly(err.id, err.flags, Rcode.FORMERR);
  }

  private failed(q: DnsQuery, limit: number, err: unknown): Buffer {
    this.stats.internalErrors++;
    this.log(`dns: internal error answering a query: ${(err as Error).stack ?? err}`);
    return this.encode(q, { ...this.error(Rcode.SERVFAIL), ede: { code: Ede.OTHER, text: 'internal server error' } }, limit).bytes;
  }

  private error(rcode: number): ResponseParts {
    return { rcode, authoritative: false, recursionAvailable: this.opts.recursionAvailable, answers: [], authorities: [] };
  }

  private encode(q: DnsQuery, parts: ResponseParts, limit: number): EncodedResponse {
    const r = encodeResponse(q, parts, limit, this.opts.udpPayloadSize);
    if (r.truncated) this.stats.truncated++;
    return r;
  }

  /** Encode, and keep for the next asker. */
  private keep(q: DnsQuery, key: string, parts: ResponseParts, limit: number, extra: Omit<Entry, 'bytes' | 'ttlOffsets'> = {}): Buffer {
    const r = this.encode(q, parts, limit);
    this.cache.set(key, { bytes: ownBytes(r.bytes), ...extra, ...(extra.expiresAt !== undefined ? { ttlOffsets: r.ttlOffsets } : {}) });
    return r.bytes;
  }

  private meaning(q: DnsQuery): { meaning: NameMeaning; zone?: Zone } {
    for (const zone of this.zones) {
      const m = interpretLabels(q.labels, zone.labels, zone.data.zone);
      if (m.kind !== 'outside') return { meaning: m, zone };
    }
    return { meaning: { kind: 'outside' } };
  }

  private answer(q: DnsQuery, key: string, limit: number, now: number): Buffer | Promise<Buffer> {
    const { meaning, zone } = this.meaning(q);
    if (meaning.kind === 'outside' || !zone) {
      return this.keep(q, key, { ...this.error(Rcode.REFUSED), ede: { code: Ede.NOT_AUTHORITATIVE, text: 'not a zone served here' } }, limit);
    }
    if (q.qclass !== QClass.IN && q.qclass !== QClass.ANY) {
      return this.keep(q, key, { ...this.error(Rcode.REFUSED), ede: { code: Ede.NOT_SUPPORTED, text: 'only class IN is served' } }, limit);
    }
    if (q.qtype === QType.AXFR || q.qtype === QType.IXFR) {
      return this.keep(q, key, { ...this.error(Rcode.REFUSED), ede: { code: Ede.NOT_SUPPORTED, text: 'zone transfers are not offered' } }, limit);
    }
    const z = zone.data;
    const base = { authoritative: true, recursionAvailable: this.opts.recursionAvailable, zoneLabels: zone.labels.length };
    if (meaning.kind === 'apex') {
      const records = apexRecords(q.qtype, z);
      return this.keep(q, key, { ...base, rcode: Rcode.NOERROR, ...this.positive(records, z) }, limit);
    }
    if (meaning.kind === 'invalid') {
      return this.keep(q, key, { ...base, ...this.nxdomain(z), ede: { code: Ede.OTHER, text: `not an identifier name: ${meaning.reason}` } }, limit);
    }
    return this.identifier(q, key, limit, now, meaning.identifier, zone);
  }

  private positive(records: readonly AnyRecord[], z: ZoneData): Pick<ResponseParts, 'answers' | 'authorities'> {
    if (records.length) return { answers: records.map((record) => ({ owner: 'name', record })), authorities: [] };
    return { answers: [], authorities: [{ owner: 'apex', record: negativeSoa(z) }] }; // NODATA
  }

  private nxdomain(z: ZoneData): Pick<ResponseParts, 'rcode' | 'answers' | 'authorities'> {
    return { rcode: Rcode.NXDOMAIN, answers: [], authorities: [{ owner: 'apex', record: negativeSoa(z) }] };
  }

  /**
   * An identifier's name: from the hot cache; else, for a handle this node homes, by the miss path that
   * copies the stored value list (resolve/blob-miss.ts) and keeps the Handle answer in the hot cache as a
   * Handle client's ask would; else through the pipeline (registry, referral or recursion).
   */
  private identifier(q: DnsQuery, key: string, limit: number, now: number, identifier: string, zone: Zone): Buffer | Promise<Buffer> {
    const body = encodeResolutionRequest(identifier);
    const hkey = AnswerCache.key(body, false);
    const cached = this.pipeline.lookup(hkey, now);
    if (cached) return this.fromHandle(q, key, limit, now, cached.responseCode, cached.body, cached.local, cached, hkey, zone);
    const miss = this.pipeline.blobMiss;
    if (miss && miss.answer(body, 0, body.length, now)) {
      this.stats.blobCopies++;
      return this.fromHandle(q, key, limit, now, miss.responseCode, miss.body(), true, miss.keptAs(), hkey, zone);
    }
    const a = this.pipeline.resolve(hkey, decodeResolutionRequest(body), body, q.recursionDesired, 0, now);
    const finish = (x: Answer) => {
      const t = this.pipeline.now();
      // The answer as the hot cache now holds it (absent when it is not cached: no TTL, or an error).
      return this.fromHandle(q, key, limit, t, x.responseCode, x.body, x.local, this.pipeline.lookup(hkey, t), hkey, zone);
    };
    return a instanceof Promise ? a.then(finish) : finish(a);
  }

  private fromHandle(
    q: DnsQuery,
    key: string,
    limit: number,
    now: number,
    responseCode: number,
    body: Buffer,
    local: boolean,
    /** The hot-cache entry the answer is kept as, if it is: its serial, and until when it is fresh. */
    source: Pick<CachedAnswer, 'serial' | 'freshUntil'> | undefined,
    sourceKey: string,
    zone: Zone,
  ): Buffer {
    const z = zone.data;
    const base = { authoritative: local, recursionAvailable: this.opts.recursionAvailable, zoneLabels: zone.labels.length };
    const link = source ? { sourceSerial: source.serial, sourceKey } : undefined;
    const keepOrNot = (parts: ResponseParts, extra: Omit<Entry, 'bytes' | 'ttlOffsets'> = {}) =>
      link ? this.keep(q, key, parts, limit, { ...link, ...extra }) : this.encode(q, parts, limit).bytes;

    switch (responseCode) {
      case ResponseCode.SUCCESS: {
        const values = publicValues(decodeResolutionResponse(body, false).values);
        const nowSeconds = Math.floor(now / 1000);
        let ttl = answerTtl(values, nowSeconds, this.opts.maxTtlSeconds);
        // An answer from elsewhere is only as fresh as the hot cache keeps it; its TTLs count down.
        const countsDown = !local || values.some((v) => v.ttlType === TtlType.ABSOLUTE);
        if (!local && source) ttl = Math.min(ttl, Math.max(0, Math.floor((source.freshUntil - now) / 1000)));
        const records = identifierRecords(q.qtype, values, ttl);
        const parts: ResponseParts = { ...base, rcode: Rcode.NOERROR, ...this.positive(records, z) };
        return keepOrNot(parts, countsDown && records.length ? { expiresAt: now + ttl * 1000 } : {});
      }
      case ResponseCode.HANDLE_NOT_FOUND:
        return keepOrNot({ ...base, ...this.nxdomain(z) });
      case ResponseCode.VALUES_NOT_FOUND:
        // The identifier exists but shows nothing to the public: the name exists, no record type does.
        return keepOrNot({ ...base, rcode: Rcode.NOERROR, ...this.positive([], z) });
      case ResponseCode.SERVER_NOT_RESP:
        return this.encode(
          q,
          { ...base, authoritative: false, rcode: Rcode.REFUSED, answers: [], authorities: [], ede: { code: Ede.NOT_AUTHORITATIVE, text: 'this node does not serve that prefix' } },
          limit,
        ).bytes;
      default: {
        let message = '';
        try {
          message = decodeErrorBody(body, false).message;
        } catch {
          // an error body that does not decode still gets its code
        }
        const text = `Handle response code ${responseCode}${message ? ': ' + message : ''}`;
        return this.encode(
          q,
          { ...base, authoritative: false, rcode: Rcode.SERVFAIL, answers: [], authorities: [], ede: { code: Ede.NETWORK_ERROR, text } },
          limit,
        ).bytes;
      }
    }
  }
}

/** A cached answer for this query: its ID, RD bit and question (the asker's case) written in, TTLs counted down. */
function serve(e: Entry, q: DnsQuery, now: number): Buffer {
  const out = Buffer.allocUnsafe(e.bytes.length);
  e.bytes.copy(out);
  out.writeUInt16BE(q.id, 0);
  out[2] = (out[2]! & 0xfe) | ((q.flags >> 8) & 0x01);
  q.question.copy(out, 12);
  if (e.expiresAt !== undefined && e.ttlOffsets) {
    const ttl = Math.max(0, Math.ceil((e.expiresAt - now) / 1000));
    for (const off of e.ttlOffsets) out.writeUInt32BE(ttl, off);
  }
  return out;
}

