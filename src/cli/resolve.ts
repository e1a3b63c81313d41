import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE, DEFAULT_PORT, loadConfig } from '../node/config.js';
import { parseScannedIdentifier } from '../model/handle.js';
import { ResponseCode, responseCodeName } from '../protocol/constants.js';
import { HandleClient, type ServerAddress, type TransportChoice, parseServer } from '../client/handle-client.js';
import { decodeErrorBody, decodeResolutionResponse, encodeResolutionRequest } from '../protocol/bodies.js';
import type { HandleValue } from '../model/value.js';
import { Recursor } from '../resolve/recursor.js';
import { ResolutionFailure } from '../resolve/answer.js';
import { UsageError, formatValues, valuesToJson } from './values.js';
import { collect, dirOption } from './options.js';
import { positiveIntOption } from './numbers.js';

interface Outcome {
  responseCode: number;
  handle: string;
  values: HandleValue[];
  message: string;
  /** Where the answer came from, for people. */
  from: string;
}

async function ask(client: HandleClient, handle: string, o: ResolveCommandOptions): Promise<Outcome> {
  const server = chooseServer(o);
  const r = await client.resolve(server, handle, { types: o.types, indexes: o.indexes, transport: o.transport });
  return { ...r, from: `${server.host}:${server.port} over ${r.transport.toUpperCase()}` };
}

/** Resolve as the reference client does: from the roots, following referrals, to the server of the site. */
async function walk(client: HandleClient, handle: string, o: ResolveCommandOptions): Promise<Outcome> {
  const roots = o.roots.map((r) => {
    const s = parseServer(r);
    return { host: s.host, udpPort: s.port, tcpPort: s.port };
  });
  const recursor = new Recursor(client, { roots, maxReferrals: 40 });
  const body = encodeResolutionRequest(handle, o.indexes, o.types);
  try {
    const a = await recursor.resolve(handle, body, 0);
    const from = `a walk from ${o.roots.join(', ')}: ${recursor.stats.referralsFollowed} referrals, ${recursor.stats.upstreamQueries} queries`;
    if (a.responseCode === ResponseCode.SUCCESS) {
      const r = decodeResolutionResponse(a.body, false);
      return { responseCode: a.responseCode, handle: r.handle, values: r.values, message: '', from };
    }
    return { responseCode: a.responseCode, handle, values: [], message: decodeErrorBody(a.body, false).message, from };
  } catch (err) {
    if (err instanceof ResolutionFailure) return { responseCode: err.responseCode, handle, values: [], message: err.message, from: 'the walk' };
    throw err;
  }
}

export interface ResolveCommandOptions {
  server?: string;
  /** Walk the hierarchy from these roots instead of asking one server. */
  roots: string[];
  dir: string;
  transport: TransportChoice;
  types: string[];
  indexes: number[];
  json: boolean;
  /** Print HS_SECKEY secrets (hidden otherwise). */
  showSecrets?: boolean;
  timeoutMs: number;
}

/** The server to ask: --server, else the node in --dir when there is one, else 127.0.0.1:2641. */
function chooseServer(o: ResolveCommandOptions): ServerAddress {
  if (o.server) return parseServer(o.server);
  if (existsSync(path.join(o.dir, CONFIG_FILE))) {
    const c = loadConfig(o.dir);
    const host = c.listen.host === '0.0.0.0' ? '127.0.0.1' : c.listen.host === '::' ? '::1' : c.listen.host;
    if (c.listen.port === 0) {
      throw new UsageError(`the node in ${o.dir} takes a free port when it starts (port 0); say which with --server HOST:PORT`);
    }
    return { host, port: c.listen.port };
  }
  return { host: '127.0.0.1', port: DEFAULT_PORT };
}

export async function resolveCommand(identifier: string, o: ResolveCommandOptions): Promise<void> {
  const handle = parseScannedIdentifier(identifier);
  const client = new HandleClient({ tcpTimeoutMs: o.timeoutMs });
  try {
    const r = o.roots.length ? await walk(client, handle, o) : await ask(client, handle, o);
    const server = r.from;
    const show = { showSecrets: o.showSecrets ?? false };
    const ok = r.responseCode === ResponseCode.SUCCESS;
    if (o.json) {
      const out =
        ok || r.values.length
          ? { responseCode: r.responseCode, handle: ok ? r.handle : handle, values: valuesToJson(r.values, show) }
          : { responseCode: r.responseCode, handle, ...(r.message ? { message: r.message } : {}) };
      console.log(JSON.stringify(out, null, 2));
    } else if (ok) {
      console.log(`${r.handle}  (${r.values.length} values from ${server})`);
      console.log(formatValues(r.values, show));
    } else {
      console.error(`${handle}: ${responseCodeName(r.responseCode)} (${r.responseCode})${r.message ? `: ${r.message}` : ''}`);
      if (r.values.length) {
        console.error('referred to:');
        console.error(formatValues(r.values, show));
      }
    }
    if (!ok) process.exitCode = 1;
  } finally {
    client.close();
  }
}

/** `idres resolve`: resolve an identifier as a client. */
export function addResolveCommand(program: Command): void {
  program
    .command('resolve')
    .description('resolve an identifier as a client: UDP with retries, then TCP')
    .argument('<identifier>', 'a handle (88.118.8/ABC123), an hdl: URI, or an http(s) URL ending in the handle')
    .option('-s, --server <host:port>', 'the server to ask (default: the local node of --dir, else 127.0.0.1:2641)')
    .option('--root <host:port>', 'walk the hierarchy from this root instead, as Handle clients do (repeatable)', collect, [])
    .addOption(dirOption())
    .option('--tcp', 'use TCP only')
    .option('--udp', 'use UDP only (no TCP fallback)')
    .option('-t, --type <type>', 'only values of this type; "HS_SITE." matches HS_SITE.* (repeatable)', collect, [])
    .option('-i, --index <index>', 'only the value at this index (repeatable)', collect, [])
    .option('--json', 'print the answer as JSON, values in the shape of the Handle REST API')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them')
    .option('--timeout <ms>', 'overall TCP timeout', positiveIntOption('--timeout'), 10000)
    .action((id, o) =>
      resolveCommand(id, {
        server: o.server,
        roots: o.root,
        dir: o.dir,
        transport: o.tcp ? 'tcp' : o.udp ? 'udp' : 'auto',
        types: o.type,
        indexes: (o.index as string[]).map((x) => {
          const n = Number(x);
          if (!Number.isInteger(n) || n < 0) throw new UsageError(`"${x}" is not an index`);
          return n;
        }),
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
        timeoutMs: o.timeout,
      }),
    );
}
