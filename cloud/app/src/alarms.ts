/**
 * Active alarms and status counts of the caller's sites. The newest ALARM_LIST alarms come from
 * GET /alarms, the counts (sites online/offline/stale/fallback, sites with alarms) from GET
 * /fleet/summary; both are kept current by live events: `alarm` events patch the list, and they and
 * `site` events that change a site's status have the counts re-read (at most every 2 s). Nothing
 * polls. The header badge and the fleet view read the same store, so they always agree.
 */
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.ts';
import { fleetSummary } from './fleet-source.ts';
import { onEvent } from './live.ts';
import type { Summary } from './views/fleet.tsx';

export interface Alarm {
  site: string;
  kind: 'offline' | 'stale' | 'fallback' | 'command_refused' | string;
  since: number;
  detail?: string;
}

export const ALARM_LIST = 100;

let alarms = new Map<string, Alarm>();
/** The fleet summary (its `alarms`: sites with at least one active alarm). */
let summary: Summary | undefined;
/** Each site's status as the last event told it, to notice changes. */
const statuses = new Map<string, string>();
let loaded: Promise<void> | undefined;
let recount: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<() => void>();
const key = (a: { site: string; kind: string }) => `${a.site}\u0000${a.kind}`;
const changed = () => {
  for (const l of listeners) l();
};
const count = () =>
  fleetSummary().then(
    (s) => {
      summary = s;
      changed();
    },
    () => undefined,
  );

export function loadAlarms(): Promise<void> {
  loaded ??= Promise.all([
    get<Alarm[]>(`/alarms?limit=${ALARM_LIST}`).then((list) => {
      alarms = new Map(list.map((a) => [key(a), a]));
      changed();
    }),
    count(),
  ]).then(
    () => undefined,
    () => {
      loaded = undefined;
    },
  );
  return loaded;
}

/** Forgets everything (sign-out): the next user loads their own. */
export function resetAlarms(): void {
  alarms = new Map();
  summary = undefined;
  statuses.clear();
  loaded = undefined;
  clearTimeout(recount);
  recount = undefined;
  changed();
}

onEvent<{ site: string; kind: string; active: boolean; since?: number; at?: number; detail?: string }>(
  'alarm',
  (e) => {
    if (!e || typeof e.site !== 'string' || typeof e.kind !== 'string') return;
    if (e.active)
      alarms.set(key(e), {
        site: e.site,
        kind: e.kind,
        since: e.since ?? e.at ?? Date.now(),
        detail: e.detail,
      });
    else alarms.delete(key(e));
    alarms = new Map(alarms);
    recountSoon();
    changed();
  },
);

function recountSoon() {
  recount ??= setTimeout(() => {
    recount = undefined;
    count();
  }, 2000);
}

onEvent<{ id: string; status?: string }>('site', (e) => {
  if (!e || typeof e.id !== 'string' || !e.status) return;
  const before = statuses.get(e.id);
  statuses.set(e.id, e.status);
  if (before !== undefined && before !== e.status) recountSoon();
});

/** The active alarms (newest first, at most ALARM_LIST), the fleet summary and the sites with alarms. */
export function useAlarms(): { list: Alarm[]; summary: Summary | undefined; sites: number | undefined } {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    loadAlarms();
    return () => {
      listeners.delete(l);
    };
  }, []);
  const list = [...alarms.values()].sort((a, b) => b.since - a.since).slice(0, ALARM_LIST);
  return { list, summary, sites: summary?.alarms };
}
