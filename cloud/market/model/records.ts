import type { MarketKind as BidMarket } from './bids.ts';
import type { Cents } from './money.ts';
import type { Resource } from './resources.ts';

/**
 * The market's records as stored and read back (service/store.ts persists them): resource links,
 * runs, awards, prices, dispatch outcomes and ledger lines. Plain data, so the pure layers
 * (clearing, forms, settlement) can produce and read them without depending on the store.
 */

/** One ledger line (settlement/ledger.ts). */
export interface LedgerEntry {
  readonly period: number;
  /** Payer and payee account; `cents` > 0 always flows from `from` to `to`. */
  readonly from: string;
  readonly to: string;
  readonly cents: Cents;
  readonly kind:
    | 'da_energy'
    | 'rt_deviation'
    | 'p2p_trade'
    | 'polr'
    | 'ancillary'
    | 'grid_service'
    | 'dmo_fee'
    | 'network_use'
    | 'congestion_surplus'
    | 'loss_surplus';
  readonly ref?: string;
}

/**
 * Where positions are booked: the ledger (settlement/ledger.ts) as the clearing layer sees it, so a
 * refiner can post its service payments without depending on settlement.
 */
export interface Books {
  /** A position worth `energyWh` at `price` from the account's point of view (+ = sold to the market). */
  energy(
    period: number,
    account: string,
    energyWh: number,
    price: number,
    kind: LedgerEntry['kind'],
    ref?: string,
    counterparty?: string,
  ): Cents;
  /** Books `cents` from `from` to `to` (negative amounts reverse the direction). */
  transfer(
    period: number,
    from: string,
    to: string,
    cents: Cents,
    kind: LedgerEntry['kind'],
    ref?: string,
  ): void;
}

/**
 * Runs: the DA and RT markets, MT (metered settlement of an hour, 5-minute periods) and P2P (the
 * close of a peer-to-peer delivery interval: trades, PoLR and fees; stored as RT before migration 5).
 */
export type MarketKind = BidMarket | 'MT' | 'P2P';

export interface ResourceLink {
  readonly site?: string | undefined;
  readonly device?: string | undefined;
}
export type StoredResource = Resource & ResourceLink;

export interface RunRecord {
  readonly id: string;
  readonly market: MarketKind;
  readonly intervalStart: number;
  readonly intervalEnd: number;
  readonly runAt: number;
  readonly runBy: string;
  readonly summary: Record<string, unknown>;
}

export interface AwardRecord {
  readonly runId: string;
  readonly market: MarketKind;
  readonly resource: string;
  readonly participant: string;
  readonly bus: string;
  readonly intervalStart: number;
  readonly product: string;
  /** Net schedule (W, + = into the grid) for energy; awarded capacity (W) for services. */
  readonly awardW: number;
  /** RT only: schedule minus day-ahead schedule (W), what settles at RT prices. */
  readonly deviationW: number | null;
  readonly pricePerMWh: number;
}

export interface PriceRecord {
  readonly runId: string;
  readonly market: MarketKind;
  readonly intervalStart: number;
  readonly bus: string;
  readonly dlmp: number;
  readonly energy: number;
  readonly loss: number;
  readonly congestion: number;
  readonly voltage: number;
}

export interface DispatchRecord {
  readonly runId: string;
  readonly resource: string;
  readonly site: string | null;
  readonly device: string | null;
  readonly intervalStart: number;
  readonly awardW: number;
  /** After the DGO feasibility screen (equal to awardW when nothing was curtailed). */
  readonly screenedW: number;
  readonly commandType: string | null;
  readonly commandId: string | null;
  /** sent | failed | skipped | curtailed-sent */
  readonly status: string;
  readonly reason: string | null;
}

export interface StoredLedgerEntry extends LedgerEntry {
  readonly runId: string;
  readonly market: MarketKind;
}

/** Which stored records to read: one market kind, interval starts between `from` and `to`. */
export interface RecordWindow {
  readonly market?: MarketKind;
  readonly from?: number;
  readonly to?: number;
}

/** Stored runs, awards and prices as read back (service/store.ts implements it). */
export interface RunHistory {
  runs(q?: RecordWindow): Promise<RunRecord[]>;
  awards(
    q?: RecordWindow & { readonly participant?: string; readonly resource?: string },
  ): Promise<AwardRecord[]>;
  prices(q?: RecordWindow & { readonly bus?: string }): Promise<PriceRecord[]>;
}
