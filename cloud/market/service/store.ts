import { newId } from '../../auth/secrets.ts';
import type { SqlDb } from '../../storage/registry/db.ts';
import type { Bid } from '../model/bids.ts';
import type {
  AwardRecord,
  DispatchRecord,
  LedgerEntry,
  MarketKind,
  PriceRecord,
  RunHistory,
  RunRecord,
  StoredLedgerEntry,
  StoredResource,
} from '../model/records.ts';

/**
 * Persistence of what the market must not lose across restarts: registered resources (with their
 * link to a registry site/device), the live bid book, and every clearing run's awards, prices,
 * settlement ledger and dispatch/screening outcomes. Tables come from registry migration 2, so the
 * same SQL runs on SQLite and PostgreSQL.
 */

const num = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export class MarketStore implements RunHistory {
  constructor(
    readonly db: SqlDb,
    /** Called after a clearing run is stored (the operator app's live `market` events). */
    private readonly onRun?: (run: RunRecord) => void,
  ) {}

  async saveResource(r: StoredResource, now: number): Promise<void> {
    const p = [
      r.owner,
      r.aggregator ?? null,
      r.kind,
      r.bus,
      r.max_inject_w,
      r.max_withdraw_w,
      r.energy_wh ?? null,
      r.soc0_wh ?? null,
      r.efficiency ?? null,
      r.status,
      r.site ?? null,
      r.device ?? null,
    ];
    const n = await this.db.run(
      `UPDATE market_resources SET owner = ?, aggregator = ?, kind = ?, bus = ?, max_inject_w = ?,
       max_withdraw_w = ?, energy_wh = ?, soc0_wh = ?, efficiency = ?, status = ?, site_id = ?, device_id = ?,
       updated_at = ? WHERE id = ?`,
      [...p, now, r.id],
    );
    if (n === 0)
      await this.db.run(
        `INSERT INTO market_resources (owner, aggregator, kind, bus, max_inject_w, max_withdraw_w, energy_wh,
         soc0_wh, efficiency, status, site_id, device_id, created_at, updated_at, id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [...p, now, now, r.id],
      );
  }

  async loadResources(): Promise<StoredResource[]> {
    const rows = await this.db.all('SELECT * FROM market_resources ORDER BY id');
    return rows.map((r) => {
      const out: Record<string, unknown> = {
        id: String(r.id),
        owner: String(r.owner),
        kind: String(r.kind),
        bus: String(r.bus),
        max_inject_w: Number(r.max_inject_w),
        max_withdraw_w: Number(r.max_withdraw_w),
        status: String(r.status),
      };
      for (const [k, col] of [
        ['aggregator', 'aggregator'],
        ['site', 'site_id'],
        ['device', 'device_id'],
      ] as const)
        if (r[col] !== null && r[col] !== undefined) out[k] = String(r[col]);
      for (const k of ['energy_wh', 'soc0_wh', 'efficiency'] as const)
        if (num(r[k]) !== undefined) out[k] = num(r[k]);
      return out as unknown as StoredResource;
    });
  }

  async saveBid(b: Bid, status: 'live' | 'cancelled', now: number): Promise<void> {
    const n = await this.db.run('UPDATE market_bids SET steps = ?, status = ?, updated_at = ? WHERE id = ?', [
      JSON.stringify(b.steps),
      status,
      now,
      b.id,
    ]);
    if (n === 0)
      await this.db.run(
        `INSERT INTO market_bids (id, participant, resource, market, product, side, interval_start, steps,
         status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          b.id,
          b.participant,
          b.resource,
          b.market,
          b.product,
          b.side,
          b.interval_start,
          JSON.stringify(b.steps),
          status,
          now,
          now,
        ],
      );
  }

  async liveBids(): Promise<Bid[]> {
    const rows = await this.db.all("SELECT * FROM market_bids WHERE status = 'live' ORDER BY created_at, id");
    return rows.map((r) => ({
      id: String(r.id),
      participant: String(r.participant),
      resource: String(r.resource),
      market: String(r.market) as Bid['market'],
      product: String(r.product) as Bid['product'],
      side: String(r.side) as Bid['side'],
      interval_start: Number(r.interval_start),
      steps: JSON.parse(String(r.steps)),
    }));
  }

  /**
   * Stores one clearing run atomically, replacing an earlier run of the same market and interval
   * (a re-run supersedes; the audit log keeps the history of who ran what).
   */
  async saveRun(
    run: RunRecord,
    awards: readonly AwardRecord[],
    prices: readonly PriceRecord[],
    ledger: readonly LedgerEntry[],
  ): Promise<void> {
    await this.db.tx(async (db) => {
      const old = await db.all<{ id: string }>(
        'SELECT id FROM market_runs WHERE market = ? AND interval_start = ?',
        [run.market, run.intervalStart],
      );
      for (const { id } of old)
        for (const t of ['market_awards', 'market_prices', 'market_ledger', 'market_dispatch'])
          await db.run(`DELETE FROM ${t} WHERE run_id = ?`, [id]);
      await db.run('DELETE FROM market_runs WHERE market = ? AND interval_start = ?', [
        run.market,
        run.intervalStart,
      ]);
      await db.run(
        'INSERT INTO market_runs (id, market, interval_start, interval_end, run_at, run_by, summary) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [
          run.id,
          run.market,
          run.intervalStart,
          run.intervalEnd,
          run.runAt,
          run.runBy,
          JSON.stringify(run.summary),
        ],
      );
      for (const a of awards)
        await db.run(
          `INSERT INTO market_awards (run_id, market, resource, participant, bus, interval_start, product, award_w,
           deviation_w, price_per_mwh) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            a.runId,
            a.market,
            a.resource,
            a.participant,
            a.bus,
            a.intervalStart,
            a.product,
            a.awardW,
            a.deviationW,
            a.pricePerMWh,
          ],
        );
      for (const p of prices)
        await db.run(
          `INSERT INTO market_prices (run_id, market, interval_start, bus, dlmp, energy, loss, congestion, voltage)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [p.runId, p.market, p.intervalStart, p.bus, p.dlmp, p.energy, p.loss, p.congestion, p.voltage],
        );
      for (const e of ledger)
        await db.run(
          `INSERT INTO market_ledger (id, run_id, market, period, from_acct, to_acct, cents, kind, ref)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [newId(12), run.id, run.market, e.period, e.from, e.to, e.cents, e.kind, e.ref ?? null],
        );
    });
    this.onRun?.(run);
  }

  async saveDispatch(d: DispatchRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO market_dispatch (run_id, resource, site_id, device_id, interval_start, award_w, screened_w,
       command_type, command_id, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        d.runId,
        d.resource,
        d.site,
        d.device,
        d.intervalStart,
        d.awardW,
        d.screenedW,
        d.commandType,
        d.commandId,
        d.status,
        d.reason,
      ],
    );
  }

  async runs(q: { market?: MarketKind; from?: number; to?: number } = {}): Promise<RunRecord[]> {
    const { where, params } = window(q, 'interval_start');
    const rows = await this.db.all(
      `SELECT * FROM market_runs ${where} ORDER BY interval_start, run_at`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      market: String(r.market) as MarketKind,
      intervalStart: Number(r.interval_start),
      intervalEnd: Number(r.interval_end),
      runAt: Number(r.run_at),
      runBy: String(r.run_by),
      summary: JSON.parse(String(r.summary)),
    }));
  }

  async awards(
    q: { market?: MarketKind; from?: number; to?: number; participant?: string; resource?: string } = {},
  ): Promise<AwardRecord[]> {
    const { where, params } = window(q, 'interval_start', {
      participant: q.participant,
      resource: q.resource,
    });
    const rows = await this.db.all(
      `SELECT * FROM market_awards ${where} ORDER BY interval_start, resource, product`,
      params,
    );
    return rows.map((r) => ({
      runId: String(r.run_id),
      market: String(r.market) as MarketKind,
      resource: String(r.resource),
      participant: String(r.participant),
      bus: String(r.bus),
      intervalStart: Number(r.interval_start),
      product: String(r.product),
      awardW: Number(r.award_w),
      deviationW: num(r.deviation_w) ?? null,
      pricePerMWh: Number(r.price_per_mwh),
    }));
  }

  async prices(
    q: { market?: MarketKind; from?: number; to?: number; bus?: string } = {},
  ): Promise<PriceRecord[]> {
    const { where, params } = window(q, 'interval_start', { bus: q.bus });
    const rows = await this.db.all(
      `SELECT * FROM market_prices ${where} ORDER BY interval_start, bus`,
      params,
    );
    return rows.map((r) => ({
      runId: String(r.run_id),
      market: String(r.market) as MarketKind,
      intervalStart: Number(r.interval_start),
      bus: String(r.bus),
      dlmp: Number(r.dlmp),
      energy: Number(r.energy),
      loss: Number(r.loss),
      congestion: Number(r.congestion),
      voltage: Number(r.voltage),
    }));
  }

  /** Ledger lines; with `account`, only lines where it pays or is paid. */
  async ledger(
    q: { market?: MarketKind; from?: number; to?: number; account?: string } = {},
  ): Promise<StoredLedgerEntry[]> {
    const { where, params } = window(q, 'period');
    let sql = `SELECT * FROM market_ledger ${where}`;
    if (q.account) {
      sql += `${where ? ' AND' : ' WHERE'} (from_acct = ? OR to_acct = ?)`;
      params.push(q.account, q.account);
    }
    const rows = await this.db.all(`${sql} ORDER BY period, id`, params);
    return rows.map((r) => ({
      runId: String(r.run_id),
      market: String(r.market) as MarketKind,
      period: Number(r.period),
      from: String(r.from_acct),
      to: String(r.to_acct),
      cents: Number(r.cents),
      kind: String(r.kind) as LedgerEntry['kind'],
      ...(r.ref !== null && r.ref !== undefined ? { ref: String(r.ref) } : {}),
    }));
  }

  async dispatches(q: { from?: number; to?: number } = {}): Promise<DispatchRecord[]> {
    const { where, params } = window(q, 'interval_start');
    const rows = await this.db.all(
      `SELECT * FROM market_dispatch ${where} ORDER BY interval_start, resource`,
      params,
    );
    return rows.map((r) => ({
      runId: String(r.run_id),
      resource: String(r.resource),
      site: str(r.site_id),
      device: str(r.device_id),
      intervalStart: Number(r.interval_start),
      awardW: Number(r.award_w),
      screenedW: Number(r.screened_w),
      commandType: str(r.command_type),
      commandId: str(r.command_id),
      status: String(r.status),
      reason: str(r.reason),
    }));
  }
}

function window(
  q: { market?: string; from?: number; to?: number },
  col: string,
  eq: Record<string, string | undefined> = {},
): { where: string; params: (string | number)[] } {
  const w: string[] = [];
  const params: (string | number)[] = [];
  if (q.market) {
    w.push('market = ?');
    params.push(q.market);
  }
  if (q.from !== undefined) {
    w.push(`${col} >= ?`);
    params.push(q.from);
  }
  if (q.to !== undefined) {
    w.push(`${col} < ?`);
    params.push(q.to);
  }
  for (const [k, v] of Object.entries(eq))
    if (v !== undefined) {
      w.push(`${k} = ?`);
      params.push(v);
    }
  return { where: w.length ? `WHERE ${w.join(' AND ')}` : '', params };
}
