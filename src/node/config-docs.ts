import { ENV_OVERRIDES, PATTERNS, RULES, configJsonSchema } from './config-schema.js';

// docs/config.md, written from the JSON Schema of the configuration (itself written from the zod declaration
// in config-schema.ts), so that the reference and the checks cannot disagree. `npm run schema` writes it
// with deploy/idres.schema.json; test/config-schema.test.ts checks both are current.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const code = (v: unknown) => '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`';
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

interface Row {
  path: string;
  type: string;
  default: string;
  allowed: string;
  description: string;
}

/** The type and the values allowed of one setting, in words. */
function describe(s: Json): { type: string; allowed: string[] } {
  const allowed: string[] = [];
  let type: string;
  if (Array.isArray(s.anyOf) && s.type === undefined) {
    const branches = (s.anyOf as Json[]).filter((b) => b.type !== 'null');
    // One value, or a list of such values (roles).
    const [one, list] = branches;
    if (branches.length === 2 && list?.type === 'array' && JSON.stringify(list.items) === JSON.stringify(one)) {
      const item = describe(one!);
      return { type: `${item.type} or list of ${item.type}`, allowed: [...item.allowed, ...(list.minItems === 1 ? ['a list has at least one'] : [])] };
    }
    const nullable = branches.length < (s.anyOf as Json[]).length;
    const parts = branches.map(describe);
    type = parts.map((p) => p.type).join(' or ') + (nullable ? ' or null (the same as absent)' : '');
    for (const p of parts) for (const a of p.allowed) if (!allowed.includes(a)) allowed.push(a);
    return { type, allowed };
  }
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  const main = types.filter((t) => t !== 'null');
  const nullable = main.length < types.length ? ' or null (the same as absent)' : '';
  switch (main[0]) {
    case 'integer':
    case 'number': {
      type = main[0];
      const min = s.minimum as number | undefined;
      const max = s.maximum as number | undefined;
      if (min !== undefined && max !== undefined && max < Number.MAX_SAFE_INTEGER) allowed.push(`${min}–${max}`);
      else if (min !== undefined) allowed.push(`≥ ${min}`);
      break;
    }
    case 'string':
      type = 'string';
      if (Array.isArray(s.enum)) allowed.push((s.enum as unknown[]).map(code).join(', '));
      if (Array.isArray(s.anyOf) && (s.anyOf as Json[]).some((b) => b.format === 'ipv4')) allowed.push('an IP address (IPv4 or IPv6)');
      for (const p of Object.values(PATTERNS)) if (s.pattern === p.pattern) allowed.push(p.words);
      if (s.minLength === 1) allowed.push('not empty');
      break;
    case 'boolean':
      type = 'boolean';
      break;
    case 'array': {
      const item = describe((s.items ?? {}) as Json);
      type = `list of ${item.type}`;
      allowed.push(...item.allowed.map((a) => `each ${a}`));
      if (s.minItems === 1) allowed.push('at least one');
      break;
    }
    case 'object': {
      const keys = isObject(s.propertyNames) ? describe(s.propertyNames) : undefined;
      const values = isObject(s.additionalProperties) ? describe(s.additionalProperties) : undefined;
      type = values ? `object (key → ${values.type})` : 'object';
      if (keys?.allowed.length) allowed.push(`keys: ${keys.allowed.join(', ')}`);
      if (values?.allowed.length) allowed.push(`values: ${values.allowed.join(', ')}`);
      break;
    }
    default:
      type = main.join(' or ') || 'any';
  }
  return { type: type + nullable, allowed };
}

interface Section {
  path: string;
  description: string;
  rows: Row[];
}

/** The settings of one object, then its nested objects as sections of their own. */
function walk(s: Json, path: string, description: string, out: Section[]): void {
  const section: Section = { path, description, rows: [] };
  out.push(section);
  const nested: [Json, string, string][] = [];
  for (const [key, prop] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
    const p = path ? `${path}.${key}` : key;
    if (prop.type === 'object' && isObject(prop.properties)) {
      nested.push([prop, p, String(prop.description ?? '')]);
      continue;
    }
    const { type, allowed } = describe(prop);
    section.rows.push({
      path: p,
      type,
      default: 'default' in prop ? code(prop.default) : '(none)',
      allowed: allowed.join('; '),
      description: String(prop.description ?? ''),
    });
    // A map whose values are objects (admin.quotas): their settings follow as a section.
    const values = prop.additionalProperties;
    if (prop.type === 'object' && isObject(values) && isObject(values.properties)) {
      nested.push([values, `${p}.<key>`, String(values.description ?? '')]);
    }
  }
  for (const [n, p, d] of nested) walk(n, p, d, out);
}

/** docs/config.md. */
export function configMarkdown(schema: Json = configJsonSchema()): string {
  const sections: Section[] = [];
  walk(schema, '', 'Settings of the whole node.', sections);
  const lines = [
    '# Configuration reference: idres.json',
    '',
    '<!-- Written by `npm run schema` from the declaration in src/config-schema.ts (edit the descriptions there); test/config-schema.test.ts checks that it is current. -->',
    '',
    `${schema.description} A node reads \`idres.json\` in its folder (\`--dir\`, or \`IDRES_DIR\`); \`idres init\` writes it.`,
    '',
    'The whole file is checked when a node starts (and when `idres init` writes it): every problem is named',
    'with its path, all at once, and a setting idres does not know is refused wherever it is, so a misspelt',
    'key is not silently ignored:',
    '',
    '```',
    'idres: idres-node/idres.json:',
    '  - udp.rrl.slip must be an integer from 0 to 100, not -1',
    '  - unknown setting "http.colour"',
    '  - recursion needs recursion.roots (where walks start) or recursion.upstream',
    '```',
    '',
    'The same declaration is published as a JSON Schema, [deploy/idres.schema.json](../deploy/idres.schema.json):',
    'a file that names it (`"$schema": "./idres.schema.json"`, as the examples in deploy/ do) is checked by',
    'editors as it is written. Rules that involve several settings are checked by idres only (listed below).',
    '',
    '## Environment',
    '',
    'These variables override settings of the file, and are checked with it (a bad value is named with the',
    'variable, e.g. `IDRES_PORT (listen.port) must be an integer from 0 to 65535, not "abc"`):',
    '',
    '| variable | sets |',
    '|---|---|',
    ...ENV_OVERRIDES.map((o) => `| \`${o.variable}\` | \`${o.path.join('.')}\` |`),
    '',
    'Numbers given on the command line (`idres serve --port`, `--http-port`, `--workers` …) go through the',
    'same checks.',
    '',
    '## Rules across settings',
    '',
    'Checked by idres (not by the JSON Schema), each when the settings it reads are valid in themselves:',
    '',
    ...RULES.map((r) => `* ${r.doc}`),
    '',
    '## Settings',
  ];
  for (const s of sections) {
    lines.push('', s.path ? `### \`${s.path}\`` : '### Top level', '');
    if (s.description) lines.push(s.description, '');
    if (s.rows.length === 0) continue;
    lines.push('| setting | type | default | allowed | meaning |', '|---|---|---|---|---|');
    for (const r of s.rows) lines.push(`| \`${r.path}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.allowed)} | ${cell(r.description)} |`);
  }
  return lines.join('\n') + '\n';
}
