import net from 'node:net';
import type { ConnectionScope, PacketHandler } from '../wire/dispatcher.js';
import { type ConnectionBounds, ConnectionGuard, type ConnectionStats } from './connection-guard.js';
import { FrameReader } from './framing.js';
import { OrderedReplies, listenTcp } from './ordered-replies.js';

export { FrameReader } from './framing.js';

export interface TcpOptions extends Required<ConnectionBounds> {
  /** How long a connection may stay idle (no byte either way) before it is closed. */
  idleTimeoutMs: number;
  maxConnections: number;
}

/**
 * The TCP front end. A connection stays open after an answer and each further request on it is answered in
 * turn, in order, until the client closes it or stays idle past the timeout: the national SDK pools its
 * connections and sends its next request on one it used before without setting KC, and the reference's own
 * client, which reads one answer and closes, is served the same. A request with KC gets KC in its answer.
 * Every answer is one message (a streamed LIST is several, each whole, sent a page at a time); none is ever
 * fragmented. What one client may hold — connections, bytes, time — is bounded (ordered-replies.ts,
 * connection-guard.ts, docs/security.md).
 */
export class TcpFrontEnd {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly guard: ConnectionGuard;

  constructor(
    private readonly handler: PacketHandler,
    private readonly opts: TcpOptions,
  ) {
    this.guard = new ConnectionGuard(opts);
  }

  /** Connections, refusals and closes, for the metrics. */
  get connections(): ConnectionStats {
    return this.guard.stats;
  }

  /** Bound and not closed (readiness). */
  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Bind; with `shared`, a worker of several serving one port (cluster shares the listening socket). */
  async listen(host: string, port: number, shared = false): Promise<number> {
    this.server = await listenTcp(host, port, shared, this.opts.maxConnections, (s) => this.onConnection(s), true, () => this.guard.dropped());
    return (this.server.address() as net.AddressInfo).port;
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (!this.guard.admit(socket)) return;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setTimeout(this.opts.idleTimeoutMs, () => this.guard.close(socket, 'idle'));

    // What the layers above keep for this connection (the national SDK's login), gone with it.
    const scope: ConnectionScope = {};
    const meta = { transport: 'tcp' as const, connection: scope, ...(socket.remoteAddress ? { peer: socket.remoteAddress } : {}) };
    // A frame over the protocol's limit ends the stream: the handler answers PROTOCOL_ERROR for its
    // envelope alone (the RequestId is there), then the connection closes.
    new OrderedReplies(socket, this.guard, new FrameReader(), (frame) => this.handler.handle(frame, meta));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.guard.stop();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
