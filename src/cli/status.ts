import { existsSync, readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { request } from 'undici';
import type { Command } from 'commander';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { loadConfig, type NodeConfig } from '../node/config.js';
import { isPureResolver } from '../node/node.js';
import { describePublicKey, siteToJson } from '../protocol/json.js';
import { encodePublicKey } from '../protocol/pubkey.js';
import type { NodeStatus, PortStatus } from '../http/status.js';
import { formatCount } from './progress-bar.js';
import { openRegistry } from './open-registry.js';
import { UsageError, printJson } from './values.js';
import { dirOption } from './options.js';

// `idres status`: a node's state in one look. A running node is asked (GET /api/status on its HTTP face:
// --api URL, or the HTTP port its folder's configuration names); a node that does not answer is described
// from its folder (configuration and registry). --server asks a Handle server for its site (GET_SITE_INFO),
// all the wire offers.

export interface StatusOptions {
  dir: string;
  server?: string;
  api?: string;
  json: boolean;
}

/** The status document with where it came from. */
interface Report extends NodeStatus {
  running: boolean;
  source: string;
  dir?: string;
}

export async function statusCommand(o: StatusOptions): Promise<void> {
  if (o.server !== undefined && o.api !== undefined) throw new UsageError('give --server (the wire) or --api (HTTP), not both');
  if (o.server !== undefined) return siteStatus(o.server, o.json);
  let report: Report;
  if (o.api !== undefined) {
    const url = statusUrl(o.api);
    const live = await fetchStatus(url, 10000);
    if (typeof live === 'string') throw new UsageError(`${url}: ${live}`);
    report = { ...live, running: true, source: url };
  } else report = await folderStatus(o.dir);
  if (o.json) return printJson(report);
  console.log(statusText(report));
}

function statusUrl(api: string): string {
  let u: URL;
  try {
    u = new URL(api);
  } catch {
    throw new UsageError(`"${api}" is not a URL such as http://127.0.0.1:8000`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`"${api}" is not an http(s) URL`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}/api/status`;
}

/** The node's own status document, or why there is none. */
async function fetchStatus(url: string, timeoutMs: number): Promise<NodeStatus | string> {
  try {
    const r = await request(url, { method: 'GET', headers: { Accept: 'application/json' }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const body = (await r.body.json().catch(() => undefined)) as Partial<NodeStatus> | undefined;
    if (r.statusCode !== 200 || !body || !Array.isArray(body.roles) || typeof body.ports !== 'object') {
      return `HTTP ${r.statusCode}: not an idres status document (is it an idres node of this version?)`;
    }
    return body as NodeStatus;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'nothing answers there' : (err as Error).message;
  }
}

/** Loopback for a wildcard listen address, as a local tool reaches the node. */
function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** The node in `dir`: asked over HTTP when it runs there, else described from its configuration and registry. */
async function folderStatus(dir: string): Promise<Report> {
  const config = loadConfig(dir);
  const offline = await offlineStatus(dir, config);
  let why = 'its HTTP face is off';
  if (config.http.enabled && config.http.port !== 0) {
    const host = reachableHost(config.http.host ?? config.listen.host);
    const url = statusUrl(`http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`);
    const live = await fetchStatus(url, 3000);
    // The node answering must be this folder's: the same server key.
    if (typeof live !== 'string' && offline.serverKey !== null && live.serverKey !== offline.serverKey) {
      why = `${url} answers for another node (server key ${live.serverKey ?? 'none'})`;
    } else if (typeof live !== 'string') {
      return { ...live, running: true, source: url, dir };
    } else why = `${url}: ${live}`;
  } else if (config.http.enabled) why = 'it takes a free HTTP port when it starts (port 0): ask it with --api URL';
  return { ...offline, running: false, source: `the folder (${why})`, dir };
}

async function offlineStatus(dir: string, c: NodeConfig): Promise<NodeStatus> {
  let prefixes = [...c.prefixes];
  let handles: number | null = null;
  if (!isPureResolver(c) && existsSync(path.join(dir, c.database))) {
    const registry = openRegistry(dir);
    try {
      prefixes = registry.homedPrefixes();
      handles = registry.count();
    } finally {
      registry.close();
    }
  }
  const port = (n: number): PortStatus => ({ port: n === 0 ? null : n, bound: null });
  return {
    roles: [...c.roles],
    prefixes,
    handles,
    serverKey: serverKeyFingerprint(path.join(dir, c.serverKey)),
    ports: {
      udp: port(c.listen.port),
      tcp: port(c.listen.port),
      http: c.http.enabled ? port(c.http.port) : null,
      dns: c.dns.enabled ? port(c.dns.port) : null,
    },
    cache: null,
    upstream: c.recursion.allow ? await probeUpstreams(c) : null,
  };
}

function serverKeyFingerprint(file: string): string | null {
  try {
    return describePublicKey(encodePublicKey(createPublicKey(readFileSync(file, 'utf8'))))?.fingerprint ?? null;
  } catch {
    return null;
  }
}

/** Whether one of a resolving node's upstream servers answers GET_SITE_INFO, asked from here. */
async function probeUpstreams(c: NodeConfig): Promise<NonNullable<NodeStatus['upstream']>> {
  const servers = c.recursion.upstream ? [c.recursion.upstream] : [...c.recursion.roots];
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 1000 });
  let reachable: true | string;
  try {
    await Promise.any(servers.map((s) => client.siteInfo(parseServer(s))));
    reachable = true;
  } catch {
    reachable = `none of ${servers.join(', ')} answered`;
  } finally {
    client.close();
  }
  return { mode: c.recursion.upstream ? 'forward' : 'walk', servers, reachable, queries: 0, failures: 0 };
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function portText(name: string, p: PortStatus | null): string {
  if (!p) return `${name} off`;
  const bound = p.bound === false ? ' (not bound)' : '';
  return `${name} ${p.port ?? 'any free port'}${bound}`;
}

export function statusText(r: Report): string {
  const lines: Array<[string, string]> = [];
  lines.push(['node', `${r.dir ?? r.source}: ${r.running ? `running${r.dir ? ` (asked ${r.source})` : ''}` : `not answering; from ${r.source}`}`]);
  lines.push(['roles', r.roles.join(', ')]);
  lines.push(['prefixes', r.prefixes.join(', ') || '(none homed)']);
  if (r.handles !== null) lines.push(['handles', formatCount(r.handles)]);
  lines.push(['ports', [portText('UDP', r.ports.udp), portText('TCP', r.ports.tcp), portText('HTTP', r.ports.http), portText('DNS', r.ports.dns)].join(', ')]);
  if (r.cache) {
    const c = r.cache;
    const ratio = c.hitRatio === null ? 'no lookups yet' : `hit ratio ${(c.hitRatio * 100).toFixed(1)}% (${formatCount(c.hits)} hits, ${formatCount(c.misses)} misses)`;
    lines.push(['cache', `${formatCount(c.entries)} entries, ${bytes(c.bytes)} of ${bytes(c.maxBytes)}; ${ratio}${c.staleServed ? `; ${formatCount(c.staleServed)} stale answers served` : ''}`]);
  } else lines.push(['cache', 'not running']);
  if (r.upstream) {
    const u = r.upstream;
    const health = u.reachable === true ? 'reachable' : u.reachable;
    const counts = r.running ? `; ${formatCount(u.queries)} queries, ${formatCount(u.failures)} failures` : '';
    lines.push(['upstream', `${u.mode === 'forward' ? 'forwards to' : 'walks from'} ${u.servers.join(', ')}: ${health}${counts}`]);
  }
  if (r.serverKey) lines.push(['server key', r.serverKey]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** --server: what the wire tells of a node, its site. */
async function siteStatus(serverText: string, json: boolean): Promise<void> {
  let server;
  try {
    server = parseServer(serverText);
  } catch (err) {
    throw new UsageError(`--server ${serverText}: ${(err as Error).message}`);
  }
  const client = new HandleClient({ udpTimeoutsMs: [500, 1000], tcpTimeoutMs: 3000 });
  try {
    const site = await client.siteInfo(server);
    if (json) return printJson({ server: serverText, running: true, site: siteToJson(site) });
    console.log(`${serverText}: answering (GET_SITE_INFO); roles, prefixes and the cache are told over HTTP: idres status --api URL`);
    console.log(`  protocol ${site.protocolMajor}.${site.protocolMinor}, site serial ${site.serial}${site.attributes.length ? `, ${site.attributes.map(([k, v]) => `${k} "${v}"`).join(', ')}` : ''}`);
    for (const s of site.servers) {
      const ports = s.interfaces.map((i) => `${['UDP', 'TCP', 'HTTP', 'HTTPS'][i.protocol] ?? i.protocol} ${i.port}`).join(', ');
      const key = s.publicKey.length ? describePublicKey(s.publicKey) : undefined;
      console.log(`  server ${s.serverId} ${s.address}: ${ports}${key ? `; key ${key.algorithm} ${key.fingerprint}` : ''}`);
    }
  } finally {
    client.close();
  }
}

/** `idres status`: a node's state. */
export function addStatusCommand(program: Command): void {
  program
    .command('status')
    .description("a node's state: roles, prefixes, handle count, cache, ports, upstream health (asks the running node over HTTP, else reads its folder)")
    .addOption(dirOption())
    .option('--api <url>', 'ask a running node through its HTTP face, e.g. http://127.0.0.1:8000')
    .option('-s, --server <host:port>', "ask a Handle server for its site (GET_SITE_INFO): all the wire tells")
    .option('--json', 'print the status as JSON')
    .action((o) => statusCommand({ dir: o.dir, json: Boolean(o.json), ...(o.api !== undefined ? { api: o.api } : {}), ...(o.server !== undefined ? { server: o.server } : {}) }));
}
