/**
 * Fleet: status counts, the site list and the active alarms. The list is paged by the server
 * (GET /fleet/sites offset/limit/q/status/alarm/sort) and virtualized here: only the rows in view (plus a
 * margin) are in the DOM, and only the pages they fall on are fetched, so 10,000 sites cost what 50 do.
 * Live `site` events patch the rows already loaded; nothing polls per site.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ALARM_LIST, type Alarm, useAlarms } from '../alarms.ts';
import { ApiError } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type FleetFilters, fleetPage } from '../fleet-source.ts';
import { onEvent } from '../live.ts';
import { href, navigate } from '../router.ts';
import { TableWrap } from '../table-wrap.tsx';
import { ago, formatValue } from '../units.ts';

export interface Summary {
  total: number;
  online: number;
  offline: number;
  stale: number;
  fallback: number;
  alarms: number;
}

export interface FleetSite {
  id: string;
  name: string | null;
  status: string;
  mode: string | null;
  lastSeen: number | null;
  alarms: { kind: string; since: number; detail?: string }[];
  power: {
    pv_w?: number | null;
    battery_w?: number | null;
    soc_pct?: number | null;
    grid_w?: number | null;
  } | null;
}

interface SiteEvent {
  id: string;
  status?: string;
  mode?: string | null;
  lastSeen?: number | null;
  power?: FleetSite['power'];
}

export const PAGE = 100;
export const ROW_PX = 44;
const OVERSCAN = 10;
const STATUSES = ['online', 'offline', 'stale', 'fallback'] as const;

type Filters = FleetFilters;

/** Pages of the current filter, fetched on demand; a new filter starts a new cache. */
function useSitePages(f: Filters) {
  const [version, setVersion] = useState(0);
  const cache = useRef({
    key: '',
    total: -1,
    pages: new Map<number, FleetSite[]>(),
    loading: new Set<number>(),
  });
  const [error, setError] = useState('');
  const key = JSON.stringify(f);
  if (cache.current.key !== key) cache.current = { key, total: -1, pages: new Map(), loading: new Set() };
  const c = cache.current;
  const ensure = (page: number) => {
    if (c.pages.has(page) || c.loading.has(page)) return;
    if (c.total >= 0 && page * PAGE >= c.total) return;
    c.loading.add(page);
    fleetPage(f, page * PAGE, PAGE).then(
      (r) => {
        if (cache.current !== c) return;
        c.loading.delete(page);
        c.pages.set(page, r.items);
        c.total = r.total;
        setError('');
        setVersion((v) => v + 1);
      },
      (err) => {
        c.loading.delete(page);
        if (cache.current === c) setError(err instanceof ApiError ? err.message : String(err));
      },
    );
  };
  /** Applies a live update to a loaded row (status, power, last seen). */
  const patch = (e: SiteEvent) => {
    for (const items of c.pages.values()) {
      const i = items.findIndex((s) => s.id === e.id);
      if (i >= 0) {
        const s = items[i] as FleetSite;
        items[i] = {
          ...s,
          status: e.status ?? s.status,
          mode: e.mode !== undefined ? e.mode : s.mode,
          lastSeen: e.lastSeen ?? s.lastSeen,
          power: e.power ? { ...s.power, ...e.power } : s.power,
        };
        return true;
      }
    }
    return false;
  };
  return { c, ensure, patch, error, version, bump: () => setVersion((v) => v + 1) };
}

function StatusCounts(props: { s?: Summary; onPick: (status: string) => void; active: string }) {
  const { s } = props;
  if (!s) return <p class="counts">Loading counts…</p>;
  const items: [string, string, number][] = [
    ['', 'sites', s.total],
    ['online', 'online', s.online],
    ['offline', 'offline', s.offline],
    ['stale', 'stale', s.stale],
    ['fallback', 'fallback', s.fallback],
  ];
  return (
    <ul class="counts" aria-label="Status counts">
      {items.map(([status, label, n]) => (
        <li key={label}>
          <button
            type="button"
            class={`count status-${status || 'all'}`}
            aria-pressed={props.active === status}
            onClick={() => props.onPick(status)}
          >
            <strong>{n.toLocaleString('en')}</strong> {label}
          </button>
        </li>
      ))}
      <li>
        <a class="count" href="#/fleet?alarm=1">
          <strong>{s.alarms.toLocaleString('en')}</strong> alarms
        </a>
      </li>
    </ul>
  );
}

function SiteRow(props: { s: FleetSite | undefined; index: number; total: number }) {
  const { s, index } = props;
  const style = { transform: `translateY(${index * ROW_PX}px)` };
  if (!s)
    return (
      <li class="site-row placeholder" style={style} aria-setsize={props.total} aria-posinset={index + 1}>
        …
      </li>
    );
  const p = s.power ?? {};
  return (
    <li class="site-row" style={style} aria-setsize={props.total} aria-posinset={index + 1} data-site={s.id}>
      <a class="site-name" href={href('sites', s.id)}>
        {s.name ?? s.id}
        {s.name && <span class="site-id"> {s.id}</span>}
      </a>
      <span class={`status status-${s.status}`}>{s.status}</span>
      <span class="num" title="PV power">
        <span class="k">PV </span>
        {formatValue('w', p.pv_w)}
      </span>
      <span class="num" title="Battery power (discharge positive)">
        <span class="k">Bat </span>
        {formatValue('w', p.battery_w)}
      </span>
      <span class="num soc" title="Battery state of charge">
        <span class="k">SoC </span>
        {formatValue('soc_pct', p.soc_pct)}
      </span>
      <span class="num" title="Grid power at the connection point (export positive)">
        <span class="k">Grid </span>
        {formatValue('w', p.grid_w)}
      </span>
      <span class="seen">{ago(s.lastSeen)}</span>
      {s.alarms.length > 0 && (
        <span class="row-alarms">{s.alarms.map((a) => a.kind.replace('_', ' ')).join(', ')}</span>
      )}
    </li>
  );
}

