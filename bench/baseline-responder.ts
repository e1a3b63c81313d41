// The baseline: the smallest Node program that answers the benchmark's Handle resolutions, with answers
// encoded in advance and kept in a Map keyed by the request body — no cache policy, no registry, no
// version negotiation, nothing else. Its rate on this machine is the Node ceiling idres is measured against.
//
//   node dist/bench/baseline-responder.js --port P --count N [--seed S] [--numbered]
//
// The answers are those of the hot scenario's node (nodeDirRecords), or with --numbered the cold
// scenario's numbered identifiers (numberedRecords).
import dgram from 'node:dgram';
import { OpFlag } from '../src/protocol/constants.js';
import { encodeHandleValues, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { encodePacket } from '../src/protocol/message.js';
import { arg, flag, nodeDirRecords, numberedRecords } from './common.js';

const port = arg('port', 0);
const count = arg('count', 1000);
const seed = arg('seed', 7);

const answers = new Map<string, Buffer>();
const now = Math.floor(Date.now() / 1000);
for (const r of flag('numbered') ? numberedRecords(count) : nodeDirRecords(count, seed)) {
  const values = r.values.map((v) => ({ ...v, timestamp: now }));
  const packet = encodePacket(
    { major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: 0, requestId: 0, sequence: 0 },
    { opCode: 1, responseCode: 1, opFlags: 0, siteSerial: 1, recursionCount: 0, expiration: now + 43200 },
    encodeHandleValues(r.handle, values),
  );
  answers.set(encodeResolutionRequest(r.handle).toString('latin1'), packet);
}

const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
socket.on('message', (msg, rinfo) => {
  if (msg.length < 48) return;
  const bodyLength = msg.readUInt32BE(40);
  const template = answers.get(msg.toString('latin1', 44, 44 + bodyLength));
  if (!template) return;
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out.writeUInt32BE(msg.readUInt32BE(8), 8); // RequestId
  out.writeUInt32BE((msg.readUInt32BE(28) | OpFlag.AT) >>> 0, 28); // the request's flags, plus AT
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(port, '127.0.0.1', () => console.log(`baseline ready on ${socket.address().port} with ${answers.size} answers`));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
