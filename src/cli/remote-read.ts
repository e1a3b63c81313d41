import { request } from 'undici';
import { HandleClient, parseServer } from '../client/handle-client.js';
import type { HandleValue } from '../model/value.js';
import { ResponseCode, responseCodeName } from '../protocol/constants.js';
import { BodyError, valueFromJson } from '../http/values.js';
import type { RemoteOptions } from './remote-wire.js';
import { UsageError } from './usage-error.js';

// Reading a handle's public values from a remote node, for commands that change a record from what it
// holds (admin grant and revoke choose an index and find the value naming an identity; admin list). Over the
// wire a resolution with PO, over HTTP an unauthenticated GET: the public values, which HS_ADMIN values are
// unless someone made them private (a write to an index that turns out taken is refused, and told).

/** The public values of a handle on the remote node, or undefined when it does not exist there. */
export async function readRemoteValues(o: RemoteOptions, handle: string): Promise<HandleValue[] | undefined> {
  return o.api !== undefined ? readOverHttp(o.api, handle) : readOverWire(o.server!, handle);
}

async function readOverWire(serverText: string, handle: string): Promise<HandleValue[] | undefined> {
  let server;
  try {
    server = parseServer(serverText);
  } catch (err) {
    throw new UsageError(`--server ${serverText}: ${(err as Error).message}`);
  }
  const client = new HandleClient({ tcpTimeoutMs: 10000 });
  try {
    const r = await client.resolve(server, handle, { transport: 'tcp' });
    if (r.responseCode === ResponseCode.SUCCESS) return r.values;
    if (r.responseCode === ResponseCode.HANDLE_NOT_FOUND) return undefined;
    if (r.responseCode === ResponseCode.VALUES_NOT_FOUND) return [];
    throw new UsageError(`reading ${handle} from ${serverText}: ${r.responseCode} ${responseCodeName(r.responseCode)}${r.message ? `: ${r.message}` : ''}`);
  } finally {
    client.close();
  }
}

async function readOverHttp(api: string, handle: string): Promise<HandleValue[] | undefined> {
  let base: URL;
  try {
    base = new URL(api);
  } catch {
    throw new UsageError(`"${api}" is not a URL such as http://127.0.0.1:8000`);
  }
  const url = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/handles/${encodeURIComponent(handle).replace(/%2F/gi, '/')}`;
  let status: number;
  let json: Record<string, unknown> | undefined;
  try {
    const r = await request(url, { method: 'GET', headers: { Accept: 'application/json' }, headersTimeout: 10000, bodyTimeout: 10000 });
    status = r.statusCode;
    json = (await r.body.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  } catch (err) {
    throw new UsageError(`${api}: ${(err as Error).message}`);
  }
  const rc = json?.responseCode;
  if (rc === ResponseCode.HANDLE_NOT_FOUND) return undefined;
  if (rc === ResponseCode.VALUES_NOT_FOUND) return [];
  if (rc !== ResponseCode.SUCCESS || !Array.isArray(json?.values)) {
    const why = typeof rc === 'number' ? `${rc} ${responseCodeName(rc)}${typeof json?.message === 'string' && json.message ? `: ${json.message}` : ''}` : `HTTP ${status}`;
    throw new UsageError(`reading ${handle} from ${api}: ${why}`);
  }
  try {
    return (json.values as unknown[]).map((v, i) => valueFromJson(v, `value ${i + 1}`));
  } catch (err) {
    if (err instanceof BodyError) throw new UsageError(`${api} answered a value this client cannot read: ${err.message}`);
    throw err;
  }
}
