import { asciiUpper, isValidPrefix } from '../model/handle.js';

// Identifier ↔ DNS name (docs/dns.md). Pure: no I/O, no configuration beyond the zone it is given.
//
//   88.118.8/PUMP-XB200.a  under  id.internal  ⇄  pump-xb200_2e_61._.8.118.88.id.internal
//
// * The prefix's segments, reversed, sit right under the zone (as ENUM and ONS do), so a DNS operator can
//   cut a zone per prefix. Prefixes compare without regard to case, so their letters are written folded
//   and read back upper-case (the canonical prefix).
// * The label `_` separates prefix from suffix. No encoded segment or suffix label can be `_` alone (an
//   escape is always `_` + two hex digits and is never split), so the boundary is never ambiguous.
// * The suffix is written as labels of at most 63 octets, cut where needed (the cuts carry no meaning).
// * Case: DNS compares names without regard to ASCII case, but a node may keep suffix case. So a DNS letter
//   stands for the upper-case letter (industrial identifiers are mostly upper-case, and the reference
//   folds to upper case), and a lower-case suffix letter is escaped.
// * Escaping: digits, `-` and upper-case letters (written as letters) go as they are; every other byte of
//   the UTF-8 suffix (lower-case letters, `.`, `_`, `/`, spaces, punctuation, every byte of a non-ASCII
//   character) is `_` followed by its two lower-case hex digits.
//
// Every identifier has exactly one name and every accepted name exactly one identifier: a name is accepted
// only if it is the canonical name of what it decodes to (no needless escapes, labels cut greedily).

/** DNS limits (RFC 1035 2.3.4): label and whole-name lengths in octets, the name counted in wire form. */
export const MAX_LABEL = 63;
export const MAX_NAME_WIRE = 255;

/** The label between the suffix's labels and the prefix's segments. */
export const SEPARATOR_LABEL = '_';

export class DnsMappingError extends Error {
  override name = 'DnsMappingError';
}

/**
 * A zone in canonical form: lower case, no trailing dot. Zone labels are letters, digits, `-` and `_`
 * (what an operator names a zone with), at most 63 octets each.
 */
export function normaliseZone(zone: string): string {
  const z = zone.trim().replace(/\.$/, '').toLowerCase();
  if (z.length === 0) throw new DnsMappingError('a zone must have at least one label (the root zone cannot be served)');
  for (const label of z.split('.')) {
    if (!/^[a-z0-9_-]{1,63}$/.test(label)) throw new DnsMappingError(`"${zone}" is not a zone name: label "${label}" must be 1–63 letters, digits, "-" or "_"`);
  }
  if (wireLength(z.split('.')) > MAX_NAME_WIRE) throw new DnsMappingError(`zone "${zone}" is longer than ${MAX_NAME_WIRE} octets`);
  return z;
}

/** Octets a name takes on the wire: each label with its length byte, then the root's zero byte. */
export function wireLength(labels: readonly string[]): number {
  let n = 1;
  for (const l of labels) n += l.length + 1;
  return n;
}

const HEX = '0123456789abcdef';

function escapeByte(b: number): string {
  return '_' + HEX[b >> 4]! + HEX[b & 15]!;
}

/**
 * Encode text into escape tokens (each one plain character or one `_hh` escape). `foldLetters` (for
 * prefixes) writes lower-case letters plainly too, since prefixes do not keep case.
 */
function tokens(text: string, foldLetters: boolean): string[] {
  const out: string[] = [];
  for (const b of Buffer.from(text, 'utf8')) {
    if (b >= 0x41 && b <= 0x5a) out.push(String.fromCharCode(b + 32));
    else if ((b >= 0x30 && b <= 0x39) || b === 0x2d) out.push(String.fromCharCode(b));
    else if (foldLetters && b >= 0x61 && b <= 0x7a) out.push(String.fromCharCode(b));
    else out.push(escapeByte(b));
  }
  return out;
}

/** Greedy cut of tokens into labels of at most 63 octets, never inside an escape. */
function cut(toks: readonly string[]): string[] {
  const labels: string[] = [];
  let cur = '';
  for (const t of toks) {
    if (cur.length + t.length > MAX_LABEL) {
      labels.push(cur);
      cur = '';
    }
    cur += t;
  }
  if (cur.length) labels.push(cur);
  return labels;
}

/** The labels of an identifier relative to the zone, most specific first. Throws DnsMappingError. */
export function identifierLabels(identifier: string): string[] {
  const slash = identifier.indexOf('/');
  if (slash < 0) throw new DnsMappingError(`"${identifier}" is not an identifier PREFIX/SUFFIX`);
  const prefix = identifier.slice(0, slash);
  const suffix = identifier.slice(slash + 1);
  if (!isValidPrefix(prefix)) throw new DnsMappingError(`"${prefix}" is not a valid prefix`);
  if (suffix.length === 0) throw new DnsMappingError(`"${identifier}" has an empty suffix`);
  const prefixLabels = prefix.split('.').map((seg) => {
    const l = tokens(seg, true).join('');
    if (l.length > MAX_LABEL) throw new DnsMappingError(`prefix segment "${seg}" takes ${l.length} octets as a DNS label (at most ${MAX_LABEL})`);
    return l;
  });
  return [...cut(tokens(suffix, false)), SEPARATOR_LABEL, ...prefixLabels.reverse()];
}

