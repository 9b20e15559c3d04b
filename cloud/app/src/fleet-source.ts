/**
 * Where the fleet view gets its pages: GET /fleet/sites and /fleet/summary (server-side paging, filters
 * and counts). A cloud without those routes (older than the app) answers the route-level 404; then the
 * view falls back to GET /sites once and pages, filters and counts in the browser (fine for a pilot's
 * few hundred sites; the fleet routes are what keep 10,000 fast).
 */
import { ApiError, get } from './api.ts';
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

const routeMissing = (e: unknown) => e instanceof ApiError && e.status === 404 && e.code === '404';

interface PlainSite {
  id: string;
  name: string | null;
  status: string;
  mode: string | null;
  lastSeen: number | null;
}
let plain: { at: number; sites: Promise<PlainSite[]> } | undefined;
const plainSites = () => {
  if (!plain || Date.now() - plain.at > 10_000) plain = { at: Date.now(), sites: get<PlainSite[]>('/sites') };
  return plain.sites;
};

export async function fleetPage(f: FleetFilters, offset: number, limit: number): Promise<FleetPage> {
  const p = new URLSearchParams({ offset: String(offset), limit: String(limit), sort: f.sort });
  if (f.q) p.set('q', f.q);
  if (f.status) p.set('status', f.status);
  if (f.alarm) p.set('alarm', '1');
  try {
    return await get<FleetPage>(`/fleet/sites?${p}`);
  } catch (e) {
    if (!routeMissing(e)) throw e;
  }
  const q = f.q.toLowerCase();
  const all = (await plainSites())
    .filter((s) => !q || s.id.toLowerCase().includes(q) || (s.name ?? '').toLowerCase().includes(q))
    .filter((s) => !f.status || s.status === f.status)
    .filter(() => !f.alarm)
    .sort((a, b) =>
      f.sort === 'lastSeen'
        ? (b.lastSeen ?? 0) - (a.lastSeen ?? 0)
        : String(a[f.sort as 'id'] ?? '').localeCompare(String(b[f.sort as 'id'] ?? '')) ||
          a.id.localeCompare(b.id),
    );
  return {
    total: all.length,
    offset,
    items: all.slice(offset, offset + limit).map((s) => ({ ...s, alarms: [], power: null })),
  };
}

export async function fleetSummary(): Promise<Summary> {
  try {
    return await get<Summary>('/fleet/summary');
  } catch (e) {
    if (!routeMissing(e)) throw e;
  }
  const all = await plainSites();
  const n = (s: string) => all.filter((x) => x.status === s).length;
  return {
    total: all.length,
    online: n('online'),
    offline: n('offline'),
    stale: n('stale'),
    fallback: n('fallback'),
    alarms: 0,
  };
}
