import type net from 'node:net';

// What keeps one client from exhausting a stream front end (Handle TCP, DNS over TCP, HTTP): a share of the
// connections per address, deadlines for a whole request and for an answer to be taken, and the counters
// the metrics read (docs/security.md). The bytes each connection may hold are bounded where its requests
// are read and its answers written (ordered-replies.ts); this keeps the figures and closes what is late.

export interface ConnectionBounds {
  /** Connections one address (an IPv6 /64) may hold at once; past it, new ones are closed at once. */
  maxConnectionsPerAddress: number;
  /** A request must arrive whole within this after its first byte, and an answer be taken within it. */
  requestTimeoutMs?: number;
  /** Bytes one connection may hold (requests read and not answered, answers not yet taken). */
  maxQueuedBytes?: number;
}

export const CLOSE_REASONS = ['idle', 'request_deadline', 'write_stall', 'queue_limit', 'frame_too_long'] as const;
/**
 * Why the node closed a connection: idle past the idle timeout; a request not whole within the request
 * deadline; an answer not taken by the client within it (it does not read); more bytes held than the bound;
 * a frame longer than the protocol allows.
 */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Plain counters, read by the metrics at scrape time. */
export class ConnectionStats {
  /** Connections open now. */
  open = 0;
  accepted = 0;
  /** New connections closed at once because their address held its share. */
  refusedPerAddress = 0;
  /** New connections the server refused because it held maxConnections. */
  refusedMaxConnections = 0;
  readonly closed: Record<CloseReason, number> = { idle: 0, request_deadline: 0, write_stall: 0, queue_limit: 0, frame_too_long: 0 };
  /** The most bytes one connection has held at once (requests read and not answered, answers not taken). */
  peakQueuedBytes = 0;
}

/** A connection whose deadlines the guard watches. */
export interface Watched {
  readonly socket: net.Socket;
  /** When the request being read began (ms since the epoch), or 0 when none is being read. */
  frameStartedAt: number;
  /** Since when written answers have waited for the client to take them (ms), or 0. */
  stalledSince: number;
}

/**
 * The address a connection counts against: IPv4 as it is (an IPv4-mapped IPv6 address as IPv4), IPv6 by its
 * /64 (one host is usually given a whole /64, so counting single addresses would be no limit).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return '';
  if (!address.includes(':')) return address;
  if (address.toLowerCase().startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  return ipv6Slash64(address);
}

function ipv6Slash64(address: string): string {
  const zone = address.indexOf('%');
  const a = (zone >= 0 ? address.slice(0, zone) : address).toLowerCase();
  const gap = a.indexOf('::');
  let groups: string[];
  if (gap < 0) groups = a.split(':');
  else {
    const head = gap > 0 ? a.slice(0, gap).split(':') : [];
    const tail = gap + 2 < a.length ? a.slice(gap + 2).split(':') : [];
    // An embedded IPv4 address (only ever last) stands for two groups.
    const tailGroups = tail.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
    groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'), ...tail];
  }
  return `${groups
    .slice(0, 4)
    .map((g) => (g.includes('.') ? g : (parseInt(g, 16) || 0).toString(16)))
    .join(':')}::/64`;
}

export class ConnectionGuard {
  readonly stats = new ConnectionStats();
  private readonly perAddress = new Map<string, number>();
  private readonly watched = new Set<Watched>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Reading pauses once the requests waiting on a connection hold this many bytes. */
  readonly readAhead: number;

  constructor(readonly bounds: ConnectionBounds) {
    this.readAhead = Math.max(4096, Math.floor((bounds.maxQueuedBytes ?? 1 << 20) / 4));
  }

  /**
   * A new connection: counted against its address until it closes, or, when the address holds its share
   * already, closed at once (and false returned). A Map lookup per connection, none per request.
   */
  admit(socket: net.Socket): boolean {
    const key = addressKey(socket.remoteAddress);
    const held = this.perAddress.get(key) ?? 0;
    if (held >= this.bounds.maxConnectionsPerAddress) {
      this.stats.refusedPerAddress++;
      socket.destroy();
      return false;
    }
    this.perAddress.set(key, held + 1);
    this.stats.open++;
    this.stats.accepted++;
    socket.once('close', () => {
      this.stats.open--;
      const n = (this.perAddress.get(key) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, n);
    });
    return true;
  }

  /** The server refused a connection over its maxConnections (its 'drop' event). */
  dropped(): void {
    this.stats.refusedMaxConnections++;
  }

  /** Watch a connection's request and answer deadlines until it closes. */
  watch(c: Watched): void {
    this.watched.add(c);
    c.socket.once('close', () => this.watched.delete(c));
    if (!this.sweeper && this.bounds.requestTimeoutMs !== undefined) {
      // Deadlines are checked a few times per timeout, not with a timer per request: the request path pays
      // one clock read when a request is left half read, nothing otherwise.
      const every = Math.max(20, Math.min(1000, Math.floor(this.bounds.requestTimeoutMs / 4)));
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
  }

  /** Close a connection for a reason, counted once. */
  close(socket: net.Socket, reason: CloseReason): void {
    if (socket.destroyed) return;
    this.stats.closed[reason]++;
    socket.destroy();
  }

  /** Count a close the connection makes itself (it ends after a last answer). */
  count(reason: CloseReason): void {
    this.stats.closed[reason]++;
  }

  /** Note the bytes a connection holds now (the peak is reported). */
  observe(bytes: number): void {
    if (bytes > this.stats.peakQueuedBytes) this.stats.peakQueuedBytes = bytes;
  }

  private sweep(): void {
    if (this.watched.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      return;
    }
    const limit = this.bounds.requestTimeoutMs!;
    const now = Date.now();
    for (const c of this.watched) {
      if (c.frameStartedAt !== 0 && now - c.frameStartedAt > limit) this.close(c.socket, 'request_deadline');
      else if (c.stalledSince !== 0 && now - c.stalledSince > limit) this.close(c.socket, 'write_stall');
    }
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
