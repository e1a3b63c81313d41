// The pure model: identifiers as scanners read them, lookup keys, value filters, and configuration checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  handleKey,
  isValidPrefix,
  parseScannedIdentifier,
  prefixAncestry,
  prefixOfPrefixHandle,
  validateHandle,
  HandleSyntaxError,
} from '../src/model/handle.js';
import { ValueFilter, permissionString } from '../src/model/value.js';
import { selectServerIndex } from '../src/model/site.js';
import { ConfigError, validateConfig } from '../src/node/config.js';
import { buildValues, parseValueSpec, UsageError } from '../src/cli/values.js';
import { decodeAdmin } from '../src/protocol/admin-data.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/paths.js';

test('identifiers as a scanner reads them: bare, hdl: URIs, URLs whose path ends in the handle', () => {
  assert.equal(parseScannedIdentifier('88.118.8/ABC123'), '88.118.8/ABC123');
  assert.equal(parseScannedIdentifier('  hdl:88.118.8/ABC123 '), '88.118.8/ABC123');
  assert.equal(parseScannedIdentifier('urn:hdl:88.118.8/A/B'), '88.118.8/A/B');
  assert.equal(parseScannedIdentifier('https://hdl.handle.net/88.118.8/ABC123'), '88.118.8/ABC123');
  assert.equal(parseScannedIdentifier('http://id.example.cn/resolve/88.118.8/PUMP%2D1/lot%207?x=1#f'), '88.118.8/PUMP-1/lot 7');
  assert.equal(parseScannedIdentifier('https://x.cn/20.500.12345/abc'), '20.500.12345/abc');
  assert.throws(() => parseScannedIdentifier('https://example.com/about/us'), HandleSyntaxError);
});

test('lookup keys: the prefix always folds, the suffix only when the node folds', () => {
  assert.equal(handleKey('0.na/88.118.8', true), '0.NA/88.118.8');
  assert.equal(handleKey('88.abc.8/xYz', true), '88.ABC.8/XYZ');
  assert.equal(handleKey('88.abc.8/xYz', false), '88.ABC.8/xYz');
  assert.equal(handleKey('88.118.8/中文abc', true), '88.118.8/中文ABC', 'only ASCII letters fold; the bytes keep their length');
  assert.equal(prefixOfPrefixHandle('0.NA/88.118.8'), '88.118.8');
  assert.equal(prefixOfPrefixHandle('88.118.8/x'), undefined);
  assert.deepEqual(prefixAncestry('88.118.8'), ['88.118.8', '88.118', '88']);
});

test('handle syntax for registration', () => {
  assert.deepEqual(validateHandle('88.118.8/A/B'), { prefix: '88.118.8', suffix: 'A/B' });
  for (const bad of ['88.118.8', '/ABC', '88.118.8/', '88..8/X', '88.118.8/a\u0001b', `88.1/${'x'.repeat(2100)}`]) {
    assert.throws(() => validateHandle(bad), HandleSyntaxError, bad);
  }
  assert.ok(isValidPrefix('88.118.8') && isValidPrefix('0.NA') && !isValidPrefix('88 1') && !isValidPrefix(''));
});

test('value filters: union of indexes and types, case-insensitive, trailing dot as prefix', () => {
  const values = [
    { index: 1, type: 'URL' },
    { index: 2, type: 'EMAIL' },
    { index: 3, type: 'HS_SITE.6' },
    { index: 4, type: 'HS_SITE' },
    { index: 5, type: 'HS_SITEX' },
  ];
  const sel = (idx: number[], types: string[]) => values.filter((v) => new ValueFilter(idx, types).matches(v)).map((v) => v.index);
  assert.deepEqual(sel([], []), [1, 2, 3, 4, 5]);
  assert.deepEqual(sel([2], ['url']), [1, 2]);
  assert.deepEqual(sel([], ['HS_SITE.']), [3]);
  assert.deepEqual(sel([], ['hs_site']), [4]);
  assert.deepEqual(sel([9], ['NOPE']), []);
  assert.equal(permissionString(0x0e), 'rwr-');
  assert.equal(permissionString(0x0c), 'rw--');
});

