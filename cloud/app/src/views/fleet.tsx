import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { href } from '../router.ts';

interface Summary {
  total: number;
  online: number;
  offline: number;
  stale: number;
  fallback: number;
  alarms: number;
}

/** Fleet: status counts and the site list (server-side paged). Extended by the fleet view's owner. */
export function FleetView() {
  const [s, setS] = useState<Summary>();
  const [sites, setSites] = useState<{ id: string; name?: string; status: string }[]>([]);
  useEffect(() => {
    get<Summary>('/fleet/summary').then(setS, () => undefined);
    get<{ items: { id: string; name?: string; status: string }[] }>('/fleet/sites?limit=50').then(
      (r) => setSites(r.items),
      () => undefined,
    );
  }, []);
  return (
    <section>
      <h1>Fleet</h1>
      {s && (
        <p class="counts">
          {s.total} sites · {s.online} online · {s.offline} offline · {s.stale} stale · {s.fallback} fallback
        </p>
      )}
      <ul>
        {sites.map((x) => (
          <li key={x.id}>
            <a href={href('sites', x.id)}>{x.name ?? x.id}</a> {x.status}
          </li>
        ))}
      </ul>
    </section>
  );
}
