// The handle value (RFC 3651 section 3.1): the unit a handle's record is made of.

/** Value-level permission bits. */
export const Perm = {
  ADMIN_READ: 0x08,
  ADMIN_WRITE: 0x04,
  PUBLIC_READ: 0x02,
  PUBLIC_WRITE: 0x01,
} as const;

/** rwr- : what the reference writes unless told otherwise. */
export const DEFAULT_PERMISSIONS = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;
export const DEFAULT_TTL = 86400;

export const TtlType = {
  RELATIVE: 0,
  ABSOLUTE: 1,
} as const;

export interface ValueReference {
  handle: string;
  index: number;
}

export interface HandleValue {
  index: number;
  type: string;
  data: Buffer;
  ttlType: number;
  /** Seconds (relative) or a Unix time (absolute). */
  ttl: number;
  /** Unix seconds of the last change. */
  timestamp: number;
  permissions: number;
  references: ValueReference[];
}

/** Well-known indexes (the IDIS conventions) and types. */
export const Index = {
  HS_ADMIN: 100,
  HS_VLIST: 200,
  HS_PUBKEY: 300,
} as const;

export function makeValue(index: number, type: string, data: Buffer | string, opts: Partial<HandleValue> = {}): HandleValue {
  return {
    index,
    type,
    data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
    ttlType: opts.ttlType ?? TtlType.RELATIVE,
    ttl: opts.ttl ?? DEFAULT_TTL,
    timestamp: opts.timestamp ?? 0,
    permissions: opts.permissions ?? DEFAULT_PERMISSIONS,
    references: opts.references ?? [],
  };
}

export function isPublic(v: { permissions: number }): boolean {
  return (v.permissions & Perm.PUBLIC_READ) !== 0;
}

/** What a filter selects of a handle's values, told apart by who may read them. */
export interface Selection {
  /** Selected values anyone may read (PUBLIC_READ). */
  public: HandleValue[];
  /** Selected values only an authorised administrator may read (ADMIN_READ without PUBLIC_READ). */
  restricted: HandleValue[];
  /** Some selected value has neither ADMIN_READ nor PUBLIC_READ: nobody may read it. */
  unreadable: boolean;
}

/** One pass over a handle's values: what `filter` selects, by who may read it. */
export function selectFor(values: readonly HandleValue[], filter: ValueFilter): Selection {
  const out: Selection = { public: [], restricted: [], unreadable: false };
  for (const v of values) {
    if (!filter.matches(v)) continue;
    if (v.permissions & Perm.PUBLIC_READ) out.public.push(v);
    else if (v.permissions & Perm.ADMIN_READ) out.restricted.push(v);
    else out.unreadable = true;
  }
  return out;
}

/** "rwr-" style text of the four permission bits, in the order admin read, admin write, public read, public write. */
export function permissionString(p: number): string {
  return (
    (p & Perm.ADMIN_READ ? 'r' : '-') +
    (p & Perm.ADMIN_WRITE ? 'w' : '-') +
    (p & Perm.PUBLIC_READ ? 'r' : '-') +
    (p & Perm.PUBLIC_WRITE ? 'w' : '-')
  );
}

/**
 * A resolution filter as the reference applies it: both lists empty means every value; otherwise a value
 * is selected when its index is listed OR its type matches a listed type (a union). Types compare without
 * regard to case; a listed type ending in '.' matches every type it begins (`HS_SITE.` matches `HS_SITE.6`).
 */
export class ValueFilter {
  private readonly exact: Set<string>;
  private readonly prefixes: string[];
  private readonly indexes: Set<number>;
  readonly all: boolean;

  /** The filter of a request that lists neither indexes nor types: every value. */
  static readonly ALL = new ValueFilter([], []);

  static of(indexes: readonly number[], types: readonly string[]): ValueFilter {
    return indexes.length === 0 && types.length === 0 ? ValueFilter.ALL : new ValueFilter(indexes, types);
  }

  constructor(indexes: readonly number[], types: readonly string[]) {
    this.indexes = new Set(indexes);
    this.exact = new Set();
    this.prefixes = [];
    for (const t of types) {
      const u = t.toUpperCase();
      if (u.endsWith('.')) this.prefixes.push(u);
      else this.exact.add(u);
    }
    this.all = indexes.length === 0 && types.length === 0;
  }

  matches(v: { index: number; type: string }): boolean {
    if (this.all || this.indexes.has(v.index)) return true;
    const u = v.type.toUpperCase();
    if (this.exact.has(u)) return true;
    for (const p of this.prefixes) if (u.startsWith(p)) return true;
    return false;
  }
}

/**
 * How long an answer made of these values may be cached, in seconds: the smallest TTL among them, a relative
 * TTL as it is, an absolute one as the time left until it (never below 0).
 */
export function minTtlSeconds(values: readonly Pick<HandleValue, 'ttlType' | 'ttl'>[], nowSeconds: number): number {
  let min = Infinity;
  for (const v of values) {
    const t = v.ttlType === TtlType.ABSOLUTE ? v.ttl - nowSeconds : v.ttl;
    if (t < min) min = t;
  }
  return min === Infinity ? 0 : Math.max(0, min);
}

/** Whether two values say the same, timestamps aside (the registry stamps every write; files and logs carry none). */
export function sameValueContent(a: HandleValue, b: HandleValue): boolean {
  return (
    a.type === b.type &&
    a.data.equals(b.data) &&
    a.ttl === b.ttl &&
    a.ttlType === b.ttlType &&
    a.permissions === b.permissions &&
    a.references.length === b.references.length &&
    a.references.every((r, i) => r.handle === b.references[i]!.handle && r.index === b.references[i]!.index)
  );
}
