// A fuzzing campaign against a real node in its own process: hostile Handle datagrams (mutated requests of
// every opcode, noise, fragment storms), hostile TCP streams, and hostile DNS queries, sent over loopback
// at a bounded pace, while canary clients on another address check that real requests still get the right
// answers. At the end: the node is alive, its memory grew by at most a bound, and its registry holds
// exactly what it held before. The CI test runs it small; `npm run fuzz -- --packets N` runs it long.
import dgram from 'node:dgram';
import net from 'node:net';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { initNode } from '../src/node/init.js';
import { Registry } from '../src/store/registry.js';
import { makeValue, Perm } from '../src/model/value.js';
import { encodeRequest } from '../src/client/request.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodeResolutionResponse, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { decodePacket } from '../src/protocol/message.js';
import dnsPacket from 'dns-packet';
import { Child, cliPath, patchConfig, removeDir, tempDir } from '../bench/common.js';
import { PREFIX, dnsSeeds, handleSeeds, hostileFragments, mutate, noise, rng } from './corpus.js';

export interface CampaignOptions {
  packets: number;
  seed: number;
  repoRoot: string;
  /** Datagrams sent before the campaign waits for the node to catch up. */
  burst?: number;
  /** Memory the node may gain between the warm-up and the end. */
  maxGrowthBytes?: number;
  log?: (line: string) => void;
}

export interface CampaignReport {
  packets: number;
  udpDatagrams: number;
  tcpStreams: number;
  dnsQueries: number;
  answers: number;
  canaries: number;
  wrongAnswers: string[];
  alive: boolean;
  rssWarmBytes: number;
  rssPeakBytes: number;
  rssEndBytes: number;
  registryUnchanged: boolean;
  seconds: number;
  /** CPU seconds the node spent, and its own counters (requests by response code, drops, errors). */
  nodeCpuSeconds: number;
  nodeStats: Record<string, unknown>;
}

const ZONE = 'id.internal';
const CANARY_URL = 'https://trace.example.cn/fuzz-1';
/** The canaries' address: another /24 than the fuzzer's, so rate limits aimed at the fuzzer spare them. */
const CANARY_HOST = '127.0.1.1';
const FUZZ_HOST = '127.0.0.2';

