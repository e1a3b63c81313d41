import { isIP } from 'node:net';

// A small JSON Schema (2020-12) validator for the keywords deploy/idres.schema.json uses, so that the tests
// check the example configurations against the published schema itself, not only against the zod
// declaration it is written from. A keyword it does not know is an error: the schema cannot grow a keyword
// these checks would silently skip.

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', 'title', 'description', 'default']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type',
  'properties',
  'additionalProperties',
  'propertyNames',
  'items',
  'enum',
  'minimum',
  'maximum',
  'minItems',
  'minLength',
  'pattern',
  'format',
  'anyOf',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const matchesType = (v: unknown, t: string) => typeOf(v) === t || (t === 'number' && typeOf(v) === 'integer');

/** Problems of `value` against `schema`, as "path: what" lines; none when it is valid. */
export function validateJsonSchema(schema: Schema, value: unknown, path = '$'): string[] {
  const out: string[] = [];
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`${path}: the validator does not know the keyword "${k}"`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => matchesType(value, t))) return [`${path}: ${JSON.stringify(value)} is not ${types.join(' or ')}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${path}: not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.anyOf)) {
    const branches = (schema.anyOf as Schema[]).map((b) => validateJsonSchema(b, value, path));
    if (!branches.some((b) => b.length === 0)) out.push(`${path}: matches none of anyOf (${branches.map((b) => b.join(', ')).join(' | ')})`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${path}: under ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${path}: over ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${path}: does not match ${schema.pattern}`);
    if (schema.format === 'ipv4' && isIP(value) !== 4) out.push(`${path}: not an IPv4 address`);
    if (schema.format === 'ipv6' && isIP(value) !== 6) out.push(`${path}: not an IPv6 address`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) out.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items !== undefined) value.forEach((v, i) => out.push(...validateJsonSchema(schema.items as Schema, v, `${path}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const at = `${path}.${k}`;
      if (schema.propertyNames !== undefined) out.push(...validateJsonSchema(schema.propertyNames as Schema, k, `${at} (key)`));
      if (k in props) out.push(...validateJsonSchema(props[k]!, v, at));
      else if (schema.additionalProperties === false) out.push(`${at}: not allowed`);
      else if (typeof schema.additionalProperties === 'object') out.push(...validateJsonSchema(schema.additionalProperties as Schema, v, at));
    }
  }
  return out;
}
