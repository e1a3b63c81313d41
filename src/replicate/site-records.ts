import { type SiteInfo, siteLabel } from '../model/site.js';
import type { HandleValue } from '../model/value.js';
import { SITE_LIST_TYPES, encodeSite, listedSite } from '../protocol/site.js';

// The sites of a replicated prefix as its prefix handle lists them (HS_SITE, and HS_SITE.PREFIX when it
// serves derived prefixes): which of them is this node, which are the others, and the rewrite a promotion
// makes (docs/replication.md, "Switch-over and fencing").

/** True when one of the site's servers holds this public key (HS_PUBKEY bytes). */
export function isSiteOf(site: SiteInfo, publicKey: Buffer): boolean {
  return site.servers.some((s) => s.publicKey.length > 0 && s.publicKey.equals(publicKey));
}

/** The sites of these values that are not this node's (by its key), one per distinct set of servers. */
export function otherSites(values: readonly HandleValue[], ownKey: Buffer): SiteInfo[] {
  const out = new Map<string, SiteInfo>();
  for (const v of values) {
    const s = listedSite(v);
    if (s && !isSiteOf(s, ownKey)) out.set(siteLabel(s), s);
  }
  return [...out.values()];
}

/**
 * The site values rewritten for a new primary: within each site type, this node's site (`mine`, marked primary,
 * with its new serial) moves to the lowest index of that type and the others follow in their order, each
 * marked non-primary. A resolver tries the sites in their listed order, so the new primary comes first; the
 * node's own site stays at index 1 where the handle is its own (the node refreshes index 1 when it starts).
 * When a type does not list this node at all, its site is put first there as well and the last one moves to a
 * free index. Returns only the values that change or are added.
 */
export function promotedSiteValues(values: readonly HandleValue[], mine: SiteInfo, freeIndex: () => number): HandleValue[] {
  const key = mine.servers[0]?.publicKey ?? Buffer.alloc(0);
  const out: HandleValue[] = [];
  for (const type of SITE_LIST_TYPES) {
    const listed = values.filter((v) => v.type.toUpperCase() === type && listedSite(v)).sort((a, b) => a.index - b.index);
    if (listed.length === 0) continue;
    const sites = listed.map((v) => listedSite(v)!);
    const others = sites.filter((s) => !isSiteOf(s, key)).map((s) => encodeSite({ ...s, primary: false }));
    const order = [encodeSite({ ...mine, primary: true }), ...others];
    order.forEach((data, i) => {
      const at = listed[i];
      if (at) {
        if (!at.data.equals(data)) out.push({ ...at, data });
      } else out.push({ ...listed[0]!, index: freeIndex(), data });
    });
  }
  return out;
}
