// idres backup and idres restore (docs/operations.md, Backup and restore), through the real command against
// real nodes on loopback: a backup taken while the node serves and takes writes is one consistent state; a
// restore brings it back into a stopped node's folder, keeping the registry it replaces; damaged, foreign
// and newer-schema files are refused with the folder left byte for byte as it was; a mirror's replication
// position travels with the backup.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { IdresNode } from '../src/node/node.js';
import { Registry } from '../src/store/registry.js';
import { backupRegistry } from '../src/store/backup.js';
import { POSITION_SETTING } from '../src/store/replication-settings.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { makeValue } from '../src/model/value.js';
import { HandleClient } from '../src/client/handle-client.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { cli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { JSON_HEADERS, USER, USER_SECRET, addIdentities, baseOf, basic, call } from './helpers/http.js';

/** Handles written before the backups: enough pages that the copy takes several steps. */
const PREFILLED = 20000;
const WRITES = 300;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The `key: value` lines of backup and restore, as a map. */
function facts(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

function prefill(t: TestNode, n: number): void {
  const r = t.node.registry!;
  const now = Math.floor(Date.now() / 1000);
  r.db.transaction(() => {
    for (let i = 0; i < n; i++) r.createInTxn(`88.118.8/PRE-${i}`, [makeValue(1, 'URL', `https://example.com/pre/${i}`)], false, now);
  })();
  t.node.noticeWrites();
}

describe('idres backup', () => {
  let t: TestNode;
  let work: string;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 5000 });

  before(async () => {
    t = await startTestNode();
    addIdentities(t.node);
    prefill(t, PREFILLED);
    work = tempDir('idres-backup-');
  });
  after(async () => {
    await t.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test(`a backup taken while ${WRITES} writes arrive over HTTP is one consistent state: every handle reads back, the count is its handles', its log ends at the id it reports`, async () => {
    const base = baseOf(t.node);
    const auth = basic(`300:${USER}`, USER_SECRET);
    const before = t.node.registry!.lastTxnId();
    let written = 0;
    let writtenWhenBackupEnded = -1;
    const writes = (async () => {
      for (let i = 0; i < WRITES; i++) {
        const r = await call(base, 'PUT', `/api/handles/88.118.8/LIVE-${i}`, {
          headers: { ...JSON_HEADERS, ...auth },
          body: JSON.stringify({ values: [{ index: 1, type: 'URL', data: { format: 'string', value: `https://example.com/live/${i}` } }] }),
        });
        assert.equal(r.status, 201, r.text);
        written++;
      }
    })();
    const out = path.join(work, 'live.db');
    const r = await cli(['backup', '--dir', t.dir, '--out', out]);
    writtenWhenBackupEnded = written;
    await writes;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(`${out}.partial`), 'no partial file is left');
    const shown = facts(r.stdout);
    assert.equal(shown.get('backup'), path.resolve(out));
    assert.equal(shown.get('schema version'), String(SCHEMA_VERSION));

    const copy = new Registry(out, { readonly: true });
    try {
      const last = copy.lastTxnId();
      assert.equal(shown.get('last txn'), String(last));
      assert.equal(shown.get('handles'), String(copy.count()));
      assert.ok(last >= before && last <= t.node.registry!.lastTxnId(), `the copy's log ends (${last}) between the first write and the last`);
      // The kept count is the number of rows, and every row decodes.
      const rows = copy.db.prepare<[], { handle: string }>('SELECT handle FROM handles').all();
      assert.equal(copy.count(), rows.length);
      for (const { handle } of rows) assert.ok(copy.getValues(handle), `${handle} reads back`);
      // Exactly the writes the copy's log records are in it: no later one, none of them missing.
      const logged = copy.db.prepare<[], { txn_id: number; handle: string }>("SELECT txn_id, handle FROM txn_log WHERE handle LIKE '88.118.8/LIVE-%'").all();
      for (const e of logged) assert.ok(e.txn_id <= last);
      const live = rows.filter((h) => h.handle.startsWith('88.118.8/LIVE-')).map((h) => h.handle).sort();
      assert.deepEqual(live, logged.map((e) => e.handle).sort());
      assert.equal(rows.length, t.node.registry!.count() - (WRITES - live.length));
      for (let i = 0; i < PREFILLED; i += 997) assert.ok(copy.get(`88.118.8/PRE-${i}`));
    } finally {
      copy.close();
    }
    // Writes were being made while the command ran (how many before it ended is the machine's), and the node
    // served throughout.
    assert.ok(writtenWhenBackupEnded > 0, 'writes overlapped the backup');
    const a = await client.resolve(t.server, `88.118.8/LIVE-${WRITES - 1}`);
    assert.equal(a.responseCode, ResponseCode.SUCCESS);
  });

  test('a write by another connection between two steps of the copy makes SQLite start again; the rest goes in one step and the copy has the write', async () => {
    const reader = new Registry(path.join(t.dir, 'registry.db'));
    const out = path.join(work, 'restarted.db');
    const seen: Array<{ remainingPages: number; restarted: boolean }> = [];
    let writtenAt = -1;
    try {
      const summary = await backupRegistry(reader, out, {
        pagesPerStep: 16,
        progress: (p) => {
          seen.push(p);
          // After the copy has begun, the node's own connection writes.
          if (writtenAt < 0 && p.remainingPages < p.totalPages) {
            t.node.registry!.create('88.118.8/DURING-COPY', [makeValue(1, 'URL', 'https://example.com/during')]);
            writtenAt = seen.length;
          }
        },
      });
      assert.ok(writtenAt > 0);
      const restart = seen.findIndex((p) => p.restarted);
      assert.equal(restart, writtenAt, 'the step after the write started again');
      assert.equal(seen.length, restart + 1, 'and the rest was copied in one step');
      assert.equal(summary.lastTxnId, t.node.registry!.lastTxnId());
      assert.equal(summary.handles, t.node.registry!.count());
    } finally {
      reader.close();
    }
    const copy = new Registry(out, { readonly: true });
    try {
      assert.ok(copy.get('88.118.8/DURING-COPY'));
      assert.equal(copy.db.pragma('journal_mode', { simple: true }), 'delete');
    } finally {
      copy.close();
    }
    assert.ok(!existsSync(`${out}-wal`) && !existsSync(`${out}.partial`));
  });

  test('an existing file is refused without --force, left as it was; --force replaces it; --json says the same facts', async () => {
    const out = path.join(work, 'exists.db');
    writeFileSync(out, 'keep me');
    const r = await cli(['backup', '--dir', t.dir, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists; use --force to replace it/);
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
    assert.ok(!existsSync(`${out}.partial`));

    const forced = await cli(['backup', '--dir', t.dir, '--out', out, '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    const doc = JSON.parse(forced.stdout);
    assert.equal(doc.backup, path.resolve(out));
    assert.equal(doc.schemaVersion, SCHEMA_VERSION);
    assert.equal(doc.primaryTxn, null);
    assert.deepEqual(doc.homedPrefixes, ['88.118.8']);
    const copy = new Registry(out, { readonly: true });
    try {
      assert.equal(doc.handles, copy.count());
      assert.equal(doc.lastTxnId, copy.lastTxnId());
    } finally {
      copy.close();
    }
  });

  test('restore refuses while the node serves from the folder, and changes nothing', async () => {
    const from = path.join(work, 'live.db');
    const live = path.join(t.dir, 'registry.db');
    const r = await cli(['restore', '--dir', t.dir, '--from', from, '--force']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is open in another process \(a node serving from this folder\?\); stop it before restoring/);
    assert.deepEqual(readdirSync(t.dir).filter((f) => f.startsWith('registry.db')).sort(), ['registry.db', 'registry.db-shm', 'registry.db-wal']);
    assert.ok(existsSync(live));
  });
});

describe('idres restore', () => {
  let dir: string;
  let work: string;
  let backup: string;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 5000 });

  before(async () => {
    const t = await startTestNode();
    dir = t.dir;
    work = tempDir('idres-restore-');
    const r = t.node.registry!;
    for (let i = 0; i < 50; i++) r.create(`88.118.8/KEPT-${i}`, [makeValue(1, 'URL', `https://example.com/kept/${i}`)]);
    r.setSetting(POSITION_SETTING, '4711');
    backup = path.join(work, 'node.backup');
    const b = await cli(['backup', '--dir', dir, '--out', backup]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(facts(b.stdout).get(POSITION_SETTING), '4711');
    // Written after the backup: the restore takes it away.
    r.create('88.118.8/AFTER', [makeValue(1, 'URL', 'https://example.com/after')]);
    r.setSetting(POSITION_SETTING, '5000');
    await t.node.stop();
  });
  after(() => {
    rmSync(path.dirname(dir), { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  /** Restore `file` and check it was refused with `message`, the registry's bytes as they were. */
  async function refused(file: string, message: RegExp): Promise<void> {
    const live = path.join(dir, 'registry.db');
    const hash = sha256(live);
    const files = readdirSync(dir).sort();
    const r = await cli(['restore', '--dir', dir, '--from', file, '--force']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
    assert.equal(sha256(live), hash, 'the registry is unchanged');
    assert.deepEqual(readdirSync(dir).sort(), files, 'nothing added to the folder, nothing removed');
  }

  test('refuses a file that is not a database, a truncated backup, a newer schema, a database that is no registry', async () => {
    const garbage = path.join(work, 'garbage.db');
    writeFileSync(garbage, Buffer.from('this is not a registry at all, only some text that is long enough\n'.repeat(100)));
    await refused(garbage, /garbage\.db is not an SQLite database/);

    const truncated = path.join(work, 'truncated.db');
    copyFileSync(backup, truncated);
    truncateSync(truncated, Math.floor(statSync(backup).size / 2));
    await refused(truncated, /truncated\.db (is damaged \(integrity_check|cannot be read as a registry)/);

    const newer = path.join(work, 'newer.db');
    copyFileSync(backup, newer);
    const db = new Database(newer);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await refused(newer, new RegExp(`newer\\.db has schema version ${SCHEMA_VERSION + 1}, newer than this idres understands \\(${SCHEMA_VERSION}\\)`));

    const foreign = path.join(work, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE t (x)');
    f.pragma('user_version = 2');
    f.close();
    await refused(foreign, /foreign\.db is not an idres registry: it has no table settings, handles, homed_prefixes, txn_log/);

    await refused(path.join(work, 'missing.db'), /cannot read .*missing\.db: ENOENT/);
  });

  test('without --force an existing registry is not replaced', async () => {
    const hash = sha256(path.join(dir, 'registry.db'));
    const r = await cli(['restore', '--dir', dir, '--from', backup]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /registry\.db exists; use --force to replace it/);
    assert.equal(sha256(path.join(dir, 'registry.db')), hash);
  });

  test('restores into the stopped node: what the backup held resolves over UDP, the later write is gone, the old registry is kept whole, the replication position is back', async () => {
    const liveBefore = new Registry(path.join(dir, 'registry.db'), { readonly: true });
    const countBefore = liveBefore.count();
    liveBefore.close();
    const r = await cli(['restore', '--dir', dir, '--from', backup, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const shown = facts(r.stdout);
    assert.equal(shown.get(POSITION_SETTING), '4711');
    const kept = /^kept as (.+)$/.exec(shown.get('previous registry') ?? '')?.[1];
    assert.ok(kept, r.stdout);
    assert.match(path.basename(kept), /^registry\.db\.before-restore-\d{8}T\d{6}Z$/);
    // The replaced registry is a whole file: its last write is in it without a WAL beside it.
    assert.ok(!existsSync(`${kept}-wal`));
    assert.ok(!existsSync(path.join(dir, 'registry.db-wal')) && !existsSync(path.join(dir, 'registry.db.restoring')));
    const old = new Registry(kept, { readonly: true });
    try {
      assert.ok(old.get('88.118.8/AFTER'));
      assert.equal(old.count(), countBefore);
      assert.equal(old.getSetting(POSITION_SETTING), '5000');
    } finally {
      old.close();
    }

    const node = await IdresNode.start(dir, { log: () => undefined });
    try {
      const server = { host: '127.0.0.1', port: node.port };
      for (const i of [0, 17, 49]) {
        const a = await client.resolve(server, `88.118.8/KEPT-${i}`);
        assert.equal(a.responseCode, ResponseCode.SUCCESS);
        assert.equal(a.values.find((v) => v.index === 1)?.data.toString(), `https://example.com/kept/${i}`);
      }
      const gone = await client.resolve(server, '88.118.8/AFTER');
      assert.equal(gone.responseCode, ResponseCode.HANDLE_NOT_FOUND);
      assert.equal(node.registry!.getSetting(POSITION_SETTING), '4711');
      assert.equal(String(node.registry!.count()), shown.get('handles'));
    } finally {
      await node.stop();
    }
  });

  test('a config listing other prefixes than the backup homes restores with a warning; --json reports the position as a number', async () => {
    const configFile = path.join(dir, 'idres.json');
    const c = JSON.parse(readFileSync(configFile, 'utf8'));
    c.prefixes = ['88.118.9'];
    writeFileSync(configFile, JSON.stringify(c));
    const r = await cli(['restore', '--dir', dir, '--from', backup, '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^idres: warning: the backup homes 88\.118\.8; this node's configuration lists 88\.118\.9; the node will also home 88\.118\.9 when it starts; 88\.118\.8 stays homed from the backup\n$/);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.primaryTxn, 4711);
    assert.equal(doc.restored, path.join(dir, 'registry.db'));
    assert.match(doc.keptAs, /registry\.db\.before-restore-/);
    assert.equal(doc.warnings.length, 1);
  });
});
