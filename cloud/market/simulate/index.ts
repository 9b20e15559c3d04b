/**
 * # market/simulate — a market day without a cloud
 *
 * The CLI's `market simulate` (cli/commands/market.ts): one day of any of the six organizational
 * models on a synthetic feeder with a seeded fleet, the simulated ISO injected by the caller, and a
 * balanced settlement report. A leaf: nothing of the cloud imports it.
 */

export * from './simulate.ts';