export async function runCampaign(o: CampaignOptions): Promise<CampaignReport> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const root = tempDir('fuzz');
  const dir = path.join(root, 'node');
  // Ports 0: the node takes free ones and says which (a port chosen here could be taken before it binds).
  initNode({ dir, prefixes: [PREFIX], port: 0, description: 'fuzz target' });
  patchConfig(dir, (c) => {
    c.dns = { enabled: true, port: 0, zones: [ZONE] };
    c.http = { enabled: false };
    c.cache = { maxBytes: 16 * 1024 * 1024 };
  });
  const registry = new Registry(path.join(dir, 'registry.db'));
  registry.create(`${PREFIX}/FUZZ-1`, [
    makeValue(1, 'URL', CANARY_URL),
    makeValue(2, 'internal.cost', '1.00 CNY', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
  ]);
  for (let i = 0; i < 200; i++) registry.create(`${PREFIX}/ITEM-${i}`, [makeValue(1, 'URL', `https://example.cn/${i}`)]);
  const before = registryDigest(registry);
  registry.close();

  // FUZZ_NODE_ARGS: flags for the node's runtime (--cpu-prof, say) when a campaign is being looked into.
  const nodeArgs = (process.env.FUZZ_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const node = await Child.start([...nodeArgs, cliPath, 'serve', '--dir', dir], /DNS gateway on \S+ port \d+/);
  const said = node.output.join('');
  const port = Number(/serving .* port (\d+)/.exec(said)![1]);
  const dnsPort = Number(/DNS gateway on \S+ port (\d+)/.exec(said)![1]);
  const r = rng(o.seed);
  const seeds = handleSeeds(o.repoRoot);
  const dseeds = dnsSeeds(ZONE);
  const fuzz = dgram.createSocket('udp4');
  const canary = dgram.createSocket('udp4');
  await Promise.all([bind(fuzz, FUZZ_HOST), bind(canary, CANARY_HOST)]);
  let answers = 0;
  fuzz.on('message', () => answers++);
  const report: CampaignReport = {
    packets: 0,
    udpDatagrams: 0,
    tcpStreams: 0,
    dnsQueries: 0,
    answers: 0,
    canaries: 0,
    wrongAnswers: [],
    alive: true,
    rssWarmBytes: 0,
    rssPeakBytes: 0,
    rssEndBytes: 0,
    registryUnchanged: false,
    seconds: 0,
    nodeCpuSeconds: 0,
    nodeStats: {},
  };
  const burst = o.burst ?? 200;
  const warmAt = Math.floor(o.packets / 20);
  const canaryEvery = Math.max(500, Math.floor(o.packets / 200));
  const tcpEvery = 997;
  try {
    for (let n = 0; n < o.packets; ) {
      const kind = r();
      if (kind < 0.12) {
        const q = mutate(dseeds[Math.floor(r() * dseeds.length)]!, dseeds[Math.floor(r() * dseeds.length)]!, r);
        fuzz.send(q, dnsPort, '127.0.0.1');
        report.dnsQueries++;
        n++;
      } else if (kind < 0.17) {
        const seed = seeds[Math.floor(r() * seeds.length)]!;
        for (const d of hostileFragments(r() < 0.5 ? seed : mutate(seed, seed, r), r)) {
          fuzz.send(d, port, '127.0.0.1');
          report.udpDatagrams++;
          n++;
        }
      } else {
        const q = mutate(seeds[Math.floor(r() * seeds.length)]!, seeds[Math.floor(r() * seeds.length)]!, r);
        fuzz.send(q, port, '127.0.0.1');
        report.udpDatagrams++;
        n++;
      }
      if (n % tcpEvery === 0) {
        await tcpStream(port, seeds, r);
        report.tcpStreams++;
      }
      if (n % burst === 0) await new Promise((res) => setImmediate(res));
      if (n % (burst * 10) === 0) await new Promise((res) => setTimeout(res, 2));
      if (n % canaryEvery === 0 || n === warmAt) {
        await checkCanaries(canary, port, dnsPort, report);
        const rss = node.rssBytes();
        if (n >= warmAt && report.rssWarmBytes === 0) report.rssWarmBytes = rss;
        report.rssPeakBytes = Math.max(report.rssPeakBytes, rss);
        if (node.proc.exitCode !== null) throw new Error('the node exited');
        log(`fuzz: ${n}/${o.packets} packets, ${answers} answers, rss ${(rss / 2 ** 20).toFixed(1)} MiB`);
      }
      report.packets = n;
    }
    await new Promise((res) => setTimeout(res, 200));
    await checkCanaries(canary, port, dnsPort, report);
    report.rssEndBytes = node.rssBytes();
    report.rssPeakBytes = Math.max(report.rssPeakBytes, report.rssEndBytes);
    report.nodeCpuSeconds = node.cpuSeconds();
    report.nodeStats = await node.stats();
  } catch (err) {
    report.wrongAnswers.push((err as Error).message);
  } finally {
    report.alive = node.proc.exitCode === null;
    report.answers = answers;
    fuzz.close();
    canary.close();
    await node.stop();
  }
  const after = new Registry(path.join(dir, 'registry.db'));
  report.registryUnchanged = registryDigest(after) === before;
  after.close();
  removeDir(root);
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** Every handle and its values, hashed: what must come out of a campaign as it went in. */
function registryDigest(registry: Registry): string {
  const h = createHash('sha256');
  for (const handle of registry.eachUnder(PREFIX)) {
    h.update(handle);
    for (const v of registry.getValues(handle) ?? []) h.update(`${v.index}|${v.type}|${v.data.toString('hex')}|${v.permissions}`);
  }
  return h.digest('hex');
}

function bind(s: dgram.Socket, host: string): Promise<void> {
  return new Promise((res, rej) => {
    s.once('error', rej);
    s.bind(0, host, () => res());
  });
}

/** One TCP connection carrying hostile frames (and sometimes pure noise), then closed by the client. */
function tcpStream(port: number, seeds: Buffer[], r: () => number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: FUZZ_HOST });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 1000);
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => undefined);
    s.on('connect', () => {
      const frames: Buffer[] = [];
      for (let i = 0; i < 1 + Math.floor(r() * 12); i++) frames.push(r() < 0.15 ? noise(r, Math.floor(r() * 300)) : mutate(seeds[Math.floor(r() * seeds.length)]!, seeds[0]!, r));
      s.end(Buffer.concat(frames));
    });
  });
}

