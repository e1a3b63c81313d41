import dgram from 'node:dgram';
import net from 'node:net';
import { ENVELOPE_SIZE, Limits, OpCode, OpFlag } from '../protocol/constants.js';
import { encodeResolutionRequest } from '../protocol/bodies.js';
import { encodeRequest } from '../client/request.js';
import { LatencyHistogram } from './histogram.js';

// A Handle-protocol load generator that costs as little as it can: requests are encoded once, sent from a
// ring of preallocated buffers with only the RequestId patched, matched back by RequestId, and timed into
// a histogram; nothing is allocated per request on the UDP path but what the socket layer does.

export type LoadTransport = 'udp' | 'tcp' | 'tcp-kc';

export interface LoadOptions {
  host: string;
  port: number;
  transport: LoadTransport;
  /** The handles to ask for; picked by `pick` (default: round robin). */
  handles: string[] | NumberedHandles;
  /** Index of the next handle to ask; e.g. a Zipf sampler. */
  pick?: () => number;
  /** Requests per second; 0 = saturation (keep `concurrency` in flight). */
  rate: number;
  /** Requests in flight at most (saturation), or connections for TCP. */
  concurrency: number;
  durationMs: number;
  /** Stop sending after this many requests, even before durationMs (UDP). */
  stopAfter?: number;
  /** A request unanswered this long counts as lost. */
  timeoutMs?: number;
  /** Pipelined requests per KC connection. */
  pipeline?: number;
  flags?: number;
}

export interface LoadReport {
  transport: LoadTransport;
  sent: number;
  answered: number;
  lost: number;
  responseCodes: Record<string, number>;
  qps: number;
  latencyUs: { p50: number; p99: number; p999: number; max: number; mean: number };
  durationMs: number;
  /** The generator's own CPU per request, microseconds (user + system). */
  generatorCpuUsPerRequest: number;
}

const RING = 1 << 16;

/**
 * Handles numbered PREFIX/STEM<number, zero-padded to `width`>: ten million of them need no list, only the
 * number patched into one request.
 */
export interface NumberedHandles {
  stem: string;
  width: number;
  /** Numbers first..first+count-1. */
  first: number;
  count: number;
}

/** The requests to send: k → its bytes written into a buffer (RequestId left 0). */
interface Templates {
  count: number;
  write(k: number, out: Buffer): number;
}

/** Every request encoded once, packed into one buffer (a million small Buffers would cost more than they carry). */
function encodeAll(handles: string[], flags: number): Templates {
  const parts = handles.map((h) => encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(h), flags, requestId: 0 }));
  const offsets = new Uint32Array(parts.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
  const data = Buffer.concat(parts);
  return {
    count: parts.length,
    write: (k, out) => data.copy(out, 0, offsets[k]!, offsets[k + 1]!),
  };
}

function encodeNumbered(h: NumberedHandles, flags: number): Templates {
  const sample = `${h.stem}${'0'.repeat(h.width)}`;
  const template = encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(sample), flags, requestId: 0 });
  const digitsAt = template.indexOf(sample, 20, 'utf8') + Buffer.byteLength(h.stem);
  return {
    count: h.count,
    write: (k, out) => {
      template.copy(out);
      let n = h.first + k;
      for (let d = h.width - 1; d >= 0; d--) {
        out[digitsAt + d] = 48 + (n % 10);
        n = Math.floor(n / 10);
      }
      return template.length;
    },
  };
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const flags = o.flags ?? OpFlag.CA | OpFlag.PO;
  const f = flags | (o.transport === 'tcp-kc' ? OpFlag.KC : 0);
  const templates = Array.isArray(o.handles) ? encodeAll(o.handles, f) : encodeNumbered(o.handles, f);
  if (templates.count === 0) throw new Error('no handles to ask for');
  let rr = 0;
  const pick = o.pick ?? (() => (rr = (rr + 1) % templates.count));
  return o.transport === 'udp' ? runUdp(o, templates, pick) : runTcp(o, templates, pick);
}

