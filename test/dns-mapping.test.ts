// The identifier ↔ DNS name mapping: the documented examples, the limits, refusals, and the round trip on
// random identifiers whose suffixes hold every printable ASCII character and non-ASCII text.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DnsMappingError, MAX_LABEL, identifierToName, interpretLabels, nameToIdentifier, normaliseZone, wireLength } from '../src/dns/mapping.js';

const Z = 'id.internal';

describe('the DNS mapping', () => {
  test('the examples of docs/dns.md', () => {
    assert.equal(identifierToName('88.118.8/ABC123', Z), 'abc123._.8.118.88.id.internal');
    assert.equal(identifierToName('88.118.8/PUMP-XB200-0001', 'id.example.cn.'), 'pump-xb200-0001._.8.118.88.id.example.cn');
    assert.equal(identifierToName('88.118.8/abc', Z), '_61_62_63._.8.118.88.id.internal');
    assert.equal(identifierToName('88.118.8/A.b C', Z), 'a_2e_62_20c._.8.118.88.id.internal');
    assert.equal(identifierToName('88.118.8/产品-1', Z), '_e4_ba_a7_e5_93_81-1._.8.118.88.id.internal');
    assert.equal(identifierToName('0.NA/88.118.8', Z), '88_2e118_2e8._.na.0.id.internal');
    assert.equal(identifierToName('20.500.12345/x/y', Z), '_78_2f_79._.12345.500.20.id.internal');
    assert.equal(nameToIdentifier('abc123._.8.118.88.id.internal.', [Z]), '88.118.8/ABC123');
    assert.equal(nameToIdentifier('ABC123._.8.118.88.ID.Internal', [Z]), '88.118.8/ABC123', 'names compare without regard to case');
    assert.equal(nameToIdentifier('_61_62_63._.8.118.88.id.internal', [Z]), '88.118.8/abc');
    assert.equal(nameToIdentifier('_61_62_63._.8.118.88.id.internal', ['other.zone', Z]), '88.118.8/abc');
  });

  test('a prefix comes back in its canonical (upper-case) form; a suffix exactly', () => {
    assert.equal(nameToIdentifier(identifierToName('0.na/x', Z), [Z]), '0.NA/x');
    assert.equal(nameToIdentifier(identifierToName('88.118.8/MiXeD', Z), [Z]), '88.118.8/MiXeD');
  });

  test('long suffixes are cut into labels of at most 63 octets, never inside an escape', () => {
    const name = identifierToName('88.118.8/' + 'a'.repeat(30), Z); // 30 escapes of 3 octets
    const labels = name.split('.');
    assert.deepEqual(labels.slice(0, 2).map((l) => l.length), [63, 27]);
    // Each suffix label is whole tokens: plain characters and complete escapes.
    assert.ok(labels.slice(0, 2).every((l) => l.length <= MAX_LABEL && /^(?:[a-z0-9-]|_[0-9a-f]{2})+$/.test(l)));
    assert.equal(nameToIdentifier(name, [Z]), '88.118.8/' + 'a'.repeat(30));
  });

  test('identifiers that do not fit DNS get a clear error, never a wrong name', () => {
    assert.throws(() => identifierToName('88.118.8/' + 'X'.repeat(240), Z), (e: Error) => e instanceof DnsMappingError && /DNS allows 255/.test(e.message));
    assert.throws(() => identifierToName('88.118.8/' + 'x'.repeat(80), Z), /cannot be asked over DNS/);
    assert.throws(() => identifierToName('no-slash', Z), DnsMappingError);
    assert.throws(() => identifierToName('88.118.8/', Z), /empty suffix/);
    assert.throws(() => identifierToName('88..8/x', Z), /not a valid prefix/);
    assert.throws(() => identifierToName('88/' + 'X', 'bad zone!'), /not a zone name/);
  });

  test('names that are not the canonical name of an identifier are refused with the reason', () => {
    const bad = (name: string, re: RegExp) => assert.throws(() => nameToIdentifier(name, [Z]), (e: Error) => e instanceof DnsMappingError && re.test(e.message), name);
    bad('abc._.8.118.88.other.zone', /not under the zone/);
    bad('id.internal', /apex/);
    bad('abc.8.118.88.id.internal', /no "_" label/);
    bad('_.8.118.88.id.internal', /no suffix/);
    bad('abc._.id.internal', /no prefix/);
    bad('_41bc._.8.118.88.id.internal', /canonical/); // "A" escaped where a letter would do
    bad('ab.c._.8.118.88.id.internal', /canonical/); // a needless label cut
    bad('a_zz._.8.118.88.id.internal', /two hex digits/);
    bad('a_ff._.8.118.88.id.internal', /not UTF-8/);
    bad('a*b._.8.118.88.id.internal', /never occurs/);
    bad('a\\.b._.8.118.88.id.internal', /backslash/);
  });

  test('raw labels off the wire: bytes no mapping produces are invalid, not an error', () => {
    const m = interpretLabels(['a\u00ffb', '_', '8', '118', '88', 'id', 'internal'], ['id', 'internal'], Z);
    assert.equal(m.kind, 'invalid');
    assert.equal(interpretLabels(['example', 'com'], ['id', 'internal'], Z).kind, 'outside');
    assert.equal(interpretLabels(['ID', 'INTERNAL'], ['id', 'internal'], Z).kind, 'apex');
  });

  test('zones are validated and made canonical', () => {
    assert.equal(normaliseZone('ID.Example.CN.'), 'id.example.cn');
    assert.throws(() => normaliseZone('.'), /root zone/);
    assert.throws(() => normaliseZone('a..b'), /not a zone name/);
  });

  // Prefix segments: what isValidPrefix allows (no dot, slash, whitespace or control), mostly digits.
  const segment = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 99999 }).map(String) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).filter((s) => !/[\s/.\x00-\x1f\x7f]/u.test(s)) },
  );
  const prefix = fc.array(segment, { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
  // Every printable ASCII character (space to tilde), and any Unicode text.
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
  const suffix = fc.oneof(printable, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }));
  const zone = fc.constantFrom('id.internal', 'ID.Example.CN', 'x', 'a-b_c.d');
  const asciiUpperPrefix = (id: string) => {
    const i = id.indexOf('/');
    return id.slice(0, i).replace(/[a-z]/g, (c) => c.toUpperCase()) + id.slice(i);
  };

  test('round trip: every identifier that fits has one name, and that name gives it back', () => {
    let mapped = 0;
    fc.assert(
      fc.property(prefix, suffix, zone, (p, s, z) => {
        const id = `${p}/${s}`;
        // Lone surrogates are not text (UTF-8 cannot carry them); a handle never holds one.
        fc.pre(Buffer.from(id, 'utf8').toString('utf8') === id);
        let name: string;
        try {
          name = identifierToName(id, z);
        } catch (err) {
          assert.ok(err instanceof DnsMappingError);
          // Refused only for want of room: the same shape of identifier would need more than 255 octets.
          assert.match(err.message, /DNS allows 255|at most 63/);
          return;
        }
        mapped++;
        const labels = name.split('.');
        assert.ok(wireLength(labels) <= 255);
        assert.ok(labels.every((l) => l.length >= 1 && l.length <= 63 && /^[a-z0-9_-]+$/.test(l)), name);
        assert.equal(nameToIdentifier(name, [z]), asciiUpperPrefix(id));
        assert.equal(nameToIdentifier(name.toUpperCase(), [z]), asciiUpperPrefix(id));
        // One name per identifier: the prefix's case does not matter, the suffix's does.
        assert.equal(identifierToName(asciiUpperPrefix(id).toString(), z), name);
      }),
      { numRuns: 3000 },
    );
    assert.ok(mapped > 1000, `only ${mapped} identifiers fitted`);
  });

  test('every printable ASCII character and some non-ASCII, one at a time, round trips', () => {
    const chars = [...Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)), 'é', 'ß', '中', '文', '€', '😀', '\u00a0', '\u200b'];
    for (const c of chars) {
      for (const s of [c, `A${c}`, `${c}9`, `X${c}${c}Y`]) {
        const name = identifierToName(`88.118.8/${s}`, Z);
        assert.equal(nameToIdentifier(name, [Z]), `88.118.8/${s}`, JSON.stringify(s));
      }
    }
  });
});
