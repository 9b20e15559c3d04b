/**
 * # cloud/market — distribution-system markets for the cloud
 *
 * Six organizational models (centralized, Total DSO, hybrid, P2P) on one core, in layers that only
 * import downwards: model/ (roles, rules, resources, bids, money, settings, time, records),
 * clearing/ (the LP, losses, curves, real time, Total-DSO steps, grid services), forms/ (centralized,
 * ancillary, P2P), settlement/ (ledger, meters, baselines, metered settlement), service/ (the
 * stateful MarketService, its store, scheduler and locks) and simulate/ (the CLI's day simulator).
 * This file is the market's public surface: the rest of the cloud imports only it (cli/ and bench/
 * may use simulate/ and the pure layers directly); biome.json enforces the layering.
 */

export * from './model/index.ts';
export * from './service/index.ts';
/** Metered energy per interval from stored telemetry (retail bills read the site meter with it: cloud/tariffs). */
export { type IntervalEnergy, meteredEnergy } from './settlement/metering.ts';
