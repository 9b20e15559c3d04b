/** The shell: who is signed in, role-aware navigation, one view per route. */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { whenSignedOut } from './api.ts';
import { connectLive, disconnectLive } from './live.ts';
import { parseHash, type Route, useRoute } from './router.ts';
import { fetchMe, type Me, navFor, signOut } from './session.ts';
import { DispatchView } from './views/dispatch.tsx';
import { FleetView } from './views/fleet.tsx';
import { ForecastsView } from './views/forecasts.tsx';
import { LoginView } from './views/login.tsx';
import { MarketView } from './views/market.tsx';
import { NetworkView } from './views/network.tsx';
import { VppsView } from './views/vpps.tsx';

export interface ViewProps {
  route: Route;
  me: Me;
}

/** View modules by route name; a view its role may not open is not in the navigation (the API refuses it anyway). */
export const VIEWS: Record<string, ComponentType<ViewProps>> = {
  fleet: FleetView,
  vpps: VppsView,
  dispatches: DispatchView,
  forecasts: ForecastsView,
  network: NetworkView,
  market: MarketView,
};

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    whenSignedOut(() => setMe(null));
    fetchMe().then(setMe, () => setMe(null));
  }, []);
  useEffect(() => {
    if (me) connectLive();
    else disconnectLive();
  }, [me]);
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <LoginView onSignedIn={setMe} />;
  const nav = navFor(me);
  const allowed =
    nav.some((n) => n.view === route.view) || route.view === 'sites' || route.view === 'dispatches';
  const View = (allowed && VIEWS[route.view]) || undefined;
  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/fleet">
          gridlayer
        </a>
        <nav aria-label="Main">
          {nav.map((n) => (
            <a key={n.view} href={`#/${n.view}`} aria-current={route.view === n.view ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span class="who">
          {me.name} ({me.role})
        </span>
        <button
          type="button"
          onClick={async () => {
            await signOut().catch(() => undefined);
            setMe(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        {View ? <View route={route} me={me} /> : <p role="alert">Nothing here for your role: {route.view}</p>}
      </main>
    </div>
  );
}

export { parseHash };
