import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { type ServerSpec, siteOf } from '../admin/delegation.js';
import { HashOption, type SiteInfo, ServiceType, Transport } from '../model/site.js';
import type { HandleValue } from '../model/value.js';
import { decodeAdmin, decodeVList, encodeAdmin, encodeVList } from '../protocol/admin-data.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../protocol/constants.js';
import { dataToJson, describePublicKey, isTextData } from '../protocol/json.js';
import { readPrivateKey } from '../protocol/keyfile.js';
import { decodePublicKey, encodePublicKey } from '../protocol/pubkey.js';
import { decodeSite, encodeSite } from '../protocol/site.js';
import { ALL_ADMIN_PERMISSIONS, type VListEntry } from '../model/admin.js';
import { formatPermissions, parsePermissions } from './admin-perms.js';
import { fillKeys, parseSiteSpec } from './site-spec.js';
import { UsageError } from './usage-error.js';

// The readable text of the values that decide who administers what and where a prefix is served, in both
// directions: what `resolve` prints in its data column is what `--value INDEX:TYPE=…` reads back, to the
// same bytes, wherever the text carries the whole value (formatData checks it by reading it back).
//
//   HS_ADMIN   300:0.NA/88.118.8 perms=all             (perms: all, none, or names: admin-perms.ts)
//   HS_VLIST   300:88.118.8/A,300:88.118.8/B           (none: an empty group)
//   HS_SITE    127.0.0.1:2641,10.0.0.2:2641 hash=handle serial=1 desc="site of 88.118.8"
//              (also version=2.10, primary=no, multi-primary=yes; keys=fetch asks the servers for their keys)
//   HS_SECKEY  the secret itself (printed only when asked)
//   HS_PUBKEY  @FILE on input (PEM, public or private, or HS_PUBKEY data such as FILE.pub.bin or the reference's
//              key files); printed as its algorithm, size and fingerprint, which do not carry the key
//
// A handle in these forms is written in double quotes (JSON string rules) when it holds a space, a comma or
// a quote.

export type FormKind = 'admin' | 'vlist' | 'site' | 'seckey' | 'pubkey';

function isType(type: string, base: string): boolean {
  const u = type.toUpperCase();
  return u === base || u.startsWith(base + '.');
}

/** The readable form a type's data has, if it has one beyond text. */
export function formKind(type: string): FormKind | undefined {
  if (isType(type, 'HS_ADMIN')) return 'admin';
  if (isType(type, 'HS_VLIST')) return 'vlist';
  if (isType(type, 'HS_SITE') || type.toUpperCase() === 'HS_NA_DELEGATE') return 'site';
  if (isType(type, 'HS_SECKEY')) return 'seckey';
  if (isType(type, 'HS_PUBKEY')) return 'pubkey';
  return undefined;
}

/** Data read from text; `complete`, when present, must run (it asks servers for their keys) to give the final bytes. */
export interface ParsedData {
  data: Buffer;
  complete?: () => Promise<Buffer>;
}

export interface ParseContext {
  /** Passphrase of an encrypted private key named by HS_PUBKEY=@FILE. */
  passphrase?: string;
}

/** The bytes of a value of `type` given as `text` (types without a readable form: the text's UTF-8). */
export function parseData(type: string, text: string, ctx: ParseContext = {}): ParsedData {
  switch (formKind(type)) {
    case 'admin':
      return { data: parseAdminText(text) };
    case 'vlist':
      return { data: encodeVList(parseVListText(text)) };
    case 'site':
      return parseSiteText(text);
    case 'pubkey':
      return { data: parsePubkeyText(text, ctx) };
    case 'seckey':
      if (text.length === 0) throw new UsageError('an HS_SECKEY value needs the secret, e.g. 301:HS_SECKEY=…');
      return { data: Buffer.from(text, 'utf8') };
    default:
      return { data: Buffer.from(text, 'utf8') };
  }
}

export interface FormatOptions {
  /** Print HS_SECKEY secrets; without, they are hidden. */
  showSecrets?: boolean;
}

