/**
 * One site (#/sites/:id): its devices with live values and units, history charts (power, SoC, voltage,
 * frequency), the commands sent and where each is in its lifecycle, its limits and its place on the
 * feeder. Live values follow the `site` events of this site (coalesced by the cloud to ≤ 1/s); command
 * status follows `command` events. A site the caller may not see answers 403/404 and the page says so.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, get } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type Series, TimeChart } from '../chart.tsx';
import { onEvent } from '../live.ts';
import { TableWrap } from '../table-wrap.tsx';
import { ago, formatValue, isoTime, pointInfo, pointLabel, unitOf } from '../units.ts';

interface Site {
  id: string;
  name: string | null;
  feeder: string | null;
  node: string | null;
  contract: string | null;
  status: string;
  lastSeen: number | null;
  agentVersion: string | null;
  mode: string | null;
  limits: Record<string, number> | null;
}
interface Device {
  id: string;
  kind: string;
  protocol: string;
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  nameplate: Record<string, number>;
  controls: string[];
  node: string | null;
}
interface Latest {
  device: string;
  point: string;
  ts: number;
  value: number;
  quality?: string;
}
interface Bucket {
  device: string;
  point: string;
  t: number;
  mean: number;
}
export interface CommandRecord {
  id: string;
  deviceId: string | null;
  type: string;
  command: Record<string, unknown>;
  issuedAt: number;
  expiresAt: number;
  issuedBy: string;
  status: string;
  statusAt: number;
  applied: Record<string, number | boolean> | null;
  reason: string | null;
}

/** Range choices: label, seconds, bucket seconds (≤ ~360 buckets each). */
const RANGES: [string, number, number][] = [
  ['1 hour', 3600, 10],
  ['6 hours', 6 * 3600, 60],
  ['24 hours', 86400, 300],
  ['7 days', 7 * 86400, 1800],
];

const CHARTS: { point: string; title: string }[] = [
  { point: 'w', title: 'Active power' },
  { point: 'soc_pct', title: 'Battery state of charge' },
  { point: 'v', title: 'Voltage' },
  { point: 'hz', title: 'Frequency' },
];

const refusal = (err: unknown) =>
  err instanceof ApiError && (err.status === 403 || err.status === 404)
    ? 'This site does not exist or is not yours to see.'
    : err instanceof ApiError
      ? err.message
      : String(err);

