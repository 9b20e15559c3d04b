/**
 * # market/service — the market as a stateful cloud service
 *
 * MarketService (service.ts) resolves who is acting, runs the pure layers, persists (store.ts,
 * store-forms.ts: registry tables on SQLite or PostgreSQL), dispatches awards to the field through
 * the command pipeline (dispatch.ts) and audits every action. The model-specific services, the
 * nodal models (nodal.ts), the centralized models (centralized.ts) and the peer-to-peer market
 * (p2p.ts, its metered settlement p2p-metered.ts), see it only through the narrow MarketContext (context.ts). The metered-settlement
 * scheduler (metered-scheduler.ts) settles completed hours on its own, one settlement of an hour
 * at a time (hour-lock.ts); the RT scheduler (rt-scheduler.ts) clears each real-time interval on
 * its own clock from forecasts blended with live telemetry.
 */

export type { MarketCaller, MarketContext, MarketIso } from './context.ts';
export * from './demo-clearing.ts';
export type { SendCommand } from './dispatch.ts';
export * from './metered-scheduler.ts';
export { type NoWorseOffRow, noWorseOffReport } from './no-worse-off.ts';
export type { OrderInput, P2pMarket } from './p2p.ts';
export { p2pStatements, settleP2pInterval } from './p2p-metered.ts';
export * from './rt-scheduler.ts';
export * from './service.ts';