function finish(
  o: LoadOptions,
  started: number,
  stoppedSending: number,
  cpu0: NodeJS.CpuUsage,
  sent: number,
  answered: number,
  lost: number,
  rcs: Map<number, number>,
  hist: LatencyHistogram,
): LoadReport {
  // The rate over the time requests were being sent (answers still in flight then arrive during the drain).
  const elapsed = stoppedSending - started;
  const cpu = process.cpuUsage(cpu0);
  const responseCodes: Record<string, number> = {};
  for (const [rc, n] of rcs) responseCodes[rc] = n;
  return {
    transport: o.transport,
    sent,
    answered,
    lost,
    responseCodes,
    qps: Math.round((answered / elapsed) * 1000),
    latencyUs: {
      p50: Math.round(hist.quantile(0.5)),
      p99: Math.round(hist.quantile(0.99)),
      p999: Math.round(hist.quantile(0.999)),
      max: Math.round(hist.max),
      mean: Math.round(hist.mean()),
    },
    durationMs: Math.round(elapsed),
    generatorCpuUsPerRequest: sent ? Math.round(((cpu.user + cpu.system) / sent) * 100) / 100 : 0,
  };
}

function runUdp(o: LoadOptions, templates: Templates, pick: () => number): Promise<LoadReport> {
  const timeoutMs = o.timeoutMs ?? 1000;
  const slots = new Array<Buffer>(RING);
  const sentAt = new Float64Array(RING);
  const fragsLeft = new Int32Array(RING); // >0: in flight, fragments still expected
  const ids = new Uint32Array(RING);
  const hist = new LatencyHistogram();
  const rcs = new Map<number, number>();
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  let nextId = 1;
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let inFlight = 0;
  let stopping = false;

  let finishEarly: (() => void) | undefined;
  const sendOne = () => {
    if (o.stopAfter !== undefined && sent >= o.stopAfter) {
      if (inFlight === 0) finishEarly?.();
      return;
    }
    const k = pick();
    const id = nextId;
    nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
    const slot = id & (RING - 1);
    if (fragsLeft[slot] !== 0) {
      // The ring wrapped onto a request still unanswered: count it lost.
      lost++;
      inFlight--;
    }
    const b = (slots[slot] ??= Buffer.allocUnsafe(4096));
    const length = templates.write(k, b);
    b.writeUInt32BE(id, 8);
    ids[slot] = id;
    fragsLeft[slot] = -1; // unknown until the first fragment says the length
    sentAt[slot] = performance.now();
    inFlight++;
    sent++;
    socket.send(b, 0, length, o.port, o.host);
  };

  socket.on('message', (m) => {
    if (m.length < ENVELOPE_SIZE + 8) return;
    const id = m.readUInt32BE(8);
    const slot = id & (RING - 1);
    if (ids[slot] !== id || fragsLeft[slot] === 0) return;
    if (fragsLeft[slot] === -1) {
      const len = m.readUInt32BE(16);
      fragsLeft[slot] = Math.max(1, Math.ceil(len / Limits.UDP_FRAGMENT_SIZE));
    }
    if (m.readUInt32BE(12) === 0 && m.length >= ENVELOPE_SIZE + 8) {
      const rc = m.readUInt32BE(ENVELOPE_SIZE + 4);
      rcs.set(rc, (rcs.get(rc) ?? 0) + 1);
    }
    if (--fragsLeft[slot]! > 0) return;
    hist.record((performance.now() - sentAt[slot]!) * 1000);
    answered++;
    inFlight--;
    if (!stopping && o.rate === 0) sendOne();
  });

  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => {
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      let pacer: NodeJS.Timeout | undefined;
      if (o.rate === 0) {
        for (let i = 0; i < o.concurrency; i++) sendOne();
      } else {
        // Pace in 1 ms ticks, catching up on the schedule so the mean rate is exact.
        let due = 0;
        pacer = setInterval(() => {
          due = Math.floor(((performance.now() - started) / 1000) * o.rate);
          while (sent < due && inFlight < o.concurrency) sendOne();
        }, 1);
      }
      // Lost requests: in flight longer than the timeout.
      const sweeper = setInterval(() => {
        const now = performance.now();
        for (let s = 0; s < RING; s++) {
          if (fragsLeft[s] !== 0 && now - sentAt[s]! > timeoutMs) {
            fragsLeft[s] = 0;
            lost++;
            inFlight--;
            if (!stopping && o.rate === 0) sendOne();
          }
        }
      }, 200);
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        clearTimeout(deadline);
        stopping = true;
        const stoppedSending = performance.now();
        if (pacer) clearInterval(pacer);
        // Give answers in flight a moment, then count the rest lost.
        setTimeout(() => {
          clearInterval(sweeper);
          for (let s = 0; s < RING; s++) if (fragsLeft[s] !== 0) lost++;
          socket.close();
          resolve(finish(o, started, stoppedSending, cpu0, sent, answered, lost, rcs, hist));
        }, Math.min(timeoutMs, 500));
      };
      const deadline = setTimeout(end, o.durationMs);
      finishEarly = end;
    });
  });
}

