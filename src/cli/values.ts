import { splitHandle } from '../model/handle.js';
import { type HandleValue, Index, Perm, makeValue, permissionString } from '../model/value.js';
import { assignIndexes, prefixAdminValue } from '../admin/defaults.js';
import { dataToJson } from '../protocol/json.js';

// Turning command-line value specs into handle values, and values into lines a person reads.

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ValueSpec {
  index?: number;
  type: string;
  data: Buffer;
  permissions: number;
}

/** `[INDEX:]TYPE=DATA`; `hex` decodes DATA as hex digits. */
export function parseValueSpec(spec: string, opts: { private?: boolean; hex?: boolean } = {}): ValueSpec {
  const m = /^(?:(\d+):)?([^=]+)=(.*)$/s.exec(spec);
  if (!m) throw new UsageError(`"${spec}" is not [INDEX:]TYPE=DATA (for example URL=https://example.com/p/1 or 5:EMAIL=a@b.cn)`);
  const index = m[1] !== undefined ? Number(m[1]) : undefined;
  if (index !== undefined && (index < 1 || index > 0xffffffff)) throw new UsageError(`index ${m[1]} must be from 1 to 4294967295`);
  const type = m[2]!.trim();
  let data: Buffer;
  if (opts.hex) {
    if (!/^([0-9a-fA-F]{2})*$/.test(m[3]!)) throw new UsageError(`"${m[3]}" is not an even number of hex digits`);
    data = Buffer.from(m[3]!, 'hex');
  } else data = Buffer.from(m[3]!, 'utf8');
  const permissions = opts.private ? Perm.ADMIN_READ | Perm.ADMIN_WRITE : Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;
  return { ...(index !== undefined ? { index } : {}), type, data, permissions };
}

/** The value specs of a command's --value, --hex and --private options, in that order. */
export function specsFrom(o: { values: string[]; hexValues: string[]; privateValues: string[] }): ValueSpec[] {
  return [
    ...o.values.map((s) => parseValueSpec(s)),
    ...o.hexValues.map((s) => parseValueSpec(s, { hex: true })),
    ...o.privateValues.map((s) => parseValueSpec(s, { private: true })),
  ];
}

/** Give indexes to specs without one (1, 2, 3 … skipping those taken), and add the default HS_ADMIN. */
export function buildValues(handle: string, specs: ValueSpec[], opts: { ttl?: number; admin?: boolean }): HandleValue[] {
  const indexes = assignIndexes(
    specs.map((s) => s.index),
    (i) => new UsageError(`index ${i} is given twice`),
  );
  const values = specs.map((s, k) => makeValue(indexes[k]!, s.type, s.data, { permissions: s.permissions, ttl: opts.ttl ?? 86400 }));
  // As the reference tools do: the handle is administered by its prefix's administrator (0.NA/PREFIX, key 300).
  if (opts.admin !== false && !indexes.includes(Index.HS_ADMIN)) values.push(prefixAdminValue(splitHandle(handle).prefix));
  return values.sort((a, b) => a.index - b.index);
}

function dataText(v: HandleValue): string {
  const j = dataToJson(v.type, v.data);
  switch (j.format) {
    case 'string':
      return String(j.value);
    case 'admin': {
      const a = j.value as { handle: string; index: number; permissions: string };
      return `admin ${a.index}:${a.handle} permissions ${a.permissions}`;
    }
    case 'site': {
      const s = j.value as { servers: Array<{ address: string; interfaces: Array<{ protocol: string; port: number }> }> };
      return `site ${s.servers.map((x) => `${x.address} ${x.interfaces.map((i) => `${i.protocol}/${i.port}`).join(',')}`).join('; ')}`;
    }
    case 'key':
      return `public key (${(j.value as { kty: string }).kty}, ${v.data.length} bytes)`;
    case 'vlist':
      return `vlist ${(j.value as Array<{ handle: string; index: number }>).map((e) => `${e.index}:${e.handle}`).join(', ')}`;
    default:
      return `base64:${j.value as string}`;
  }
}

/** A table of values: index, type, TTL, permissions, data. */
export function formatValues(values: readonly HandleValue[]): string {
  const rows = values.map((v) => [String(v.index), v.type, v.ttlType === 1 ? `until ${new Date(v.ttl * 1000).toISOString()}` : `${v.ttl}s`, permissionString(v.permissions), dataText(v)]);
  const head = ['index', 'type', 'ttl', 'perm', 'data'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
