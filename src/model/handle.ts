// Identifiers: PREFIX/SUFFIX, prefix handles 0.NA/PREFIX, and the forms a scanner reads them in.

export const NA_PREFIX = '0.NA';

export interface HandleParts {
  prefix: string;
  /** Empty when the handle has no slash. */
  suffix: string;
}

export function splitHandle(handle: string): HandleParts {
  const slash = handle.indexOf('/');
  if (slash < 0) return { prefix: handle, suffix: '' };
  return { prefix: handle.slice(0, slash), suffix: handle.slice(slash + 1) };
}

/** ASCII-only upper-casing: deterministic, byte-length preserving, and what the reference's case folding does. */
export function asciiUpper(s: string): string {
  let needs = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) {
      needs = true;
      break;
    }
  }
  if (!needs) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 97 && c <= 122 ? String.fromCharCode(c - 32) : s[i];
  }
  return out;
}

/**
 * The key a handle is stored and looked up under. The prefix is always matched without regard to case;
 * the suffix is folded too when the node is configured to (the reference's default).
 */
export function handleKey(handle: string, foldSuffix: boolean): string {
  const slash = handle.indexOf('/');
  if (slash < 0) return asciiUpper(handle);
  const prefix = asciiUpper(handle.slice(0, slash));
  const suffix = handle.slice(slash + 1);
  return prefix + '/' + (foldSuffix ? asciiUpper(suffix) : suffix);
}

/** Prefixes compare without regard to case; this is their canonical form. */
export function normalisePrefix(prefix: string): string {
  return asciiUpper(prefix);
}

export function prefixHandle(prefix: string): string {
  return `${NA_PREFIX}/${prefix}`;
}

export function isPrefixHandle(handle: string): boolean {
  return handle.length > 5 && asciiUpper(handle.slice(0, 5)) === '0.NA/';
}

/** For 0.NA/88.118.8 the prefix 88.118.8; otherwise undefined. */
export function prefixOfPrefixHandle(handle: string): string | undefined {
  return isPrefixHandle(handle) ? handle.slice(5) : undefined;
}

/**
 * A handle that is a bare prefix (88.118.8: no slash, a valid prefix), the form the national SDK's resolver
 * asks a recursion server for the sites of (docs/idis.md); undefined for any other handle.
 */
export function barePrefix(handle: string): string | undefined {
  return !handle.includes('/') && isValidPrefix(handle) ? handle : undefined;
}

/** 88.118.8 → [88.118.8, 88.118, 88]: a prefix and its ancestors, nearest first. */
export function prefixAncestry(prefix: string): string[] {
  const parts = prefix.split('.');
  const out: string[] = [];
  for (let n = parts.length; n >= 1; n--) out.push(parts.slice(0, n).join('.'));
  return out;
}

/** A prefix: dot-separated non-empty segments with no slash, no whitespace, no control characters. */
const PREFIX_RE = /^[^\s/\x00-\x1f\x7f.]+(\.[^\s/\x00-\x1f\x7f.]+)*$/u;

export function isValidPrefix(prefix: string): boolean {
  return prefix.length > 0 && Buffer.byteLength(prefix) <= 255 && PREFIX_RE.test(prefix);
}

export class HandleSyntaxError extends Error {
  override name = 'HandleSyntaxError';
}

/** Check a PREFIX/SUFFIX handle for registration: a valid prefix, a non-empty suffix, the byte limit. */
export function validateHandle(handle: string, maxBytes = 2048): HandleParts {
  const slash = handle.indexOf('/');
  if (slash <= 0) throw new HandleSyntaxError(`"${handle}" is not PREFIX/SUFFIX`);
  const parts = splitHandle(handle);
  if (!isValidPrefix(parts.prefix)) throw new HandleSyntaxError(`"${parts.prefix}" is not a valid prefix`);
  if (parts.suffix.length === 0) throw new HandleSyntaxError(`"${handle}" has an empty suffix`);
  if (/[\x00-\x1f\x7f]/.test(parts.suffix)) throw new HandleSyntaxError(`the suffix of "${handle}" contains a control character`);
  if (Buffer.byteLength(handle) > maxBytes) throw new HandleSyntaxError(`"${handle.slice(0, 40)}…" is longer than ${maxBytes} bytes`);
  return parts;
}

/** A path segment that can start a handle: 88.118.8, 20.500.12345, 0.NA. */
const PREFIX_SEGMENT_RE = /^[0-9]+(\.[0-9A-Za-z_-]+)*$/;

/**
 * The handle in what a scanner reads: a bare handle (`88.118.8/ABC123`), a URI (`hdl:88.118.8/ABC123`,
 * `urn:hdl:…`, `doi:…`), or an http(s) URL whose path ends in the handle
 * (`https://id.example.cn/88.118.8/ABC123?x=1`). Percent-escapes in a URL path are decoded.
 */
export function parseScannedIdentifier(input: string): string {
  const s = input.trim();
  const uri = /^(?:urn:)?(?:hdl|handle|doi):(?:\/\/)?(.+)$/i.exec(s);
  if (uri) return decodeIfEscaped(uri[1]!);
  if (/^https?:\/\//i.test(s)) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new HandleSyntaxError(`"${s}" is not a valid URL`);
    }
    const segments = url.pathname.split('/').filter((x) => x.length > 0);
    for (let i = 0; i < segments.length - 1; i++) {
      const seg = decodeIfEscaped(segments[i]!);
      if (PREFIX_SEGMENT_RE.test(seg)) {
        return segments
          .slice(i)
          .map((x) => decodeIfEscaped(x))
          .join('/');
      }
    }
    throw new HandleSyntaxError(`no PREFIX/SUFFIX handle in the path of "${s}"`);
  }
  return s;
}

function decodeIfEscaped(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