/** The data of a value as a person reads it: the readable form where the type has one, else text or base64. */
export function formatData(v: Pick<HandleValue, 'type' | 'data'>, o: FormatOptions = {}): string {
  const kind = formKind(v.type);
  try {
    switch (kind) {
      case 'admin':
        return readableOrNote(v, adminText(v.data), 'legacy layout');
      case 'vlist':
        return readableOrNote(v, vlistText(v.data), 'not in the text form');
      case 'site': {
        const { text, noted } = siteText(decodeSite(v.data));
        return noted ? text : readableOrNote(v, text, 'not in the text form');
      }
      case 'pubkey': {
        const k = describePublicKey(v.data);
        if (k) return `${k.algorithm} ${k.bits}-bit ${k.fingerprint}${k.pem ? ' (PEM)' : ''}`;
        break;
      }
      case 'seckey':
        if (!o.showSecrets) return `(secret, ${v.data.length} bytes; --show-secrets prints it)`;
        break;
    }
  } catch {
    // A structured value that does not decode is shown as its bytes.
  }
  return genericText(v.type, v.data);
}

/** Does the printed form of this value read back to the same bytes? */
export function isWholeForm(v: Pick<HandleValue, 'type' | 'data'>, o: FormatOptions = {}): boolean {
  try {
    return parseData(v.type, formatData(v, o)).data.equals(v.data);
  } catch {
    return false;
  }
}

function genericText(type: string, data: Buffer): string {
  if (isTextData(data)) return data.toString('utf8');
  const j = dataToJson(type, data);
  return j.format === 'string' ? String(j.value) : `base64:${data.toString('base64')}`;
}

/** The readable text when it reads back to the same bytes; otherwise the text with a note, which does not read. */
function readableOrNote(v: Pick<HandleValue, 'type' | 'data'>, text: string, note: string): string {
  let same = false;
  try {
    same = parseData(v.type, text).data.equals(v.data);
  } catch {
    same = false;
  }
  return same ? text : `${text} (${note})`;
}

// ---- pieces ---------------------------------------------------------------------------------------------

/** Split on white space; a double-quoted JSON string (also after `name=`) is one piece, its quotes kept. */
function pieces(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      cur += c;
      if (c === '\\' && i + 1 < text.length) cur += text[++i];
      else if (c === '"') quoted = false;
      continue;
    }
    if (/\s/.test(c)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    if (c === '"') quoted = true;
    cur += c;
  }
  if (quoted) throw new UsageError(`a quote is not closed in "${text}"`);
  if (cur) out.push(cur);
  return out;
}

/** Split on commas outside double quotes. */
function commaParts(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '\\' && i + 1 < text.length) {
      cur += c + text[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (quoted) throw new UsageError(`a quote is not closed in "${text}"`);
  out.push(cur);
  return out;
}

function unquote(s: string): string {
  if (!s.startsWith('"')) return s;
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === 'string') return v;
  } catch {
    // fall through
  }
  throw new UsageError(`${s} is not a quoted string`);
}