/** Real requests from another address: each must get the right answer, over UDP, TCP and DNS. */
async function checkCanaries(s: dgram.Socket, port: number, dnsPort: number, report: CampaignReport): Promise<void> {
  report.canaries++;
  const id = 0x4000 + (report.canaries & 0xfff);
  const req = encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(`${PREFIX}/FUZZ-1`), flags: OpFlag.CA | OpFlag.PO, requestId: id });
  const udp = await exchange(s, req, port, (m) => m.length >= 12 && m.readUInt32BE(8) === id);
  checkHandleAnswer(udp, 'UDP', report);
  checkHandleAnswer(await tcpExchange(port, req), 'TCP', report);
  const q = dnsPacket.encode({ type: 'query', id: id & 0xffff, questions: [{ type: 'TXT', name: `fuzz-1._.8.118.88.${ZONE}` }] });
  const dns = await exchange(s, q, dnsPort, (m) => m.length >= 2 && m.readUInt16BE(0) === (id & 0xffff));
  if (!dns) report.wrongAnswers.push('DNS canary: no answer');
  else {
    const txt = dnsPacket.decode(dns).answers?.flatMap((a) => (a.type === 'TXT' ? (a.data as Buffer[]).map((x) => x.toString()) : [])) ?? [];
    if (!txt.some((t) => t.includes(CANARY_URL))) report.wrongAnswers.push(`DNS canary: ${JSON.stringify(txt)}`);
  }
}

function checkHandleAnswer(m: Buffer | undefined, via: string, report: CampaignReport): void {
  if (!m) return void report.wrongAnswers.push(`${via} canary: no answer`);
  const p = decodePacket(m);
  if (p.header.responseCode !== ResponseCode.SUCCESS) return void report.wrongAnswers.push(`${via} canary: RC ${p.header.responseCode}`);
  const values = decodeResolutionResponse(p.body, false).values;
  if (values.length !== 1 || values[0]!.data.toString() !== CANARY_URL) report.wrongAnswers.push(`${via} canary: ${values.map((v) => v.type).join(',')}`);
}

/** Send, and wait (with retries, as a client does) for the datagram `matches` accepts. */
function exchange(s: dgram.Socket, q: Buffer, port: number, matches: (m: Buffer) => boolean): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let tries = 0;
    let timer: NodeJS.Timeout;
    const onMessage = (m: Buffer) => {
      if (!matches(m)) return;
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve(m);
    };
    const attempt = () => {
      if (tries++ === 4) {
        s.off('message', onMessage);
        return resolve(undefined);
      }
      s.send(q, port, '127.0.0.1');
      timer = setTimeout(attempt, 500 * tries);
    };
    s.on('message', onMessage);
    attempt();
  });
}

function tcpExchange(port: number, req: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: CANARY_HOST });
    let buf = Buffer.alloc(0);
    const finish = (m: Buffer | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(m);
    };
    const timer = setTimeout(() => finish(undefined), 5000);
    s.on('error', () => finish(undefined));
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 20 && buf.length >= 20 + buf.readUInt32BE(16)) finish(buf.subarray(0, 20 + buf.readUInt32BE(16)));
    });
  });
}
