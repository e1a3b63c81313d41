// The hot path's patched responses are byte for byte what the full responder writes for the same request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Responder } from '../src/protocol/responder.js';
import { decodePacket, encodePacket } from '../src/protocol/message.js';
import { encodeHandleValues, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpFlag } from '../src/protocol/constants.js';
import { makeValue } from '../src/model/value.js';

test('patched(template) equals reply() for every version, flag, session and recursion count', () => {
  const responder = new Responder(7, true, () => 1_800_000_000);
  const body = encodeHandleValues('88.118.8/X', [makeValue(1, 'URL', 'https://example.cn/x', { timestamp: 1 })]);
  const template = responder.template(1, body);
  const slab = Buffer.concat([Buffer.alloc(37, 0xee), template, Buffer.alloc(50, 0xdd)]);
  const allowed = ~(OpFlag.CT | OpFlag.RD | OpFlag.ENC);
  fc.assert(
    fc.property(
      fc.record({
        major: fc.integer({ min: 1, max: 3 }),
        minor: fc.integer({ min: 0, max: 20 }),
        sMajor: fc.integer({ min: 0, max: 3 }),
        sMinor: fc.integer({ min: 0, max: 20 }),
        session: fc.nat(),
        id: fc.nat(),
        flags: fc.nat().map((f) => (f & allowed) >>> 0),
        recursion: fc.integer({ min: 0, max: 255 }),
        keep: fc.boolean(),
      }),
      (r) => {
        const req = encodePacket(
          { major: r.major, minor: r.minor, compressed: false, encrypted: false, truncated: false, suggestedMajor: r.sMajor, suggestedMinor: r.sMinor, sessionId: r.session, requestId: r.id, sequence: 0 },
          { opCode: 1, responseCode: 0, opFlags: r.flags, siteSerial: 0xffff, recursionCount: r.recursion, expiration: 5 },
          encodeResolutionRequest('88.118.8/X'),
        );
        const full = responder.reply(decodePacket(req), 1, body, r.keep ? { setFlags: OpFlag.KC } : {});
        assert.deepEqual(responder.patched(req, template, r.keep), full);
        // From inside a larger buffer, as the hot cache keeps templates in its slabs.
        assert.deepEqual(responder.patchedFrom(req, slab, 37, template.length, r.keep), full);
      },
    ),
    { numRuns: 500 },
  );
});
