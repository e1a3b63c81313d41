import type { Answer as DnsRecord } from 'dns-packet';
import { type HandleValue, isPublic, minTtlSeconds } from '../model/value.js';
import { dataToJson, isTextData } from '../protocol/json.js';

// What a Handle answer looks like in DNS (docs/dns.md). Pure: values in, records out. Owner names are left
// to the message writer, which points every record at the question name or the zone apex.
//
// An identifier's records (TXT, URI, NAPTR) are written here straight into their RDATA, since every
// uncached identifier query makes them: they hold character-strings and numbers only, no names, so there is
// nothing to compress and no codec is needed. The zone's own records (SOA, NS: names inside) are rarer and
// stay dns-packet's to write. test/dns-miss-path.test.ts holds the two ways to the same bytes.

export const QType = {
  NS: 2,
  SOA: 6,
  TXT: 16,
  NAPTR: 35,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  URI: 256,
} as const;

export const QClass = { IN: 1, ANY: 255 } as const;

/** A record of class IN whose RDATA is already in wire form (message.ts writes the rest around it). */
export interface WireRecord {
  type: number;
  ttl: number;
  rdata: Buffer;
}

/** A DNS record either way: in wire form, or as dns-packet's object for the records that hold names. */
export type AnyRecord = WireRecord | DnsRecord;

export function isWireRecord(r: AnyRecord): r is WireRecord {
  return (r as WireRecord).rdata !== undefined;
}

/** <character-string>s (RFC 1035 3.3): each piece after its one-octet length. */
function characterStrings(pieces: readonly Buffer[]): Buffer {
  let n = 0;
  for (const p of pieces) n += 1 + p.length;
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const p of pieces) {
    out[at++] = p.length;
    p.copy(out, at);
    at += p.length;
  }
  return out;
}

/** The zone's own data: what its apex answers (SOA, NS) and what negative answers carry (SOA). */
export interface ZoneData {
  /** Canonical zone name (lower case, no trailing dot). */
  zone: string;
  /** Host names of the zone's name servers, absolute; the first is the SOA's primary. */
  nameServers: string[];
  /** The SOA's responsible mailbox in DNS form (hostmaster.example.cn). */
  hostmaster: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  /** SOA minimum: how long resolvers keep negative answers (RFC 2308); the node's negative TTL. */
  negativeTtl: number;
  /** TTL of the SOA and NS records themselves. */
  ttl: number;
}

/**
 * One value as text: `INDEX:TYPE=DATA` when the data is text, else `INDEX:TYPE;FORMAT=DATA` with the
 * format of the Handle REST API's JSON (`base64`, `admin`, `site`, `key`, `vlist`; structured ones as JSON).
 */
export function valueText(v: HandleValue): string {
  const d = dataToJson(v.type, v.data);
  if (d.format === 'string') return `${v.index}:${v.type}=${d.value as string}`;
  return `${v.index}:${v.type};${d.format}=${typeof d.value === 'string' ? d.value : JSON.stringify(d.value)}`;
}

/**
 * A TXT record's character-strings: the text cut into pieces of at most 255 octets (readers join them, as
 * RFC 7208 3.3 does), never inside a UTF-8 character, so each piece reads on its own.
 */
export function txtStrings(text: string | Buffer): Buffer[] {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const out: Buffer[] = [];
  let start = 0;
  while (bytes.length - start > 255) {
    let end = start + 255;
    while ((bytes[end]! & 0xc0) === 0x80) end--; // back off to the start of a character
    out.push(bytes.subarray(start, end));
    start = end;
  }
  out.push(bytes.subarray(start));
  return out;
}

/**
 * valueText's octets. A value whose data is text and whose type is not one of the structured HS_ types is
 * written as `INDEX:TYPE=` and the data's own octets (valid UTF-8, so the same octets its text would
 * encode to), without making the text; the rest go through valueText.
 */
function valueTextBytes(v: HandleValue): Buffer {
  const t = v.type;
  const structured = t.length >= 3 && (t.charCodeAt(0) | 0x20) === 0x68 && (t.charCodeAt(1) | 0x20) === 0x73 && t.charCodeAt(2) === 0x5f; // "HS_"
  if (structured || !isTextData(v.data)) return Buffer.from(valueText(v), 'utf8');
  const head = `${v.index}:${t}=`;
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + v.data.length);
  out.write(head, 0, headLength, 'utf8');
  v.data.copy(out, headLength);
  return out;
}

/** URL values: the Handle type URL (any case), and URL.something. */
export function isUrlValue(v: HandleValue): boolean {
  const t = v.type.toUpperCase();
  return t === 'URL' || t.startsWith('URL.');
}

function scheme(url: string): string | undefined {
  return /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
}

/** Indexes are 32-bit; priorities and orders 16-bit. Lower index first. */
function order16(index: number): number {
  return Math.min(index, 0xffff);
}

/** Past this many octets a value's text is not sent (a record's data is at most 65535 octets). */
const MAX_TXT_TEXT = 60000;

