// The DNS baseline: the smallest Node program that answers the DNS benchmark's queries. At start it asks
// the idres node once for every query of the query file and keeps each answer in a Map keyed by the
// question's bytes; per query it finds the question's end, looks the answer up, copies it and writes the
// query's ID and RD bit in, and sends it. No parsing beyond that, no case folding (the query file is lower
// case), no cache policy, no registry. Its rate is the Node ceiling on this machine, as bench/
// baseline-responder.ts is for the Handle protocol.
//
//   node dist/bench/dns/baseline-responder.js PORT IDRES_DNS_PORT QUERY_FILE
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';

const [portArg, upstreamArg, queryFile] = process.argv.slice(2);
if (!portArg || !upstreamArg || !queryFile) {
  console.error('usage: baseline-responder.js PORT IDRES_DNS_PORT QUERY_FILE');
  process.exit(2);
}
const upstream = Number(upstreamArg);

/** The question section's bytes (name, type, class) of a message, or undefined when it does not read. */
function questionOf(msg: Buffer): string | undefined {
  let at = 12;
  while (at < msg.length) {
    const len = msg[at]!;
    if (len === 0) break;
    if (len > 63) return undefined;
    at += 1 + len;
  }
  const end = at + 5;
  return end > msg.length ? undefined : msg.toString('latin1', 12, end);
}

/** Ask idres for every query of the file, 200 at a time, over one socket. */
async function fetchAnswers(): Promise<Map<string, Buffer>> {
  const questions = readFileSync(queryFile!, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [name, type] = l.trim().split(/\s+/);
      return { name: name!.replace(/\.$/, ''), type: type as dnsPacket.RecordType };
    });
  const answers = new Map<string, Buffer>();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const pending = new Map<number, () => void>();
  socket.on('message', (msg) => {
    const q = questionOf(msg);
    if (q !== undefined) answers.set(q, Buffer.from(msg));
    pending.get(msg.readUInt16BE(0))?.();
  });
  let next = 0;
  const worker = async () => {
    while (next < questions.length) {
      const i = next++;
      const id = i & 0xffff;
      const packet = dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name: questions[i]!.name, type: questions[i]!.type, class: 'IN' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.OptAnswer],
      });
      for (let attempt = 0; attempt < 5; attempt++) {
        const answered = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 1000);
          pending.set(id, () => {
            clearTimeout(t);
            resolve(true);
          });
          socket.send(packet, upstream, '127.0.0.1');
        });
        pending.delete(id);
        if (answered) break;
      }
    }
  };
  await Promise.all(Array.from({ length: 200 }, worker));
  socket.close();
  return answers;
}

const answers = await fetchAnswers();
const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
socket.on('message', (msg, rinfo) => {
  if (msg.length < 17) return;
  const q = questionOf(msg);
  const template = q === undefined ? undefined : answers.get(q);
  if (!template) return;
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  out[2] = (out[2]! & 0xfe) | (msg[2]! & 0x01); // RD as asked
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(portArg), '127.0.0.1', () => console.log(`DNS baseline ready on ${socket.address().port} with ${answers.size} answers`));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
