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