function DeviceCard(props: { d: Device; values: Latest[] }) {
  const { d } = props;
  const now = Date.now();
  return (
    <article class="card device" aria-labelledby={`dev-${d.id}`}>
      <h3 id={`dev-${d.id}`}>
        {d.id} <span class="muted">· {d.kind}</span>
      </h3>
      <p class="muted small">
        {[d.manufacturer, d.model, d.serial && `s/n ${d.serial}`, d.protocol].filter(Boolean).join(' · ')}
        {d.node && ` · node ${d.node}`}
      </p>
      {props.values.length ? (
        <table class="points">
          <caption class="sr-only">Latest values of {d.id}</caption>
          <thead>
            <tr>
              <th scope="col">Point</th>
              <th scope="col" class="num">
                Value
              </th>
              <th scope="col">Age</th>
            </tr>
          </thead>
          <tbody>
            {props.values.map((v) => (
              <tr
                key={v.point}
                data-point={`${d.id}.${v.point}`}
                class={v.quality && v.quality !== 'good' ? 'q-bad' : ''}
              >
                <th scope="row" title={pointInfo(v.point)?.description}>
                  {pointLabel(v.point)}
                  <span class="muted small"> {v.point}</span>
                </th>
                <td class="num value">{formatValue(v.point, v.value)}</td>
                <td class="small">
                  {ago(v.ts, now)}
                  {v.quality && v.quality !== 'good' && ` (${v.quality})`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>No values received yet.</p>
      )}
      {Object.keys(d.nameplate).length > 0 && (
        <p class="small">
          Nameplate:{' '}
          {Object.entries(d.nameplate)
            .map(([k, v]) => `${k} ${formatValue(k, v)}`)
            .join(' · ')}
        </p>
      )}
      {d.controls.length > 0 && <p class="small">Controls: {d.controls.join(', ')}</p>}
    </article>
  );
}

function History(props: { site: string }) {
  const [range, setRange] = useState(0);
  const [buckets, setBuckets] = useState<Bucket[]>();
  const [span, setSpan] = useState<[number, number]>([0, 0]);
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  const [, secs, bucket] = RANGES[range] as [string, number, number];
  useEffect(() => {
    let live = true;
    const to = Date.now();
    const from = to - secs * 1000;
    get<Bucket[]>(
      `/sites/${encodeURIComponent(props.site)}/telemetry/history?from=${from}&to=${to}&bucket=${bucket}&points=w,soc_pct,v,hz`,
    ).then(
      (b) => {
        if (!live) return;
        setSpan([from, to]);
        setBuckets(b);
        setError('');
      },
      (err) => live && setError(err instanceof ApiError ? err.message : String(err)),
    );
    return () => {
      live = false;
    };
  }, [props.site, range, reload]);
  const charts = useMemo(() => {
    const byPoint = new Map<string, Map<string, [number, number][]>>();
    for (const b of buckets ?? []) {
      const devs = byPoint.get(b.point) ?? new Map<string, [number, number][]>();
      byPoint.set(b.point, devs);
      const pts = devs.get(b.device) ?? [];
      devs.set(b.device, pts);
      pts.push([b.t, b.mean]);
    }
    return CHARTS.map((c) => {
      const devs = byPoint.get(c.point) ?? new Map();
      const series: Series[] = [...devs.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([device, pts]) => ({
          label: device,
          unit: unitOf(c.point),
          points: pts.sort((x: [number, number], y: [number, number]) => x[0] - y[0]),
        }));
      return { ...c, series };
    });
  }, [buckets]);
  return (
    <section aria-labelledby="history-h">
      <h2 id="history-h">History</h2>
      <fieldset class="range-pick">
        <legend class="sr-only">History range</legend>
        {RANGES.map(([label], i) => (
          <button type="button" key={label} aria-pressed={i === range} onClick={() => setRange(i)}>
            {label}
          </button>
        ))}
        <button type="button" onClick={() => setReload((n) => n + 1)}>
          Refresh
        </button>
      </fieldset>
      <p class="muted small">Drag across a chart to zoom in; double-click to zoom out.</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!buckets && !error && <p>Loading history…</p>}
      <div class="charts">
        {buckets &&
          charts.map((c) =>
            c.series.length ? (
              <div class="card" key={c.point} data-chart={c.point} data-series={c.series.length}>
                <TimeChart
                  title={`${c.title} (${unitOf(c.point)})`}
                  series={c.series}
                  height={200}
                  xRange={span}
                />
              </div>
            ) : (
              <div class="card" key={c.point} data-chart={c.point} data-series={0}>
                <h3>{c.title}</h3>
                <p class="muted">No {c.title.toLowerCase()} in this range.</p>
              </div>
            ),
          )}
      </div>
    </section>
  );
}

interface PowerFlow {
  feeder: string;
  at: number;
  converged: boolean;
  error?: string;
  result: {
    buses: { bus: string; v_pu: number }[];
    branches: { from_bus: string; to_bus: string; p_kw: number; loading_pct?: number }[];
  } | null;
  sites: { site: string; bus: string; p_w: number; q_var: number; ts: number }[];
  unmeasured: { site: string; reason: string }[];
}

/** Where the site sits on the feeder, from the latest power flow (grid operators: network:operate). */
interface CommissioningRecord {
  uploadedBy: string;
  uploadedAt: number;
  report: {
    at: string;
    endpoint: string;
    unitsScanned: number[];
    devices: {
      unit: number;
      kind?: string;
      manufacturer?: string;
      model?: string;
      serial?: string;
      firmware?: string;
      models: number[];
      testWrite: { ok: boolean; detail: string };
      errors: string[];
    }[];
  };
}

/** The installer's latest report (gridlayer commission --upload): what was found and how it tested. */
function Commissioning(props: { site: string }) {
  const [rec, setRec] = useState<CommissioningRecord | null>();
  const [error, setError] = useState('');
  useEffect(() => {
    get<CommissioningRecord>(`/sites/${encodeURIComponent(props.site)}/commissioning`).then(setRec, (e) => {
      if (e instanceof ApiError && e.status === 404) setRec(null);
      else setError(e instanceof ApiError ? e.message : String(e));
    });
  }, [props.site]);
  if (error) return <p class="muted">Commissioning report: {error}</p>;
  if (rec === undefined) return <p class="muted">Loading the commissioning report…</p>;
  if (rec === null)
    return (
      <p>
        No report stored yet: the installer uploads one with <code>gridlayer commission --upload</code>.
      </p>
    );
  const r = rec.report;
  return (
    <div class="commissioning">
      <p>
        Commissioned {isoTime(Date.parse(r.at))} on {r.endpoint} (unit ids {r.unitsScanned.join(', ')}{' '}
        probed); uploaded by {rec.uploadedBy} {ago(rec.uploadedAt)}.
      </p>
      <TableWrap label="Devices found at commissioning">
        <table>
          <thead>
            <tr>
              <th>Unit</th>
              <th>Kind</th>
              <th>Manufacturer · model</th>
              <th>Serial</th>
              <th>Firmware</th>
              <th>SunSpec models</th>
              <th>Test write</th>
            </tr>
          </thead>
          <tbody>
            {r.devices.map((d) => (
              <tr key={d.unit}>
                <td class="num">{d.unit}</td>
                <td>{d.kind ?? '?'}</td>
                <td>
                  {d.manufacturer ?? '?'} · {d.model ?? '?'}
                </td>
                <td>{d.serial ?? '?'}</td>
                <td>{d.firmware ?? '?'}</td>
                <td>{d.models.join(', ')}</td>
                <td class={d.testWrite.ok ? 'status-online' : 'status-offline'}>
                  {d.testWrite.ok ? 'passed' : 'failed'}: {d.testWrite.detail}
                  {d.errors.length ? ` (${d.errors.join('; ')})` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </div>
  );
}

function FeederPlace(props: { site: string }) {
  const [pf, setPf] = useState<PowerFlow>();
  const [error, setError] = useState('');
  useEffect(() => {
    get<PowerFlow>('/network/powerflow').then(setPf, (e) =>
      setError(e instanceof ApiError ? e.message : String(e)),
    );
  }, [props.site]);
  if (error) return <p class="muted">Power flow: {error}</p>;
  if (!pf) return <p class="muted">Loading the power flow…</p>;
  const placed = pf.sites.find((x) => x.site === props.site);
  const unmeasured = pf.unmeasured.find((x) => x.site === props.site);
  if (!placed)
    return (
      <p>
        Feeder {pf.feeder}:{' '}
        {unmeasured ? `not in the power flow (${unmeasured.reason})` : 'the site is not placed on it'}.
      </p>
    );
  const bus = pf.result?.buses.find((b) => b.bus === placed.bus);
  const feeding = pf.result?.branches.find((b) => b.to_bus === placed.bus);
  return (
    <dl class="facts feeder-place">
      <div>
        <dt>Feeder · bus</dt>
        <dd>
          {pf.feeder} · {placed.bus}
        </dd>
      </div>
      <div>
        <dt>Bus voltage</dt>
        <dd>{bus ? `${bus.v_pu.toFixed(3)} pu` : pf.error ? `no solution (${pf.error})` : '—'}</dd>
      </div>
      {feeding && (
        <div>
          <dt>
            Branch {feeding.from_bus}→{feeding.to_bus}
          </dt>
          <dd>
            {formatValue('w', feeding.p_kw * 1000)}
            {feeding.loading_pct !== undefined && ` · ${feeding.loading_pct.toFixed(0)} % loaded`}
          </dd>
        </div>
      )}
      <div>
        <dt>Site export at the bus</dt>
        <dd>
          {formatValue('w', placed.p_w)} · {formatValue('var', placed.q_var)}
        </dd>
      </div>
      <div>
        <dt>Power flow of</dt>
        <dd>
          {ago(pf.at)} · <a href="#/network">network view</a>
        </dd>
      </div>
    </dl>
  );
}

const OPEN = ['pending', 'sent'];
/** Fields of the wire command that are not its request (schema version, ids, times, the type itself). */
const ASSIGNED = new Set(['v', 'id', 'site', 'issuedAt', 'expiresAt', 'type', 'device']);

export function CommandTable(props: { commands: CommandRecord[] }) {
  if (!props.commands.length) return <p>No commands sent to this site yet.</p>;
  return (
    <TableWrap label="Commands">
      <table class="commands">
        <caption class="sr-only">Commands, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Issued</th>
            <th scope="col">Command</th>
            <th scope="col">Device</th>
            <th scope="col">By</th>
            <th scope="col">Status</th>
            <th scope="col">Applied / reason</th>
          </tr>
        </thead>
        <tbody>
          {props.commands.map((c) => {
            const values = Object.entries(c.command).filter(([k]) => !ASSIGNED.has(k));
            return (
              <tr key={c.id} data-command={c.id}>
                <td>{isoTime(c.issuedAt)}</td>
                <td>
                  {c.type}{' '}
                  {values
                    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatValue(k, v) : String(v)}`)
                    .join(', ')}
                </td>
                <td>{c.deviceId ?? 'site'}</td>
                <td>{c.issuedBy}</td>
                <td>
                  <span class={`cmd-status cmd-${c.status}`}>{c.status}</span>
                  <span class="muted small">
                    {' '}
                    {OPEN.includes(c.status) ? `expires ${ago(c.expiresAt)}` : ago(c.statusAt)}
                  </span>
                </td>
                <td>
                  {c.applied
                    ? Object.entries(c.applied)
                        .map(([k, v]) => `${k} ${typeof v === 'number' ? formatValue(k, v) : String(v)}`)
                        .join(', ')
                    : ''}
                  {c.reason && <span class="reason"> {c.reason}</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableWrap>
  );
}

export function SiteView(props: ViewProps) {
  const id = props.route.params[0] ?? '';
  const path = `/sites/${encodeURIComponent(id)}`;
  const [site, setSite] = useState<Site>();
  const [devices, setDevices] = useState<Device[]>([]);
  const [latest, setLatest] = useState<Latest[]>([]);
  const [commands, setCommands] = useState<CommandRecord[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    setSite(undefined);
    setError('');
    let live = true;
    const guard =
      <T,>(f: (v: T) => void) =>
      (v: T) => {
        if (live) f(v);
      };
    get<Site>(path).then(
      guard(setSite),
      guard((e: unknown) => setError(refusal(e))),
    );
    get<Device[]>(`${path}/devices`).then(guard(setDevices), () => undefined);
    get<Latest[]>(`${path}/telemetry/latest`).then(guard(setLatest), () => undefined);
    const loadCommands = () =>
      get<CommandRecord[]>(`${path}/commands?limit=50`).then(guard(setCommands), () => undefined);
    loadCommands();
    // Live values: the cloud pushes a `site` event when this site reports (≤ 1/s); the values are
    // refreshed then, at most every 2 s, and never by a timer of our own.
    let pending: ReturnType<typeof setTimeout> | undefined;
    let lastLoad = 0;
    const refreshLatest = () => {
      if (pending) return;
      const wait = Math.max(0, 2000 - (Date.now() - lastLoad));
      pending = setTimeout(() => {
        pending = undefined;
        lastLoad = Date.now();
        get<Latest[]>(`${path}/telemetry/latest`).then(guard(setLatest), () => undefined);
      }, wait);
    };
    const offs = [
      onEvent<{ id: string; status?: string; mode?: string | null; lastSeen?: number | null }>(
        'site',
        (e) => {
          if (e?.id !== id) return;
          setSite((s) =>
            s
              ? {
                  ...s,
                  status: e.status ?? s.status,
                  mode: e.mode ?? s.mode,
                  lastSeen: e.lastSeen ?? s.lastSeen,
                }
              : s,
          );
          refreshLatest();
        },
      ),
      onEvent<{ id: string; site: string; status: string }>('command', (e) => {
        if (e?.site !== id) return;
        setCommands((cs) =>
          cs.map((c) => (c.id === e.id ? { ...c, status: e.status, statusAt: Date.now() } : c)),
        );
        loadCommands();
      }),
    ];
    return () => {
      live = false;
      clearTimeout(pending);
      for (const off of offs) off();
    };
  }, [id]);
  if (error)
    return (
      <section>
        <h1>Site {id}</h1>
        <p class="error refusal" role="alert">
          {error}
        </p>
        <p>
          <a href="#/fleet">Back to the fleet</a>
        </p>
      </section>
    );
  if (!site)
    return (
      <section>
        <h1>Site {id}</h1>
        <p>Loading…</p>
      </section>
    );
  const byDevice = new Map<string, Latest[]>();
  for (const l of latest) {
    const list = byDevice.get(l.device) ?? [];
    list.push(l);
    byDevice.set(l.device, list);
  }
  // Devices that sent values before their capabilities were registered still show.
  const known = new Set(devices.map((d) => d.id));
  const extra = [...byDevice.keys()].filter((d) => !known.has(d));
  const allDevices: Device[] = [
    ...devices,
    ...extra.map((d) => ({
      id: d,
      kind: 'device',
      protocol: '',
      manufacturer: null,
      model: null,
      serial: null,
      nameplate: {},
      controls: [],
      node: null,
    })),
  ];
  const limits = Object.entries(site.limits ?? {});
  return (
    <section class="site">
      <h1>
        {site.name ?? site.id} {site.name && <span class="muted">{site.id}</span>}
      </h1>
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <span class={`status status-${site.status}`}>{site.status}</span>
            {site.mode && ` · ${site.mode}`}
          </dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd>{ago(site.lastSeen)}</dd>
        </div>
        <div>
          <dt>Feeder</dt>
          <dd>{site.feeder ?? 'not assigned'}</dd>
        </div>
        <div>
          <dt>Network node</dt>
          <dd>{site.node ?? 'not assigned'}</dd>
        </div>
        <div>
          <dt>Contract</dt>
          <dd>{site.contract ?? '—'}</dd>
        </div>
        <div>
          <dt>Agent</dt>
          <dd>{site.agentVersion ?? '—'}</dd>
        </div>
      </dl>
      <h2>Devices</h2>
      <div class="devices">
        {allDevices.length ? (
          allDevices.map((d) => <DeviceCard key={d.id} d={d} values={byDevice.get(d.id) ?? []} />)
        ) : (
          <p>No devices registered yet (the gateway registers them when it connects).</p>
        )}
      </div>
      <History site={id} />
      {props.me.permissions?.includes('network:operate') && (
        <>
          <h2>Place on the feeder</h2>
          <FeederPlace site={id} />
        </>
      )}
      <h2>Limits at the connection point</h2>
      {limits.length ? (
        <dl class="facts limits">
          {limits.map(([k, v]) => (
            <div key={k}>
              <dt>{k.replace(/_/g, ' ')}</dt>
              <dd>{formatValue(k, v)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p>The gateway reported no import/export limits.</p>
      )}
      <h2>Commands</h2>
      <CommandTable commands={commands} />
      <h2>Commissioning report</h2>
      <Commissioning site={id} />
    </section>
  );
}
