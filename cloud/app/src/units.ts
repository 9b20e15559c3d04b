/**
 * Units and number formatting, derived from the protocol's own point definitions
 * (protocols/canonical/points.ts: the canonical model every driver normalizes to, SI on the wire): the
 * app does not keep a second unit table that could drift from what the gateways send.
 */
import { CANONICAL_POINTS } from '../../../protocols/canonical/points.ts';

type PointName = keyof typeof CANONICAL_POINTS;

export function pointInfo(point: string): { unit: string; description: string } | undefined {
  const p = (CANONICAL_POINTS as Record<string, { unit: string; description: string }>)[point];
  return p ? { unit: p.unit, description: p.description } : undefined;
}

/** A short name for a point ("active power" for w); the full description is pointInfo's. */
export function pointLabel(point: string): string {
  const d = pointInfo(point)?.description;
  return d ? (d.split(/ \(|,|:/)[0] as string) : point;
}

/** Unit of a canonical point, or of a limit/nameplate key by its suffix (`export_w_max` → W). */
export function unitOf(key: string): string {
  const p = pointInfo(key);
  if (p) return p.unit;
  const m = /_(w|var|va|wh|v|a|hz|pct)(_max|_min|_capacity)?$/.exec(key);
  if (!m) return '';
  const suffix = m[1] as string;
  if (suffix === 'pct') return '%';
  return pointInfo(suffix as PointName)?.unit ?? '';
}

const STATES = ['off', 'standby', 'running', 'throttled', 'fault'];

/** A value with its unit for people: 4 213 W → "4.21 kW", 49.43 % → "49.4 %", state 2 → "running". */
export function formatValue(key: string, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (key === 'state') return STATES[value] ?? String(value);
  const unit = unitOf(key);
  if (unit === 'W' || unit === 'var' || unit === 'VA' || unit === 'Wh') {
    const abs = Math.abs(value);
    if (abs >= 1e6) return `${(value / 1e6).toFixed(2)} M${unit}`;
    if (abs >= 1e3) return `${(value / 1e3).toFixed(2)} k${unit}`;
    return `${Math.round(value)} ${unit}`;
  }
  const digits = unit === 'Hz' ? 2 : unit === '' ? 2 : 1;
  return unit ? `${value.toFixed(digits)} ${unit}` : value.toFixed(digits);
}

/** "12 s ago", "3 min ago", or an ISO time beyond a day. */
export function ago(ts: number | null | undefined, now = Date.now()): string {
  if (!ts) return 'never';
  const s = Math.round((now - ts) / 1000);
  if (s < 0) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return isoTime(ts);
}

export const isoTime = (ts: number) => `${new Date(ts).toISOString().replace('T', ' ').slice(0, 19)}Z`;
