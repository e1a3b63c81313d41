// Watching a mirror (docs/replication.md, docs/operations.md): a primary and a mirror on loopback. The
// mirror's /metrics shows its position, the transactions it applied and how long each took to arrive, its
// copies; the primary's shows its log and what it served. /readyz of the mirror says not ready before its
// first catch-up and once it has been behind for longer than replication.maxLagSeconds (a fake clock
// advanced while the primary is down, no waiting), and ready again once it has caught up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { IdresNode } from '../src/node/node.js';
import { mirrorReadiness } from '../src/http/health.js';
import { cli } from './helpers/node.js';
import { until as waitUntil } from './helpers/wait.js';
import { Nodes } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';

const PREFIX = '88.118.9';
const MIRROR = `301:0.NA/${PREFIX}`;
const STRANGER = `302:0.NA/${PREFIX}`;

/** Prometheus text to a map of "name{labels}" → value (+Inf as Infinity). */
async function scrape(n: IdresNode): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${n.http!.port}/metrics`);
  assert.equal(res.status, 200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(idres_replication_\S+) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, m[2] === '+Inf' ? Infinity : Number(m[2]));
  }
  return out;
}

async function readyz(n: IdresNode): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${n.http!.port}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Poll (bounded, 15 s here) until `ok` holds. */
const until = (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 15000) => waitUntil(what, ok, timeoutMs);

describe("a mirror's metrics and readiness", () => {
  const nodes = new Nodes();
  let primary: IdresNode, mirror: IdresNode;
  // The mirror's clock: real time, moved forward when the test says so.
  const testClock = new TestClock();
  const clock = testClock.now;
  const primaryDir = () => path.join(nodes.root, 'primary');
  const register = async (name: string) => {
    const r = await cli(['register', `${PREFIX}/${name}`, '--dir', primaryDir(), '--value', `URL=https://example.cn/${name}`]);
    assert.equal(r.code, 0, r.stderr);
  };
  // Everything applied, and a poll since has found nothing more (a copy just made is followed by one).
  const caughtUp = () => {
    const m = mirror.replication!.mirror!;
    return m.stats.position >= primary.registry!.lastTxnId() && !m.stats.copying && m.lagSeconds() < 5;
  };
  const startMirror = (name: string, identity: string) =>
    nodes.start(
      name,
      { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: `127.0.0.1:${primary.port}`, primaryKey: primary.site.servers[0]!.publicKey, identity } },
      (c) => {
        (c.replication as Record<string, unknown>).pollMs = 30;
        (c.replication as Record<string, unknown>).timeoutMs = 2000;
      },
      0,
      { clock },
    );

  before(async () => {
    primary = await nodes.start('primary', { prefixes: [PREFIX] });
    for (let i = 0; i < 3; i++) await register(`SEED-${i}`);
    mirror = await startMirror('mirror', MIRROR);
    const r = await cli(['mirror', 'allow', '--dir', primaryDir(), '--site', `127.0.0.1:${mirror.port}`, '--identity', MIRROR]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => nodes.stopAll());

  test('after the first copy the mirror shows the primary\'s position, no lag, one copy; the primary shows its log and what it served', async () => {
    await until('the mirror caught up', caughtUp);
    const m = await scrape(mirror);
    const last = primary.registry!.lastTxnId();
    assert.equal(m.get('idres_replication_position'), last);
    assert.equal(m.get('idres_replication_primary_txn'), last);
    assert.equal(m.get('idres_replication_lag_transactions'), 0);
    assert.equal(m.get('idres_replication_copying'), 0);
    assert.equal(m.get('idres_replication_recopies_total'), 1, 'the first copy');
    assert.ok(m.get('idres_replication_lag_seconds')! < 5, `lag ${m.get('idres_replication_lag_seconds')}`);
    assert.ok(Math.abs(m.get('idres_replication_last_pull_timestamp_seconds')! - Date.now() / 1000) < 10);
    assert.equal(m.has('idres_replication_log_last_txn'), false, 'a mirror has no log of its own to serve');
    const ready = await readyz(mirror);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.replication, true);

    const p = await scrape(primary);
    assert.equal(p.get('idres_replication_log_last_txn'), last);
    assert.ok(p.get('idres_replication_log_first_txn')! >= 1);
    assert.ok(p.get('idres_replication_served_total{kind="dump_handles"}')! >= 1);
    assert.equal(p.has('idres_replication_position'), false, 'a primary follows no one');
  });

  test('writes at the primary: the applied counter grows by their number, and each has its delay in the histogram', async () => {
    await until('the mirror caught up', caughtUp);
    const before = await scrape(mirror);
    const writes = 6;
    for (let i = 0; i < writes; i++) await register(`WRITE-${i}`);
    await until('the mirror caught up', caughtUp);
    const m = await scrape(mirror);
    assert.equal(m.get('idres_replication_position'), primary.registry!.lastTxnId());
    assert.equal(m.get('idres_replication_transactions_applied_total')! - (before.get('idres_replication_transactions_applied_total') ?? 0), writes);
    const count = m.get('idres_replication_apply_delay_seconds_count')! - (before.get('idres_replication_apply_delay_seconds_count') ?? 0);
    assert.equal(count, writes, 'one delay per transaction applied');
    // Dated to the millisecond at the primary, a delay of a poll or two is well under a second; whole
    // seconds would put many of them near one.
    const underOne = m.get('idres_replication_apply_delay_seconds_bucket{le="1"}')! - (before.get('idres_replication_apply_delay_seconds_bucket{le="1"}') ?? 0);
    assert.ok(underOne >= writes / 2, `${underOne} of ${writes} delays under 1 s`);
    assert.ok(m.get('idres_replication_pulls_total')! > (before.get('idres_replication_pulls_total') ?? 0));
    const p = await scrape(primary);
    assert.ok(p.get('idres_replication_items_sent_total{kind="transaction"}')! >= writes);
    // The primary's log dates each entry to the millisecond, within its whole second.
    const dated = primary.registry!.db.prepare('SELECT at, at_ms FROM txn_log ORDER BY txn_id DESC LIMIT ?').all(writes) as Array<{ at: number; at_ms: number | null }>;
    for (const e of dated) assert.ok(e.at_ms !== null && Math.floor(e.at_ms / 1000) === e.at, JSON.stringify(e));
  });

  test('a mirror whose place in the log was pruned counts its re-copy', async () => {
    await nodes.stop(mirror);
    await register('WHILE-AWAY-1');
    await register('WHILE-AWAY-2');
    // The primary keeps only its newest entry: the mirror's place is gone.
    assert.ok(primary.registry!.pruneTxnLog(1, 0) > 0);
    mirror = await nodes.startDir(path.join(nodes.root, 'mirror'), { clock });
    await until('the mirror caught up', caughtUp);
    const m = await scrape(mirror);
    assert.equal(m.get('idres_replication_recopies_total'), 1, 'one re-copy since the restart');
    assert.equal(m.get('idres_replication_position'), primary.registry!.lastTxnId());
    const p = await scrape(primary);
    assert.ok(p.get('idres_replication_served_total{kind="redump_asked"}')! >= 1);
  });

  test('/readyz: not ready once the mirror has been behind for longer than maxLagSeconds, ready again when it catches up', async () => {
    // Ready once a poll has found it caught up (a copy just made is followed by one such poll).
    await until('the mirror is ready', async () => (await readyz(mirror)).status === 200);
    const port = primary.port;
    await nodes.stop(primary);
    const errors = mirror.replication!.mirror!.stats.errors;
    await until('a poll failed', () => mirror.replication!.mirror!.stats.errors > errors);
    testClock.advance(45_000);
    const down = await readyz(mirror);
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'not ready');
    assert.match(String(down.body.replication), /^lag 4[5-9] s over the bound of 30 s$/);
    const m = await scrape(mirror);
    assert.ok(m.get('idres_replication_lag_seconds')! > 30);
    assert.ok(m.get('idres_replication_errors_total')! > 0);
    // The primary back on its port: the next poll finds the mirror caught up.
    primary = await nodes.startDir(primaryDir(), { port });
    await until('the mirror is ready again', async () => (await readyz(mirror)).status === 200);
    assert.equal((await readyz(mirror)).body.replication, true);
  });

  test('/readyz: a mirror that never caught up (its primary refuses it) is not ready; its lag is +Inf', async () => {
    const stranger = await startMirror('stranger', STRANGER);
    await until('a poll failed', () => stranger.replication!.mirror!.stats.errors > 0);
    const r = await readyz(stranger);
    assert.equal(r.status, 503);
    assert.equal(r.body.replication, 'not caught up with the primary yet');
    const m = await scrape(stranger);
    assert.equal(m.get('idres_replication_lag_seconds'), Infinity);
    assert.equal(m.get('idres_replication_position'), 0);
    await nodes.stop(stranger);
  });

  test('the readiness rule: copying is not ready whatever the lag', () => {
    assert.equal(mirrorReadiness({ stats: { copying: true }, lagSeconds: () => 0 }, 30), "copying the primary's registry");
    assert.equal(mirrorReadiness({ stats: { copying: false }, lagSeconds: () => 29.9 }, 30), true);
    assert.equal(mirrorReadiness({ stats: { copying: false }, lagSeconds: () => 30.5 }, 30), 'lag 30 s over the bound of 30 s');
  });
});
