import { type SiteInfo, siteLabel } from '../model/site.js';

// Fencing (docs/replication.md, "Switch-over and fencing"). A primary asks the other sites of its prefixes
// what they are; a site that claims to be primary with a higher site serial than this node's was promoted
// after it, so this node stops taking writes (it "fences itself"). The serial is the fencing token: a
// promotion always takes one more than any serial it knew of. How a site is asked (GET_SITE_INFO over the
// wire) is the caller's: this module knows no transport.

export interface SiteClaim {
  /** "address:port" of the server that answered. */
  at: string;
  primary: boolean;
  serial: number;
}

/** A newer primary than this node: the site that claims it, and its serial. */
export interface NewerPrimary {
  site: string;
  serial: number;
}

export interface FenceCheckOptions {
  /** The node's own serial now. */
  ownSerial: () => number;
  /** The other sites to ask (those of its own prefix handles, and of the parent's, that are not its own). */
  sites: () => SiteInfo[] | Promise<SiteInfo[]>;
  /** Ask one site what it is; undefined when it does not answer (a down site proves nothing). */
  ask: (site: SiteInfo) => Promise<SiteClaim | undefined>;
}

/** Ask every other site at once; the newest primary among them with a higher serial than ours, if any. */
export async function findNewerPrimary(o: FenceCheckOptions): Promise<NewerPrimary | undefined> {
  const own = o.ownSerial();
  const unique = new Map((await o.sites()).map((s) => [siteLabel(s), s]));
  const claims = await Promise.all([...unique.values()].map((s) => o.ask(s).catch(() => undefined)));
  let best: NewerPrimary | undefined;
  for (const c of claims) {
    if (c && c.primary && c.serial > own && (!best || c.serial > best.serial)) best = { site: c.at, serial: c.serial };
  }
  return best;
}


export interface FenceWatchOptions extends FenceCheckOptions {
  intervalMs: number;
  /** Called once when a newer primary is found (it logs). */
  fence: (by: NewerPrimary) => void;
}

/** The periodic check of a running primary: every intervalMs, until it finds a newer primary or is stopped. */
export class FenceWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: FenceWatchOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One check now (also what the timer runs); true when the node fenced itself. */
  async checkNow(): Promise<boolean> {
    const newer = await findNewerPrimary(this.o).catch(() => undefined);
    if (!newer || this.stopped) return false;
    this.o.fence(newer);
    return true;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.checkNow()
        .catch(() => false)
        .then((fenced) => {
          this.running = undefined;
          if (!fenced) this.schedule();
        });
    }, this.o.intervalMs);
    this.timer.unref?.();
  }
}
