/**
 * Forecasts (#/forecasts?site=… or ?group=…): the latest load or PV forecast (P50 with the P10–P90
 * band) against the actuals, how the issued forecasts scored, and for a group the availability of
 * flexibility per forecast interval (its envelope).
 */
import { useMemo } from 'preact/hooks';
import { get } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type Series, TimeChart } from '../chart.tsx';
import { kw, Refusal, time, useLoad } from '../components/vpps-util.tsx';
import { navigate } from '../router.ts';

interface Forecast {
  subject: 'site' | 'group';
  id: string;
  kind: 'load' | 'pv';
  issuedAt: number;
  modelVersion: string;
  start: number;
  stepMs: number;
  members: number | null;
  status: { status: string; reason: string | null; at: number } | null;
  intervals: { start: number; mean: number; p10: number; p50: number; p90: number }[];
}
interface Scores {
  windowDays: number;
  models: {
    modelVersion: string;
    forecasts: number;
    metrics: {
      intervals: number;
      mae: number;
      rmse: number;
      nmae: number | null;
      skill: number | null;
      better_baseline: string;
      coverage: { p10_p90: number };
    } | null;
  }[];
  assessment: { flagged: boolean; reason: string; skill: number | null };
}
interface Envelope {
  stepMs: number;
  forecastSource: string;
  intervals: { t: number; baselineMeterW: number; upW: number; downW: number }[];
}
type Kind = 'load' | 'pv' | 'availability';
const STEP = 15 * 60_000;

