import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';

// A small DNS client for tests: dns-packet queries over real UDP and TCP sockets.

export interface QueryOptions {
  /** EDNS UDP payload size to advertise; undefined: no OPT record. */
  edns?: number;
  id?: number;
  rd?: boolean;
  /** EDNS version (0 unless testing BADVERS). */
  ednsVersion?: number;
}

export function query(name: string, type: string, o: QueryOptions = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? Math.floor(Math.random() * 65536),
    flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    additionals: o.edns !== undefined ? [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, ednsVersion: o.ednsVersion ?? 0, flags: 0, extendedRcode: 0, flag_do: false, options: [] } as dnsPacket.OptAnswer] : [],
  });
}

/** Send one datagram and wait for one answer (undefined after the timeout: nothing came back). */
export async function udpAsk(port: number, packet: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      s.send(packet, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** Send queries over one TCP connection (two-octet length framing) and read as many answers. */
export async function tcpAsk(port: number, packets: Buffer[], timeoutMs = 3000): Promise<Buffer[]> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  try {
    return await new Promise<Buffer[]>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const out: Buffer[] = [];
      const t = setTimeout(() => reject(new Error(`tcp: ${out.length} of ${packets.length} answers in ${timeoutMs} ms`)), timeoutMs);
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          out.push(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
        }
        if (out.length === packets.length) {
          clearTimeout(t);
          resolve(out);
        }
      });
      for (const p of packets) {
        const f = Buffer.alloc(2 + p.length);
        f.writeUInt16BE(p.length, 0);
        p.copy(f, 2);
        socket.write(f);
      }
    });
  } finally {
    socket.destroy();
  }
}

export async function udpQuery(port: number, name: string, type: string, o: QueryOptions = {}): Promise<dnsPacket.DecodedPacket> {
  const r = await udpAsk(port, query(name, type, o));
  if (!r) throw new Error(`no answer to ${name} ${type}`);
  return dnsPacket.decode(r);
}

export async function tcpQuery(port: number, name: string, type: string, o: QueryOptions = {}): Promise<dnsPacket.DecodedPacket> {
  const [r] = await tcpAsk(port, [query(name, type, o)]);
  return dnsPacket.decode(r!);
}

/** The response code of a decoded packet (dns-packet exposes it untyped). */
export function rcodeOf(p: dnsPacket.DecodedPacket): string {
  return (p as unknown as { rcode: string }).rcode;
}

/** The texts of TXT records, each record's strings joined. */
export function txtTexts(p: dnsPacket.DecodedPacket): string[] {
  return (p.answers ?? [])
    .filter((a) => a.type === 'TXT')
    .map((a) => ((a as dnsPacket.TxtAnswer).data as Buffer[]).map((b) => b.toString('utf8')).join(''));
}
