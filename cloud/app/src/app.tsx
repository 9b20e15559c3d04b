/** The shell: who is signed in, role-aware navigation, one view per route. */
import type { ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { resetAlarms, useAlarms } from './alarms.ts';
import { whenSignedOut } from './api.ts';
import { CORE_VIEWS } from './core-views.ts';
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
  ...CORE_VIEWS,
  fleet: FleetView,
  vpps: VppsView,
  dispatches: DispatchView,
  forecasts: ForecastsView,
  network: NetworkView,
  market: MarketView,
};

/** Routes reached from links rather than the navigation (a site, a dispatch): the API decides per item. */
const LINKED = ['sites', 'dispatches'];

function AlarmBadge() {
  const n = useAlarms().sites ?? 0;
  return (
    <a class={`alarm-badge${n ? ' active' : ''}`} href="#/fleet?alarm=1">
      <span aria-hidden="true">⚠</span> {n.toLocaleString('en')}
      <span class="sr-only"> {n === 1 ? 'site' : 'sites'} with alarms</span>
    </a>
  );
}

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const [menuOpen, setMenuOpen] = useState(false);
  const route = useRoute();
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    whenSignedOut(() => {
      setMe((prev) => {
        // A session that ends under the user (expired, revoked) says so; a fresh visit does not.
        if (prev) setNotice('Your session has ended (expired or signed out elsewhere). Sign in again.');
        return null;
      });
    });
    fetchMe().then(setMe, () => setMe(null));
  }, []);
  useEffect(() => {
    if (me) connectLive();
    else {
      disconnectLive();
      resetAlarms();
    }
  }, [me]);
  // Route change: close the phone menu, move focus to the new view's heading (screen readers announce it).
  useEffect(() => {
    setMenuOpen(false);
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(() => {
      const h = mainRef.current?.querySelector<HTMLElement>('h1');
      if (h) {
        h.tabIndex = -1;
        h.focus();
      } else mainRef.current?.focus();
    }, 0);
    return () => clearTimeout(t);
  }, [route.view, route.params.join('/')]);
  useEffect(() => {
    document.title = `${route.view} · gridlayer`;
  }, [route.view]);
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null)
    return (
      <LoginView
        notice={notice}
        onSignedIn={(m) => {
          setNotice('');
          // The sign-in answers who; /me adds the permissions and scopes the views use.
          fetchMe().then(setMe, () => setMe(m));
        }}
      />
    );
  const nav = navFor(me);
  const allowed = nav.some((n) => n.view === route.view) || LINKED.includes(route.view);
  const View = (allowed && VIEWS[route.view]) || undefined;
  const current = route.view === 'sites' ? 'fleet' : route.view;
  return (
    <div class="shell">
      <button type="button" class="skip-link" onClick={() => mainRef.current?.focus()}>
        Skip to content
      </button>
      <header>
        <a class="brand" href="#/fleet">
          gridlayer
        </a>
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" class={menuOpen ? 'open' : ''}>
          {nav.map((n) => (
            <a key={n.view} href={`#/${n.view}`} aria-current={current === n.view ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <AlarmBadge />
        <span class="who">
          {me.name} <span class="role">({me.role})</span>
        </span>
        <button
          type="button"
          class="sign-out"
          onClick={async () => {
            await signOut().catch(() => undefined);
            setNotice('Signed out.');
            setMe(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {View ? (
          <View route={route} me={me} />
        ) : (
          <section>
            <h1>Not available</h1>
            <p role="alert">
              {allowed
                ? `The ${route.view} view is not built yet.`
                : `Your role (${me.role}) may not open “${route.view}”.`}
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

export { parseHash };
