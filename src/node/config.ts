import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE, ENV_OVERRIDES, type NodeConfig, type Synchronous, configSchema, fallbackMessage, formatIssues } from './config-schema.js';

// One validated configuration per node, read from <dir>/idres.json, with environment and flag overrides.
// The settings, their defaults, checks and descriptions are declared once, in config-schema.ts.

export {
  CONFIG_FILE,
  DEFAULT_DIR,
  DEFAULT_DNS_PORT,
  DEFAULT_HTTP_PORT,
  DEFAULT_PORT,
  ENV_OVERRIDES,
  PLAIN_HTTP_AUTH,
  ROLES,
  SYNCHRONOUS,
  canonicalHostPort,
  isHostPort,
} from './config-schema.js';
export type { NodeConfig, Role, Synchronous } from './config-schema.js';

/** Administration over the wire and HTTP (docs/protocol.md §11): who may, for how long, and how much. */
export type AdminConfig = NodeConfig['admin'];

/** Every setting at its default. */
export function defaultConfig(): NodeConfig {
  return configSchema.parse({});
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** Each problem, as listed in the message. */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parse(raw: unknown, where: string, sources: ReadonlyMap<string, string>): NodeConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: the configuration must be a JSON object`);
  const r = configSchema.safeParse(raw, { error: fallbackMessage });
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues, sources);
  throw new ConfigError(`${where}:\n  - ${problems.join('\n  - ')}`, problems);
}

/** Check a parsed JSON object and fill in the defaults; all problems are reported together. */
export function validateConfig(raw: unknown, where = CONFIG_FILE): NodeConfig {
  return parse(raw, where, new Map());
}

/**
 * Write the environment's overrides into the configuration as read, so that they are checked with the rest;
 * returns which setting came from which variable.
 */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const sources = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const text = env[o.variable];
    if (!text) continue;
    const [section, key] = o.path;
    // A section that is not an object is reported as such; the override has nowhere to go.
    if (raw[section] === undefined) raw[section] = {};
    const s = raw[section];
    if (!isObject(s)) continue;
    s[key] = o.number && /^\s*\d+\s*$/.test(text) ? Number(text) : text;
    sources.set(o.path.join('.'), o.variable);
  }
  return sources;
}

/** Read <dir>/idres.json and apply IDRES_LISTEN_HOST / IDRES_PORT / IDRES_HTTP_PORT from the environment. */
export function loadConfig(dir: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const file = path.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`no node in ${dir}: ${CONFIG_FILE} not found (run "idres init --dir ${dir}" first)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  return parse(raw, file, isObject(raw) ? applyEnv(raw, env) : new Map());
}

/** A read-only copy of a primary (docs/replication.md). */
export function isMirror(config: NodeConfig): boolean {
  return config.roles.includes('mirror');
}

/**
 * How to open the node's registry: its case folding, and the durability of commits — the node's and the
 * CLI's writes, or a bulk import's (docs/security.md, Durability), and the memory of its file (store).
 */
export function registryOptions(
  c: NodeConfig,
  purpose: 'writes' | 'import' = 'writes',
): { foldSuffix: boolean; synchronous: Synchronous; cacheSizeMiB: number; mmapSizeMiB: number } {
  return {
    foldSuffix: c.caseFoldSuffix,
    synchronous: purpose === 'import' ? c.durability.importSynchronous : c.durability.synchronous,
    cacheSizeMiB: c.store.cacheSizeMiB,
    mmapSizeMiB: c.store.mmapSizeMiB,
  };
}
