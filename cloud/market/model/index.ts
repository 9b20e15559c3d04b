/**
 * # market/model — what a DSO market is, as data and rules
 *
 * The organizational models and their roles (roles.ts), the core rules on who may bid and dispatch
 * (rules.ts), registered resources (resources.ts), bids and the bid book with gate closure
 * (bids.ts), money in integer cents (money.ts), the `market:` settings (settings.ts), the clock
 * units (time.ts), the stored records every layer reads and writes (records.ts) and the service's
 * refusals (errors.ts). Pure and synchronous: it imports nothing else of the market and nothing of
 * storage, the API or auth (biome.json enforces it), so every other layer can build on it.
 */

export * from './bids.ts';
export * from './errors.ts';
export * from './money.ts';
export type {
  AwardRecord,
  Books,
  DispatchRecord,
  LedgerEntry,
  MarketKind as RunKind,
  PriceRecord,
  RecordWindow,
  ResourceLink,
  RunHistory,
  RunRecord,
  StoredLedgerEntry,
  StoredResource,
} from './records.ts';
export * from './resources.ts';
export * from './roles.ts';
export * from './rules.ts';
export * from './settings.ts';
export * from './time.ts';
