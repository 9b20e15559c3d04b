/**
 * VPPs: the list and a create form (#/vpps); one VPP (#/vpps/:id) with its members (edit), the live
 * aggregate, the history of its total power, the flexibility envelope per forecast interval, its
 * dispatches and a dispatch form whose preview (POST /dispatches/preview) says what is infeasible and why.
 */
import { useMemo, useState } from 'preact/hooks';
import { api, get, post } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type Series, TimeChart } from '../chart.tsx';
import { errorText, kw, Refusal, time, useInterval, useLoad } from '../components/vpps-util.tsx';
import { href, navigate } from '../router.ts';

interface Group {
  id: string;
  name: string;
  kind: string;
  description: string | null;
  createdAt: number;
  sites: string[];
}
interface Aggregate {
  at: number;
  sites: number;
  sitesOnline: number;
  meterW: number;
  pvW: number;
  batteryW: number;
  devices: number;
  staleDevices: number;
  storedWh: number;
  capacityWh: number;
  socPct: number | null;
}
interface Envelope {
  at: number;
  now: { upW: number; downW: number };
  stepMs: number;
  forecastSource: string;
  intervals: {
    t: number;
    baselineMeterW: number;
    upW: number;
    downW: number;
    upWh: number;
    downWh: number;
  }[];
}
interface Feasibility {
  feasible: boolean;
  requiredDeltaW: number;
  achievableDeltaW: number;
  shortfallW: number;
  reasons: string[];
  warnings: string[];
  checks: {
    deviceLimits: { upW: number; downW: number };
    stateOfCharge: { upW: number; downW: number; hours: number };
    siteLimits: { upW: number; downW: number };
    network: { checked: boolean; feasible: boolean | null; reasons: string[] };
  };
}
interface Preview {
  accepted: boolean;
  refusal?: string;
  baselineW: number;
  targetMeterW: number;
  start: number;
  end: number;
  feasibility: Feasibility;
}
export interface DispatchSummary {
  id: string;
  group: string;
  status: string;
  target: { kind: string; w: number };
  targetMeterW: number;
  start: number;
  end: number;
  createdAt: number;
}

const splitSites = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

export function VppsView(props: ViewProps) {
  const id = props.route.params[0];
  return id ? <VppDetail id={id} /> : <VppList />;
}