test('server selection in a multi-server site is stable and spreads handles over the servers', () => {
  const site = { hashOption: 2, servers: [1, 2, 3].map((serverId) => ({ serverId, address: '127.0.0.1', publicKey: Buffer.alloc(0), interfaces: [] })) };
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[selectServerIndex(site, `88.118.8/P${i}`)]!++;
  assert.ok(counts.every((c) => c > 800), `spread: ${counts}`);
  assert.equal(selectServerIndex(site, '88.118.8/abc'), selectServerIndex(site, '88.118.8/ABC'), 'hashes the upper-cased handle');
  const byPrefix = { ...site, hashOption: 0 };
  assert.equal(selectServerIndex(byPrefix, '88.118.8/A'), selectServerIndex(byPrefix, '88.118.8/B'));
});

test('configuration: every problem named, defaults filled in', () => {
  const c = validateConfig({ prefixes: ['88.118.8'], listen: { port: 0 } });
  assert.equal(c.listen.host, '127.0.0.1');
  assert.equal(c.udp.maxResponseBytes, 65536);
  assert.deepEqual(c.roles, ['business']);
  assert.throws(
    () => validateConfig({ prefixes: ['88 118'], listen: { host: 'localhost', port: 70000 }, roles: ['king'], colour: 'red' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const word of ['prefixes', 'listen.host', 'listen.port', 'roles', 'unknown setting "colour"']) assert.match(err.message, new RegExp(word.replace('.', '\\.')));
      return true;
    },
  );
  assert.throws(() => validateConfig([1, 2]), ConfigError);
});

test('the example configurations in deploy/ are valid and describe the demo hierarchy', () => {
  const roles: Record<string, string[]> = {};
  const ports: number[] = [];
  for (const f of readdirSync(path.join(repoRoot, 'deploy')).filter((x) => x.endsWith('.idres.json'))) {
    const c = validateConfig(JSON.parse(readFileSync(path.join(repoRoot, 'deploy', f), 'utf8')), f);
    roles[c.roles.join('+')] = c.prefixes;
    ports.push(c.listen.port, ...(c.http.enabled ? [c.http.port] : []), ...(c.dns.enabled ? [c.dns.port] : []));
  }
  assert.deepEqual(roles, { top: ['88'], secondary: ['88.118'], business: ['88.118.8'], resolver: [], mirror: ['88'] });
  // The five run on one machine: no two of them may want the same port.
  assert.equal(new Set(ports).size, ports.length, `ports ${ports.join(', ')}`);
});

test('value specs from the command line', () => {
  assert.deepEqual(parseValueSpec('URL=https://a.cn/x?y=1'), { type: 'URL', data: Buffer.from('https://a.cn/x?y=1'), permissions: 0x0e });
  assert.equal(parseValueSpec('7:note=a=b').index, 7);
  assert.equal(parseValueSpec('note=secret', { private: true }).permissions, 0x0c);
  assert.deepEqual(parseValueSpec('BIN=00ff', { hex: true }).data, Buffer.from([0, 255]));
  assert.throws(() => parseValueSpec('nothing'), UsageError);
  assert.throws(() => parseValueSpec('X=0g', { hex: true }), UsageError);
  const vs = buildValues('88.118.8/X', [parseValueSpec('A=1'), parseValueSpec('2:B=2'), parseValueSpec('C=3')], {});
  assert.deepEqual(vs.map((v) => [v.index, v.type]), [[1, 'A'], [2, 'B'], [3, 'C'], [100, 'HS_ADMIN']]);
  assert.equal(decodeAdmin(vs[3]!.data).handle, '0.NA/88.118.8');
  assert.throws(() => buildValues('88.118.8/X', [parseValueSpec('1:A=1'), parseValueSpec('1:B=2')], {}), UsageError);
});
