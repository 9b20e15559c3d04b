/**
 * Network (#/network): the feeder as a one-line diagram (SVG, drawn here: the radial tree from the
 * substation, each lateral on its own row) coloured by bus voltage and branch loading from the latest
 * power flow, the violations, and the DLMPs by bus with their components from the market's prices.
 */
import { useMemo, useState } from 'preact/hooks';
import { ApiError, get } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { Refusal, time, useLoad } from '../components/vpps-util.tsx';

interface PowerFlow {
  feeder: string;
  at: number;
  converged: boolean;
  error?: string;
  result: {
    buses: { bus: string | number; v_pu: number; angle_deg: number }[];
    branches: {
      from_bus: string | number;
      to_bus: string | number;
      p_kw: number;
      q_kvar: number;
      loss_kw: number;
      loading_pct?: number;
    }[];
    losses_kw: number;
    min_voltage: { bus: string | number; v_pu: number } | number;
    max_voltage: { bus: string | number; v_pu: number } | number;
  } | null;
  violations: { kind?: string; message?: string; [k: string]: unknown }[];
  sites: { site?: string; bus?: string | number; [k: string]: unknown }[];
  unmeasured: unknown[];
}
export interface Price {
  runId: string;
  market: string;
  intervalStart: number;
  bus: string;
  dlmp: number;
  energy: number;
  loss: number;
  congestion: number;
  voltage: number;
}

/** Voltage band colours: within ±3 % green, ±5 % amber, beyond red. */
export function voltageColor(v: number): string {
  const d = Math.abs(v - 1);
  return d <= 0.03 ? '#1e7a46' : d <= 0.05 ? '#b07800' : '#b3261e';
}
export function loadingColor(p?: number): string {
  if (p === undefined) return '#8a94a1';
  return p < 60 ? '#1e7a46' : p < 90 ? '#b07800' : '#b3261e';
}

interface Laid {
  nodes: { bus: string; x: number; y: number; depth: number }[];
  /** Tree edges; `tie` marks a branch that closes a loop (a tie line, usually open): drawn dashed. */
  edges: { from: string; to: string; i: number; tie?: boolean }[];
  cols: number;
  rows: number;
}

/**
 * Lays a feeder out as a one-line diagram: a spanning tree from the first bus (the substation),
 * depth along x; the child with the largest subtree continues its parent's row (the trunk), the
 * other laterals start rows below. Branches that carry flow join the tree first, so an open tie
 * (no flow) is not mistaken for a line of the radial feeder; whatever closes a loop is a tie.
 */
export function layoutFeeder(
  buses: string[],
  branches: { from: string; to: string; live?: boolean }[],
): Laid {
  const parent = new Map<string, string>(buses.map((b) => [b, b]));
  const find = (b: string): string => {
    let r = b;
    while (parent.get(r) !== r) r = parent.get(r) ?? r;
    parent.set(b, r);
    return r;
  };
  const adj = new Map<string, { to: string; i: number }[]>();
  const inTree = new Set<number>();
  const order = branches.map((b, i) => ({ b, i })).sort((x, y) => Number(!!y.b.live) - Number(!!x.b.live));
  for (const { b, i } of order) {
    for (const x of [b.from, b.to]) if (!parent.has(x)) parent.set(x, x);
    const [ra, rb] = [find(b.from), find(b.to)];
    if (ra === rb) continue;
    parent.set(ra, rb);
    inTree.add(i);
    adj.set(b.from, [...(adj.get(b.from) ?? []), { to: b.to, i }]);
    adj.set(b.to, [...(adj.get(b.to) ?? []), { to: b.from, i }]);
  }
  const size = new Map<string, number>();
  const measure = (bus: string, from?: string): number => {
    let n = 1;
    for (const c of adj.get(bus) ?? []) if (c.to !== from) n += measure(c.to, bus);
    size.set(bus, n);
    return n;
  };
  const nodes: Laid['nodes'] = [];
  const edges: Laid['edges'] = [];
  const seen = new Set<string>();
  let rows = 0;
  let cols = 0;
  const visit = (bus: string, depth: number, row: number, from?: string) => {
    seen.add(bus);
    nodes.push({ bus, x: depth, y: row, depth });
    cols = Math.max(cols, depth + 1);
    rows = Math.max(rows, row + 1);
    const kids = (adj.get(bus) ?? [])
      .filter((c) => c.to !== from)
      .sort((a, b) => (size.get(b.to) ?? 0) - (size.get(a.to) ?? 0));
    kids.forEach((c, k) => {
      edges.push({ from: bus, to: c.to, i: c.i });
      visit(c.to, depth + 1, k === 0 ? row : rows, bus);
    });
  };
  for (const b of buses)
    if (!seen.has(b)) {
      measure(b);
      visit(b, 0, rows);
    }
  branches.forEach((b, i) => {
    if (!inTree.has(i)) edges.push({ from: b.from, to: b.to, i, tie: true });
  });
  return { nodes, edges, cols, rows };
}

