/** Hash routes (`#/sites/site-1`): bookmarkable, no server routes needed, back button works. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** The first path segment: fleet, sites, vpps, dispatches, forecasts, network, market, audit, users, login. */
  view: string;
  /** The rest, decoded (e.g. the site id). */
  params: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [path, q] = hash.replace(/^#\/?/, '').split('?');
  const parts = (path ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] ?? 'fleet', params: parts.slice(1), query: new URLSearchParams(q ?? '') };
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function navigate(to: string): void {
  location.hash = to;
}

export function useRoute(): Route {
  const [r, setR] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setR(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}
