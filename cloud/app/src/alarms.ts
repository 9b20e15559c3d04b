/**
 * Active alarms of the caller's sites: loaded once from GET /alarms, then kept current by the live
 * `alarm` events (no polling). The header badge and the fleet view read the same store.
 */
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.ts';
import { onEvent } from './live.ts';

export interface Alarm {
  site: string;
  kind: 'offline' | 'stale' | 'fallback' | 'command_refused' | string;
  since: number;
  detail?: string;
}

let alarms = new Map<string, Alarm>();
let loaded: Promise<void> | undefined;
const listeners = new Set<() => void>();
const key = (a: { site: string; kind: string }) => `${a.site}\u0000${a.kind}`;
const changed = () => {
  for (const l of listeners) l();
};

export function loadAlarms(): Promise<void> {
  loaded ??= get<Alarm[]>('/alarms?limit=1000').then(
    (list) => {
      alarms = new Map(list.map((a) => [key(a), a]));
      changed();
    },
    () => {
      loaded = undefined;
    },
  );
  return loaded;
}

/** Forgets everything (sign-out): the next user loads their own. */
export function resetAlarms(): void {
  alarms = new Map();
  loaded = undefined;
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
    changed();
  },
);

/** The active alarms, newest first; re-renders on every change. */
export function useAlarms(): Alarm[] {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    loadAlarms();
    return () => {
      listeners.delete(l);
    };
  }, []);
  return [...alarms.values()].sort((a, b) => b.since - a.since);
}
