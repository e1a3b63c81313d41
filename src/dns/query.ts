// Reading a DNS query (RFC 1035 4.1, RFC 6891 for EDNS). Pure.
//
// Queries are read here rather than with dns-packet's decoder for two reasons: a query name's labels must
// reach the mapping as the bytes they are (dns-packet turns labels into UTF-8 text, losing bytes and dots
// inside labels), and the hot path needs only the question and the OPT record, read without building
// objects for the rest. Every length is checked against the bytes present; anything that does not add up
// is a DnsFormatError, answered FORMERR (or dropped when not even the header can be read).

export const HEADER_SIZE = 12;
const TYPE_OPT = 41;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (needs EDNS): 16, carried as 1 in the OPT record's upper rcode bits and 0 in the header. */
  BADVERS: 16,
} as const;

export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
} as const;

export interface Edns {
  /** The requester's UDP payload size (values below 512 count as 512, RFC 6891 6.2.5). */
  payloadSize: number;
  version: number;
  /** DNSSEC OK: noted, but this gateway signs nothing. */
  dnssecOk: boolean;
}

export interface DnsQuery {
  id: number;
  /** The header's second 16 bits as received. */
  flags: number;
  opcode: number;
  recursionDesired: boolean;
  /** The question as received (name, type, class): echoed byte for byte in the response. */
  question: Buffer;
  /** The query name's labels, bytes as latin1 characters, case as received. */
  labels: string[];
  /** The query name in wire form, ASCII lower-cased, as latin1: part of the answer cache's key. */
  nameKey: string;
  qtype: number;
  qclass: number;
  edns?: Edns;
}

export class DnsFormatError extends Error {
  override name = 'DnsFormatError';
  constructor(
    message: string,
    /** The query ID when the header could be read (so a FORMERR can be sent), else undefined: drop. */
    readonly id: number | undefined,
    /** The header flags when readable (the response copies RD and the opcode). */
    readonly flags = 0,
  ) {
    super(message);
  }
}

/** True when the packet claims to be a response (QR set): never answered, so two servers cannot loop. */
export function isResponse(buf: Buffer): boolean {
  return buf.length >= 4 && (buf[2]! & 0x80) !== 0;
}

export function parseQuery(buf: Buffer): DnsQuery {
  if (buf.length < HEADER_SIZE) throw new DnsFormatError(`${buf.length} bytes is shorter than a DNS header`, undefined);
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const fail = (msg: string): never => {
    throw new DnsFormatError(msg, id, flags);
  };
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (qdcount !== 1) fail(`a query carries one question, not ${qdcount}`);

  // The question name: plain labels only (a compression pointer has nothing before it to point at).
  const labels: string[] = [];
  let pos = HEADER_SIZE;
  let wire = 0;
  for (;;) {
    if (pos >= buf.length) fail('the question name runs past the end of the packet');
    const len = buf[pos]!;
    if (len === 0) {
      pos++;
      wire++;
      break;
    }
    if (len > 63) fail('a compression pointer or reserved label type in the question name');
    if (pos + 1 + len > buf.length) fail('a label of the question name runs past the end of the packet');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
    wire += 1 + len;
    if (wire > 255) fail('the question name is longer than 255 octets');
  }
  if (pos + 4 > buf.length) fail('the question has no type and class');
  const qtype = buf.readUInt16BE(pos);
  const qclass = buf.readUInt16BE(pos + 2);
  const question = buf.subarray(HEADER_SIZE, pos + 4);
  const nameKey = lowerAscii(buf.toString('latin1', HEADER_SIZE, pos));
  pos += 4;

  // Answer and authority records are skipped (a query has none, but they must still add up); the
  // additional section is searched for the one OPT record.
  let edns: Edns | undefined;
  const records = ancount + nscount + arcount;
  for (let i = 0; i < records; i++) {
    const nameStart = pos;
    pos = skipName(buf, pos, fail);
    if (pos + 10 > buf.length) fail('a record runs past the end of the packet');
    const type = buf.readUInt16BE(pos);
    const rdlength = buf.readUInt16BE(pos + 8);
    if (pos + 10 + rdlength > buf.length) fail('a record\'s data runs past the end of the packet');
    if (type === TYPE_OPT) {
      if (i < ancount + nscount) fail('an OPT record outside the additional section');
      if (edns) fail('more than one OPT record');
      if (pos !== nameStart + 1 || buf[nameStart] !== 0) fail('an OPT record not owned by the root');
      edns = {
        payloadSize: Math.max(512, buf.readUInt16BE(pos + 2)),
        version: buf[pos + 5]!,
        dnssecOk: (buf[pos + 6]! & 0x80) !== 0,
      };
    }
    pos += 10 + rdlength;
  }
  return {
    id,
    flags,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & Flag.RD) !== 0,
    question,
    labels,
    nameKey,
    qtype,
    qclass,
    ...(edns ? { edns } : {}),
  };
}

/** Skip a (possibly compressed) name; a pointer ends it. */
function skipName(buf: Buffer, start: number, fail: (m: string) => never): number {
  let pos = start;
  for (let n = 0; n < 128; n++) {
    if (pos >= buf.length) fail('a record name runs past the end of the packet');
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 2 > buf.length) fail('a compression pointer runs past the end of the packet');
      return pos + 2;
    }
    if (len > 63) fail('a reserved label type in a record name');
    pos += 1 + len;
  }
  return fail('a record name with too many labels');
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
