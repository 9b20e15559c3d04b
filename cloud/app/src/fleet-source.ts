/**
 * Where the fleet view gets its pages and counts: GET /fleet/sites (server-side paging, filters, sort in
 * SQL) and GET /fleet/summary, both scoped by the API to the caller's sites.
 */
import { get } from './api.ts';
import type { FleetSite, Summary } from './views/fleet.tsx';

export interface FleetFilters {
  q: string;
  status: string;
  alarm: boolean;
  sort: string;
}
export interface FleetPage {
  total: number;
  offset: number;
  items: FleetSite[];
}

export function fleetPage(f: FleetFilters, offset: number, limit: number): Promise<FleetPage> {
  const p = new URLSearchParams({ offset: String(offset), limit: String(limit), sort: f.sort });
  if (f.q) p.set('q', f.q);
  if (f.status) p.set('status', f.status);
  if (f.alarm) p.set('alarm', '1');
  return get<FleetPage>(`/fleet/sites?${p}`);
}

export const fleetSummary = () => get<Summary>('/fleet/summary');
