import type { SqlDb } from '../../storage/registry/db.ts';
import type { P2pOrder, Trade } from '../forms/p2p.ts';

/**
 * Persistence for the centralized (1, 2) and peer-to-peer (5, 6) market forms, next to MarketStore
 * and in the same registry database (migration 4, same SQL on SQLite and PostgreSQL): the DGO's
 * screening of ISO awards, and the P2P order book and trades.
 */

export interface ScreeningRecord {
  readonly runId: string;
  readonly resource: string;
  /** energy, or the ISO ancillary product (reg_up, reg_down, reserve) whose capacity was screened. */
  readonly product?: string;
  readonly participant: string;
  readonly bus: string;
  readonly intervalStart: number;
  /** The ISO's award (W, + = into the grid; capacity for ancillary products). */
  readonly awardW: number;
  /** What the DGO lets through to dispatch. */
  readonly screenedW: number;
  /** feasible | curtailed | screened-out | unscreened (no network model) */
  readonly status: string;
  readonly reason: string | null;
}

export interface StoredOrder extends P2pOrder {
  readonly territory: string;
  readonly remainingWh: number;
  readonly seq: number;
  /** live | filled | cancelled | expired */
  readonly status: string;
}

export interface StoredTrade extends Trade {
  readonly territory: string;
}

const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export class MarketFormsStore {
  constructor(readonly db: SqlDb) {}

  /** Replaces the screening of earlier runs of the same interval (a re-run supersedes). */
  async saveScreening(records: readonly ScreeningRecord[]): Promise<void> {
    await this.db.tx(async (db) => {
      await db.run('DELETE FROM market_screening WHERE run_id NOT IN (SELECT id FROM market_runs)');
      for (const r of records)
        await db.run(
          `INSERT INTO market_screening (run_id, resource, product, participant, bus, interval_start, award_w,
           screened_w, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            r.runId,
            r.resource,
            r.product ?? 'energy',
            r.participant,
            r.bus,
            r.intervalStart,
            r.awardW,
            r.screenedW,
            r.status,
            r.reason,
          ],
        );
    });
  }

  async screening(
    q: { from?: number; to?: number; participant?: string; product?: string } = {},
  ): Promise<ScreeningRecord[]> {
    const { where, params } = window(q, { participant: q.participant, product: q.product });
    const rows = await this.db.all(
      `SELECT * FROM market_screening ${where} ORDER BY interval_start, resource, product`,
      params,
    );
    return rows.map((r) => ({
      runId: String(r.run_id),
      resource: String(r.resource),
      product: String(r.product),
      participant: String(r.participant),
      bus: String(r.bus),
      intervalStart: Number(r.interval_start),
      awardW: Number(r.award_w),
      screenedW: Number(r.screened_w),
      status: String(r.status),
      reason: str(r.reason),
    }));
  }

  async saveOrder(o: StoredOrder, now: number): Promise<void> {
    const n = await this.db.run(
      'UPDATE market_p2p_orders SET remaining_wh = ?, status = ?, updated_at = ? WHERE id = ?',
      [o.remainingWh, o.status, now, o.id],
    );
    if (n === 0)
      await this.db.run(
        `INSERT INTO market_p2p_orders (id, territory, participant, resource, bus, side, interval_start, quantity_wh,
         remaining_wh, limit_price, seq, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          o.id,
          o.territory,
          o.participant,
          o.resource,
          o.bus,
          o.side,
          o.intervalStart,
          o.quantityWh,
          o.remainingWh,
          o.limitPrice,
          o.seq,
          o.status,
          now,
          now,
        ],
      );
  }

  async orders(
    q: { from?: number; to?: number; participant?: string; status?: string } = {},
  ): Promise<StoredOrder[]> {
    const { where, params } = window(q, { participant: q.participant, status: q.status });
    const rows = await this.db.all(`SELECT * FROM market_p2p_orders ${where} ORDER BY seq`, params);
    return rows.map((r) => ({
      id: String(r.id),
      territory: String(r.territory),
      participant: String(r.participant),
      resource: String(r.resource),
      bus: String(r.bus),
      side: String(r.side) as 'buy' | 'sell',
      intervalStart: Number(r.interval_start),
      quantityWh: Number(r.quantity_wh),
      remainingWh: Number(r.remaining_wh),
      limitPrice: Number(r.limit_price),
      seq: Number(r.seq),
      status: String(r.status),
    }));
  }

  async saveTrade(t: StoredTrade, now: number): Promise<void> {
    const n = await this.db.run(
      'UPDATE market_p2p_trades SET quantity_wh = ?, status = ?, reason = ?, updated_at = ? WHERE id = ?',
      [t.quantityWh, t.status, t.reason ?? null, now, t.id],
    );
    if (n === 0)
      await this.db.run(
        `INSERT INTO market_p2p_trades (id, territory, interval_start, buy_order, sell_order, buyer, seller,
         buyer_resource, seller_resource, buyer_bus, seller_bus, price, quantity_wh, matched_wh, status, reason,
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          t.id,
          t.territory,
          t.intervalStart,
          t.buyOrder,
          t.sellOrder,
          t.buyer,
          t.seller,
          t.buyerResource,
          t.sellerResource,
          t.buyerBus,
          t.sellerBus,
          t.price,
          t.quantityWh,
          t.matchedWh,
          t.status,
          t.reason ?? null,
          now,
          now,
        ],
      );
  }

  async trades(q: { from?: number; to?: number } = {}): Promise<StoredTrade[]> {
    const { where, params } = window(q);
    const rows = await this.db.all(
      `SELECT * FROM market_p2p_trades ${where} ORDER BY interval_start, created_at, id`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      territory: String(r.territory),
      intervalStart: Number(r.interval_start),
      buyOrder: String(r.buy_order),
      sellOrder: String(r.sell_order),
      buyer: String(r.buyer),
      seller: String(r.seller),
      buyerResource: String(r.buyer_resource),
      sellerResource: String(r.seller_resource),
      buyerBus: String(r.buyer_bus),
      sellerBus: String(r.seller_bus),
      price: Number(r.price),
      quantityWh: Number(r.quantity_wh),
      matchedWh: Number(r.matched_wh),
      status: String(r.status) as Trade['status'],
      ...(r.reason !== null && r.reason !== undefined ? { reason: String(r.reason) } : {}),
    }));
  }
}

function window(
  q: { from?: number; to?: number },
  eq: Record<string, string | undefined> = {},
): { where: string; params: (string | number)[] } {
  const w: string[] = [];
  const params: (string | number)[] = [];
  if (q.from !== undefined) {
    w.push('interval_start >= ?');
    params.push(q.from);
  }
  if (q.to !== undefined) {
    w.push('interval_start < ?');
    params.push(q.to);
  }
  for (const [k, v] of Object.entries(eq))
    if (v !== undefined) {
      w.push(`${k} = ?`);
      params.push(v);
    }
  return { where: w.length ? `WHERE ${w.join(' AND ')}` : '', params };
}
