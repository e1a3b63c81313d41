import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { CONFIG_FILE, ConfigError, type NodeConfig, type Role, defaultConfig, validateConfig, registryOptions } from './config.js';
import { prefixHandle } from '../model/handle.js';
import { Index, makeValue } from '../model/value.js';
import { prefixAdminValue } from '../admin/defaults.js';
import { encodePublicKey } from '../protocol/pubkey.js';
import { encodeKeyFile } from '../protocol/keyfile.js';
import { encodeSite } from '../protocol/site.js';
import { Registry } from '../store/registry.js';
import { ownSite } from '../resolve/site-info.js';

export interface InitOptions {
  dir: string;
  roles?: Role[];
  prefixes?: string[];
  host?: string;
  port?: number;
  publicAddress?: string;
  caseFoldSuffix?: boolean;
  description?: string;
  /** Replace an existing configuration (the registry and keys are kept). */
  force?: boolean;
  /** Root servers ("host:port") where recursive walks start. */
  roots?: string[];
  /** A server ("host:port") to forward recursive requests to instead of walking. */
  upstream?: string;
  /** Honour REC on a node that is not a resolver. */
  allowRecursion?: boolean;
  /** DNS gateway settings over the defaults (docs/dns.md). */
  dns?: Partial<NodeConfig['dns']>;
  /** HTTP settings over the defaults (docs/http.md). Without a port: 8000, or any free port when `port` is 0. */
  http?: Partial<NodeConfig['http']>;
  /**
   * A mirror (role "mirror"): its primary ("address:port"), the primary's public key (HS_PUBKEY bytes, asked of
   * it), the identity it pulls as. Its registry starts empty: the first copy fills it.
   */
  mirrorOf?: { primary: string; primaryKey: Buffer; identity: string };
  /** Replication settings over the defaults (docs/replication.md). */
  replication?: Partial<NodeConfig['replication']>;
}

/** Write a private key readable by its owner only. */
function writePrivate(file: string, pem: string): void {
  writeFileSync(file, pem, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function newRsaKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/**
 * Create a node folder: its configuration, its server key (whose public half goes into the site record), the
 * registry, and for each homed prefix the prefix handle 0.NA/PREFIX with the node's site (HS_SITE, index 1),
 * an admin entry (HS_ADMIN, index 100) and the prefix administrator's public key (HS_PUBKEY, index 300),
 * whose private key is written to keys/.
 */
export function initNode(o: InitOptions): NodeConfig {
  const dir = o.dir;
  const configFile = path.join(dir, CONFIG_FILE);
  if (existsSync(configFile) && !o.force) {
    throw new ConfigError(`${configFile} already exists; use --force to rewrite the configuration`);
  }
  const c = defaultConfig();
  const raw = {
    ...c,
    roles: o.roles ?? c.roles,
    prefixes: o.prefixes ?? c.prefixes,
    listen: { host: o.host ?? c.listen.host, port: o.port ?? c.listen.port },
    publicAddress: o.publicAddress ?? o.host ?? c.publicAddress,
    caseFoldSuffix: o.caseFoldSuffix ?? c.caseFoldSuffix,
    recursion: {
      ...c.recursion,
      allow: o.allowRecursion ?? (o.roles ?? c.roles).includes('resolver'),
      roots: o.roots ?? [],
      ...(o.upstream ? { upstream: o.upstream } : {}),
    },
    dns: { ...c.dns, ...o.dns },
    // A node on an ephemeral Handle port (tests, `demo --port 0`) takes an ephemeral HTTP port too.
    http: { ...c.http, ...(o.port === 0 ? { port: 0 } : {}), ...o.http },
    site: { ...c.site, description: o.description ?? `idres ${(o.roles ?? c.roles).join('+')} node for ${(o.prefixes ?? []).join(', ') || 'no prefix'}` },
    replication: {
      ...c.replication,
      ...o.replication,
      ...(o.mirrorOf ? { primary: o.mirrorOf.primary, identity: o.mirrorOf.identity } : {}),
    },
  };
  if (raw.publicAddress === '0.0.0.0' || raw.publicAddress === '::') {
    throw new ConfigError('listening on a wildcard address needs --public-address (the address clients will use)');
  }
  const config = validateConfig(raw, configFile);
  mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });

  const serverKeyFile = path.join(dir, config.serverKey);
  if (!existsSync(serverKeyFile)) writePrivate(serverKeyFile, newRsaKeyPem());
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');

  if (config.roles.length === 1 && config.roles[0] === 'resolver') return config; // a pure resolver keeps no registry
  const registry = new Registry(path.join(dir, config.database), registryOptions(config));
  if (o.mirrorOf) {
    // A mirror's registry is its primary's: nothing of its own is written into it.
    writeFileSync(path.join(dir, config.replication.primaryKey), o.mirrorOf.primaryKey);
    registry.close();
    return config;
  }
  try {
    for (const prefix of config.prefixes) {
      registry.home(prefix);
      const ph = prefixHandle(prefix);
      if (registry.exists(ph)) continue;
      const adminKeyFile = path.join(dir, 'keys', `admin-${prefix}.key.pem`);
      if (!existsSync(adminKeyFile)) writePrivate(adminKeyFile, newRsaKeyPem());
      const adminPub = encodePublicKey(createPublicKey({ key: readPem(adminKeyFile), format: 'pem' }));
      // The same key in the reference's files, for the stock Handle tools (HDLCreate 0.NA/P 300 admpriv.bin …).
      const refPriv = path.join(dir, 'keys', `admin-${prefix}.admpriv.bin`);
      if (!existsSync(refPriv)) writeFileSync(refPriv, encodeKeyFile(createPrivateKey({ key: readPem(adminKeyFile), format: 'pem' })), { mode: 0o600 });
      writeFileSync(path.join(dir, 'keys', `admin-${prefix}.admpub.bin`), adminPub);
      const site = ownSite({
        serial: config.site.serial,
        serverId: config.site.serverId,
        publicAddress: config.publicAddress,
        port: config.listen.port,
        publicKey: serverPublicKey(dir, config),
        description: config.site.description,
      });
      registry.create(ph, [
        makeValue(1, 'HS_SITE', encodeSite(site)),
        prefixAdminValue(prefix),
        makeValue(Index.HS_PUBKEY, 'HS_PUBKEY', adminPub),
      ]);
    }
  } finally {
    registry.close();
  }
  return config;
}

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** The server key's public half in HS_PUBKEY form. */
export function serverPublicKey(dir: string, config: NodeConfig): Buffer {
  const file = path.join(dir, config.serverKey);
  if (!existsSync(file)) throw new ConfigError(`server key ${file} is missing (run "idres init" again with --force)`);
  return encodePublicKey(createPublicKey({ key: readPem(file), format: 'pem' }));
}

/** The server key, which signs responses to requests that ask for it (CT). */
export function serverPrivateKey(dir: string, config: NodeConfig): KeyObject {
  const file = path.join(dir, config.serverKey);
  if (!existsSync(file)) throw new ConfigError(`server key ${file} is missing (run "idres init" again with --force)`);
  return createPrivateKey({ key: readPem(file), format: 'pem' });
}
