import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { isValidPrefix } from './model/handle.js';

// One validated configuration per node, read from <dir>/idres.json, with environment and flag overrides.

export const ROLES = ['top', 'secondary', 'business', 'resolver'] as const;
export type Role = (typeof ROLES)[number];

export interface NodeConfig {
  /** What this node does; one node may combine roles. */
  roles: Role[];
  /** Prefixes this node homes (answers for authoritatively). */
  prefixes: string[];
  listen: { host: string; port: number };
  /** The address written into this node's site record: what clients elsewhere use to reach it. */
  publicAddress: string;
  /** Fold the case of suffixes (the reference's default). Fixed once the registry holds data. */
  caseFoldSuffix: boolean;
  site: { serial: number; serverId: number; description: string };
  udp: { maxResponseBytes: number };
  tcp: { idleTimeoutMs: number; maxConnections: number };
  /** Paths relative to the node folder. */
  database: string;
  serverKey: string;
}

export const CONFIG_FILE = 'idres.json';
export const DEFAULT_DIR = 'idres-node';
export const DEFAULT_PORT = 2641;

export function defaultConfig(): NodeConfig {
  return {
    roles: ['business'],
    prefixes: [],
    listen: { host: '127.0.0.1', port: DEFAULT_PORT },
    publicAddress: '127.0.0.1',
    caseFoldSuffix: true,
    site: { serial: 1, serverId: 1, description: 'idres node' },
    // 64 KiB carries the reference's own large answers (a 60-value, 62 KB handle) while bounding what one
    // small unauthenticated datagram can make the node send; larger answers go over TCP.
    udp: { maxResponseBytes: 65536 },
    tcp: { idleTimeoutMs: 60000, maxConnections: 4096 },
    database: 'registry.db',
    serverKey: 'keys/server.key.pem',
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge a parsed JSON object over the defaults, checking every field; all problems are reported together. */
export function validateConfig(raw: unknown, where = CONFIG_FILE): NodeConfig {
  const problems: string[] = [];
  const c = defaultConfig();
  if (!isObject(raw)) throw new ConfigError(`${where}: the configuration must be a JSON object`);
  const known = new Set(Object.keys(c));
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`unknown setting "${k}"`);

  const int = (v: unknown, name: string, min: number, max: number): number | undefined => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };
  const str = (v: unknown, name: string): string | undefined => {
    if (typeof v !== 'string' || v.length === 0) {
      problems.push(`${name} must be a non-empty string`);
      return undefined;
    }
    return v;
  };

  if ('roles' in raw) {
    const r = raw.roles;
    const list = typeof r === 'string' ? [r] : r;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => (ROLES as readonly string[]).includes(x as string))) {
      problems.push(`roles must be a list of ${ROLES.join(', ')}`);
    } else c.roles = [...new Set(list as Role[])];
  }
  if ('prefixes' in raw) {
    const p = raw.prefixes;
    if (!Array.isArray(p) || !p.every((x) => typeof x === 'string' && isValidPrefix(x))) {
      problems.push('prefixes must be a list of prefixes such as "88.118.8"');
    } else c.prefixes = p as string[];
  }
  if ('listen' in raw) {
    const l = raw.listen;
    if (!isObject(l)) problems.push('listen must be an object {host, port}');
    else {
      if ('host' in l) {
        const h = str(l.host, 'listen.host');
        if (h !== undefined && !isIP(h)) problems.push(`listen.host must be an IP address, not "${h}"`);
        else if (h) c.listen.host = h;
      }
      if ('port' in l) c.listen.port = int(l.port, 'listen.port', 0, 65535) ?? c.listen.port;
    }
  }
  if ('publicAddress' in raw) {
    const a = str(raw.publicAddress, 'publicAddress');
    if (a !== undefined && !isIP(a)) problems.push(`publicAddress must be an IP address, not "${a}"`);
    else if (a) c.publicAddress = a;
  }
  if ('caseFoldSuffix' in raw) {
    if (typeof raw.caseFoldSuffix !== 'boolean') problems.push('caseFoldSuffix must be true or false');
    else c.caseFoldSuffix = raw.caseFoldSuffix;
  }
  if ('site' in raw) {
    const s = raw.site;
    if (!isObject(s)) problems.push('site must be an object');
    else {
      if ('serial' in s) c.site.serial = int(s.serial, 'site.serial', 0, 65535) ?? c.site.serial;
      if ('serverId' in s) c.site.serverId = int(s.serverId, 'site.serverId', 0, 0xffffffff) ?? c.site.serverId;
      if ('description' in s) c.site.description = str(s.description, 'site.description') ?? c.site.description;
    }
  }
  if ('udp' in raw) {
    const u = raw.udp;
    if (!isObject(u)) problems.push('udp must be an object');
    else if ('maxResponseBytes' in u) {
      c.udp.maxResponseBytes = int(u.maxResponseBytes, 'udp.maxResponseBytes', 492, 262144) ?? c.udp.maxResponseBytes;
    }
  }
  if ('tcp' in raw) {
    const t = raw.tcp;
    if (!isObject(t)) problems.push('tcp must be an object');
    else {
      if ('idleTimeoutMs' in t) c.tcp.idleTimeoutMs = int(t.idleTimeoutMs, 'tcp.idleTimeoutMs', 100, 3600000) ?? c.tcp.idleTimeoutMs;
      if ('maxConnections' in t) c.tcp.maxConnections = int(t.maxConnections, 'tcp.maxConnections', 1, 1000000) ?? c.tcp.maxConnections;
    }
  }
  if ('database' in raw) c.database = str(raw.database, 'database') ?? c.database;
  if ('serverKey' in raw) c.serverKey = str(raw.serverKey, 'serverKey') ?? c.serverKey;

  if (problems.length) throw new ConfigError(`${where}:\n  - ${problems.join('\n  - ')}`);
  return c;
}

/** Read <dir>/idres.json and apply IDRES_LISTEN_HOST / IDRES_PORT from the environment. */
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
  const c = validateConfig(raw, file);
  if (env.IDRES_LISTEN_HOST) {
    if (!isIP(env.IDRES_LISTEN_HOST)) throw new ConfigError(`IDRES_LISTEN_HOST must be an IP address`);
    c.listen.host = env.IDRES_LISTEN_HOST;
  }
  if (env.IDRES_PORT) {
    const p = Number(env.IDRES_PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ConfigError(`IDRES_PORT must be a port number`);
    c.listen.port = p;
  }
  return c;
}
