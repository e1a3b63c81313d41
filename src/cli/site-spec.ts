import { isIP } from 'node:net';
import { HandleClient, parseServer } from '../client/handle-client.js';
import type { ServerSpec } from '../admin/delegation.js';
import type { SiteInfo } from '../model/site.js';
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

/** The client that asks servers about themselves: short timeouts, an operator is waiting. */
const siteClient = () => new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 1500 });

/** The server's own entry in the site it answered with (the one at the address asked, else the first). */
function ownKeyIn(site: SiteInfo, address: string): Buffer | undefined {
  const me = site.servers.find((x) => x.address === address) ?? site.servers[0];
  return me?.publicKey.length ? me.publicKey : undefined;
}

/** GET_SITE_INFO of a server ("address:port"), or undefined when it does not answer. */
export async function askSite(at: string): Promise<SiteInfo | undefined> {
  const client = siteClient();
  try {
    return await client.siteInfo(parseServer(at));
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** A server's site and the public key (HS_PUBKEY bytes) it gives of itself, or a UsageError ending with `hint`. */
export async function siteAndKeyOf(at: string, hint: string): Promise<{ site: SiteInfo; key: Buffer }> {
  const site = await askSite(at);
  const key = site && ownKeyIn(site, parseServer(at).host);
  if (!site || !key) throw new UsageError(`${at} did not give its public key (GET_SITE_INFO); ${hint}`);
  return { site, key };
}

/** The public key a server gives of itself, or a UsageError ending with `hint`. */
export async function publicKeyOf(at: string, hint: string): Promise<Buffer> {
  return (await siteAndKeyOf(at, hint)).key;
}

/** Ask each server for its own site info, to put its real public key into a site record. */
export async function fillKeys(servers: ServerSpec[], quiet: boolean): Promise<void> {
  const client = siteClient();
  try {
    for (const s of servers) {
      try {
        const key = ownKeyIn(await client.siteInfo({ host: s.address, port: s.port }), s.address);
        if (key) s.publicKey = key;
      } catch {
        if (!quiet) console.error(`idres: ${s.address}:${s.port} did not answer GET_SITE_INFO; its site record goes without its public key`);
      }
    }
  } finally {
    client.close();
  }
}
