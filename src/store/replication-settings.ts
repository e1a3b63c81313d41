import type { Registry } from './registry.js';

// What replication keeps in a registry's settings (docs/replication.md). A mirror's position and query date
// travel with a backup of it, so a restored mirror resumes where the backup was taken.

/** On a mirror: the primary's transaction id it has applied up to. */
export const POSITION_SETTING = 'replication.primary_txn';
/** On a mirror: the date (ms) its primary gave at the end of the last pull, sent back as lastQueryDate. */
export const QUERY_DATE_SETTING = 'replication.query_date';
/** On a primary: identities `idres mirror allow` let pull, besides replication.admins (a JSON list). */
export const ALLOWED_MIRRORS_SETTING = 'replication.allowed';

/** The identities ("INDEX:HANDLE") `idres mirror allow` recorded. */
export function allowedMirrors(registry: Registry): string[] {
  try {
    const v = JSON.parse(registry.getSetting(ALLOWED_MIRRORS_SETTING) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Record one more identity that may pull (kept once). */
export function allowMirror(registry: Registry, identity: string): void {
  const allowed = allowedMirrors(registry);
  if (!allowed.includes(identity)) registry.setSetting(ALLOWED_MIRRORS_SETTING, JSON.stringify([...allowed, identity]));
}

// Switch-over and fencing (docs/replication.md, "Switch-over and fencing"). The site serial is the fencing
// token: a node that learns of a primary site with a higher serial than its own stops taking writes, and
// remembers it across restarts. The settings live in the registry (not the configuration file) so that a
// command run beside a running node (`idres mirror promote`, `demote`) reaches it within a second.

/** The node's site serial once a promotion changed it (absent: config.site.serial). */
export const SERIAL_SETTING = 'replication.serial';
/** A primary that learnt of a newer primary: JSON {site, serial, at}. Writes are refused while it is set. */
export const FENCED_SETTING = 'replication.fenced_by';
/** A mirror promoted to primary: JSON {serial, fromTxn, oldPrimary, at} (fromTxn: the old primary's last id applied). */
export const PROMOTED_SETTING = 'replication.promoted';
/** Written by a running node once it has switched in place to a promotion: JSON {serial, site (hex)}. */
export const SWITCHED_SETTING = 'replication.switched';

/** A running node's word that it switched in place: the serial it switched to and its own site record. */
export interface Switched {
  serial: number;
  /** The node's own site as it serves it (encoded HS_SITE, hex): its real address and port. */
  site: string;
}

export function switched(registry: Registry): Switched | undefined {
  return readJson<Switched>(registry, SWITCHED_SETTING, (v) => typeof v.serial === 'number' && typeof v.site === 'string');
}

export function recordSwitched(registry: Registry, s: Switched | null): void {
  registry.setSetting(SWITCHED_SETTING, JSON.stringify(s));
}

export interface Fence {
  /** The site ("address:port") that claims primary with a higher serial. */
  site: string;
  serial: number;
  /** When (ms) this node fenced itself. */
  at: number;
}

export interface Promotion {
  serial: number;
  /** The old primary's transaction id this node had applied when it was promoted. */
  fromTxn: number;
  oldPrimary: string;
  at: number;
}

function readJson<T>(registry: Registry, name: string, ok: (v: Record<string, unknown>) => boolean): T | undefined {
  try {
    const v = JSON.parse(registry.getSetting(name) ?? 'null') as unknown;
    return v && typeof v === 'object' && ok(v as Record<string, unknown>) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The node's current site serial. */
export function siteSerial(registry: Registry, configured: number): number {
  const n = Number(registry.getSetting(SERIAL_SETTING));
  return Number.isInteger(n) && n > 0 && n <= 0xffff ? n : configured;
}

export function fencedBy(registry: Registry): Fence | undefined {
  return readJson<Fence>(registry, FENCED_SETTING, (v) => typeof v.site === 'string' && typeof v.serial === 'number');
}

export function recordFence(registry: Registry, f: Fence): void {
  registry.setSetting(FENCED_SETTING, JSON.stringify(f));
}

export function promotion(registry: Registry): Promotion | undefined {
  return readJson<Promotion>(registry, PROMOTED_SETTING, (v) => typeof v.serial === 'number' && typeof v.fromTxn === 'number');
}

/** Record a promotion: the new serial, and no fence of an earlier life (one transaction). */
export function recordPromotion(registry: Registry, p: Promotion): void {
  registry.db.transaction(() => {
    registry.setSetting(SERIAL_SETTING, String(p.serial));
    registry.setSetting(PROMOTED_SETTING, JSON.stringify(p));
    clearFence(registry);
  })();
}

/** No fence (the setting is kept, as JSON null: settings are never deleted). */
export function clearFence(registry: Registry): void {
  registry.setSetting(FENCED_SETTING, 'null');
}

/** On a mirror: the primary's transaction id applied so far (0: nothing yet, a first copy is due). */
export function mirrorPosition(registry: Registry): number {
  return Number(registry.getSetting(POSITION_SETTING) ?? 0);
}

/** On a mirror: the date its primary said to ask from next time. */
export function mirrorQueryDate(registry: Registry): number {
  return Number(registry.getSetting(QUERY_DATE_SETTING) ?? 0);
}

/** Record a mirror's position and query date (inside the caller's transaction, with what they complete). */
export function setMirrorPosition(registry: Registry, position: number, queryDate: number): void {
  registry.setSetting(POSITION_SETTING, String(position));
  registry.setSetting(QUERY_DATE_SETTING, String(queryDate));
}

/** A demoted node follows a new primary from scratch: its position is that of a new mirror (it re-copies). */
export function resetPosition(registry: Registry): void {
  registry.db.transaction(() => setMirrorPosition(registry, 0, 0))();
}

/**
 * On a mirror: the public key (hex) of the primary its position was taken from. A mirror started with another
 * primary's key (after `idres mirror follow` or `demote`) resets its position and copies the new one whole:
 * another primary's transaction ids mean nothing to it, whatever a loop still running wrote meanwhile.
 */
export const FOLLOWING_SETTING = 'replication.following';

/** Record whose log the position follows; true when it was another primary's (the position was reset). */
export function followPrimary(registry: Registry, primaryKeyHex: string): boolean {
  const before = registry.getSetting(FOLLOWING_SETTING);
  if (before === primaryKeyHex) return false;
  registry.db.transaction(() => {
    if (before !== undefined) resetPosition(registry);
    registry.setSetting(FOLLOWING_SETTING, primaryKeyHex);
  })();
  return before !== undefined;
}
