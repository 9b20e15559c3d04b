import type { TelemetryBatch } from '../../protocols/mqtt/payloads.ts';

/**
 * Drops QoS-1 redeliveries of telemetry batches. The key is seq plus the first sample's time and the
 * sample count, so an agent that restarts its seq from 0 is not mistaken for a redelivery.
 * Storage writes are idempotent too; this saves the work and makes duplicates visible in metrics.
 */
export class BatchDedupe {
  private perSite = new Map<string, { keys: Set<string>; order: string[] }>();

  constructor(private window = 256) {}

  static key(b: TelemetryBatch): string {
    // A screened batch may have no sample left (all quarantined).
    return `${b.seq}:${b.samples[0]?.ts ?? '-'}:${b.samples.length}`;
  }

  /** Records the batch; false when it was seen already (a redelivery). */
  admit(b: TelemetryBatch): boolean {
    let s = this.perSite.get(b.site);
    if (!s) {
      s = { keys: new Set(), order: [] };
      this.perSite.set(b.site, s);
    }
    const k = BatchDedupe.key(b);
    if (s.keys.has(k)) return false;
    s.keys.add(k);
    s.order.push(k);
    if (s.order.length > this.window) s.keys.delete(s.order.shift() as string);
    return true;
  }

  /** A batch whose write failed may be redelivered and must then be accepted. */
  forget(b: TelemetryBatch): void {
    this.perSite.get(b.site)?.keys.delete(BatchDedupe.key(b));
  }
}
