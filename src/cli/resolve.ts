import { existsSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE, DEFAULT_PORT, loadConfig } from '../config.js';
import { parseScannedIdentifier } from '../model/handle.js';
import { ResponseCode, responseCodeName } from '../protocol/constants.js';
import { valueToJson } from '../protocol/json.js';
import { HandleClient, type ServerAddress, type TransportChoice, parseServer } from '../client/handle-client.js';
import { formatValues } from './values.js';

export interface ResolveCommandOptions {
  server?: string;
  dir: string;
  transport: TransportChoice;
  types: string[];
  indexes: number[];
  json: boolean;
  timeoutMs: number;
}

/** The server to ask: --server, else the node in --dir when there is one, else 127.0.0.1:2641. */
function chooseServer(o: ResolveCommandOptions): ServerAddress {
  if (o.server) return parseServer(o.server);
  if (existsSync(path.join(o.dir, CONFIG_FILE))) {
    const c = loadConfig(o.dir);
    const host = c.listen.host === '0.0.0.0' ? '127.0.0.1' : c.listen.host === '::' ? '::1' : c.listen.host;
    return { host, port: c.listen.port };
  }
  return { host: '127.0.0.1', port: DEFAULT_PORT };
}

export async function resolveCommand(identifier: string, o: ResolveCommandOptions): Promise<void> {
  const handle = parseScannedIdentifier(identifier);
  const server = chooseServer(o);
  const client = new HandleClient({ tcpTimeoutMs: o.timeoutMs });
  try {
    const r = await client.resolve(server, handle, { types: o.types, indexes: o.indexes, transport: o.transport });
    const ok = r.responseCode === ResponseCode.SUCCESS;
    if (o.json) {
      const out = ok
        ? { responseCode: r.responseCode, handle: r.handle, values: r.values.map(valueToJson) }
        : { responseCode: r.responseCode, handle, ...(r.message ? { message: r.message } : {}) };
      console.log(JSON.stringify(out, null, 2));
    } else if (ok) {
      console.log(`${r.handle}  (${r.values.length} values from ${server.host}:${server.port} over ${r.transport.toUpperCase()})`);
      console.log(formatValues(r.values));
    } else {
      console.error(`${handle}: ${responseCodeName(r.responseCode)} (${r.responseCode})${r.message ? `: ${r.message}` : ''}`);
    }
    if (!ok) process.exitCode = 1;
  } finally {
    client.close();
  }
}
