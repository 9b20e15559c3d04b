/**
 * Drops QoS-1 redeliveries of telemetry batches. The key is seq plus the first sample's time and the
 * sample count *as sent* (see screen.ts: before any value was quarantined), so an agent that restarts
 * its seq from 0 is not mistaken for a redelivery. Storage writes (samples and quarantine) are
 * idempotent too; this saves the work and makes duplicates visible in metrics.
 */
export class BatchDedupe {
  /** Per site: the keys seen, and the last `window` of them in a ring (oldest at `next`). */
  private perSite = new Map<string, { keys: Set<string>; ring: (string | undefined)[]; next: number }>();

  constructor(private window = 256) {}

  static key(seq: number, firstTs: unknown, samples: number): string {
    return `${seq}:${typeof firstTs === 'number' ? firstTs : '-'}:${samples}`;
  }

  /** Records the batch; false when it was seen already (a redelivery). */
  admit(site: string, key: string): boolean {
    let s = this.perSite.get(site);
    if (!s) {
      s = { keys: new Set(), ring: new Array(this.window), next: 0 };
      this.perSite.set(site, s);
    }
    if (s.keys.has(key)) return false;
    s.keys.add(key);
    const old = s.ring[s.next];
    if (old !== undefined) s.keys.delete(old);
    s.ring[s.next] = key;
    s.next = (s.next + 1) % this.window;
    return true;
  }

  /** A batch whose write failed may be redelivered and must then be accepted. */
  forget(site: string, key: string): void {
    this.perSite.get(site)?.keys.delete(key);
  }
}
