import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { HandleClient, ServerAddress } from '../../src/client/handle-client.js';
import { POSITION_SETTING } from '../../src/store/replication-settings.js';
import { cli } from './node.js';

// Is a mirror an exact copy of its primary? Three independent looks: the registries themselves (SQLite files
// opened read-only, safe while the nodes run in WAL mode) row by row, what each node answers for every
// handle over the wire, and `idres check` (the operator's digest comparison, pulling a dump from the
// primary as the mirror). assertReplicasMatch is the one call the replication tests make.

/** What a registry holds that a mirror must hold the same: rows (as stored), homed prefixes, its counts. */
export interface RegistrySnapshot {
  /** handle_key → the handle as registered and its value blob (base64). Timestamps of the row itself are left out: a mirror writes its own. */
  rows: Map<string, string>;
  /** Homed prefixes, normalised, sorted. */
  homed: string[];
  /** The handle count the registry keeps in `counters` (it must equal the rows). */
  counted: number;
  /** The newest entry of its transaction log. */
  lastTxnId: number;
  /** On a mirror: the primary's transaction id it has applied up to (0 on a primary or before a first copy). */
  position: number;
}

export const registryFile = (dir: string) => path.join(dir, 'registry.db');

/** Read a node folder's registry in one read transaction (a consistent snapshot even while the node writes). */
export function readRegistry(dir: string): RegistrySnapshot {
  const db = new Database(registryFile(dir), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.transaction(() => {
      const rows = new Map<string, string>();
      for (const r of db.prepare('SELECT handle_key, handle, vals FROM handles').iterate() as Iterable<{ handle_key: string; handle: string; vals: Buffer }>) {
        rows.set(r.handle_key, `${r.handle} ${r.vals.toString('base64')}`);
      }
      const homed = (db.prepare('SELECT prefix FROM homed_prefixes ORDER BY prefix').all() as Array<{ prefix: string }>).map((r) => r.prefix);
      const counted = (db.prepare("SELECT n FROM counters WHERE name = 'handles'").get() as { n: number } | undefined)?.n ?? 0;
      const lastTxnId = (db.prepare('SELECT max(txn_id) AS id FROM txn_log').get() as { id: number | null }).id ?? 0;
      const position = Number((db.prepare('SELECT value FROM settings WHERE name = ?').get(POSITION_SETTING) as { value: string } | undefined)?.value ?? 0);
      return { rows, homed, counted, lastTxnId, position };
    })();
  } finally {
    db.close();
  }
}

/** A mirror's position as its registry has it committed (0 before its first copy). */
export function positionOf(dir: string): number {
  const db = new Database(registryFile(dir), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return Number((db.prepare('SELECT value FROM settings WHERE name = ?').get(POSITION_SETTING) as { value: string } | undefined)?.value ?? 0);
  } finally {
    db.close();
  }
}

/** The newest transaction id of a node folder's log. */
export function lastTxnIdOf(dir: string): number {
  const db = new Database(registryFile(dir), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return (db.prepare('SELECT max(txn_id) AS id FROM txn_log').get() as { id: number | null }).id ?? 0;
  } finally {
    db.close();
  }
}

/** How `copy` differs from `original` (at most `max` lines); empty when it is an exact copy. */
export function registryDifferences(original: RegistrySnapshot, copy: RegistrySnapshot, max = 10): string[] {
  const out: string[] = [];
  const add = (s: string) => out.length < max && out.push(s);
  for (const [key, row] of original.rows) {
    const other = copy.rows.get(key);
    if (other === undefined) add(`${key} is missing`);
    else if (other !== row) add(`${key} differs: ${other.slice(0, 120)} instead of ${row.slice(0, 120)}`);
  }
  for (const key of copy.rows.keys()) if (!original.rows.has(key)) add(`${key} is there but not in the original`);
  if (copy.homed.join() !== original.homed.join()) add(`homed prefixes ${copy.homed.join(', ')} instead of ${original.homed.join(', ')}`);
  if (copy.counted !== copy.rows.size) add(`the copy counts ${copy.counted} handles and holds ${copy.rows.size}`);
  if (original.counted !== original.rows.size) add(`the original counts ${original.counted} handles and holds ${original.rows.size}`);
  return out;
}

/** What a node answers for a handle, as text: the response code and every value it serves. */
export type Served = Map<string, string>;

/** Resolve every handle of `handles` at `server` (UDP, TCP when truncated), `concurrency` at a time. */
export async function readEveryHandle(client: HandleClient, server: ServerAddress, handles: readonly string[], concurrency = 64): Promise<Served> {
  const out: Served = new Map();
  let next = 0;
  const worker = async () => {
    while (next < handles.length) {
      const h = handles[next++]!;
      const r = await client.resolve(server, h);
      out.set(h, `${r.responseCode} ${r.values.map((v) => `${v.index}:${v.type}:${v.data.toString('hex')}:${v.ttlType}/${v.ttl}:${v.timestamp}:${v.permissions}`).join(' ')}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, handles.length) }, worker));
  return out;
}

/** A node to compare: its folder (for its registry) and where it answers. */
export interface Replica {
  name: string;
  dir: string;
  server: ServerAddress;
}

/**
 * Assert that every mirror is an exact copy of the primary: the same rows, homed prefixes and counts in
 * their registries, and the same answer for every handle either holds, read over the wire from each node
 * (`read` narrows that to the handles it accepts, the registries are still compared whole). Call it once
 * the mirrors have caught up and no write is in flight. Returns the number of handles read over the wire.
 */
export async function assertReplicasMatch(client: HandleClient, primary: Replica, mirrors: readonly Replica[], read: (handle: string) => boolean = () => true): Promise<number> {
  const original = readRegistry(primary.dir);
  const names = new Set([...original.rows.values()].map((r) => r.slice(0, r.indexOf(' '))));
  const copies = mirrors.map((m) => ({ m, snap: readRegistry(m.dir) }));
  for (const { m, snap } of copies) {
    assert.deepEqual(registryDifferences(original, snap), [], `${m.name}'s registry is not ${primary.name}'s`);
    assert.equal(snap.position, original.lastTxnId, `${m.name} has applied up to ${primary.name}'s last transaction`);
    for (const r of snap.rows.values()) names.add(r.slice(0, r.indexOf(' ')));
  }
  for (const m of mirrors) {
    const checked = await cli(['check', '--dir', m.dir, '--json'], { timeoutMs: 120_000 });
    assert.equal(checked.code, 0, `idres check on ${m.name}: ${checked.stdout}${checked.stderr}`);
    assert.equal(JSON.parse(checked.stdout).identical, true, checked.stdout);
  }
  const handles = [...names].filter(read).sort();
  const want = await readEveryHandle(client, primary.server, handles);
  for (const m of mirrors) {
    const got = await readEveryHandle(client, m.server, handles);
    const wrong = handles.filter((h) => got.get(h) !== want.get(h));
    assert.deepEqual(wrong.slice(0, 10).map((h) => `${h}: ${got.get(h)?.slice(0, 100)} instead of ${want.get(h)?.slice(0, 100)}`), [], `${m.name} answers ${wrong.length} handles differently from ${primary.name}`);
  }
  return handles.length;
}
