/**
 * One dispatch (#/dispatches/:id): target vs delivered per interval, per-device setpoints and
 * shortfalls, cancel. Live: a `dispatch` event from the cloud re-reads it; while it runs it is also
 * re-read every 2 s (the one dispatch, not the fleet), so it stays live where no events arrive.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, post } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type Series, TimeChart } from '../chart.tsx';
import { errorText, kw, Refusal, time, useInterval, useLoad } from '../components/vpps-util.tsx';
import { onEvent } from '../live.ts';
import { href } from '../router.ts';

interface Interval {
  start: number;
  end: number;
  baselineW: number;
  targetW: number;
  deliveredW: number;
  errorW: number;
  errorPct: number | null;
  samples: number;
}
interface Device {
  site: string;
  id: string;
  kind: string;
  state: string;
  reason?: string;
  setpointW?: number;
  measuredW?: number;
  ratingW: number;
  lastCommand?: { id: string; w: number; status: string };
}
interface Dispatch {
  id: string;
  group: string;
  sites: string[];
  status: string;
  endedReason?: string;
  target: { kind: string; w: number };
  targetMeterW: number;
  start: number;
  end: number;
  requestedBy: string;
  baseline: { w: number; method: string };
  feasibility: { feasible: boolean; shortfallW: number; reasons: string[]; warnings: string[] };
  progress: {
    measuredW: number | null;
    allocatedW: number | null;
    shortfallW: number | null;
    commandsSent: number;
    commandErrors: number;
    lastTickAt: number | null;
  };
  devices: Device[];
  intervals: Interval[];
}

const running = (s?: string) => s === 'active' || s === 'scheduled';

export function DispatchView(props: ViewProps) {
  const id = props.route.params[0] ?? '';
  const d = useLoad(() => get<Dispatch>(`/dispatches/${encodeURIComponent(id)}`), [id]);
  const [error, setError] = useState<string>();
  useEffect(() => onEvent<{ id: string }>('dispatch', (e) => e.id === id && d.reload()), [id]);
  useInterval(d.reload, 2000, running(d.data?.status));
  const x = d.data;
  const series = useMemo<Series[]>(() => {
    const iv = x?.intervals ?? [];
    return [
      { label: 'Target', unit: 'W', points: iv.map((i) => [i.start, i.targetW]), color: '#1f6fb2' },
      { label: 'Delivered', unit: 'W', points: iv.map((i) => [i.start, i.deliveredW]), color: '#d9731a' },
      { label: 'Baseline', unit: 'W', points: iv.map((i) => [i.start, i.baselineW]), color: '#5d6d7e' },
    ];
  }, [x]);
  if (d.error && !x)
    return (
      <section>
        <h1>Dispatch {id}</h1>
        <Refusal text={d.error} />
      </section>
    );
  if (!x) return <p class="loading">Loading…</p>;
  const last = x.intervals[x.intervals.length - 1];
  return (
    <section>
      <p>
        <a href={href('vpps', x.group)}>← VPP {x.group}</a>
      </p>
      <h1>Dispatch {x.id}</h1>
      <div class="card">
        <dl class="vpp-figures">
          <div>
            <dt>Status</dt>
            <dd data-testid="dispatch-status">{x.status}</dd>
          </div>
          <div>
            <dt>Target at meters</dt>
            <dd>{kw(x.targetMeterW)}</dd>
          </div>
          <div>
            <dt>Measured now</dt>
            <dd>{kw(x.progress.measuredW)}</dd>
          </div>
          <div>
            <dt>Baseline</dt>
            <dd>{kw(x.baseline.w)}</dd>
          </div>
          <div>
            <dt>Shortfall now</dt>
            <dd>{kw(x.progress.shortfallW)}</dd>
          </div>
          <div>
            <dt>Commands sent / errors</dt>
            <dd>
              {x.progress.commandsSent} / {x.progress.commandErrors}
            </dd>
          </div>
          <div>
            <dt>Window</dt>
            <dd>
              {time(x.start)} – {time(x.end)}
            </dd>
          </div>
        </dl>
        {x.endedReason && <p>Ended: {x.endedReason}</p>}
        {x.feasibility.warnings.length > 0 && <p class="warn">{x.feasibility.warnings.join('; ')}</p>}
        {running(x.status) && (
          <button
            type="button"
            class="danger"
            onClick={async () => {
              setError(undefined);
              try {
                await post(`/dispatches/${encodeURIComponent(x.id)}/cancel`);
                d.reload();
              } catch (err) {
                setError(errorText(err));
              }
            }}
          >
            Cancel dispatch
          </button>
        )}
        <Refusal text={error} />
      </div>
      <div class="card">
        <h2>Target vs delivered</h2>
        {x.intervals.length === 0 ? (
          <p>No interval completed yet.</p>
        ) : (
          <>
            <TimeChart title="Target vs delivered per interval" series={series} />
            <table aria-label="Performance intervals">
              <thead>
                <tr>
                  <th>Interval</th>
                  <th class="num">Target</th>
                  <th class="num">Delivered</th>
                  <th class="num">Error</th>
                </tr>
              </thead>
              <tbody>
                {x.intervals.map((i) => (
                  <tr key={i.start}>
                    <td>{time(i.start)}</td>
                    <td class="num">{kw(i.targetW)}</td>
                    <td class="num">{kw(i.deliveredW)}</td>
                    <td class="num">
                      {kw(i.errorW)}
                      {i.errorPct !== null && ` (${i.errorPct.toFixed(0)} %)`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {last && (
              <p data-testid="dispatch-last">
                Latest interval: target {kw(last.targetW)}, delivered {kw(last.deliveredW)}
              </p>
            )}
          </>
        )}
      </div>
      <div class="card">
        <h2>Devices</h2>
        <table aria-label="Devices in the dispatch">
          <thead>
            <tr>
              <th>Site</th>
              <th>Device</th>
              <th>State</th>
              <th class="num">Setpoint</th>
              <th class="num">Measured</th>
              <th class="num">Shortfall</th>
            </tr>
          </thead>
          <tbody>
            {x.devices.map((v) => {
              const short =
                v.setpointW !== undefined && v.measuredW !== undefined
                  ? Math.abs(v.setpointW - v.measuredW)
                  : undefined;
              return (
                <tr key={`${v.site}/${v.id}`} class={v.state === 'ok' ? '' : 'row-warn'}>
                  <td>
                    <a href={href('sites', v.site)}>{v.site}</a>
                  </td>
                  <td>
                    {v.id} <span class="muted">{v.kind}</span>
                  </td>
                  <td>
                    {v.state}
                    {v.reason && <span class="muted"> — {v.reason}</span>}
                  </td>
                  <td class="num">{kw(v.setpointW)}</td>
                  <td class="num">{kw(v.measuredW)}</td>
                  <td class="num">{kw(short)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