export function txtRecords(values: readonly HandleValue[], ttl: number): WireRecord[] {
  return values.map((v) => {
    let text = valueTextBytes(v);
    if (text.length > MAX_TXT_TEXT) text = Buffer.from(`${v.index}:${v.type};omitted=${text.length} octets, too large for DNS`, 'utf8');
    return { type: QType.TXT, ttl, rdata: characterStrings(txtStrings(text)) };
  });
}

/** RFC 7553: priority (the value's index: lower first), weight 1, the URL as the target. */
export function uriRecords(values: readonly HandleValue[], ttl: number): WireRecord[] {
  const out: WireRecord[] = [];
  for (const v of values) {
    if (!isUrlValue(v) || v.data.length === 0 || scheme(v.data.toString('utf8')) === undefined) continue;
    const rdata = Buffer.allocUnsafe(4 + v.data.length);
    rdata.writeUInt16BE(order16(v.index), 0);
    rdata.writeUInt16BE(1, 2);
    v.data.copy(rdata, 4);
    out.push({ type: QType.URI, ttl, rdata });
  }
  return out;
}

/** NAPTR's flag "u": the regexp's result is the URI. */
const FLAG_U = Buffer.from('u');

/**
 * NAPTR (RFC 3403) for service discovery, as ONS answered product codes: flag "u" (the regexp yields the
 * URI), service E2U+web:http / E2U+web:https for web URLs (ENUM's enumservice, RFC 6118) and E2U+SCHEME
 * otherwise, the regexp `!^.*$!URL!` (with `\` and `!` escaped), no replacement (the root name). A URL too
 * long for the 255-octet regexp field gets no NAPTR (its URI record carries it).
 */
export function naptrRecords(values: readonly HandleValue[], ttl: number): WireRecord[] {
  const out: WireRecord[] = [];
  for (const v of values) {
    if (!isUrlValue(v)) continue;
    const url = v.data.toString('utf8');
    const s = scheme(url);
    if (s === undefined) continue;
    const regexp = Buffer.from(`!^.*$!${url.replace(/[\\!]/g, (c) => '\\' + c)}!`, 'utf8');
    if (regexp.length > 255) continue;
    const services = Buffer.from(s === 'http' || s === 'https' ? `E2U+web:${s}` : `E2U+${s}`, 'utf8');
    if (services.length > 255) continue;
    const strings = characterStrings([FLAG_U, services, regexp]);
    const rdata = Buffer.allocUnsafe(4 + strings.length + 1);
    rdata.writeUInt16BE(order16(v.index), 0);
    rdata.writeUInt16BE(10, 2); // preference
    strings.copy(rdata, 4);
    rdata[4 + strings.length] = 0; // replacement: the root name
    out.push({ type: QType.NAPTR, ttl, rdata });
  }
  return out;
}

/** The public values of an answer, and the TTL of every record made of them: the smallest value TTL. */
export function publicValues(values: readonly HandleValue[]): HandleValue[] {
  return values.filter(isPublic);
}

export function answerTtl(values: readonly HandleValue[], nowSeconds: number, maxTtl: number): number {
  return Math.min(minTtlSeconds(values, nowSeconds), maxTtl);
}

/**
 * The records of an identifier for one query type: TXT, URI, NAPTR, or all three for ANY. An empty list
 * for another type (NODATA: the name exists, the type does not).
 */
export function identifierRecords(qtype: number, values: readonly HandleValue[], ttl: number): WireRecord[] {
  switch (qtype) {
    case QType.TXT:
      return txtRecords(values, ttl);
    case QType.URI:
      return uriRecords(values, ttl);
    case QType.NAPTR:
      return naptrRecords(values, ttl);
    case QType.ANY:
      return [...txtRecords(values, ttl), ...uriRecords(values, ttl), ...naptrRecords(values, ttl)];
    default:
      return [];
  }
}

export function soaRecord(z: ZoneData, ttl = z.ttl): DnsRecord {
  return {
    type: 'SOA',
    name: '.',
    ttl,
    data: {
      mname: z.nameServers[0]!,
      rname: z.hostmaster,
      serial: z.serial,
      refresh: z.refresh,
      retry: z.retry,
      expire: z.expire,
      minimum: z.negativeTtl,
    },
  };
}

/** The SOA in a negative answer: its TTL no more than the SOA minimum (RFC 2308 3). */
export function negativeSoa(z: ZoneData): DnsRecord {
  return soaRecord(z, Math.min(z.ttl, z.negativeTtl));
}

export function nsRecords(z: ZoneData): DnsRecord[] {
  return z.nameServers.map((ns) => ({ type: 'NS', name: '.', ttl: z.ttl, data: ns }));
}

/** The records of the zone apex for one query type. */
export function apexRecords(qtype: number, z: ZoneData): DnsRecord[] {
  if (qtype === QType.SOA) return [soaRecord(z)];
  if (qtype === QType.NS) return nsRecords(z);
  if (qtype === QType.ANY) return [soaRecord(z), ...nsRecords(z)];
  return [];
}
