/**
 * Device quirks, in one declarative table: behaviours of particular vendors' devices that the
 * generic SunSpec driver must know about. Matched on SunSpec model 1 manufacturer (and model).
 * Code asks `quirksFor(identity)` and reads flags; no vendor names appear anywhere else.
 */
import type { DeviceIdentity } from './drivers/types.ts';

export interface Quirks {
  /** Unit ids the vendor's devices answer on by default (commissioning scans them first). */
  defaultUnitIds?: number[];
  /** Model 701/103 PF is reported in percent (-100..100) instead of -1..1. */
  pfInPercent?: boolean;
  /** "model.point" registers that live in flash: write only when the value changes, never cyclically. */
  noCyclicWrite?: string[];
  /** Daily window (UTC) when the device drops off the bus for a self-test: not a fault, no backoff. */
  dailyDropout?: { startUtc: string; minutes: number };
  /** Prefer the legacy 1xx control models even when 7xx is advertised (broken 704 firmware). */
  preferLegacyControls?: boolean;
}

export interface QuirkEntry extends Quirks {
  vendor: string;
  match: { manufacturer: RegExp; model?: RegExp };
  note: string;
}

export const QUIRKS: readonly QuirkEntry[] = [
  {
    vendor: 'SMA',
    match: { manufacturer: /^SMA/i },
    defaultUnitIds: [126],
    noCyclicWrite: ['702.WMax', '121.WMax'],
    note: 'SunSpec profile answers on unit 126; nameplate registers are stored in flash.',
  },
  {
    vendor: 'Fronius',
    match: { manufacturer: /^Fronius/i },
    defaultUnitIds: [1, 240],
    note: 'Datamanager serves the inverter on unit 1 and the primary meter on 240.',
  },
  {
    vendor: 'gridlayer simulator',
    match: { manufacturer: /^gridlayer$/ },
    defaultUnitIds: [1, 2, 3],
    note: 'Simulated site: PV 1, battery 2, meter 3.',
  },
];

/** Merged quirks of every entry matching the device (later entries win). */
export function quirksFor(id: DeviceIdentity, table: readonly QuirkEntry[] = QUIRKS): Quirks {
  const out: Quirks = {};
  for (const q of table) {
    if (!id.manufacturer || !q.match.manufacturer.test(id.manufacturer)) continue;
    if (q.match.model && !(id.model && q.match.model.test(id.model))) continue;
    const { vendor: _v, match: _m, note: _n, ...flags } = q;
    Object.assign(out, flags);
  }
  return out;
}

/** True when `nowMs` falls in the device's daily self-test drop-out window. */
export function inDropoutWindow(q: Quirks, nowMs: number): boolean {
  if (!q.dailyDropout) return false;
  const [h, m] = q.dailyDropout.startUtc.split(':').map(Number);
  const d = new Date(nowMs);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h, m);
  return nowMs >= start && nowMs < start + q.dailyDropout.minutes * 60_000;
}

/** Unit ids to try first when scanning, from every vendor's defaults. */
export function knownUnitIds(table: readonly QuirkEntry[] = QUIRKS): number[] {
  return [...new Set(table.flatMap((q) => q.defaultUnitIds ?? []))];
}
