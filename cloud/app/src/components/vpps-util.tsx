/** Small helpers the VPP, dispatch, forecast, network and market views share. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

/** Loads once per change of `deps` (and on reload()); the API's refusal text is kept for display. */
export function useLoad<T>(
  fn: () => Promise<T>,
  deps: unknown[],
): { data?: T; error?: string; reload: () => void; loading: boolean } {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (e) => live && setState({ error: errorText(e), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...state, reload };
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Watts as kW with one decimal (the unit shown everywhere in these views). */
export const kw = (w: number | null | undefined) =>
  w === null || w === undefined || !Number.isFinite(w) ? '–' : `${(w / 1000).toFixed(1)} kW`;

export const time = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '–' : `${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)}Z`;

/** The API's refusal, shown where the action was taken. */
export function Refusal(props: { text?: string; id?: string }) {
  if (!props.text) return null;
  return (
    <p class="error" role="alert" id={props.id}>
      {props.text}
    </p>
  );
}

/** Re-runs `f` every `ms` while `active` (e.g. a dispatch that is still running). */
export function useInterval(f: () => void, ms: number, active = true): void {
  useEffect(() => {
    if (!active) return;
    const h = setInterval(f, ms);
    return () => clearInterval(h);
  }, [ms, active]);
}

/** Builds a CSV text (RFC 4180 quoting) and offers it as a download. */
export function downloadCsv(name: string, header: string[], rows: (string | number | null)[][]): void {
  const cell = (v: string | number | null) => {
    const s = v === null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const text = `${[header, ...rows].map((r) => r.map(cell).join(',')).join('\n')}\n`;
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