export function NetworkView(_props: ViewProps) {
  const pf = useLoad(() => get<PowerFlow>('/network/powerflow'), []);
  return (
    <section>
      <h1>Network</h1>
      <Refusal text={pf.error} />
      {pf.data && <Feeder pf={pf.data} onRefresh={pf.reload} />}
      <Dlmps />
    </section>
  );
}

function Feeder(props: { pf: PowerFlow; onRefresh: () => void }) {
  const { pf } = props;
  const r = pf.result;
  const laid = useMemo(
    () =>
      r
        ? layoutFeeder(
            r.buses.map((b) => String(b.bus)),
            r.branches.map((b) => ({
              from: String(b.from_bus),
              to: String(b.to_bus),
              live: b.p_kw !== 0 || b.loss_kw !== 0,
            })),
          )
        : undefined,
    [r],
  );
  if (!r || !laid)
    return (
      <div class="card">
        <h2>Feeder {pf.feeder}</h2>
        <p class="error">Power flow did not converge: {pf.error ?? 'no result'}</p>
      </div>
    );
  const v = new Map(r.buses.map((b) => [String(b.bus), b.v_pu]));
  const sitesAt = new Map<string, string[]>();
  for (const s of pf.sites)
    if (s.bus !== undefined && s.site)
      sitesAt.set(String(s.bus), [...(sitesAt.get(String(s.bus)) ?? []), s.site]);
  const dx = 56;
  const dy = 44;
  const pad = 24;
  const W = pad * 2 + (laid.cols - 1) * dx;
  const H = pad * 2 + (laid.rows - 1) * dy;
  const pos = new Map(laid.nodes.map((n) => [n.bus, { x: pad + n.x * dx, y: pad + n.y * dy }]));
  const vmin = Math.min(...r.buses.map((b) => b.v_pu));
  const vmax = Math.max(...r.buses.map((b) => b.v_pu));
  return (
    <div class="card">
      <h2>Feeder {pf.feeder}</h2>
      <p>
        Power flow at {time(pf.at)}: losses {r.losses_kw.toFixed(1)} kW, voltage {vmin.toFixed(3)}–
        {vmax.toFixed(3)} pu, {pf.sites.length} metered sites placed, {pf.violations.length} violations.{' '}
        <button type="button" class="link" onClick={props.onRefresh}>
          Refresh
        </button>
      </p>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable diagram must be reachable by keyboard */}
      <section class="network-scroll" tabIndex={0} aria-label="Feeder diagram (scrolls sideways)">
        <svg
          class="network-diagram"
          viewBox={`0 0 ${W} ${H}`}
          width={W}
          height={H}
          role="img"
          aria-label={`One-line diagram of feeder ${pf.feeder}: ${r.buses.length} buses, coloured by voltage and loading`}
        >
          {laid.edges.map((e) => {
            const a = pos.get(e.from);
            const b = pos.get(e.to);
            const br = r.branches[e.i];
            if (!a || !b || !br) return null;
            const d =
              e.tie || a.y === b.y
                ? `M${a.x},${a.y}L${b.x},${b.y}`
                : `M${a.x},${a.y}L${a.x},${b.y}L${b.x},${b.y}`;
            return (
              <path
                key={`${e.from}-${e.to}`}
                d={d}
                fill="none"
                stroke={e.tie ? '#8a94a1' : loadingColor(br.loading_pct)}
                stroke-width={e.tie ? 2 : 4}
                stroke-dasharray={e.tie ? '4 4' : undefined}
              >
                <title>
                  {`${e.tie ? 'Tie branch' : 'Branch'} ${e.from}→${e.to}: ${br.p_kw.toFixed(1)} kW, ${br.q_kvar.toFixed(1)} kvar${br.loading_pct !== undefined ? `, loading ${br.loading_pct.toFixed(0)} %` : ''}`}
                </title>
              </path>
            );
          })}
          {laid.nodes.map((n) => {
            const p = pos.get(n.bus) as { x: number; y: number };
            const vp = v.get(n.bus) ?? 1;
            const sites = sitesAt.get(n.bus);
            return (
              <g key={n.bus}>
                <circle
                  cx={p.x}
                  cy={p.y}
                  r={sites ? 9 : 7}
                  fill={voltageColor(vp)}
                  stroke="#1b2430"
                  stroke-width={sites ? 2 : 1}
                >
                  <title>{`Bus ${n.bus}: ${vp.toFixed(4)} pu${sites ? `; sites ${sites.join(', ')}` : ''}`}</title>
                </circle>
                <text x={p.x} y={p.y - 12} text-anchor="middle" class="bus-label">
                  {n.bus}
                </text>
              </g>
            );
          })}
        </svg>
      </section>
      <p class="legend">
        <span class="swatch" style={{ background: '#1e7a46' }} /> within ±3 % / loading &lt; 60 %{' '}
        <span class="swatch" style={{ background: '#b07800' }} /> ±3–5 % / 60–90 %{' '}
        <span class="swatch" style={{ background: '#b3261e' }} /> beyond ±5 % / ≥ 90 %{' '}
        <span class="swatch" style={{ background: '#8a94a1' }} /> no rating; dashed: tie branches closing a
        loop. Ringed buses have metered sites.
      </p>
      {pf.violations.length > 0 && (
        <ul class="reasons" aria-label="Violations">
          {pf.violations.map((x, i) => (
            <li key={i}>{x.message ?? JSON.stringify(x)}</li>
          ))}
        </ul>
      )}
      <details>
        <summary>Buses and branches as tables</summary>
        <div class="network-tables">
          <table aria-label="Bus voltages">
            <thead>
              <tr>
                <th>Bus</th>
                <th class="num">V (pu)</th>
                <th>Sites</th>
              </tr>
            </thead>
            <tbody>
              {r.buses.map((b) => (
                <tr key={String(b.bus)}>
                  <td>{String(b.bus)}</td>
                  <td class="num">{b.v_pu.toFixed(4)}</td>
                  <td>{(sitesAt.get(String(b.bus)) ?? []).join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table aria-label="Branch flows">
            <thead>
              <tr>
                <th>Branch</th>
                <th class="num">P (kW)</th>
                <th class="num">Loss (kW)</th>
                <th class="num">Loading</th>
              </tr>
            </thead>
            <tbody>
              {r.branches.map((b) => (
                <tr key={`${b.from_bus}-${b.to_bus}`}>
                  <td>
                    {String(b.from_bus)}→{String(b.to_bus)}
                  </td>
                  <td class="num">{b.p_kw.toFixed(1)}</td>
                  <td class="num">{b.loss_kw.toFixed(2)}</td>
                  <td class="num">{b.loading_pct === undefined ? '–' : `${b.loading_pct.toFixed(0)} %`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

/** DLMPs by bus (latest published interval by default), decomposed. */
export function Dlmps(props: { market?: 'DA' | 'RT' }) {
  const [market, setMarket] = useState<'DA' | 'RT'>(props.market ?? 'DA');
  const prices = useLoad(async () => {
    try {
      return await get<Price[]>(`/market/prices?market=${market}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [market]);
  const intervals = useMemo(
    () => [...new Set((prices.data ?? []).map((p) => p.intervalStart))].sort((a, b) => a - b),
    [prices.data],
  );
  const [chosen, setChosen] = useState<number>();
  const at = chosen !== undefined && intervals.includes(chosen) ? chosen : intervals[intervals.length - 1];
  const rows = (prices.data ?? [])
    .filter((p) => p.intervalStart === at)
    .sort((a, b) => a.bus.localeCompare(b.bus, undefined, { numeric: true }));
  return (
    <div class="card">
      <h2>DLMPs by bus</h2>
      <div class="form-row">
        <label>
          Market
          <select
            value={market}
            onChange={(e) => setMarket((e.currentTarget as HTMLSelectElement).value as 'DA' | 'RT')}
          >
            <option value="DA">day-ahead</option>
            <option value="RT">real-time</option>
          </select>
        </label>
        {intervals.length > 0 && (
          <label>
            Interval
            <select
              value={at}
              onChange={(e) => setChosen(Number((e.currentTarget as HTMLSelectElement).value))}
            >
              {intervals.map((t) => (
                <option key={t} value={t}>
                  {time(t)}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <Refusal text={prices.error} />
      {prices.data === null && <p>No market runs in this cloud.</p>}
      {prices.data && rows.length === 0 && <p>No prices published yet.</p>}
      {rows.length > 0 && (
        <table aria-label="DLMPs by bus">
          <thead>
            <tr>
              <th>Bus</th>
              <th class="num">DLMP ($/MWh)</th>
              <th class="num">Energy</th>
              <th class="num">Losses</th>
              <th class="num">Congestion</th>
              <th class="num">Voltage</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.bus}>
                <td>{p.bus}</td>
                <td class="num">{p.dlmp.toFixed(2)}</td>
                <td class="num">{p.energy.toFixed(2)}</td>
                <td class="num">{p.loss.toFixed(2)}</td>
                <td class="num">{p.congestion.toFixed(2)}</td>
                <td class="num">{p.voltage.toFixed(2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
