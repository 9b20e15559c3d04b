/**
 * Active alarms of the caller's sites. The newest ALARM_LIST come from GET /alarms, the count of sites
 * with alarms from GET /fleet/summary; both are kept current by the live `alarm` events (the list is
 * patched in place, the count re-read at most every 2 s after a change), nothing polls. The header
 * badge and the fleet view read the same store.
 */
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.ts';
import { fleetSummary } from './fleet-source.ts';
import { onEvent } from './live.ts';

export interface Alarm {
  site: string;
  kind: 'offline' | 'stale' | 'fallback' | 'command_refused' | string;
  since: number;
  detail?: string;
}

export const ALARM_LIST = 100;

let alarms = new Map<string, Alarm>();
/** Sites with at least one active alarm (from the fleet summary). */
let sitesAlarmed: number | undefined;
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
      sitesAlarmed = s.alarms;
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
  sitesAlarmed = undefined;
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
    recount ??= setTimeout(() => {
      recount = undefined;
      count();
    }, 2000);
    changed();
  },
);

/** The active alarms (newest first, at most ALARM_LIST) and the number of sites with alarms. */
export function useAlarms(): { list: Alarm[]; sites: number | undefined } {
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
  return { list, sites: sitesAlarmed ?? new Set(list.map((a) => a.site)).size };
}
