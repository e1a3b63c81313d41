// The admin codec and the admin layer under hostile input: arbitrary and mutated bytes into every new
// decoder (only DecodeError, or a plain "does not verify", may come out), round trips of every body, and a
// node that keeps answering admin traffic made of garbage, over real TCP, without losing what it stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../src/protocol/errors.js';
import { golden } from './helpers/paths.js';
import {
  decodeChallengeAnswer,
  decodeDhResponseData,
  decodePubkeyResponse,
  decodeSessionSetupRequest,
  decodeSessionSetupResponse,
  encodeChallengeAnswer,
  encodeSessionSetupRequest,
} from '../src/protocol/auth-bodies.js';
import { decodeHandleList, decodeHandleOnly, decodeHandleWithValues, decodeRemoveValues, encodeRemoveValues } from '../src/protocol/admin-bodies.js';
import { decodeDhPublicKey, decodePublicKey } from '../src/protocol/pubkey.js';
import { KeyFileError, decodeKeyFile } from '../src/protocol/keyfile.js';
import { verifyPubkeyAnswer, verifySeckeyAnswer } from '../src/protocol/auth-crypto.js';
import { Reader } from '../src/protocol/reader.js';
import { startTestNode } from './helpers/node.js';
import { HandleClient } from '../src/client/handle-client.js';
import { encodeRequest } from '../src/client/request.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { makeValue } from '../src/model/value.js';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

/** Run a decoder; anything but success or a DecodeError is a bug. */
function onlyDecodeErrors(decode: (b: Buffer) => unknown): (b: Buffer) => void {
  return (b) => {
    try {
      decode(b);
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof KeyFileError)) throw err;
    }
  };
}

const decoders: Array<[string, (b: Buffer) => unknown]> = [
  ['session setup request', decodeSessionSetupRequest],
  ['session setup response', (b) => decodeSessionSetupResponse(new Reader(b))],
  ['DH response data', decodeDhResponseData],
  ['challenge answer', decodeChallengeAnswer],
  ['public-key response', decodePubkeyResponse],
  ['handle with values', (b) => decodeHandleWithValues(b, 'x')],
  ['remove values', decodeRemoveValues],
  ['handle only', (b) => decodeHandleOnly(b, 'x')],
  ['handle list', (b) => decodeHandleList(new Reader(b))],
  ['DH public key', decodeDhPublicKey],
  ['public key', decodePublicKey],
  ['key file', (b) => decodeKeyFile(b, 'pass')],
];

test('arbitrary bytes into every admin decoder: a value or a DecodeError, never anything else', () => {
  for (const [name, decode] of decoders) {
    fc.assert(fc.property(bytes(600), onlyDecodeErrors(decode)), { numRuns: 400, seed: 42 });
    void name;
  }
});

test('every admin capture cut short at every offset and with single bytes flipped: only DecodeErrors', () => {
  const bodies: Array<[string, (b: Buffer) => unknown]> = [
    ['admin/hdlcreate.00.c2s', decodeSessionSetupRequest],
    ['admin/hdlcreate.06.c2s', decodeChallengeAnswer],
    ['admin/hdlcreate.02.c2s', (b) => decodeHandleWithValues(b, 'x')],
  ];
  for (const [name, decode] of bodies) {
    const whole = golden(`${name}.bin`);
    const body = whole.subarray(44, 44 + whole.readUInt32BE(40));
    for (let n = 0; n < body.length; n++) onlyDecodeErrors(decode)(body.subarray(0, n));
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const m = Buffer.from(body);
        m[at]! ^= x;
        onlyDecodeErrors(decode)(m);
      }),
      { numRuns: 300, seed: 7 },
    );
  }
});

test('round trips: session setup requests, challenge answers, removals', () => {
  fc.assert(
    fc.property(
      fc.record({ mode: fc.constantFrom(1, 4), timeoutSeconds: fc.nat(), identityHandle: fc.string({ maxLength: 40 }), identityIndex: fc.integer({ min: -1, max: 0x7fffffff }), publicKey: bytes(64) }, { noNullPrototype: true }),
      (s) => assert.deepEqual(decodeSessionSetupRequest(encodeSessionSetupRequest(s)), s),
    ),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(
      fc.record({ authType: fc.string({ maxLength: 12 }), identityHandle: fc.string({ maxLength: 40 }), identityIndex: fc.nat(), signedResponse: bytes(64) }, { noNullPrototype: true }),
      (a) => assert.deepEqual(decodeChallengeAnswer(encodeChallengeAnswer(a)), a),
    ),
    { numRuns: 200 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 30 }), fc.array(fc.nat(), { maxLength: 8 }), (h, ix) => assert.deepEqual(decodeRemoveValues(encodeRemoveValues(h, ix)), { handle: h, indexes: ix })));
});

test('garbage signed responses never verify and never throw', () => {
  const key = golden('svr1-pubkey.bin');
  fc.assert(
    fc.property(bytes(400), bytes(48), (resp, msg) => {
      assert.equal(verifyPubkeyAnswer(key, resp, msg, '0.NA/88.118.8'), false);
      assert.equal(verifySeckeyAnswer(Buffer.from('secret'), resp, msg), false);
    }),
    { numRuns: 300, seed: 3 },
  );
});

test('a node fed garbage admin bodies, answers and session setups over TCP answers each with an error code and loses nothing', async () => {
  const t = await startTestNode({ prefixes: ['88.118.8'] });
  const client = new HandleClient({ tcpTimeoutMs: 3000 });
  try {
    t.node.registry!.create('88.118.8/KEEP', [makeValue(1, 'URL', 'https://example.cn/keep')]);
    const ops = [OpCode.CREATE_HANDLE, OpCode.DELETE_HANDLE, OpCode.ADD_VALUE, OpCode.REMOVE_VALUE, OpCode.MODIFY_VALUE, OpCode.LIST_HANDLES, OpCode.RESPONSE_TO_CHALLENGE, OpCode.SESSION_SETUP, OpCode.SESSION_TERMINATE];
    const samples = fc.sample(fc.tuple(fc.constantFrom(...ops), bytes(200), fc.constantFrom(0, 1, 0x7fffffff)), { numRuns: 120, seed: 11 });
    for (const [opCode, body, sessionId] of samples) {
      const [p] = await client.tcpSend(t.server, encodeRequest({ opCode, body, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, sessionId }));
      assert.ok(p, 'an answer');
      assert.notEqual(p!.header.responseCode, ResponseCode.SUCCESS, `garbage ${opCode} succeeded`);
      assert.notEqual(p!.header.responseCode, ResponseCode.ERROR, `garbage ${opCode} was an internal error`);
    }
    assert.equal(t.node.handler.stats.internalErrors, 0);
    assert.equal(t.node.registry!.exists('88.118.8/KEEP'), true);
    assert.equal((await client.resolve(t.server, '88.118.8/KEEP')).responseCode, ResponseCode.SUCCESS);
  } finally {
    client.close();
    await t.stop();
  }
});
