// UDP must not become an amplifier (DESIGN 8): large answers are metered per source network; past the
// budget the address gets a short TC answer instead, and a real client, which can use TCP, still gets the
// whole answer. Small answers are never metered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startTestNode, type TestNode } from './helpers/node.js';
import { HandleClient } from '../src/client/handle-client.js';
import { makeValue } from '../src/model/value.js';
import { encodeRequest } from '../src/client/request.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpCode, ResponseCode } from '../src/protocol/constants.js';
import { decodePacket } from '../src/protocol/message.js';
import { validateConfig } from '../src/node/config.js';
import { TestClock } from './helpers/clock.js';

let t: TestNode;
let client: HandleClient;
const clock = new TestClock();
before(async () => {
  // Loopback is exempt from UDP rate limits by default: not here. The response rate is high enough never to bite.
  t = await startTestNode({
    patch: (c) => ((c.udp = { rateLimit: { minBytes: 1232, bytesPerSecond: 65000 }, rrl: { responsesPerSecond: 100000, burst: 100000, exempt: [] } })),
    start: { clock: clock.now },
  });
  client = new HandleClient({ udpTimeoutsMs: [500], tcpTimeoutMs: 3000 });
  const values = Array.from({ length: 60 }, (_, i) => makeValue(i + 1, 'DATA', String(i).padEnd(1000, 'x')));
  t.node.registry!.create('88.118.8/BIG', values);
  t.node.registry!.create('88.118.8/SMALL', [makeValue(1, 'URL', 'https://example.cn/s')]);
});
after(async () => {
  client.close();
  await t.stop();
});

/** Send requests for `handles` back to back; every datagram that comes back within a while, by request. */
function datagrams(...handles: string[]): Promise<Buffer[][]> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[][] = handles.map(() => []);
  return new Promise((resolve) => {
    sock.on('message', (m) => got[m.readUInt32BE(8) - 1]?.push(m));
    let sent = 0;
    handles.forEach((h, i) =>
      sock.send(encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(h), requestId: i + 1 }), t.server.port, '127.0.0.1', () => {
        if (++sent === handles.length) {
          setTimeout(() => {
            sock.close();
            resolve(got);
          }, 400);
        }
      }),
    );
  });
}

test('past the budget a large answer becomes one short TC datagram; the client then gets it whole over TCP', async () => {
  // Two requests back to back from one socket, and a real client asking a moment later from another.
  const [bursts, r] = await Promise.all([
    datagrams('88.118.8/BIG', '88.118.8/BIG'),
    new Promise((w) => setTimeout(w, 50)).then(() => client.resolve(t.server, '88.118.8/BIG')),
  ]);
  const [first, second] = bursts as [Buffer[], Buffer[]];
  assert.ok(first.length > 100, `the first 62 KB answer goes out in fragments (${first.length})`);
  assert.equal(second.length, 1, 'one short datagram, not 127 fragments');
  const p = decodePacket(second[0]!);
  assert.equal(p.envelope.truncated, true);
  assert.equal(p.header.responseCode, ResponseCode.SERVER_TOO_BUSY);
  assert.ok(second[0]!.length < 200);
  assert.ok(t.node.handler.stats.udpRateLimited >= 1);
  assert.equal(r.responseCode, ResponseCode.SUCCESS);
  assert.equal(r.transport, 'tcp');
  assert.equal(r.values.length, 60);
  // Small answers are not metered, however many.
  for (let i = 0; i < 50; i++) assert.equal((await client.resolve(t.server, '88.118.8/SMALL', { transport: 'udp' })).responseCode, ResponseCode.SUCCESS);
  // The budget refills with time (the node's clock: a second later).
  clock.advance(1100);
  assert.ok((await datagrams('88.118.8/BIG'))[0]!.length > 100);
});

test('udp.rateLimit is validated; 0 turns it off', () => {
  assert.equal(validateConfig({ udp: { rateLimit: { bytesPerSecond: 0 } } }).udp.rateLimit.bytesPerSecond, 0);
  assert.throws(() => validateConfig({ udp: { rateLimit: { bytesPerSecond: -1 } } }), /udp\.rateLimit\.bytesPerSecond/);
  assert.throws(() => validateConfig({ udp: { rateLimit: { burst: 1 } } }), /unknown setting "udp\.rateLimit\.burst"/);
});
