/**
 * Market (#/market): the organizational model and who holds which role, the gates on the market's
 * clock, the caller's bid book (submit/modify/cancel, the API's refusal shown inline), awards, the
 * clearing runs (prices per hour, the T-D bid sent to the ISO and what came back), DLMPs, settlement
 * statements with a CSV download, and for the DGO the screening outcomes, curtailments and emergency
 * dispatch. Each section shows only what the API lets the caller read.
 */
import { useMemo, useState } from 'preact/hooks';
import { ApiError, api, get, post } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { type Series, TimeChart } from '../chart.tsx';
import { downloadCsv, errorText, kw, Refusal, time, useLoad } from '../components/vpps-util.tsx';
import { Dlmps } from './network.tsx';

interface Gate {
  intervalStart: number;
  closesAt: number;
  open: boolean;
}
interface MarketInfo {
  model: number;
  name: string;
  marketForm: string;
  roles: Record<string, string>;
  utilityDerMayParticipate?: boolean;
  gates: { daGateBeforeDayMs: number; rtGateBeforeIntervalMs: number };
  now?: number;
  gateState?: { DA: Gate[]; RT: Gate[] };
  you: Record<string, string[]>;
}
interface Step {
  quantity_w: number;
  price_per_mwh: number;
}
interface Bid {
  id: string;
  participant: string;
  resource: string;
  market: 'DA' | 'RT';
  product: string;
  side: 'sell' | 'buy';
  interval_start: number;
  steps: Step[];
}
interface Resource {
  id: string;
  owner: string;
  aggregator?: string;
  kind: string;
  bus: string;
  status: string;
  max_inject_w: number;
  max_withdraw_w: number;
}
interface Award {
  runId: string;
  market: string;
  resource: string;
  participant: string;
  bus: string;
  intervalStart: number;
  product: string;
  awardW: number;
  pricePerMWh: number;
}
interface Run {
  id: string;
  market: string;
  intervalStart: number;
  intervalEnd: number;
  runAt: number;
  runBy: string;
  summary: {
    lmp?: number[];
    importW?: number[];
    tdCurve?: { price_per_mwh: number; import_w: number }[][];
    bids?: number;
    resources?: number;
    balanced?: boolean;
    [k: string]: unknown;
  };
}
interface Entry {
  period: number;
  from: string;
  to: string;
  cents: number;
  kind: string;
  ref?: string;
}
interface Settlement {
  entries: Entry[];
  totals: Record<string, { net: number; byKind: Record<string, number> }>;
  balanced?: boolean;
  books?: { period: number; balanced: boolean; sumCents: number }[];
}
interface Emergency {
  id: string;
  ts: number;
  actor: string;
  target: string | null;
  detail?: { w?: number; ttlSeconds?: number; reason?: string; command?: string };
}
interface Screening {
  runId: string;
  resource: string;
  site: string | null;
  device: string | null;
  intervalStart: number;
  awardW: number;
  screenedW: number;
  commandType: string | null;
  status: string;
  reason: string | null;
}

