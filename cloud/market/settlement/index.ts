/**
 * # market/settlement — who owes whom, to the cent
 *
 * The double-entry ledger with fees and the books check (ledger.ts), meters and baselines: delivered
 * energy per interval from the cloud's telemetry (metering.ts) and the "10 of 10" demand-response
 * baseline (baseline.ts), the settlement of an hour's 5-minute periods against its schedules
 * (metered-settlement.ts) and the run that gathers the schedules, prices and meter readings for it
 * (metered-run.ts, which reads stored runs through model's RunHistory, not the store); and the
 * congestion and loss surpluses by definition that a period's clearing account must hold before the
 * period closes (surplus.ts).
 */

export * from './baseline.ts';
export * from './ledger.ts';
export * from './metered-run.ts';
export * from './metered-settlement.ts';
export * from './metering.ts';
export * from './surplus.ts';
