// Our recursor against the reference server's own bytes: three stub servers replay answers captured from
// the reference Handle server (only the RequestId is patched in): a root that refers 0.NA/88.118.8 with
// HS_SITE.PREFIX (port 23641), a top-level server that answers the prefix handle with HS_SITE (port
// 12641), and the business server that answers the identifier. The ports are the ones the captured site
// records name; when one is taken on this machine, the test is skipped rather than guessed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { HandleClient } from '../src/client/handle-client.js';
import { encodeResolutionRequest, decodeResolutionResponse, decodeResolutionRequest } from '../src/protocol/bodies.js';
import { decodePacket } from '../src/protocol/message.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { Recursor } from '../src/resolve/recursor.js';
import { golden } from './helpers/paths.js';

/** A UDP server that answers every request with the captured datagrams, the request's RequestId patched in. */
async function replay(name: string, port: number, datagrams: Buffer[], seen: string[]): Promise<dgram.Socket | undefined> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    const p = decodePacket(msg);
    seen.push(`${name} ${decodeResolutionRequest(p.body).handle}`);
    for (const d of datagrams) {
      const out = Buffer.from(d);
      out.writeUInt32BE(p.envelope.requestId, 8);
      s.send(out, rinfo.port, rinfo.address);
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve());
    });
    return s;
  } catch {
    s.close();
    return undefined;
  }
}

test('a walk through answers captured from the reference server: 303 → HS_SITE → the identifier', async (t) => {
  const seen: string[] = [];
  const sockets: dgram.Socket[] = [];
  const root = await replay('root', 0, [golden('udp-prefix-referral-303.resp0.bin')], seen);
  sockets.push(root!);
  const top = await replay('top', 23641, [golden('udp-resolve-prefix.resp0.bin'), golden('udp-resolve-prefix.resp1.bin')], seen);
  const business = await replay('business', 12641, [golden('udp-resolve-ok.resp0.bin')], seen);
  for (const s of [top, business]) if (s) sockets.push(s);
  const client = new HandleClient({ udpTimeoutsMs: [300, 300], tcpTimeoutMs: 500 });
  try {
    if (!top || !business) {
      t.skip('port 23641 or 12641 (named by the captured site records) is in use here');
      return;
    }
    const rootPort = root!.address().port;
    const recursor = new Recursor(client, { roots: [{ host: '127.0.0.1', udpPort: rootPort }], maxReferrals: 40 });
    const a = await recursor.resolve('88.118.8/ABC123', encodeResolutionRequest('88.118.8/ABC123'), 0);
    assert.equal(a.responseCode, ResponseCode.SUCCESS);
    const r = decodeResolutionResponse(a.body, false);
    assert.equal(r.values[0]!.data.toString(), 'https://example.com/product/ABC123');
    assert.deepEqual(seen, ['root 0.NA/88.118.8', 'top 0.NA/88.118.8', 'business 88.118.8/ABC123']);
    assert.equal(recursor.stats.referralsFollowed, 1);
  } finally {
    client.close();
    for (const s of sockets) s.close();
  }
});