function VppList() {
  const vpps = useLoad(() => get<Group[]>('/vpps'), []);
  return (
    <section>
      <h1>VPPs</h1>
      <div class="card">
        <h2>Your VPPs</h2>
        <Refusal text={vpps.error} />
        {vpps.data && vpps.data.length === 0 && <p>No VPP yet: create one below.</p>}
        {vpps.data && vpps.data.length > 0 && (
          <table>
            <thead>
              <tr>
                <th>VPP</th>
                <th class="num">Sites</th>
                <th>Description</th>
              </tr>
            </thead>
            <tbody>
              {vpps.data.map((g) => (
                <tr key={g.id}>
                  <td>
                    <a href={href('vpps', g.id)}>{g.name}</a> <span class="muted">{g.id}</span>
                  </td>
                  <td class="num">{g.sites.length}</td>
                  <td>{g.description ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <CreateVpp onCreated={(g) => navigate(href('vpps', g))} />
    </section>
  );
}

function CreateVpp(props: { onCreated: (id: string) => void }) {
  const [by, setBy] = useState<'sites' | 'feeder' | 'node'>('sites');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="card vpp-create"
      aria-label="Create a VPP"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget as HTMLFormElement);
        const v = (k: string) => String(f.get(k) ?? '').trim();
        const select =
          by === 'sites'
            ? { by, sites: splitSites(v('sites')) }
            : by === 'feeder'
              ? { by, feeder: v('selector') }
              : { by, node: v('selector') };
        setBusy(true);
        setError(undefined);
        try {
          await post('/vpps', {
            id: v('id'),
            name: v('name'),
            ...(v('description') ? { description: v('description') } : {}),
            select,
          });
          props.onCreated(v('id'));
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Create a VPP</h2>
      <div class="form-row">
        <label>
          Id
          <input name="id" required pattern="[A-Za-z0-9_.\-]{1,64}" placeholder="vpp-north" />
        </label>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Members by
          <select
            value={by}
            onChange={(e) => setBy((e.currentTarget as HTMLSelectElement).value as typeof by)}
          >
            <option value="sites">explicit sites</option>
            <option value="feeder">feeder</option>
            <option value="node">network node</option>
          </select>
        </label>
      </div>
      {by === 'sites' ? (
        <label>
          Sites (comma or space separated)
          <textarea name="sites" rows={2} required />
        </label>
      ) : (
        <label>
          {by === 'feeder' ? 'Feeder id' : 'Node id'}
          <input name="selector" required />
        </label>
      )}
      <label>
        Description
        <input name="description" maxLength={1000} />
      </label>
      <Refusal text={error} />
      <button type="submit" disabled={busy}>
        Create VPP
      </button>
    </form>
  );
}

function VppDetail(props: { id: string }) {
  const { id } = props;
  const group = useLoad(() => get<Group>(`/groups/${encodeURIComponent(id)}`), [id]);
  const agg = useLoad(() => get<Aggregate>(`/vpps/${encodeURIComponent(id)}/aggregate`), [id]);
  const env = useLoad(() => get<Envelope>(`/vpps/${encodeURIComponent(id)}/envelope?steps=32`), [id]);
  const dispatches = useLoad(
    () => get<DispatchSummary[]>(`/dispatches?group=${encodeURIComponent(id)}`),
    [id],
  );
  useInterval(agg.reload, 5000);
  if (group.error)
    return (
      <section>
        <h1>VPP {id}</h1>
        <Refusal text={group.error} />
      </section>
    );
  const g = group.data;
  return (
    <section>
      <p>
        <a href="#/vpps">← VPPs</a>
      </p>
      <h1>{g ? `${g.name} (${g.id})` : `VPP ${id}`}</h1>
      {agg.data && <AggregateCard a={agg.data} />}
      {g && <HistoryChart id={id} sites={g.sites} />}
      {env.data && <EnvelopeChart e={env.data} />}
      <Refusal text={env.error} />
      <DispatchForm
        group={id}
        onDispatched={(did) => {
          dispatches.reload();
          navigate(href('dispatches', did));
        }}
      />
      <div class="card">
        <h2>Dispatches</h2>
        {dispatches.data?.length === 0 && <p>None yet.</p>}
        {dispatches.data && dispatches.data.length > 0 && (
          <table>
            <thead>
              <tr>
                <th>Dispatch</th>
                <th>Status</th>
                <th class="num">Target at meters</th>
                <th>Window</th>
              </tr>
            </thead>
            <tbody>
              {dispatches.data.map((d) => (
                <tr key={d.id}>
                  <td>
                    <a href={href('dispatches', d.id)}>{d.id}</a>
                  </td>
                  <td>{d.status}</td>
                  <td class="num">{kw(d.targetMeterW)}</td>
                  <td>
                    {time(d.start)} – {time(d.end)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {g && <Members g={g} onSaved={group.reload} />}
    </section>
  );
}

function AggregateCard(props: { a: Aggregate }) {
  const a = props.a;
  return (
    <div class="card">
      <h2>Now</h2>
      <dl class="vpp-figures">
        <div>
          <dt>Sites online</dt>
          <dd>
            {a.sitesOnline} / {a.sites}
          </dd>
        </div>
        <div>
          <dt>At the meters (export +)</dt>
          <dd>{kw(a.meterW)}</dd>
        </div>
        <div>
          <dt>PV</dt>
          <dd>{kw(a.pvW)}</dd>
        </div>
        <div>
          <dt>Batteries (discharge +)</dt>
          <dd>{kw(a.batteryW)}</dd>
        </div>
        <div>
          <dt>Stored</dt>
          <dd>
            {(a.storedWh / 1000).toFixed(1)} / {(a.capacityWh / 1000).toFixed(1)} kWh
          </dd>
        </div>
        <div>
          <dt>SoC</dt>
          <dd>{a.socPct === null ? '–' : `${a.socPct.toFixed(0)} %`}</dd>
        </div>
        <div>
          <dt>Stale devices</dt>
          <dd>
            {a.staleDevices} / {a.devices}
          </dd>
        </div>
      </dl>
    </div>
  );
}

const KIND_SERIES: [kind: string, label: string, color: string][] = [
  ['meter', 'At the meters (export +)', '#1f6fb2'],
  ['inverter', 'PV', '#d9731a'],
  ['battery', 'Batteries (discharge +)', '#2a9d5b'],
];
/** Device ids are looked up for this many member sites at most (one request each). */
const HISTORY_SITES = 50;

/**
 * History of the VPP's power by device kind: the group aggregate (Σ over the members of device
 * means per bucket) of the member devices of each kind, found from the first sites' device lists.
 */
function HistoryChart(props: { id: string; sites: string[] }) {
  const [hours, setHours] = useState(6);
  const kinds = useLoad(async () => {
    const lists = await Promise.all(
      props.sites
        .slice(0, HISTORY_SITES)
        .map((s) => get<{ id: string; kind: string }[]>(`/sites/${encodeURIComponent(s)}/devices`)),
    );
    const byKind = new Map<string, Set<string>>();
    for (const d of lists.flat()) byKind.set(d.kind, (byKind.get(d.kind) ?? new Set()).add(d.id));
    return byKind;
  }, [props.sites.join(',')]);
  const h = useLoad(async () => {
    if (!kinds.data) return undefined;
    const from = new Date(Date.now() - hours * 3_600_000).toISOString();
    const bucket = hours <= 6 ? 60 : hours <= 24 ? 300 : 1800;
    const out: Series[] = [];
    for (const [kind, label, color] of KIND_SERIES) {
      const ids = [...(kinds.data.get(kind) ?? [])];
      if (!ids.length) continue;
      const b = await get<{ t: number; sum: number }[]>(
        `/groups/${encodeURIComponent(props.id)}/aggregate?point=w&devices=${ids.map(encodeURIComponent).join(',')}&from=${encodeURIComponent(from)}&bucket=${bucket}`,
      );
      out.push({ label, unit: 'W', color, points: b.map((x) => [x.t, x.sum]) });
    }
    return out;
  }, [props.id, hours, kinds.data]);
  const points = Math.max(0, ...(h.data ?? []).map((x) => x.points.length));
  return (
    <div class="card">
      <h2>Aggregate power</h2>
      <label class="inline">
        Window
        <select
          value={hours}
          onChange={(e) => setHours(Number((e.currentTarget as HTMLSelectElement).value))}
        >
          <option value={1}>1 h</option>
          <option value={6}>6 h</option>
          <option value={24}>24 h</option>
          <option value={168}>7 d</option>
        </select>
      </label>
      <Refusal text={kinds.error ?? h.error} />
      {props.sites.length > HISTORY_SITES && (
        <p class="muted">Devices of the first {HISTORY_SITES} sites' kinds are charted.</p>
      )}
      {h.data && points < 2 && <p>Not enough telemetry in this window yet.</p>}
      {h.data && points >= 2 && <TimeChart title="Aggregate power by device kind" series={h.data} />}
    </div>
  );
}

function EnvelopeChart(props: { e: Envelope }) {
  const e = props.e;
  const series = useMemo<Series[]>(
    () => [
      {
        label: 'Baseline at meters',
        unit: 'W',
        points: e.intervals.map((i) => [i.t, i.baselineMeterW]),
        band: {
          lower: e.intervals.map((i) => [i.t, i.baselineMeterW - i.downW]),
          upper: e.intervals.map((i) => [i.t, i.baselineMeterW + i.upW]),
        },
      },
      {
        label: 'Up (more export)',
        unit: 'W',
        points: e.intervals.map((i) => [i.t, i.upW]),
        color: '#2a9d5b',
      },
      {
        label: 'Down (less export)',
        unit: 'W',
        points: e.intervals.map((i) => [i.t, i.downW]),
        color: '#c0392b',
      },
    ],
    [e],
  );
  return (
    <div class="card">
      <h2>Flexibility envelope</h2>
      <p>
        Now: up {kw(e.now.upW)}, down {kw(e.now.downW)}. Per {Math.round(e.stepMs / 60000)}-minute interval
        from the{' '}
        {e.forecastSource === 'provider' ? 'site forecasts' : 'persistence of the present (no forecast yet)'}.
        The band is the meter power the VPP can reach.
      </p>
      <TimeChart title="Flexibility envelope" series={series} />
      <details>
        <summary>Envelope as a table</summary>
        <table>
          <thead>
            <tr>
              <th>Interval</th>
              <th class="num">Baseline</th>
              <th class="num">Up</th>
              <th class="num">Down</th>
              <th class="num">Up energy</th>
              <th class="num">Down energy</th>
            </tr>
          </thead>
          <tbody>
            {e.intervals.map((i) => (
              <tr key={i.t}>
                <td>{time(i.t)}</td>
                <td class="num">{kw(i.baselineMeterW)}</td>
                <td class="num">{kw(i.upW)}</td>
                <td class="num">{kw(i.downW)}</td>
                <td class="num">{(i.upWh / 1000).toFixed(1)} kWh</td>
                <td class="num">{(i.downWh / 1000).toFixed(1)} kWh</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}

function DispatchForm(props: { group: string; onDispatched: (id: string) => void }) {
  const [kind, setKind] = useState<'change' | 'meter_power'>('change');
  const [kwValue, setKw] = useState('1');
  const [minutes, setMinutes] = useState('15');
  const [intervalS, setIntervalS] = useState('60');
  const [allowPartial, setAllowPartial] = useState(false);
  const [preview, setPreview] = useState<Preview>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const body = () => ({
    group: props.group,
    target: { kind, w: Math.round(Number(kwValue) * 1000) },
    end: Date.now() + Number(minutes) * 60_000,
    allowPartial,
    intervalSeconds: Number(intervalS),
  });
  const run = async (what: 'preview' | 'send') => {
    setBusy(true);
    setError(undefined);
    try {
      if (what === 'preview') setPreview(await post<Preview>('/dispatches/preview', body()));
      else props.onDispatched((await post<{ id: string }>('/dispatches', body())).id);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const changed = () => setPreview(undefined);
  return (
    <form
      class="card"
      aria-label="Dispatch"
      onSubmit={(e) => {
        e.preventDefault();
        void run('send');
      }}
    >
      <h2>Dispatch</h2>
      <div class="form-row">
        <label>
          Target
          <select
            value={kind}
            onChange={(e) => {
              setKind((e.currentTarget as HTMLSelectElement).value as typeof kind);
              changed();
            }}
          >
            <option value="change">change against baseline</option>
            <option value="meter_power">meter power (Σ export)</option>
          </select>
        </label>
        <label>
          Power (kW, export +)
          <input
            type="number"
            step="0.1"
            required
            value={kwValue}
            onInput={(e) => {
              setKw((e.currentTarget as HTMLInputElement).value);
              changed();
            }}
          />
        </label>
        <label>
          Duration (minutes)
          <input
            type="number"
            min="1"
            max="1440"
            required
            value={minutes}
            onInput={(e) => {
              setMinutes((e.currentTarget as HTMLInputElement).value);
              changed();
            }}
          />
        </label>
      </div>
      <label>
        Performance interval (s)
        <input
          type="number"
          min="1"
          max="3600"
          required
          value={intervalS}
          onInput={(e) => setIntervalS((e.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <label class="check">
        <input
          type="checkbox"
          checked={allowPartial}
          onChange={(e) => {
            setAllowPartial((e.currentTarget as HTMLInputElement).checked);
            changed();
          }}
        />
        Accept a partial delivery (shortfall stated) instead of a refusal
      </label>
      <div class="buttons">
        <button type="button" disabled={busy} onClick={() => void run('preview')}>
          Check feasibility
        </button>
        <button type="submit" disabled={busy}>
          Dispatch now
        </button>
      </div>
      <Refusal text={error} />
      {preview && <PreviewCard p={preview} />}
    </form>
  );
}

function PreviewCard(props: { p: Preview }) {
  const { p } = props;
  const f = p.feasibility;
  return (
    <section class={`preview ${p.accepted ? 'ok' : 'bad'}`} aria-label="Feasibility preview">
      <h3>{p.accepted ? (f.feasible ? 'Feasible' : 'Accepted with a shortfall') : 'Infeasible'}</h3>
      <p>
        Baseline {kw(p.baselineW)} → target {kw(p.targetMeterW)} at the meters: {kw(f.requiredDeltaW)} needed,{' '}
        {kw(f.achievableDeltaW)} achievable, shortfall {kw(f.shortfallW)}.
      </p>
      {p.refusal && <p class="error">{p.refusal}</p>}
      {f.reasons.length > 0 && (
        <ul class="reasons">
          {f.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      {f.warnings.length > 0 && (
        <ul class="warnings">
          {f.warnings.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      <table>
        <thead>
          <tr>
            <th>Check</th>
            <th class="num">Up</th>
            <th class="num">Down</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>Device limits</td>
            <td class="num">{kw(f.checks.deviceLimits.upW)}</td>
            <td class="num">{kw(f.checks.deviceLimits.downW)}</td>
          </tr>
          <tr>
            <td>State of charge over {f.checks.stateOfCharge.hours.toFixed(2)} h</td>
            <td class="num">{kw(f.checks.stateOfCharge.upW)}</td>
            <td class="num">{kw(f.checks.stateOfCharge.downW)}</td>
          </tr>
          <tr>
            <td>Site limits</td>
            <td class="num">{kw(f.checks.siteLimits.upW)}</td>
            <td class="num">{kw(f.checks.siteLimits.downW)}</td>
          </tr>
        </tbody>
      </table>
      <p>
        Network:{' '}
        {f.checks.network.checked
          ? f.checks.network.feasible
            ? 'feasible'
            : `infeasible — ${f.checks.network.reasons.join('; ')}`
          : f.checks.network.reasons.join('; ') || 'not checked'}
      </p>
    </section>
  );
}

function Members(props: { g: Group; onSaved: () => void }) {
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);
  return (
    <form
      class="card"
      aria-label="Edit VPP"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget as HTMLFormElement);
        setError(undefined);
        setSaved(false);
        try {
          const name = String(f.get('name') ?? '').trim();
          const description = String(f.get('description') ?? '').trim();
          await api('PATCH', `/groups/${encodeURIComponent(props.g.id)}`, {
            name,
            description: description || null,
          });
          await api('PUT', `/groups/${encodeURIComponent(props.g.id)}/sites`, {
            sites: splitSites(String(f.get('sites') ?? '')),
          });
          setSaved(true);
          props.onSaved();
        } catch (err) {
          setError(errorText(err));
        }
      }}
    >
      <h2>Edit</h2>
      <label>
        Name
        <input name="name" required defaultValue={props.g.name} />
      </label>
      <label>
        Description
        <input name="description" defaultValue={props.g.description ?? ''} />
      </label>
      <label>
        Member sites ({props.g.sites.length})
        <textarea name="sites" rows={3} defaultValue={props.g.sites.join(', ')} />
      </label>
      <Refusal text={error} />
      {saved && <p role="status">Saved.</p>}
      <button type="submit">Save</button>
    </form>
  );
}