const HOUR = 3_600_000;
const money = (cents: number) => `${cents < 0 ? '−' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;

/** "20 @ 35" per line: kW at $/MWh → the API's steps (W). */
export function parseSteps(text: string): Step[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(-?[\d.]+)\s*(?:kW)?\s*@\s*(-?[\d.]+)/i.exec(l);
      if (!m) throw new Error(`step "${l}": write quantity kW @ price $/MWh, e.g. 20 @ 35`);
      return { quantity_w: Math.round(Number(m[1]) * 1000), price_per_mwh: Number(m[2]) };
    });
}
const stepsText = (s: Step[]) => s.map((x) => `${x.quantity_w / 1000} @ ${x.price_per_mwh}`).join('\n');

export function MarketView(_props: ViewProps) {
  const info = useLoad(() => get<MarketInfo>('/market'), []);
  if (info.error)
    return (
      <section>
        <h1>Market</h1>
        <Refusal text={info.error} />
      </section>
    );
  const m = info.data;
  if (!m) return <p class="loading">Loading…</p>;
  const myRoles = new Set(Object.values(m.you).flat());
  const isDmo = myRoles.has('DMO');
  const isDgo = myRoles.has('DGO');
  // The DMO never bids (the market refuses it as self-dealing): the bid book is for the other actors.
  const bids = Object.values(m.you).some((roles) => !roles.includes('DMO'));
  return (
    <section>
      <h1>Market: {m.name}</h1>
      <Organization m={m} />
      <Gates m={m} />
      {bids && <BidBook m={m} onChange={info.reload} />}
      <Awards all={isDmo || isDgo} />
      {isDmo && <Runs />}
      <Dlmps />
      <Settlements all={isDmo} />
      {isDgo && <DgoViews />}
    </section>
  );
}

function Organization(props: { m: MarketInfo }) {
  const { m } = props;
  return (
    <div class="card">
      <h2>Organization</h2>
      <p>
        Model {m.model}, {m.marketForm} market
        {m.utilityDerMayParticipate ? '; utility DER may participate' : ''}.
      </p>
      <div class="market-two">
        <table aria-label="Roles">
          <thead>
            <tr>
              <th>Role</th>
              <th>Held by</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(m.roles).map(([role, actor]) => (
              <tr key={role}>
                <td>{role}</td>
                <td>{actor}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table aria-label="You act for">
          <thead>
            <tr>
              <th>You act for</th>
              <th>As</th>
            </tr>
          </thead>
          <tbody>
            {Object.keys(m.you).length === 0 && (
              <tr>
                <td colSpan={2}>no market organization</td>
              </tr>
            )}
            {Object.entries(m.you).map(([actor, roles]) => (
              <tr key={actor}>
                <td>{actor}</td>
                <td>{roles.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Gates(props: { m: MarketInfo }) {
  const { m } = props;
  const row = (market: string, g: Gate) => (
    <tr key={`${market}${g.intervalStart}`}>
      <td>{market === 'DA' ? 'day-ahead' : 'real-time'}</td>
      <td>{market === 'DA' ? time(g.intervalStart).slice(0, 10) : time(g.intervalStart)}</td>
      <td>{time(g.closesAt)}</td>
      <td class={g.open ? 'status-online' : 'status-offline'}>{g.open ? 'open' : 'closed'}</td>
    </tr>
  );
  return (
    <div class="card">
      <h2>Gates</h2>
      <p>
        Day-ahead closes {m.gates.daGateBeforeDayMs / HOUR} h before the delivery day, real-time{' '}
        {m.gates.rtGateBeforeIntervalMs / 60000} min before the interval.
        {m.now !== undefined && ` Market clock: ${time(m.now)}.`}
      </p>
      {m.gateState && (
        <table aria-label="Gate state">
          <thead>
            <tr>
              <th>Market</th>
              <th>Delivery</th>
              <th>Gate closes</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {m.gateState.DA.map((g) => row('DA', g))}
            {m.gateState.RT.map((g) => row('RT', g))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function BidBook(props: { m: MarketInfo; onChange: () => void }) {
  const bids = useLoad(() => get<Bid[]>('/market/bids'), []);
  const resources = useLoad(() => get<Resource[]>('/market/resources'), []);
  const firstOpenDa = props.m.gateState?.DA.find((g) => g.open)?.intervalStart;
  const defaultStart =
    firstOpenDa !== undefined ? new Date(firstOpenDa + 12 * HOUR).toISOString().slice(0, 16) : '';
  const [error, setError] = useState<string>();
  const [ok, setOk] = useState<string>();
  return (
    <div class="card">
      <h2>Your bids</h2>
      <Refusal text={bids.error} />
      {bids.data && bids.data.length === 0 && <p>No live bids.</p>}
      {bids.data && bids.data.length > 0 && (
        <table aria-label="Your bids">
          <thead>
            <tr>
              <th>Bid</th>
              <th>Resource</th>
              <th>Market</th>
              <th>Side</th>
              <th>Interval</th>
              <th>Curve (kW @ $/MWh)</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {bids.data.map((b) => (
              <BidRow key={b.id} b={b} onChange={bids.reload} />
            ))}
          </tbody>
        </table>
      )}
      <form
        aria-label="Submit a bid"
        class="bid-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          const v = (k: string) => String(f.get(k) ?? '').trim();
          setError(undefined);
          setOk(undefined);
          try {
            const start = Date.parse(`${v('interval')}Z`);
            if (Number.isNaN(start)) throw new Error('interval start: a UTC date and time');
            const r = await post<Bid>('/market/bids', {
              resource: v('resource'),
              market: v('market'),
              product: v('product') || 'energy',
              side: v('side'),
              interval_start: start,
              steps: parseSteps(v('steps')),
            });
            setOk(`Bid ${r.id} accepted for ${r.participant}.`);
            bids.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <h3>Submit a bid</h3>
        <div class="form-row">
          <label>
            Resource
            <select name="resource" required>
              {(resources.data ?? []).map((r) => (
                <option key={r.id} value={r.id}>
                  {r.id} ({r.kind}, {r.status})
                </option>
              ))}
            </select>
          </label>
          <label>
            Market
            <select name="market">
              <option value="DA">day-ahead</option>
              <option value="RT">real-time</option>
            </select>
          </label>
          <label>
            Side
            <select name="side">
              <option value="sell">sell (offer)</option>
              <option value="buy">buy (bid)</option>
            </select>
          </label>
          <label>
            Product
            <select name="product">
              <option value="energy">energy</option>
              <option value="reg_up">regulation up</option>
              <option value="reg_down">regulation down</option>
              <option value="reserve">reserve</option>
              <option value="congestion_relief">congestion relief</option>
              <option value="voltage_support">voltage support</option>
            </select>
          </label>
          <label>
            Interval start (UTC)
            <input name="interval" type="datetime-local" required defaultValue={defaultStart} />
          </label>
        </div>
        <label>
          Curve: one step a line, kW @ $/MWh
          <textarea name="steps" rows={3} required defaultValue={'10 @ 20\n5 @ 30'} />
        </label>
        <Refusal text={error} id="bid-refusal" />
        {ok && <p role="status">{ok}</p>}
        <button type="submit">Submit bid</button>
      </form>
    </div>
  );
}

function BidRow(props: { b: Bid; onChange: () => void }) {
  const { b } = props;
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(stepsText(b.steps));
  const [error, setError] = useState<string>();
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await f();
      setEditing(false);
      props.onChange();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <tr>
      <td>{b.id}</td>
      <td>{b.resource}</td>
      <td>
        {b.market} {b.product}
      </td>
      <td>{b.side}</td>
      <td>{time(b.interval_start)}</td>
      <td>
        {editing ? (
          <label>
            <span class="sr-only">Curve of bid {b.id}</span>
            <textarea
              rows={3}
              value={text}
              onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
            />
          </label>
        ) : (
          stepsText(b.steps)
            .split('\n')
            .map((l) => <div key={l}>{l}</div>)
        )}
        <Refusal text={error} />
      </td>
      <td class="actions">
        {editing ? (
          <button
            type="button"
            onClick={() =>
              void act(() =>
                api('PATCH', `/market/bids/${encodeURIComponent(b.id)}`, { steps: parseSteps(text) }),
              )
            }
          >
            Save curve
          </button>
        ) : (
          <button type="button" onClick={() => setEditing(true)}>
            Modify
          </button>
        )}
        <button
          type="button"
          class="danger"
          onClick={() => void act(() => api('DELETE', `/market/bids/${encodeURIComponent(b.id)}`))}
        >
          Cancel bid
        </button>
      </td>
    </tr>
  );
}

function Awards(props: { all: boolean }) {
  const awards = useLoad(() => get<Award[]>(`/market/awards${props.all ? '?all=true' : ''}`), [props.all]);
  const rows = (awards.data ?? []).filter((a) => Math.abs(a.awardW) >= 0.5).slice(-200);
  return (
    <div class="card">
      <h2>{props.all ? 'Awards (all participants)' : 'Your awards'}</h2>
      <Refusal text={awards.error} />
      {awards.data && rows.length === 0 && <p>No awards yet.</p>}
      {rows.length > 0 && (
        <table aria-label="Awards">
          <thead>
            <tr>
              <th>Interval</th>
              <th>Market</th>
              <th>Participant</th>
              <th>Resource</th>
              <th>Product</th>
              <th class="num">Award</th>
              <th class="num">Price ($/MWh)</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => (
              <tr key={`${a.runId}/${a.resource}/${a.product}/${a.intervalStart}`}>
                <td>{time(a.intervalStart)}</td>
                <td>{a.market}</td>
                <td>{a.participant}</td>
                <td>{a.resource}</td>
                <td>{a.product}</td>
                <td class="num">{kw(a.awardW)}</td>
                <td class="num">{a.pricePerMWh.toFixed(2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Runs() {
  const runs = useLoad(() => get<Run[]>('/market/runs'), []);
  const [chosen, setChosen] = useState<string>();
  const list = [...(runs.data ?? [])].sort((a, b) => b.runAt - a.runAt);
  const run = list.find((r) => r.id === chosen) ?? list.find((r) => r.market === 'DA') ?? list[0];
  const series = useMemo<Series[]>(() => {
    const lmp = run?.summary.lmp;
    if (!run || !lmp) return [];
    return [
      {
        label: 'ISO LMP',
        unit: '$/MWh',
        points: lmp.map((p, h) => [run.intervalStart + h * HOUR, p]),
      },
    ];
  }, [run]);
  return (
    <div class="card">
      <h2>Clearing runs</h2>
      <Refusal text={runs.error} />
      {runs.data && list.length === 0 && <p>No clearing yet.</p>}
      {list.length > 0 && (
        <label class="inline">
          Run
          <select value={run?.id} onChange={(e) => setChosen((e.currentTarget as HTMLSelectElement).value)}>
            {list.map((r) => (
              <option key={r.id} value={r.id}>
                {r.market} {time(r.intervalStart)} — run {time(r.runAt)} by {r.runBy}
              </option>
            ))}
          </select>
        </label>
      )}
      {run && (
        <>
          <p data-testid="run-summary">
            {run.market} run {run.id}: {run.summary.bids ?? '–'} bids, {run.summary.resources ?? '–'}{' '}
            resources scheduled, books {run.summary.balanced ? 'balanced' : 'NOT balanced'}.
          </p>
          {series.length > 0 && <TimeChart title="Prices per hour" series={series} height={200} />}
          {run.summary.lmp && (
            <table aria-label="Per hour: price, T-D bid sent to the ISO, and what came back">
              <thead>
                <tr>
                  <th>Hour</th>
                  <th class="num">ISO LMP ($/MWh)</th>
                  <th>T-D bid sent to the ISO (import kW @ $/MWh)</th>
                  <th class="num">Cleared import (back from the ISO)</th>
                </tr>
              </thead>
              <tbody>
                {run.summary.lmp.map((p, h) => (
                  <tr key={h}>
                    <td>{time(run.intervalStart + h * HOUR).slice(11)}</td>
                    <td class="num">{p.toFixed(2)}</td>
                    <td class="td-curve">
                      <details>
                        <summary>{(run.summary.tdCurve?.[h] ?? []).length} steps</summary>
                        {(run.summary.tdCurve?.[h] ?? [])
                          .map((pt) => `${(pt.import_w / 1000).toFixed(1)} @ ${pt.price_per_mwh.toFixed(1)}`)
                          .join(' · ')}
                      </details>
                    </td>
                    <td class="num">{kw(run.summary.importW?.[h])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}

function Settlements(props: { all: boolean }) {
  const s = useLoad(() => get<Settlement>(`/market/settlements${props.all ? '?all=true' : ''}`), [props.all]);
  const accounts = Object.keys(s.data?.totals ?? {}).sort();
  const [account, setAccount] = useState<string>();
  const acct = account && accounts.includes(account) ? account : accounts[0];
  const lines = (s.data?.entries ?? []).filter((e) => e.from === acct || e.to === acct);
  const signed = (e: Entry) => (e.to === acct ? e.cents : -e.cents);
  return (
    <div class="card">
      <h2>Settlement statements</h2>
      <Refusal text={s.error} />
      {s.data && accounts.length === 0 && <p>Nothing settled yet.</p>}
      {s.data?.balanced !== undefined && (
        <p data-testid="books">
          Books {s.data.balanced ? 'balance' : 'DO NOT balance'} over {s.data.books?.length ?? 0} periods.
        </p>
      )}
      {accounts.length > 0 && (
        <>
          <table aria-label="Totals per participant">
            <thead>
              <tr>
                <th>Participant</th>
                <th class="num">Net</th>
                <th>By kind</th>
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => {
                const t = s.data?.totals[a] as Settlement['totals'][string];
                return (
                  <tr key={a}>
                    <td>{a}</td>
                    <td class="num">{money(t.net)}</td>
                    <td>
                      {Object.entries(t.byKind)
                        .map(([k, c]) => `${k} ${money(c)}`)
                        .join(', ')}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div class="form-row">
            <label>
              Statement of
              <select value={acct} onChange={(e) => setAccount((e.currentTarget as HTMLSelectElement).value)}>
                {accounts.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              onClick={() =>
                downloadCsv(
                  `settlement-${acct}.csv`,
                  ['period_utc', 'kind', 'from', 'to', 'cents', 'signed_cents_for_account', 'ref'],
                  lines.map((e) => [
                    new Date(e.period).toISOString(),
                    e.kind,
                    e.from,
                    e.to,
                    e.cents,
                    signed(e),
                    e.ref ?? '',
                  ]),
                )
              }
            >
              Download CSV
            </button>
          </div>
          <table aria-label={`Statement of ${acct}`}>
            <thead>
              <tr>
                <th>Period</th>
                <th>Kind</th>
                <th>Counterparty</th>
                <th class="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {lines.slice(0, 300).map((e, i) => (
                <tr key={i}>
                  <td>{time(e.period)}</td>
                  <td>{e.kind}</td>
                  <td>{e.to === acct ? e.from : e.to}</td>
                  <td class="num">{money(signed(e))}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {lines.length > 300 && <p>First 300 of {lines.length} lines; the CSV has all.</p>}
        </>
      )}
    </div>
  );
}

function DgoViews() {
  const screening = useLoad(() => get<Screening[]>('/market/dgo/screening'), []);
  const resources = useLoad(() => get<Resource[]>('/market/resources'), []);
  // Emergency dispatches from the audit log (operators may read it; hidden where refused).
  const history = useLoad(
    () =>
      get<Emergency[]>('/audit?action=market.dgo.emergency&limit=20').catch((e) => {
        if (e instanceof ApiError && e.status === 403) return null;
        throw e;
      }),
    [],
  );
  const [error, setError] = useState<string>();
  const [sent, setSent] = useState<string>();
  const rows = screening.data ?? [];
  const curtailed = rows.filter((r) => r.screenedW !== r.awardW);
  return (
    <>
      <div class="card">
        <h2>DGO screening of real-time awards</h2>
        <Refusal text={screening.error} />
        {screening.data && rows.length === 0 && <p>No real-time awards screened yet.</p>}
        {rows.length > 0 && (
          <>
            <p>
              {rows.length} awards screened, {curtailed.length} curtailed.
            </p>
            <table aria-label="Screening outcomes">
              <thead>
                <tr>
                  <th>Interval</th>
                  <th>Resource</th>
                  <th>Site</th>
                  <th class="num">Award</th>
                  <th class="num">After screen</th>
                  <th>Outcome</th>
                </tr>
              </thead>
              <tbody>
                {rows.slice(-200).map((r) => (
                  <tr key={`${r.runId}/${r.resource}`} class={r.screenedW !== r.awardW ? 'row-warn' : ''}>
                    <td>{time(r.intervalStart)}</td>
                    <td>{r.resource}</td>
                    <td>{r.site ?? '–'}</td>
                    <td class="num">{kw(r.awardW)}</td>
                    <td class="num">{kw(r.screenedW)}</td>
                    <td>
                      {r.status}
                      {r.reason ? ` — ${r.reason}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
      <form
        class="card"
        aria-label="Emergency dispatch"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          setError(undefined);
          try {
            setSent(undefined);
            const r = await post<{ id?: string }>('/market/dgo/emergency', {
              resource: String(f.get('resource')),
              w: Math.round(Number(f.get('kw')) * 1000),
              ttlSeconds: Number(f.get('ttl')),
              reason: String(f.get('reason')),
            });
            setSent(`Command ${r.id ?? '?'} sent to ${String(f.get('resource'))}.`);
            history.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <h2>Emergency dispatch</h2>
        <p>Overrides market positions; the command expires after its time to live.</p>
        <div class="form-row">
          <label>
            Resource
            <select name="resource">
              {(resources.data ?? []).map((r) => (
                <option key={r.id} value={r.id}>
                  {r.id} ({r.kind})
                </option>
              ))}
            </select>
          </label>
          <label>
            Power (kW, + = inject)
            <input name="kw" type="number" step="0.1" required defaultValue="0" />
          </label>
          <label>
            Time to live (s)
            <input name="ttl" type="number" min="1" required defaultValue="300" />
          </label>
          <label>
            Reason
            <input name="reason" required />
          </label>
        </div>
        <Refusal text={error} />
        <button type="submit" class="danger">
          Send emergency dispatch
        </button>
        {sent && <p role="status">{sent}</p>}
        <Refusal text={history.error} />
        {history.data && history.data.length > 0 && (
          <table aria-label="Emergency dispatches">
            <thead>
              <tr>
                <th>When</th>
                <th>Resource</th>
                <th class="num">Power</th>
                <th class="num">TTL</th>
                <th>Reason</th>
                <th>By</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((x) => (
                <tr key={x.id}>
                  <td>{time(x.ts)}</td>
                  <td>{x.target}</td>
                  <td class="num">{kw(x.detail?.w)}</td>
                  <td class="num">{x.detail?.ttlSeconds ?? '–'} s</td>
                  <td>{x.detail?.reason ?? ''}</td>
                  <td>{x.actor}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </form>
    </>
  );
}
