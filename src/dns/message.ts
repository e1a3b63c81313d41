import * as dnsPacket from 'dns-packet';
import type { Answer as DnsRecord } from 'dns-packet';
import { Flag, HEADER_SIZE, type DnsQuery } from './query.js';
import { type AnyRecord, QClass, isWireRecord } from './answers.js';

// Writing a DNS response (RFC 1035 4.1). Pure. The header and the OPT record are written here, and so is
// every record whose RDATA is already in wire form (answers.ts: an identifier's); the zone's SOA and NS
// records, which hold names, are written by dns-packet. The question is copied from the query
// byte for byte (so a client's 0x20 case randomisation comes back as sent), and every owner name is a
// compression pointer into it: to the whole question name, or to the zone apex within it (RFC 1035 4.1.4).
// That keeps answers small, so more of them fit a 1232-octet datagram.

/** Where a record is owned: the question name itself, or the zone apex that ends it. */
export type Owner = 'name' | 'apex';

export interface OwnedRecord {
  owner: Owner;
  record: AnyRecord;
}

export interface ResponseParts {
  /** The full response code; 16 and above (BADVERS) go in the OPT record's upper bits. */
  rcode: number;
  authoritative: boolean;
  recursionAvailable: boolean;
  answers: OwnedRecord[];
  authorities: OwnedRecord[];
  /** How many of the question name's labels are the zone (for pointers to the apex). */
  zoneLabels?: number;
  /** Extended DNS Error (RFC 8914), sent only to a client that speaks EDNS. */
  ede?: { code: number; text: string };
}

export interface EncodedResponse {
  bytes: Buffer;
  /** Offsets of every record TTL, so a cached answer's TTLs can be counted down without encoding again. */
  ttlOffsets: number[];
  truncated: boolean;
}

/** Extended DNS Error codes used here (RFC 8914 4). */
export const Ede = {
  OTHER: 0,
  NOT_AUTHORITATIVE: 20,
  NOT_SUPPORTED: 21,
  NETWORK_ERROR: 23,
} as const;

const recordCodec = (dnsPacket as unknown as { answer: { encode: ((a: DnsRecord) => Buffer) & { bytes: number } } }).answer;

/** One record with its owner as a two-octet pointer. */
function encodeRecord(r: AnyRecord, pointer: number): Buffer {
  if (isWireRecord(r)) {
    const out = Buffer.allocUnsafe(12 + r.rdata.length);
    out.writeUInt16BE(0xc000 | pointer, 0);
    out.writeUInt16BE(r.type, 2);
    out.writeUInt16BE(QClass.IN, 4);
    out.writeUInt32BE(r.ttl, 6);
    out.writeUInt16BE(r.rdata.length, 10);
    r.rdata.copy(out, 12);
    return out;
  }
  return encodeNamedRecord(r, pointer);
}

/** A record dns-packet writes (it writes the root name, one zero octet, where the pointer goes). */
function encodeNamedRecord(r: DnsRecord, pointer: number): Buffer {
  const enc = recordCodec.encode({ ...r, name: '.' } as DnsRecord);
  // What was written, not what was allocated: dns-packet's size estimate can exceed it (an empty name).
  const written = recordCodec.encode.bytes;
  const out = Buffer.allocUnsafe(written + 1);
  out.writeUInt16BE(0xc000 | pointer, 0);
  enc.copy(out, 2, 1, written);
  return out;
}

/** The OPT pseudo-record (RFC 6891 6.1.2): our payload size, the upper rcode bits, version 0, an EDE. */
function encodeOpt(payloadSize: number, rcode: number, ede: ResponseParts['ede']): Buffer {
  const text = ede ? Buffer.from(ede.text, 'utf8').subarray(0, 400) : undefined;
  const optLen = text ? 4 + 2 + text.length : 0;
  const b = Buffer.alloc(11 + optLen);
  b[0] = 0; // root
  b.writeUInt16BE(41, 1);
  b.writeUInt16BE(payloadSize, 3);
  b[5] = rcode >> 4;
  b[6] = 0; // version
  b.writeUInt16BE(0, 7); // flags (DO clear: nothing here is signed)
  b.writeUInt16BE(optLen, 9);
  if (text && ede) {
    b.writeUInt16BE(15, 11); // EDE option code
    b.writeUInt16BE(2 + text.length, 13);
    b.writeUInt16BE(ede.code, 15);
    text.copy(b, 17);
  }
  return b;
}

function header(q: Pick<DnsQuery, 'id' | 'flags'>, parts: ResponseParts, truncated: boolean, counts: [number, number, number, number]): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16BE(q.id, 0);
  let flags = Flag.QR | (q.flags & 0x7800) | (q.flags & Flag.RD) | (parts.rcode & 0xf);
  if (parts.authoritative) flags |= Flag.AA;
  if (parts.recursionAvailable) flags |= Flag.RA;
  if (truncated) flags |= Flag.TC;
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
  return h;
}

/** Offset in the message of the zone apex inside the question name. */
function apexOffset(q: DnsQuery, zoneLabels: number): number {
  let off = HEADER_SIZE;
  for (let i = 0; i < q.labels.length - zoneLabels; i++) off += 1 + q.labels[i]!.length;
  return off;
}

/**
 * The whole response. `limit` is the largest message the transport allows (512, the EDNS size, or 65535
 * over TCP); an answer over it is sent as the question alone with TC set, and the client asks over TCP.
 */
export function encodeResponse(q: DnsQuery, parts: ResponseParts, limit: number, ourPayloadSize: number): EncodedResponse {
  const opt = q.edns ? encodeOpt(ourPayloadSize, parts.rcode, parts.ede) : undefined;
  const apex = parts.zoneLabels !== undefined ? apexOffset(q, parts.zoneLabels) : HEADER_SIZE;
  const chunks: Buffer[] = [];
  const ttlOffsets: number[] = [];
  let size = HEADER_SIZE + q.question.length;
  for (const { owner, record } of [...parts.answers, ...parts.authorities]) {
    const b = encodeRecord(record, owner === 'apex' ? apex : HEADER_SIZE);
    ttlOffsets.push(size + 6);
    chunks.push(b);
    size += b.length;
  }
  const total = size + (opt ? opt.length : 0);
  if (total > limit) {
    const h = header(q, parts, true, [1, 0, 0, opt ? 1 : 0]);
    return { bytes: Buffer.concat(opt ? [h, q.question, opt] : [h, q.question]), ttlOffsets: [], truncated: true };
  }
  const h = header(q, parts, false, [1, parts.answers.length, parts.authorities.length, opt ? 1 : 0]);
  return { bytes: Buffer.concat([h, q.question, ...chunks, ...(opt ? [opt] : [])], total), ttlOffsets, truncated: false };
}

/** A bare error for a query whose question could not be read: the header alone, no question (FORMERR). */
export function encodeHeaderOnly(id: number, flags: number, rcode: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(Flag.QR | (flags & 0x7800) | (flags & Flag.RD) | (rcode & 0xf), 2);
  return h;
}
