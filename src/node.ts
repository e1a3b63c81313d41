import path from 'node:path';
import { type NodeConfig, loadConfig } from './config.js';
import { serverPrivateKey, serverPublicKey } from './node-init.js';
import { prefixHandle } from './model/handle.js';
import type { SiteInfo } from './model/site.js';
import { encodeSite } from './protocol/site.js';
import { Registry } from './store/registry.js';
import { Authority } from './resolve/authority.js';
import { type PacketHandler, RequestHandler } from './resolve/handler.js';
import { Responder } from './resolve/respond.js';
import { ownSite } from './resolve/site-info.js';
import { TcpFrontEnd } from './server/tcp.js';
import { UdpFrontEnd } from './server/udp.js';

export interface StartOptions {
  host?: string;
  port?: number;
  log?: (msg: string) => void;
}

/**
 * Composition: configuration → registry → answerers → transports. The one place a node is wired together.
 */
export class IdresNode {
  private refresher?: NodeJS.Timeout;

  private constructor(
    readonly dir: string,
    readonly config: NodeConfig,
    readonly registry: Registry,
    readonly handler: RequestHandler,
    readonly site: SiteInfo,
    readonly port: number,
    private readonly udp: UdpFrontEnd,
    private readonly tcp: TcpFrontEnd,
    authority: Authority,
  ) {
    // Notice prefixes homed by another process (the CLI) without a restart.
    this.refresher = setInterval(() => authority.refreshHomed(), 1000).unref();
  }

  static async start(dir: string, opts: StartOptions = {}): Promise<IdresNode> {
    const config = loadConfig(dir);
    if (opts.host !== undefined) config.listen.host = opts.host;
    if (opts.port !== undefined) config.listen.port = opts.port;
    const log = opts.log ?? ((m: string) => console.error(m));

    const registry = new Registry(path.join(dir, config.database), { foldSuffix: config.caseFoldSuffix });
    for (const p of config.prefixes) registry.home(p);
    const authority = new Authority(registry);
    const publicKey = serverPublicKey(dir, config);

    // The handler needs the site, the site needs the bound port, and binding needs the handler: the
    // transports get a handler that is filled in once the port is known (before any packet can arrive).
    let handler!: RequestHandler;
    const udp = new UdpFrontEnd(proxyHandler(() => handler), { maxResponseBytes: config.udp.maxResponseBytes });
    const tcp = new TcpFrontEnd(proxyHandler(() => handler), config.tcp);
    const port = await bindBoth(udp, tcp, config.listen.host, config.listen.port);

    const site = ownSite({
      serial: config.site.serial,
      serverId: config.site.serverId,
      publicAddress: config.publicAddress,
      port,
      publicKey,
      description: config.site.description,
    });
    const responder = new Responder(config.site.serial, true, undefined, serverPrivateKey(dir, config));
    handler = new RequestHandler(authority, responder, site, log);
    refreshOwnSite(registry, config.prefixes, site);
    return new IdresNode(dir, config, registry, handler, site, port, udp, tcp, authority);
  }

  async stop(): Promise<void> {
    if (this.refresher) clearInterval(this.refresher);
    await Promise.all([this.udp.close(), this.tcp.close()]);
    this.registry.close();
  }
}

function proxyHandler(get: () => PacketHandler): PacketHandler {
  return { handle: (bytes, meta) => get().handle(bytes, meta) };
}

/** UDP and TCP on one port number; with port 0, the port the kernel gives UDP, retried if TCP finds it taken. */
async function bindBoth(udp: UdpFrontEnd, tcp: TcpFrontEnd, host: string, port: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const bound = await udp.listen(host, port);
    try {
      await tcp.listen(host, bound);
      return bound;
    } catch (err) {
      await udp.close();
      if (port !== 0 || attempt >= 20) throw err;
    }
  }
}

/** Keep the HS_SITE of this node's own prefix handles in step with the address and port it serves on. */
function refreshOwnSite(registry: Registry, prefixes: readonly string[], site: SiteInfo): void {
  const bytes = encodeSite(site);
  for (const p of prefixes) {
    const ph = prefixHandle(p);
    const h = registry.get(ph);
    if (!h) continue;
    const v = h.values.find((x) => x.type === 'HS_SITE' && x.index === 1);
    if (!v || v.data.equals(bytes)) continue;
    registry.upsertValues(ph, [{ ...v, data: bytes }]);
  }
}
