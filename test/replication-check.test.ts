// `idres check` (docs/replication.md, Checking a mirror) against real nodes on loopback: a mirror that has
// converged is identical to its primary (exit 0), also while the primary keeps writing during the check;
// rows changed, removed and added in the mirror's file behind its back are found (exit 1) in their ranges
// and, with --list, by name; --against-dir compares two registries and a backup file; bad input is a clear
// message and exit 2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { IdresNode } from '../src/node/node.js';
import { handleKey } from '../src/model/handle.js';
import { makeValue } from '../src/model/value.js';
import { describeRange, rangeOfKey } from '../src/store/registry-digest.js';
import { cli } from './helpers/node.js';
import { converged } from './helpers/mirror.js';
import { Nodes } from './helpers/tiers.js';

const PREFIX = '88.118.8';
const MIRROR = `301:0.NA/${PREFIX}`;


const rangeText = (handle: string) => describeRange(rangeOfKey(handleKey(handle, true), 64), 64);

describe('idres check', () => {
  const nodes = new Nodes();
  let primary: IdresNode, mirror: IdresNode;
  const dir = (name: string) => path.join(nodes.root, name);

  before(async () => {
    primary = await nodes.start('primary', { prefixes: [PREFIX] });
    primary.registry!.db.transaction(() => {
      for (let i = 0; i < 500; i++) primary.registry!.createInTxn(`${PREFIX}/SEED-${i}`, [makeValue(1, 'URL', `https://example.cn/seed/${i}`)], false, 1700000000);
    })();
    mirror = await nodes.start('mirror', { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: `127.0.0.1:${primary.port}`, primaryKey: primary.site.servers[0]!.publicKey, identity: MIRROR } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });
    const r = await cli(['mirror', 'allow', '--dir', dir('primary'), '--site', `127.0.0.1:${mirror.port}`, '--identity', MIRROR]);
    assert.equal(r.code, 0, r.stderr);
    await converged(primary, mirror);
  });
  after(async () => {
    await nodes.stopAll();
  });

  test('a converged mirror is identical to its primary: exit 0, one line; --json says the same', async () => {
    const r = await cli(['check', '--dir', dir('mirror')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const last = primary.registry!.lastTxnId();
    const handles = primary.registry!.count();
    assert.equal(r.stdout.trim(), `mirror at txn ${last} of primary ${last}; ${handles} handles in ${r.stdout.match(/in (\d+) ranges/)![1]} ranges: identical`);
    assert.ok(Number(r.stdout.match(/in (\d+) ranges/)![1]) > 64, 'the prefix handles, 64 buckets of the prefix and the homed prefixes');
    const j = await cli(['check', '--dir', dir('mirror'), '--json']);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as { identical: boolean; mirror: { handles: number; txn: number }; primary: { handles: number; txn: number }; differences: unknown[] };
    assert.equal(doc.identical, true);
    assert.deepEqual(doc.mirror, { handles, txn: last });
    assert.deepEqual(doc.primary, { handles, txn: last });
    assert.deepEqual(doc.differences, []);
  });

  test('while the primary keeps writing, the check waits for the mirror and looks again: identical once it has caught up', async () => {
    // Writes for at most a second (150 at most), while the check runs: it must outlast them.
    let written = 0;
    const deadline = Date.now() + 1000;
    const writer = (async () => {
      for (; written < 150 && Date.now() < deadline; written++) {
        primary.registry!.create(`${PREFIX}/LIVE-${written}`, [makeValue(1, 'URL', `https://example.cn/live/${written}`)]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await cli(['check', '--dir', dir('mirror'), '--retries', '100', '--wait', '10']);
    await writer;
    assert.ok(written > 0);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: identical$/m);
    assert.equal(primary.registry!.exists(`${PREFIX}/LIVE-${written - 1}`), true);
  });

  test('rows changed, removed and added in the mirror\'s file behind its back are found in their ranges and, with --list, by name', async () => {
    await converged(primary, mirror);
    await nodes.stop(mirror);
    const db = new Database(path.join(dir('mirror'), 'registry.db'));
    const changed = `${PREFIX}/SEED-7`;
    const removed = `${PREFIX}/SEED-8`;
    const added = `${PREFIX}/EXTRA-1`;
    const row = db.prepare<[string], { vals: Buffer }>('SELECT vals FROM handles WHERE handle_key = ?').get(handleKey(changed, true))!;
    const vals = Buffer.from(row.vals);
    vals[vals.length - 12] ^= 0x20; // one byte of the URL's text
    db.prepare('UPDATE handles SET vals = ? WHERE handle_key = ?').run(vals, handleKey(changed, true));
    db.prepare('DELETE FROM handles WHERE handle_key = ?').run(handleKey(removed, true));
    db.prepare('INSERT INTO handles (handle_key, handle, created, updated, vals) VALUES (?, ?, 0, 0, ?)').run(handleKey(added, true), added, row.vals);
    db.close();

    const r = await cli(['check', '--dir', dir('mirror'), '--wait', '0', '--retries', '0']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const h of [changed, removed, added]) assert.match(r.stdout, new RegExp(`^  ${rangeText(h).replace(/\./g, '\\.')}: mirror \\d+, primary \\d+$`, 'm'));
    const ranges = new Set([changed, removed, added].map(rangeText));
    assert.match(r.stdout, new RegExp(`: ${ranges.size} ranges? differ$`, 'm'));
    assert.doesNotMatch(r.stdout, /in flight/, 'the primary was idle and the mirror at its position: the differences are real');

    const l = await cli(['check', '--dir', dir('mirror'), '--wait', '0', '--retries', '0', '--list']);
    assert.equal(l.code, 1, l.stderr);
    assert.match(l.stdout, new RegExp(`^  ${changed}  values differ$`, 'm'));
    assert.match(l.stdout, new RegExp(`^  ${removed}  only on the primary$`, 'm'));
    assert.match(l.stdout, new RegExp(`^  ${added}  only on the mirror$`, 'm'));

    const j = await cli(['check', '--dir', dir('mirror'), '--wait', '0', '--retries', '0', '--list', '--json']);
    assert.equal(j.code, 1, j.stderr);
    const doc = JSON.parse(j.stdout) as { identical: boolean; handlesDiffering: number; handles: Array<{ handle: string; difference: string }>; differences: Array<{ prefix: string; mirror: number; primary: number }> };
    assert.equal(doc.identical, false);
    assert.equal(doc.handlesDiffering, 3);
    assert.deepEqual(doc.handles.map((h) => h.handle).sort(), [added, changed, removed].sort());
    assert.equal(doc.differences.reduce((n, d) => n + d.mirror - d.primary, 0), 0, 'one removed and one added: the counts balance');

    // A write on the primary that the stopped mirror never pulls: after one second of standing still the
    // check says the mirror is not pulling, and lists the handle as the primary's alone.
    primary.registry!.create(`${PREFIX}/LATE`, [makeValue(1, 'URL', 'https://example.cn/late')]);
    const s = await cli(['check', '--dir', dir('mirror'), '--wait', '1', '--list']);
    assert.equal(s.code, 1, s.stdout + s.stderr);
    assert.match(s.stdout, /^note: the mirror stayed at txn \d+ for 1 s while the primary is at \d+: it is not pulling/m);
    assert.match(s.stdout, new RegExp(`^  ${PREFIX}/LATE  only on the primary$`, 'm'));

    // The same three, comparing the two folders directly.
    const d = await cli(['check', '--dir', dir('mirror'), '--against-dir', dir('primary'), '--list']);
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stdout, new RegExp(`^  ${changed}  values differ$`, 'm'));
    assert.match(d.stdout, new RegExp(`^  ${removed}  only on the ${dir('primary').replace(/[.\\/]/g, '\\$&')}$`, 'm'));
    assert.match(d.stdout, new RegExp(`^  ${added}  only on the ${dir('mirror').replace(/[.\\/]/g, '\\$&')}$`, 'm'));
  });

  test('--against-dir: a node and its backup file are identical', async () => {
    const file = path.join(nodes.root, 'primary.backup.db');
    const b = await cli(['backup', '--dir', dir('primary'), '--out', file]);
    assert.equal(b.code, 0, b.stderr);
    const r = await cli(['check', '--dir', dir('primary'), '--against-dir', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: identical$/m);
  });

  test('bad input: no such folder, a primary without --primary, a primary that does not answer, a bad bucket count: a message and exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['check', '--dir', dir('nowhere')], /nowhere does not exist/],
      [['check', '--dir', dir('primary')], /is not a mirror: name its primary with --primary/],
      [['check', '--dir', dir('mirror'), '--against-dir', dir('nowhere')], /nowhere does not exist/],
      [['check', '--dir', dir('mirror'), '--buckets', '0'], /--buckets must be a whole number from 1/],
      [['check', '--dir', dir('mirror'), '--against-dir', path.join(dir('primary'), 'idres.json')], /cannot read a registry: file is not a database/],
      [['check', '--dir', dir('mirror'), '--against-dir', dir('primary'), '--primary', '127.0.0.1:1'], /leave out --primary/],
      [['check', '--dir', dir('mirror'), '--primary', '127.0.0.1:1'], /127\.0\.0\.1:1/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('the primary stopped: the mirror\'s check says it cannot reach it, exit 2', async () => {
    await nodes.stop(primary);
    const r = await cli(['check', '--dir', dir('mirror')]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /^idres: .*127\.0\.0\.1:\d+.*(ECONNREFUSED|connect)/m);
  });
});
