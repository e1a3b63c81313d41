import { addMirrorSite } from '../admin/delegation.js';
import { prefixHandle } from '../model/handle.js';
import type { SiteInfo } from '../model/site.js';
import { makeValue } from '../model/value.js';
import { SITE_LIST_TYPES, listedSite } from '../protocol/site.js';
import { allowMirror } from '../store/replication-settings.js';
import type { Registry } from '../store/registry.js';

// The demo's disaster-recovery mirror of the top-level node (docs/replication.md), set up on the primary
// as `idres mirror allow` does it: the mirror's key becomes the HS_PUBKEY of the identity it pulls as, the
// identity may pull, and its site is listed beside the primary's in the prefix handle.

/** The index of the identity a mirror pulls as, as `idres init --role mirror` proposes it. */
export const MIRROR_INDEX = 301;

/** Let the mirror with this server key pull the primary's registry as MIRROR_INDEX:0.NA/PREFIX. */
export function allowDemoMirror(primary: Registry, prefix: string, mirrorKey: Buffer): string {
  const identity = `${MIRROR_INDEX}:${prefixHandle(prefix)}`;
  primary.upsertValues(prefixHandle(prefix), [makeValue(MIRROR_INDEX, 'HS_PUBKEY', mirrorKey)]);
  allowMirror(primary, identity);
  return identity;
}

/**
 * List the mirror's site in 0.NA/PREFIX, in place of any mirror site listed before: the demo's ports may be
 * new at each start, and a site left from the last run would send clients to a port nobody holds.
 */
export function listDemoMirror(primary: Registry, prefix: string, site: SiteInfo): void {
  const ph = prefixHandle(prefix);
  const stale = (primary.getValues(ph) ?? [])
    // A value that is not a site a client could use goes with the stale ones.
    .filter((v) => SITE_LIST_TYPES.includes(v.type.toUpperCase()) && !listedSite(v)?.primary)
    .map((v) => v.index);
  if (stale.length) primary.removeValues(ph, stale);
  addMirrorSite(primary, prefix, { ...site, attributes: [['desc', `disaster-recovery mirror of ${prefix}`]] });
}
