import type { Logger } from 'pino';

export interface QuarantineBudgetOptions {
  /** Quarantine rows kept per site and window; past it, values are counted but not kept. */
  maxPerSite: number;
  windowMs: number;
  log: Pick<Logger, 'warn'>;
  now?: () => number;
}

interface SiteWindow {
  start: number;
  kept: number;
  /** Not kept in this window, by reason. */
  notKept: Map<string, number>;
}

/**
 * Bounds what one site can put into the quarantine: a hostile or broken gateway sending only unknown
 * points would otherwise grow the table without limit. Within a window (starting at the site's first
 * quarantined value) at most maxPerSite rows are kept; the rest are acknowledged but only counted
 * (metric by reason, and one WARN per site when its budget runs out plus one summary when the window
 * ends), so what was not kept is visible, never silently gone. Values stored as telemetry are not
 * affected: this only limits the evidence kept of what was refused.
 */
export class QuarantineBudget {
  private sites = new Map<string, SiteWindow>();
  private readonly now: () => number;

  constructor(private readonly o: QuarantineBudgetOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * How many of `reasons.length` rows of `site` (given in order, by reason) may be kept; the rest are
   * counted as not kept. Returns the count kept and the not-kept count per reason.
   */
  take(site: string, reasons: string[]): { keep: number; notKept: Map<string, number> } {
    const notKept = new Map<string, number>();
    if (!reasons.length) return { keep: 0, notKept };
    const w = this.window(site);
    const keep = Math.min(reasons.length, Math.max(0, this.o.maxPerSite - w.kept));
    w.kept += keep;
    if (keep < reasons.length) {
      const first = w.notKept.size === 0;
      for (const r of reasons.slice(keep)) {
        notKept.set(r, (notKept.get(r) ?? 0) + 1);
        w.notKept.set(r, (w.notKept.get(r) ?? 0) + 1);
      }
      if (first)
        this.o.log.warn(
          { site, maxPerSite: this.o.maxPerSite, windowSeconds: this.o.windowMs / 1000 },
          'quarantine budget of the site used up for this window: further refused values are acknowledged and counted (gridlayer_ingest_quarantine_not_kept_total), not kept',
        );
    }
    return { keep, notKept };
  }

  private window(site: string): SiteWindow {
    const now = this.now();
    let w = this.sites.get(site);
    if (w && now - w.start >= this.o.windowMs) {
      this.summarize(site, w);
      w = undefined;
    }
    if (!w) {
      w = { start: now, kept: 0, notKept: new Map() };
      this.sites.set(site, w);
    }
    return w;
  }

  private summarize(site: string, w: SiteWindow) {
    if (!w.notKept.size) return;
    const total = [...w.notKept.values()].reduce((a, b) => a + b, 0);
    this.o.log.warn(
      { site, kept: w.kept, notKept: total, reasons: Object.fromEntries(w.notKept) },
      'quarantine budget: values acknowledged but not kept in the last window',
    );
  }

  /** Logs the summary of every window with values not kept (at stop). */
  close(): void {
    for (const [site, w] of this.sites) this.summarize(site, w);
    this.sites.clear();
  }
}
