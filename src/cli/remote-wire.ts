import { HandleClient, parseServer } from '../client/handle-client.js';
import { AdminClient } from '../client/admin-client.js';
import { UsageError } from './values.js';
import { httpAdmin } from './remote-http.js';
import { credentialsFrom } from './credentials.js';

// The options every administrative command shares to work on a remote node: --server HOST:PORT (the wire)
// or --api URL (HTTP, remote-http.ts), with the credentials of credentials.ts.

export interface RemoteOptions {
  server?: string;
  /** A remote node's HTTP API instead (remote-http.ts). */
  api?: string;
  auth?: string;
  key?: string;
  secret?: string;
  session?: boolean;
}

export function isRemote(o: RemoteOptions): boolean {
  return o.server !== undefined || o.api !== undefined;
}

/** What a remote command names the node by. */
export function remoteName(o: RemoteOptions): string {
  return o.api ?? o.server ?? '';
}

type RemoteAdmin = Pick<AdminClient, 'create' | 'add' | 'remove' | 'delete' | 'list'>;

/** Run `work` with an admin client for the remote node, closed after whatever happens. */
export async function withRemote<T>(o: RemoteOptions, work: (admin: RemoteAdmin) => Promise<T>): Promise<T> {
  const { admin, close } = remoteAdmin(o);
  try {
    return await work(admin);
  } finally {
    await close();
  }
}

/** An admin client for --server (or --api), and what closes it. */
export function remoteAdmin(o: RemoteOptions): { admin: RemoteAdmin; close: () => unknown } {
  if (o.api !== undefined) {
    if (o.server !== undefined) throw new UsageError('give --server (the wire) or --api (HTTP), not both');
    if (o.session) throw new UsageError('--session is for the wire (--server); over HTTP the key opens a Handle session itself');
    return httpAdmin(o);
  }
  if (!o.server) throw new UsageError('--server is needed for a remote node');
  const server = parseServer(o.server);
  const auth = credentialsFrom(o) ?? { handle: '', index: 0 };
  const client = new HandleClient({ tcpTimeoutMs: 10000 });
  return { admin: new AdminClient(client, server, auth, { session: o.session ?? false }), close: () => client.close() };
}