/** The DNS name (no trailing dot, lower case) of an identifier under a zone. Throws DnsMappingError. */
export function identifierToName(identifier: string, zone: string): string {
  const z = normaliseZone(zone);
  const labels = [...identifierLabels(identifier), ...z.split('.')];
  const len = wireLength(labels);
  if (len > MAX_NAME_WIRE) {
    throw new DnsMappingError(`"${identifier}" needs a DNS name of ${len} octets under ${z}; DNS allows ${MAX_NAME_WIRE}, so it cannot be asked over DNS`);
  }
  return labels.join('.');
}

/** What a query name is, relative to one zone. */
export type NameMeaning =
  | { kind: 'outside' }
  | { kind: 'apex'; zone: string }
  | { kind: 'identifier'; zone: string; identifier: string }
  /** Under the zone but not the name of any identifier: the reason says why. */
  | { kind: 'invalid'; zone: string; reason: string };

/**
 * Decode labels (any ASCII case) against a zone's labels. `labels` are the raw label texts (bytes as
 * latin1 characters when they come off the wire).
 */
export function interpretLabels(labels: readonly string[], zoneLabels: readonly string[], zone: string): NameMeaning {
  const n = labels.length - zoneLabels.length;
  if (n < 0) return { kind: 'outside' };
  for (let i = 0; i < zoneLabels.length; i++) if (asciiLower(labels[n + i]!) !== zoneLabels[i]) return { kind: 'outside' };
  if (n === 0) return { kind: 'apex', zone };
  const below = labels.slice(0, n).map(asciiLower);
  const sep = below.indexOf(SEPARATOR_LABEL);
  if (sep < 0) return { kind: 'invalid', zone, reason: `no "${SEPARATOR_LABEL}" label between suffix and prefix` };
  if (sep === 0) return { kind: 'invalid', zone, reason: 'no suffix before the "_" label' };
  if (sep === n - 1) return { kind: 'invalid', zone, reason: 'no prefix after the "_" label' };
  try {
    const suffix = decodePart(below.slice(0, sep).join(''));
    const prefix = below
      .slice(sep + 1)
      .reverse()
      .map((l) => asciiUpper(decodePart(l)))
      .join('.');
    const identifier = `${prefix}/${suffix}`;
    // One name per identifier: anything but the canonical spelling is refused rather than guessed at.
    if (identifierLabels(identifier).join('.') !== below.join('.')) {
      return { kind: 'invalid', zone, reason: `not the canonical name of ${identifier} (needless escape or label cut)` };
    }
    return { kind: 'identifier', zone, identifier };
  } catch (err) {
    if (err instanceof DnsMappingError) return { kind: 'invalid', zone, reason: err.message };
    throw err;
  }
}

/** Labels of a name in presentation form ("a.b.c." or "a.b.c"); escapes (\.) are not part of our names. */
export function nameLabels(name: string): string[] {
  const n = name.trim().replace(/\.$/, '');
  if (n.length === 0) return [];
  if (n.includes('\\')) throw new DnsMappingError(`"${name}": backslash escapes never occur in identifier names`);
  const labels = n.split('.');
  if (labels.some((l) => l.length === 0)) throw new DnsMappingError(`"${name}" has an empty label`);
  return labels;
}

/** The identifier a name stands for under one of the zones, or a DnsMappingError saying why there is none. */
export function nameToIdentifier(name: string, zones: readonly string[]): string {
  const labels = nameLabels(name);
  for (const zone of zones.map(normaliseZone)) {
    const m = interpretLabels(labels, zone.split('.'), zone);
    if (m.kind === 'identifier') return m.identifier;
    if (m.kind === 'apex') throw new DnsMappingError(`"${name}" is the apex of the zone ${zone}, not an identifier`);
    if (m.kind === 'invalid') throw new DnsMappingError(`"${name}" is not an identifier name under ${zone}: ${m.reason}`);
  }
  throw new DnsMappingError(`"${name}" is not under ${zones.length === 1 ? 'the zone ' + zones[0] : 'any of the zones ' + zones.join(', ')}`);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decode one part (lower-cased): letters are upper-case letters, `_hh` a byte; the bytes must be UTF-8. */
function decodePart(text: string): string {
  // Most parts are letters, digits and ASCII escapes: those are their own characters, no decoder needed.
  let ascii = '';
  let bytes: number[] | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let b: number;
    if (c >= 0x61 && c <= 0x7a) b = c - 32;
    else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) b = c;
    else if (c === 0x5f) {
      b = hexByte(text, i + 1);
      if (b < 0) throw new DnsMappingError(`"_" must be followed by two hex digits, not "${printable(text.slice(i + 1, i + 3))}"`);
      i += 2;
    } else throw new DnsMappingError(`the character ${printable(text[i]!)} never occurs in identifier names`);
    if (bytes) bytes.push(b);
    else if (b < 0x80) ascii += String.fromCharCode(b);
    else bytes = [...Buffer.from(ascii, 'latin1'), b];
  }
  if (!bytes) return ascii;
  try {
    return UTF8.decode(Uint8Array.from(bytes));
  } catch {
    throw new DnsMappingError('the escaped bytes are not UTF-8');
  }
}

/** The byte of two lower-case hex digits at text[at], or -1. */
function hexByte(text: string, at: number): number {
  if (at + 2 > text.length) return -1;
  const hi = HEX.indexOf(text[at]!);
  const lo = HEX.indexOf(text[at + 1]!);
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

function printable(s: string): string {
  return JSON.stringify(s);
}