/** The virtualized list: a fixed-height scroller with absolutely placed rows. */
function SiteList(props: { filters: Filters; onTotal: (n: number) => void }) {
  const pages = useSitePages(props.filters);
  const scroller = useRef<HTMLElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const { c } = pages;
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTop = 0;
    setScrollTop(0);
  }, [c.key]);
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(
    () =>
      onEvent<SiteEvent>('site', (e) => {
        if (e && typeof e.id === 'string' && pages.patch(e)) pages.bump();
      }),
    [c],
  );
  const first = Math.max(0, Math.floor(scrollTop / ROW_PX) - OVERSCAN);
  const last = Math.floor((scrollTop + height) / ROW_PX) + OVERSCAN;
  const total = Math.max(0, c.total);
  useEffect(() => {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE); p++) pages.ensure(p);
  });
  useEffect(() => {
    if (c.total >= 0) props.onTotal(c.total);
  }, [c.total, c.key]);
  const rows = [];
  for (let i = first; i <= Math.min(last, total - 1); i++) {
    const s = c.pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    rows.push(<SiteRow key={s?.id ?? `i${i}`} s={s} index={i} total={total} />);
  }
  return (
    <>
      {pages.error && (
        <p class="error" role="alert">
          {pages.error}
        </p>
      )}
      <section
        class="site-scroller"
        ref={scroller}
        aria-label={`Sites, ${total.toLocaleString('en')} matching`}
        onScroll={(e) => setScrollTop((e.currentTarget as HTMLElement).scrollTop)}
      >
        {c.total === 0 && <p class="empty">No site matches.</p>}
        <ul class="site-list" aria-label="Sites" style={{ height: `${total * ROW_PX}px` }}>
          {rows}
        </ul>
      </section>
    </>
  );
}

export function AlarmList(props: { alarms: Alarm[]; limit?: number; more?: boolean }) {
  const shown = props.alarms.slice(0, props.limit ?? 50);
  if (!props.alarms.length) return <p>No active alarms.</p>;
  return (
    <TableWrap label="Active alarms">
      <table class="alarms">
        <caption class="sr-only">Active alarms, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">Alarm</th>
            <th scope="col">Since</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((a) => (
            <tr key={`${a.site}-${a.kind}`}>
              <td>
                <a href={href('sites', a.site)}>{a.site}</a>
              </td>
              <td>
                <span class={`alarm-kind kind-${a.kind}`}>{a.kind.replace('_', ' ')}</span>
              </td>
              <td>{ago(a.since)}</td>
              <td>{a.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(props.more || props.alarms.length > shown.length) && (
        <p class="muted">
          The newest {shown.length} are shown: filter the site list by “with alarms” to see every site.
        </p>
      )}
    </TableWrap>
  );
}

export function FleetView(props: ViewProps) {
  const q = props.route.query;
  const filters: Filters = {
    q: q.get('q') ?? '',
    status: q.get('status') ?? '',
    alarm: q.get('alarm') === '1',
    sort: q.get('sort') ?? 'id',
  };
  const [total, setTotal] = useState<number>();
  const [text, setText] = useState(filters.q);
  const { list: alarms, summary } = useAlarms();
  const setFilter = (patch: Partial<Filters>) => {
    const next = { ...filters, ...patch };
    const p = new URLSearchParams();
    if (next.q) p.set('q', next.q);
    if (next.status) p.set('status', next.status);
    if (next.alarm) p.set('alarm', '1');
    if (next.sort !== 'id') p.set('sort', next.sort);
    const s = p.toString();
    navigate(`#/fleet${s ? `?${s}` : ''}`);
  };
  // Typing filters after a short pause (one request, not one per key).
  useEffect(() => {
    if (text === filters.q) return;
    const t = setTimeout(() => setFilter({ q: text.trim() }), 250);
    return () => clearTimeout(t);
  }, [text]);
  const memoFilters = useMemo(() => filters, [filters.q, filters.status, filters.alarm, filters.sort]);
  return (
    <section class="fleet">
      <h1>Fleet</h1>
      <StatusCounts s={summary} active={filters.status} onPick={(status) => setFilter({ status })} />
      <form class="filters" aria-label="Filter sites" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            name="q"
            value={text}
            placeholder="site id or name"
            onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <label>
          Status
          <select
            name="status"
            value={filters.status}
            onChange={(e) => setFilter({ status: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by
          <select
            name="sort"
            value={filters.sort}
            onChange={(e) => setFilter({ sort: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="id">id</option>
            <option value="name">name</option>
            <option value="status">status</option>
            <option value="lastSeen">last seen</option>
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            name="alarm"
            checked={filters.alarm}
            onChange={(e) => setFilter({ alarm: (e.currentTarget as HTMLInputElement).checked })}
          />
          with alarms
        </label>
      </form>
      <p class="muted" aria-live="polite">
        {total === undefined ? 'Loading sites…' : `${total.toLocaleString('en')} sites match`}
      </p>
      <SiteList filters={memoFilters} onTotal={setTotal} />
      <h2>Alarms</h2>
      <AlarmList alarms={alarms} more={alarms.length >= ALARM_LIST} />
    </section>
  );
}
