import { existsSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE, DEFAULT_HTTP_PORT, type Role } from './config.js';
import { initNode, serverPublicKey } from './init.js';
import { MIRROR_INDEX, allowDemoMirror, listDemoMirror } from './demo-mirror.js';
import { prefixHandle } from '../model/handle.js';
import { IdresNode } from './node.js';
import { delegatePrefix } from '../admin/delegation.js';
import { Registry } from '../store/registry.js';
import { generateProducts } from '../demo/products.js';
import type { Logger } from '../log/logger.js';

// The demo hierarchy on loopback, as the national deployment runs it: a top-level node homing 88 that
// delegates 88.118 to a secondary node, which delegates 88.118.8 to an enterprise's business node holding
// the product identifiers; a caching resolver whose root is the top-level node; and a disaster-recovery
// mirror of the top-level node, following its registry (docs/replication.md).

export const DEMO = { national: '88', secondary: '88.118', enterprise: '88.118.8' } as const;

export interface DemoHierarchy {
  top: IdresNode;
  secondary: IdresNode;
  business: IdresNode;
  resolver: IdresNode;
  /** The top-level node's disaster-recovery mirror. */
  topMirror: IdresNode;
  /** A registered product identifier to try. */
  sample: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  dir: string;
  /** The resolver's port; the top, secondary, business nodes and the top's mirror take the next four. 0: any free ports. */
  port: number;
  count: number;
  /** The demo's own messages. */
  log?: (msg: string) => void;
  /** The nodes' logger (each node's lines carry its name); absent: each node logs as configured. */
  logger?: Logger;
}

function portFor(base: number, offset: number): number {
  return base === 0 ? 0 : base + offset;
}

/** HTTP: the resolver on 8000, the top, secondary, business nodes and the mirror on the next four (any free ports with 0). */
function httpPortFor(base: number, offset: number): number {
  return base === 0 ? 0 : DEFAULT_HTTP_PORT + offset;
}

export async function startDemoHierarchy(o: DemoOptions): Promise<DemoHierarchy> {
  const log = o.log ?? (() => undefined);
  const dirs = {
    top: path.join(o.dir, 'top'),
    secondary: path.join(o.dir, 'secondary'),
    business: path.join(o.dir, 'business'),
    resolver: path.join(o.dir, 'resolver'),
    topMirror: path.join(o.dir, 'top-mirror'),
  };
  const fresh = !existsSync(path.join(dirs.business, CONFIG_FILE));
  const init = (dir: string, role: Role, prefix: string, offset: number) => {
    if (!existsSync(path.join(dir, CONFIG_FILE))) {
      initNode({ dir, roles: [role], prefixes: [prefix], port: portFor(o.port, offset), http: { port: httpPortFor(o.port, offset) }, description: `idres demo ${role} node (${prefix})` });
    }
  };
  init(dirs.top, 'top', DEMO.national, 1);
  init(dirs.secondary, 'secondary', DEMO.secondary, 2);
  init(dirs.business, 'business', DEMO.enterprise, 3);
  if (fresh) {
    const registry = new Registry(path.join(dirs.business, 'registry.db'));
    try {
      const products = generateProducts(DEMO.enterprise, o.count);
      const now = Math.floor(Date.now() / 1000);
      registry.db.transaction(() => {
        for (const p of products) registry.createInTxn(p.handle, p.values, false, now, { quiet: true });
        registry.logBulk(products.length, now, products.map((p) => registry.key(p.handle)));
      })();
      log(`registered ${products.length} demo product identifiers under ${DEMO.enterprise}`);
    } finally {
      registry.close();
    }
  }

  const started: IdresNode[] = [];
  try {
    const start = async (dir: string, offset: number) => {
      const logger = o.logger?.child({ node: path.basename(dir) });
      const n = await IdresNode.start(dir, { port: portFor(o.port, offset), httpPort: httpPortFor(o.port, offset), ...(logger ? { logger } : {}) });
      started.push(n);
      return n;
    };
    const top = await start(dirs.top, 1);
    const secondary = await start(dirs.secondary, 2);
    const business = await start(dirs.business, 3);

    // Delegations follow the children's real sites (ports may be ephemeral, keys are theirs).
    delegatePrefix(secondary.registry!, { prefix: DEMO.enterprise, sites: [business.site] }, { overwrite: true });
    secondary.noticeWrites();
    delegatePrefix(top.registry!, { prefix: DEMO.secondary, sites: [secondary.site] }, { overwrite: true });
    top.noticeWrites();

    // The resolver's root is the top-level node; its configuration is rewritten to follow the top's port.
    initNode({
      dir: dirs.resolver,
      roles: ['resolver'],
      port: portFor(o.port, 0),
      http: { port: httpPortFor(o.port, 0) },
      roots: [`127.0.0.1:${top.port}`],
      description: 'idres demo resolver',
      force: true,
    });
    const resolver = await start(dirs.resolver, 0);
    const topMirror = await startTopMirror(top, dirs.topMirror, o.port, start);
    const sample = business.registry!.list(DEMO.enterprise, { limit: 1 })[0]?.handle ?? `${DEMO.enterprise}/PUMP-XB200-0000001`;
    return {
      top,
      secondary,
      business,
      resolver,
      topMirror,
      sample,
      stop: async () => {
        await Promise.all(started.map((n) => n.stop()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((n) => n.stop()));
    throw err;
  }
}

/**
 * The top-level node's disaster-recovery mirror: its configuration is rewritten at each start to follow the
 * top's port and key (its registry and position are kept); it is allowed to pull before it starts, so its
 * first poll is answered, and listed as a mirror site of 88 once its port is known.
 */
async function startTopMirror(top: IdresNode, dir: string, basePort: number, start: (dir: string, offset: number) => Promise<IdresNode>): Promise<IdresNode> {
  const config = initNode({
    dir,
    roles: ['mirror'],
    prefixes: [DEMO.national],
    port: portFor(basePort, 4),
    http: { port: httpPortFor(basePort, 4) },
    mirrorOf: { primary: `127.0.0.1:${top.port}`, primaryKey: top.site.servers[0]!.publicKey, identity: `${MIRROR_INDEX}:${prefixHandle(DEMO.national)}` },
    description: `idres demo disaster-recovery mirror of the top-level node (${DEMO.national})`,
    force: true,
  });
  allowDemoMirror(top.registry!, DEMO.national, serverPublicKey(dir, config));
  const mirror = await start(dir, 4);
  listDemoMirror(top.registry!, DEMO.national, mirror.site);
  top.noticeWrites();
  return mirror;
}
