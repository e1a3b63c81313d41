import { type HandleValue, Perm, makeValue, permissionString } from '../model/value.js';
import { assignIndexes, creatorAdminValue, defaultAdminValue, freeIndexIn } from '../admin/defaults.js';
import type { Identity } from '../admin/permissions.js';
import { type JsonValue, valueToJson } from '../protocol/json.js';
import { BodyError, valueFromJson } from '../http/values.js';
import { type FormatOptions, formKind, formatData, parseData } from './value-forms.js';
import { UsageError } from './usage-error.js';

// Turning command-line value specs into handle values, and values into lines a person reads (or JSON).

export { UsageError };

export interface ValueSpec {
  index?: number;
  type: string;
  data: Buffer;
  permissions: number;
  /** A value given whole as JSON (--json-value): kept as it is, TTL and references included. */
  whole?: HandleValue;
  /** Finishes the data (an HS_SITE whose servers are asked for their keys). */
  complete?: () => Promise<Buffer>;
}

const PUBLIC = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;
const PRIVATE = Perm.ADMIN_READ | Perm.ADMIN_WRITE;

/**
 * `[INDEX:]TYPE=DATA`: DATA in the readable form of the type (value-forms.ts), or with `hex` as hex digits.
 * An HS_SECKEY is private whatever option gave it.
 */
export function parseValueSpec(spec: string, opts: { private?: boolean; hex?: boolean } = {}): ValueSpec {
  const m = /^(?:(\d+):)?([^=]+)=(.*)$/s.exec(spec);
  if (!m) throw new UsageError(`"${spec}" is not [INDEX:]TYPE=DATA (for example URL=https://example.com/p/1 or 5:EMAIL=a@b.cn)`);
  const index = m[1] !== undefined ? Number(m[1]) : undefined;
  if (index !== undefined && (index < 1 || index > 0xffffffff)) throw new UsageError(`index ${m[1]} must be from 1 to 4294967295`);
  const type = m[2]!.trim();
  let data: Buffer;
  let complete: (() => Promise<Buffer>) | undefined;
  if (opts.hex) {
    if (!/^([0-9a-fA-F]{2})*$/.test(m[3]!)) throw new UsageError(`"${m[3]}" is not an even number of hex digits`);
    data = Buffer.from(m[3]!, 'hex');
  } else {
    const passphrase = process.env.IDRES_KEY_PASSPHRASE;
    const parsed = parseData(type, m[3]!, passphrase !== undefined ? { passphrase } : {});
    data = parsed.data;
    complete = parsed.complete;
  }
  const permissions = opts.private || formKind(type) === 'seckey' ? PRIVATE : PUBLIC;
  return { ...(index !== undefined ? { index } : {}), type, data, permissions, ...(complete ? { complete } : {}) };
}

/** A value in the REST API's JSON shape (`{"index":…,"type":…,"data":{"format":…,"value":…}}`), as `resolve --json` prints it. */
export function parseJsonValueSpec(text: string): ValueSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`--json-value ${text.length > 60 ? text.slice(0, 60) + '…' : text} is not JSON`);
  }
  let v: HandleValue;
  try {
    v = valueFromJson(raw, '--json-value');
  } catch (err) {
    if (err instanceof BodyError) throw new UsageError(err.message);
    throw err;
  }
  return { index: v.index, type: v.type, data: v.data, permissions: v.permissions, whole: v };
}

export interface SpecSources {
  values: string[];
  hexValues: string[];
  privateValues: string[];
  jsonValues?: string[];
}

/** The value specs of a command's --value, --hex, --private and --json-value options, in that order. */
export function specsFrom(o: SpecSources): ValueSpec[] {
  return [
    ...o.values.map((s) => parseValueSpec(s)),
    ...o.hexValues.map((s) => parseValueSpec(s, { hex: true })),
    ...o.privateValues.map((s) => parseValueSpec(s, { private: true })),
    ...(o.jsonValues ?? []).map(parseJsonValueSpec),
  ];
}

/** Run what finishes the specs (servers asked for their keys). */
export async function completeSpecs(specs: ValueSpec[]): Promise<void> {
  for (const s of specs) {
    if (s.complete) {
      s.data = await s.complete();
      delete s.complete;
    }
  }
}

/** Where a value of a type goes when no index is given: the conventions of the reference and IDIS. */
const CONVENTIONAL_RANGE: Partial<Record<string, [number, number]>> = {
  admin: [100, 199],
  vlist: [200, 299],
  pubkey: [300, 399],
  seckey: [300, 399],
};

export interface BuildOptions {
  ttl?: number;
  /** Add a default HS_ADMIN when no value is one (default true). */
  admin?: boolean;
  /** Who the default HS_ADMIN names: this identity (a remote creation, as the reference's tools do), else the handle's default. */
  creator?: Identity;
}

/**
 * Give indexes to specs without one (HS_ADMIN from 100, HS_VLIST from 200, keys from 300; others 1, 2, 3 …
 * skipping those taken), and add the default HS_ADMIN when no value is one.
 */
export function buildValues(handle: string, specs: ValueSpec[], opts: BuildOptions): HandleValue[] {
  const given = specs.map((s) => s.index);
  const taken = new Set(given.filter((i): i is number => i !== undefined));
  const preset = specs.map((s) => {
    if (s.index !== undefined) return s.index;
    const range = CONVENTIONAL_RANGE[formKind(s.type) ?? ''];
    if (!range) return undefined;
    const i = freeIndexIn(taken, range[0], range[1]);
    if (i !== undefined) taken.add(i);
    return i;
  });
  const indexes = assignIndexes(preset, (i) => new UsageError(`index ${i} is given twice`));
  const values = specs.map((s, k) =>
    s.whole ? { ...s.whole, index: indexes[k]! } : makeValue(indexes[k]!, s.type, s.data, { permissions: s.permissions, ttl: opts.ttl ?? 86400 }),
  );
  if (opts.admin !== false && !values.some((v) => formKind(v.type) === 'admin')) {
    const admin = opts.creator ? creatorAdminValue(opts.creator, values) : defaultAdminValue(handle, values);
    if (admin) values.push(admin);
  }
  return values.sort((a, b) => a.index - b.index);
}

/** A table of values: index, type, TTL, permissions, data. */
export function formatValues(values: readonly HandleValue[], o: FormatOptions = {}): string {
  const rows = values.map((v) => [
    String(v.index),
    v.type,
    v.ttlType === 1 ? `until ${new Date(v.ttl * 1000).toISOString()}` : `${v.ttl}s`,
    permissionString(v.permissions),
    formatData(v, o),
  ]);
  const head = ['index', 'type', 'ttl', 'perm', 'data'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** Values in the REST API's JSON shape, secrets hidden unless asked for. */
export function valuesToJson(values: readonly HandleValue[], o: FormatOptions = {}): JsonValue[] {
  return values.map((v) => {
    const j = valueToJson(v);
    if (formKind(v.type) === 'seckey' && !o.showSecrets) j.data = { format: 'hidden', value: null, bytes: v.data.length } as JsonValue['data'];
    return j;
  });
}

/** Print a result as JSON, one document on stdout. */
export function printJson(doc: unknown): void {
  console.log(JSON.stringify(doc, null, 2));
}