/** Actual site load or PV per 15 min from telemetry (the sign convention of the forecast service). */
async function siteActuals(
  site: string,
  kind: 'load' | 'pv',
  from: number,
  to: number,
): Promise<[number, number][]> {
  const devices = await get<{ id: string; kind: string }[]>(`/sites/${encodeURIComponent(site)}/devices`);
  const sum = async (ids: string[]) => {
    if (!ids.length) return new Map<number, number>();
    const r = await get<{ t: number; sum: number }[]>(
      `/sites/${encodeURIComponent(site)}/telemetry/aggregate?point=w&devices=${ids.map(encodeURIComponent).join(',')}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&bucket=900`,
    );
    return new Map(r.map((b) => [b.t, b.sum]));
  };
  if (kind === 'pv') {
    const pv = await sum(devices.filter((d) => d.kind === 'inverter').map((d) => d.id));
    return [...pv].sort((a, b) => a[0] - b[0]);
  }
  // Site load = Σ device w (generation + discharge − charging) − meter w (export +).
  const gen = await sum(devices.filter((d) => d.kind !== 'meter').map((d) => d.id));
  const meter = await sum(devices.filter((d) => d.kind === 'meter').map((d) => d.id));
  const out: [number, number][] = [];
  for (const [t, g] of gen) {
    const m = meter.get(t);
    if (m !== undefined) out.push([t, g - m]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

export function ForecastsView(props: ViewProps) {
  const q = props.route.query;
  const site = q.get('site') ?? undefined;
  const group = q.get('group') ?? undefined;
  const kind = (q.get('kind') as Kind | null) ?? 'load';
  const sites = useLoad(() => get<{ id: string; name?: string | null }[]>('/sites'), []);
  const groups = useLoad(() => get<{ id: string; name: string }[]>('/groups'), []);
  const go = (p: { site?: string; group?: string; kind?: Kind }) => {
    const u = new URLSearchParams();
    if (p.site) u.set('site', p.site);
    if (p.group) u.set('group', p.group);
    u.set('kind', p.kind ?? kind);
    navigate(`#/forecasts?${u}`);
  };
  const subject = site ? `site:${site}` : group ? `group:${group}` : '';
  return (
    <section>
      <h1>Forecasts</h1>
      <div class="card form-row">
        <label>
          Site or group
          <select
            value={subject}
            onChange={(e) => {
              const [k, v] = (e.currentTarget as HTMLSelectElement).value.split(/:(.*)/);
              go(k === 'site' ? { site: v } : k === 'group' ? { group: v } : {});
            }}
          >
            <option value="">— choose —</option>
            <optgroup label="Groups">
              {(groups.data ?? []).map((g) => (
                <option key={g.id} value={`group:${g.id}`}>
                  {g.name} ({g.id})
                </option>
              ))}
            </optgroup>
            <optgroup label="Sites">
              {(sites.data ?? []).slice(0, 2000).map((s) => (
                <option key={s.id} value={`site:${s.id}`}>
                  {s.name ?? s.id}
                </option>
              ))}
            </optgroup>
          </select>
        </label>
        <label>
          Forecast
          <select
            value={kind}
            onChange={(e) => go({ site, group, kind: (e.currentTarget as HTMLSelectElement).value as Kind })}
          >
            <option value="load">load (consumption +)</option>
            <option value="pv">PV</option>
            {group && <option value="availability">availability of flexibility</option>}
          </select>
        </label>
      </div>
      <Refusal text={sites.error ?? groups.error} />
      {!subject && <p>Choose a site or a group.</p>}
      {subject && kind !== 'availability' && (
        <ForecastCard subject={site ? 'site' : 'group'} id={(site ?? group) as string} kind={kind} />
      )}
      {group && kind === 'availability' && <Availability group={group} />}
    </section>
  );
}

function ForecastCard(props: { subject: 'site' | 'group'; id: string; kind: 'load' | 'pv' }) {
  const base = `/${props.subject === 'site' ? 'sites' : 'groups'}/${encodeURIComponent(props.id)}/forecast`;
  const f = useLoad(() => get<Forecast>(`${base}?kind=${props.kind}`), [base, props.kind]);
  const scores = useLoad(() => get<Scores>(`${base}/scores?kind=${props.kind}`), [base, props.kind]);
  const actual = useLoad(async () => {
    if (props.subject !== 'site') return [];
    const now = Date.now();
    const from = Math.floor((now - 24 * 3_600_000) / STEP) * STEP;
    return siteActuals(props.id, props.kind, from, now);
  }, [props.subject, props.id, props.kind]);
  const series = useMemo<Series[]>(() => {
    const iv = f.data?.intervals ?? [];
    const s: Series[] = [
      {
        label: `${props.kind === 'pv' ? 'PV' : 'Load'} forecast P50`,
        unit: 'W',
        points: iv.map((i) => [i.start, i.p50]),
        band: { lower: iv.map((i) => [i.start, i.p10]), upper: iv.map((i) => [i.start, i.p90]) },
      },
    ];
    if (actual.data?.length) s.push({ label: 'Actual', unit: 'W', points: actual.data, color: '#1b2430' });
    return s;
  }, [f.data, actual.data, props.kind]);
  const fc = f.data;
  return (
    <>
      <div class="card">
        <h2>
          {props.kind === 'pv' ? 'PV' : 'Load'} forecast of {props.subject} {props.id}
        </h2>
        <Refusal text={f.error} />
        {fc && (
          <>
            <p>
              Issued {time(fc.issuedAt)} by model {fc.modelVersion}
              {fc.members !== null && `, ${fc.members} member sites`}; P10–P90 band shaded
              {props.subject === 'site' ? ', actuals of the last 24 h from telemetry' : ''}.
              {fc.status &&
                fc.status.status !== 'ok' &&
                ` Latest run: ${fc.status.status} ${fc.status.reason ?? ''}`}
            </p>
            <TimeChart title={`${props.kind} forecast with P10–P90 band`} series={series} />
          </>
        )}
      </div>
      <div class="card">
        <h2>Scores against actuals</h2>
        <Refusal text={scores.error} />
        {scores.data && (
          <>
            <p>
              {scores.data.assessment.flagged ? 'Flagged: ' : ''}
              {scores.data.assessment.reason}
            </p>
            {scores.data.models.length > 0 && (
              <table>
                <thead>
                  <tr>
                    <th>Model</th>
                    <th class="num">Forecasts</th>
                    <th class="num">Intervals</th>
                    <th class="num">MAE</th>
                    <th class="num">RMSE</th>
                    <th class="num">Skill</th>
                    <th class="num">P10–P90 coverage</th>
                  </tr>
                </thead>
                <tbody>
                  {scores.data.models.map((m) => (
                    <tr key={m.modelVersion}>
                      <td>{m.modelVersion}</td>
                      <td class="num">{m.forecasts}</td>
                      <td class="num">{m.metrics?.intervals ?? '–'}</td>
                      <td class="num">{m.metrics ? kw(m.metrics.mae) : '–'}</td>
                      <td class="num">{m.metrics ? kw(m.metrics.rmse) : '–'}</td>
                      <td class="num">{m.metrics?.skill != null ? m.metrics.skill.toFixed(2) : '–'}</td>
                      <td class="num">
                        {m.metrics ? `${(m.metrics.coverage.p10_p90 * 100).toFixed(0)} %` : '–'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </div>
    </>
  );
}

function Availability(props: { group: string }) {
  const e = useLoad(
    () => get<Envelope>(`/vpps/${encodeURIComponent(props.group)}/envelope?steps=96`),
    [props.group],
  );
  const series = useMemo<Series[]>(() => {
    const iv = e.data?.intervals ?? [];
    return [
      { label: 'Up available', unit: 'W', points: iv.map((i) => [i.t, i.upW]), color: '#2a9d5b' },
      { label: 'Down available', unit: 'W', points: iv.map((i) => [i.t, i.downW]), color: '#c0392b' },
    ];
  }, [e.data]);
  return (
    <div class="card">
      <h2>Availability of flexibility: group {props.group}</h2>
      <Refusal text={e.error} />
      {e.data && (
        <>
          <p>
            Per {Math.round(e.data.stepMs / 60000)} min from{' '}
            {e.data.forecastSource === 'provider' ? 'the site forecasts' : 'persistence (no forecast yet)'}.
          </p>
          <TimeChart title="Availability of flexibility" series={series} />
        </>
      )}
    </div>
  );
}