function runTcp(o: LoadOptions, templates: Templates, pick: () => number): Promise<LoadReport> {
  const hist = new LatencyHistogram();
  const rcs = new Map<number, number>();
  const keep = o.transport === 'tcp-kc';
  const depth = keep ? Math.max(1, o.pipeline ?? 8) : 1;
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let stopping = false;
  let nextId = 1;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  /** How to end each open connection. */
  const open = new Map<net.Socket, () => void>();

  const connection = (): Promise<void> =>
    new Promise((done) => {
      const socket = net.connect({ host: o.host, port: o.port, noDelay: true });

      const pending = new Map<number, number>();
      let buf: Buffer = Buffer.alloc(0);
      const send = () => {
        const scratch = Buffer.allocUnsafe(4096);
        const b = scratch.subarray(0, templates.write(pick(), scratch));
        const id = nextId;
        nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
        b.writeUInt32BE(id, 8);
        pending.set(id, performance.now());
        sent++;
        socket.write(b);
      };
      socket.on('connect', () => {
        for (let i = 0; i < depth; i++) send();
      });
      socket.on('data', (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        while (buf.length >= ENVELOPE_SIZE && buf.length >= ENVELOPE_SIZE + buf.readUInt32BE(16)) {
          const len = ENVELOPE_SIZE + buf.readUInt32BE(16);
          const id = buf.readUInt32BE(8);
          const t = pending.get(id);
          if (t !== undefined) {
            pending.delete(id);
            hist.record((performance.now() - t) * 1000);
            answered++;
            const rc = buf.readUInt32BE(ENVELOPE_SIZE + 4);
            rcs.set(rc, (rcs.get(rc) ?? 0) + 1);
            if (keep && !stopping) send();
          }
          buf = buf.subarray(len);
        }
        // Without KC, one request per connection, closed by the client once answered (as the reference's
        // client does; the server keeps a connection open for more).
        if (!keep && pending.size === 0) end();
      });
      const end = () => {
        if (!open.delete(socket)) return;
        // Requests cut off by our own stop are not lost; any other unanswered request is.
        if (!stopping) lost += pending.size;
        pending.clear();
        socket.destroy();
        done();
      };
      open.set(socket, end);
      socket.on('close', end);
      socket.on('error', end);
      socket.setTimeout(o.timeoutMs ?? 2000, end);
    });

  const worker = async () => {
    if (keep) {
      await connection();
      return;
    }
    while (!stopping) await connection();
  };
  return new Promise((resolve) => {
    const conns: Array<Promise<void>> = [];
    for (let i = 0; i < o.concurrency; i++) conns.push(worker());
    setTimeout(() => {
      stopping = true;
      const stoppedSending = performance.now();
      // Let answers in flight arrive, then close what is still open (KC connections stay open otherwise).
      setTimeout(() => {
        for (const end of [...open.values()]) end();
        void Promise.all(conns).then(() => resolve(finish(o, started, stoppedSending, cpu0, sent, answered, lost, rcs, hist)));
      }, 200);
    }, o.durationMs);
  });
}