/** A handle or text as written in these forms: bare unless it holds a space, a comma or a quote (or is empty). */
export function quoted(s: string): string {
  return s === '' || /[\s,"]/.test(s) ? JSON.stringify(s) : s;
}

/** INDEX:HANDLE, the way HS_ADMIN and HS_VLIST name an identity (index 0: any key of the handle). */
export function parseReference(text: string): VListEntry {
  const m = /^(\d{1,10}):(.+)$/s.exec(text.trim());
  if (!m || Number(m[1]) > 0xffffffff) throw new UsageError(`"${text.trim()}" is not INDEX:HANDLE, e.g. 300:0.NA/88.118.8`);
  const handle = unquote(m[2]!);
  if (!handle.includes('/')) throw new UsageError(`"${handle}" in "${text.trim()}" is not a handle (PREFIX/SUFFIX, or 0.NA/PREFIX)`);
  return { index: Number(m[1]), handle };
}

export function referenceText(r: VListEntry): string {
  return `${r.index}:${quoted(r.handle)}`;
}

// ---- HS_ADMIN and HS_VLIST -------------------------------------------------------------------------------

function parseAdminText(text: string): Buffer {
  const [ref, ...rest] = pieces(text);
  if (ref === undefined) throw new UsageError('an HS_ADMIN value names its administrator: INDEX:HANDLE [perms=…], e.g. 300:0.NA/88.118.8 perms=all');
  const { index, handle } = parseReference(ref);
  let permissions = ALL_ADMIN_PERMISSIONS;
  for (const p of rest) {
    const m = /^perms=(.*)$/s.exec(p);
    if (!m) throw new UsageError(`"${p}" in an HS_ADMIN value: it is INDEX:HANDLE [perms=…], e.g. 300:88.118.8/OPERATOR perms=add-value,read-value`);
    permissions = parsePermissions(m[1]!);
  }
  return encodeAdmin({ permissions, handle, index });
}

function adminText(data: Buffer): string {
  const a = decodeAdmin(data);
  return `${referenceText(a)} perms=${formatPermissions(a.permissions)}`;
}

function parseVListText(text: string): VListEntry[] {
  const t = text.trim();
  if (t === '' || t === 'none') return [];
  return commaParts(t).map((p) => parseReference(p));
}

function vlistText(data: Buffer): string {
  const list = decodeVList(data);
  return list.length ? list.map(referenceText).join(',') : 'none';
}

// ---- HS_SITE ---------------------------------------------------------------------------------------------

const HASH_NAMES: Record<string, number> = { prefix: HashOption.BY_PREFIX, suffix: HashOption.BY_SUFFIX, handle: HashOption.BY_HANDLE };

function yesNo(v: string, what: string): boolean {
  if (/^(yes|true|1)$/i.test(v)) return true;
  if (/^(no|false|0)$/i.test(v)) return false;
  throw new UsageError(`${what}=${v}: give yes or no`);
}

function parseSiteText(text: string): ParsedData {
  const [first, ...rest] = pieces(text);
  if (first === undefined) throw new UsageError('an HS_SITE value lists its servers: ADDRESS:PORT[,ADDRESS:PORT…] [hash=…] [serial=…] [desc="…"]');
  const servers: ServerSpec[] = parseSiteSpec(first);
  const o = { hashOption: HashOption.BY_HANDLE as number, serial: 1, description: '', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, primary: true, multiPrimary: false, fetch: false };
  for (const p of rest) {
    const m = /^([a-z-]+)=(.*)$/s.exec(p);
    if (!m) {
      if (p.startsWith('(')) {
        throw new UsageError(
          `this HS_SITE text was printed with what its text form cannot carry ${rest.slice(rest.indexOf(p)).join(' ')}: ` +
            'add keys=fetch (the servers are asked for their keys), or give the value as JSON (idres resolve --json) with --json-value',
        );
      }
      throw new UsageError(`"${p}" in an HS_SITE value: the options are hash=, serial=, desc=, version=, primary=, multi-primary=, keys=fetch`);
    }
    const [, name, raw] = m as unknown as [string, string, string];
    const value = unquote(raw);
    switch (name) {
      case 'hash': {
        const h = HASH_NAMES[value];
        if (h === undefined) throw new UsageError(`hash=${value}: give prefix, suffix or handle`);
        o.hashOption = h;
        break;
      }
      case 'serial':
        if (!/^\d{1,5}$/.test(value) || Number(value) > 0xffff) throw new UsageError(`serial=${value}: give a number from 0 to 65535`);
        o.serial = Number(value);
        break;
      case 'desc':
        o.description = value;
        break;
      case 'version': {
        const v = /^(\d{1,3})\.(\d{1,3})$/.exec(value);
        if (!v || Number(v[1]) > 255 || Number(v[2]) > 255) throw new UsageError(`version=${value}: give MAJOR.MINOR, e.g. 2.11`);
        o.major = Number(v[1]);
        o.minor = Number(v[2]);
        break;
      }
      case 'primary':
        o.primary = yesNo(value, name);
        break;
      case 'multi-primary':
        o.multiPrimary = yesNo(value, name);
        break;
      case 'keys':
        if (value !== 'fetch') throw new UsageError(`keys=${value}: the only choice is keys=fetch (ask each server for its public key)`);
        o.fetch = true;
        break;
      default:
        throw new UsageError(`"${name}=" in an HS_SITE value: the options are hash=, serial=, desc=, version=, primary=, multi-primary=, keys=fetch`);
    }
  }
  const build = (): Buffer => {
    const site = siteOf(servers, { hashOption: o.hashOption, serial: o.serial, ...(o.description ? { description: o.description } : {}) });
    return encodeSite({ ...site, protocolMajor: o.major, protocolMinor: o.minor, primary: o.primary, multiPrimary: o.multiPrimary });
  };
  const data = build();
  if (!o.fetch) return { data };
  return {
    data,
    complete: async () => {
      await fillKeys(servers, false);
      return build();
    },
  };
}

/** The interfaces siteOf gives a server: TCP for admin and queries and UDP for queries, on one port. */
function standardPort(s: SiteInfo['servers'][number]): number | undefined {
  const [a, b] = s.interfaces;
  if (s.interfaces.length !== 2 || !a || !b) return undefined;
  const ok =
    a.type === ServiceType.ADMIN_AND_QUERY && a.protocol === Transport.TCP && b.type === ServiceType.QUERY && b.protocol === Transport.UDP && a.port === b.port;
  return ok ? a.port : undefined;
}

const PROTOCOL_NAMES = ['UDP', 'TCP', 'HTTP', 'HTTPS'];
const SERVICE_NAMES = ['out of service', 'admin', 'query', 'admin+query'];

/** The text of a site; `noted` when it carries notes (in parentheses) of what the text form cannot say. */
function siteText(s: SiteInfo): { text: string; noted: boolean } {
  const notes: string[] = [];
  const servers = s.servers.map((srv, i) => {
    const host = srv.address.includes(':') ? `[${srv.address}]` : srv.address;
    const port = standardPort(srv);
    if (port !== undefined && srv.serverId === i + 1) return `${host}:${port}`;
    const ifs = srv.interfaces.map((f) => `${PROTOCOL_NAMES[f.protocol] ?? f.protocol} ${f.port} ${SERVICE_NAMES[f.type] ?? f.type}`);
    notes.push(`server ${srv.serverId} at ${srv.address}: ${ifs.join(', ') || 'no interfaces'}`);
    return `${host}:${srv.interfaces[0]?.port ?? 0}`;
  });
  const hash = Object.entries(HASH_NAMES).find(([, n]) => n === s.hashOption)?.[0];
  if (hash === undefined) notes.push(`hash option ${s.hashOption}`);
  const parts = [servers.join(',') || '(no servers)', `hash=${hash ?? s.hashOption}`, `serial=${s.serial}`];
  const desc = s.attributes.find(([n]) => n === 'desc');
  if (desc && desc[1] !== '') parts.push(`desc=${quoted(desc[1])}`);
  const others = s.attributes.filter((a) => a !== desc || a[1] === '');
  if (others.length) notes.push(`attributes ${others.map(([n, v]) => `${n}=${quoted(v)}`).join(' ')}`);
  if (s.protocolMajor !== PROTOCOL_MAJOR || s.protocolMinor !== PROTOCOL_MINOR) parts.push(`version=${s.protocolMajor}.${s.protocolMinor}`);
  if (!s.primary) parts.push('primary=no');
  if (s.multiPrimary) parts.push('multi-primary=yes');
  if (s.dataFormatVersion !== 1) notes.push(`data format ${s.dataFormatVersion}`);
  if (s.hashFilter.length) notes.push(`hash filter ${s.hashFilter.toString('hex')}`);
  const keys = s.servers.map((srv) => (srv.publicKey.length ? (describePublicKey(srv.publicKey)?.fingerprint ?? `${srv.publicKey.length} bytes`) : undefined));
  if (keys.some((k) => k !== undefined)) notes.push(`keys ${keys.map((k) => k ?? 'none').join(', ')}`);
  return { text: parts.join(' ') + (notes.length ? ` (${notes.join('; ')})` : ''), noted: notes.length > 0 };
}

// ---- HS_PUBKEY -------------------------------------------------------------------------------------------

function parsePubkeyText(text: string, ctx: ParseContext): Buffer {
  if (!text.startsWith('@') || text.length < 2) {
    throw new UsageError('an HS_PUBKEY value is read from a key file: HS_PUBKEY=@FILE (a PEM key, or the FILE.pub.bin `idres keys generate` writes); or give its bytes with --hex');
  }
  const file = text.slice(1);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read the key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const pemText = bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN');
  try {
    if (pemText && !bytes.toString('latin1').includes('PRIVATE KEY')) return encodePublicKey(createPublicKey({ key: bytes, format: 'pem' }));
    if (!pemText) {
      try {
        decodePublicKey(bytes);
        return bytes; // already HS_PUBKEY data (FILE.pub.bin, the reference's admpub.bin)
      } catch {
        // perhaps a private key file
      }
    }
    return encodePublicKey(readPrivateKey(bytes, ctx.passphrase));
  } catch (err) {
    throw new UsageError(`${file} holds no RSA or SM2 key we can read (a PEM key, HS_PUBKEY data, or the reference's key file): ${(err as Error).message}`);
  }
}
