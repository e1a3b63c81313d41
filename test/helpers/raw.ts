import dgram from 'node:dgram';
import net from 'node:net';

/** Send datagrams from a fresh UDP socket and collect what comes back within a time window. */
export async function udpExchange(port: number, datagrams: Buffer[], waitMs = 400): Promise<Buffer[]> {
  const s = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  for (const d of datagrams) s.send(d, port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, waitMs));
  s.close();
  return got;
}

/**
 * Write text to a TCP port on loopback and collect what comes back (latin1) until the server closes, the time
 * runs out, or `until` says the answer is whole.
 */
export function tcpText(
  port: number,
  text: string,
  o: { localAddress?: string; timeoutMs?: number; onData?: () => void; until?: (received: string) => boolean } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    let out = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, o.timeoutMs ?? 10000);
    s.on('data', (d) => {
      out += d.toString('latin1');
      o.onData?.();
      if (o.until?.(out)) done();
    });
    s.on('close', done);
    s.on('error', done);
    s.write(text);
  });
}

/** A raw TCP connection that collects everything received and notices the server's close. */
export class RawTcp {
  readonly socket: net.Socket;
  received: Buffer = Buffer.alloc(0);
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.received = Buffer.concat([this.received, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connect to 127.0.0.1:port, from `localAddress` when given (127.0.0.2 … as another client). */
  static connect(port: number, localAddress?: string): Promise<RawTcp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(new RawTcp(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until a condition holds or the time runs out; returns whether it held. */
  async until(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }

  /** Complete frames received so far. */
  frames(): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    while (this.received.length - off >= 20) {
      const len = this.received.readUInt32BE(off + 16);
      if (this.received.length - off < 20 + len) break;
      out.push(this.received.subarray(off, off + 20 + len));
      off += 20 + len;
    }
    return out;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  close(): void {
    this.socket.destroy();
  }
}
