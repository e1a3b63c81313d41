import { isIP } from 'node:net';
import { HandleClient, parseServer } from '../client/handle-client.js';
import type { ServerSpec } from '../admin/delegation.js';
import { UsageError } from './usage-error.js';

// Servers as an operator writes them (`prefix delegate --site`, an HS_SITE value given as text), and their
// public keys, asked of the servers themselves.

/** "a:p,b:p" → servers; each must be an IP address with a port ([v6]:port for IPv6). */
export function parseSiteSpec(spec: string): ServerSpec[] {
  return spec.split(',').map((part) => {
    let s;
    try {
      s = parseServer(part.trim(), 0);
    } catch {
      s = undefined;
    }
    if (!s || !isIP(s.host) || s.port === 0) throw new UsageError(`"${part}" is not address:port (an IP address and a port)`);
    return { address: s.host, port: s.port };
  });
}

/** Ask each server for its own site info, to put its real public key into a site record. */
export async function fillKeys(servers: ServerSpec[], quiet: boolean): Promise<void> {
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 1500 });
  try {
    for (const s of servers) {
      try {
        const site = await client.siteInfo({ host: s.address, port: s.port });
        const me = site.servers.find((x) => x.address === s.address) ?? site.servers[0];
        if (me?.publicKey.length) s.publicKey = me.publicKey;
      } catch {
        if (!quiet) console.error(`idres: ${s.address}:${s.port} did not answer GET_SITE_INFO; its site record goes without its public key`);
      }
    }
  } finally {
    client.close();
  }
}
