/**
 * # market/clearing — prices and schedules from bids and the feeder
 *
 * The area clearing LP with LinDistFlow network rows and DLMP decomposition (clearing.ts on the
 * LP builder lp.ts, shapes in types.ts), per-bus aggregation (aggregate.ts), AC loss linearization
 * (losses.ts), the T-D interface curve and its worker thread (curves.ts, curve-parallel.ts,
 * curve-worker.ts), the real-time re-clearing (realtime.ts), the Total-DSO day-ahead steps with the
 * ISO (total-dso.ts) and the DSO grid services (grid-services.ts, service-calls.ts). The feeder is
 * cloud/network's radial structure in LP units (feeder.ts). Pure computation: it imports only
 * market/model, cloud/network, cloud/lp and the wire types in protocols/ (biome.json enforces it).
 */

export * from './aggregate.ts';
export * from './clearing.ts';
export * from './curve-parallel.ts';
export * from './curves.ts';
export * from './feeder.ts';
export * from './grid-services.ts';
export * from './losses.ts';
export * from './realtime.ts';
export * from './service-calls.ts';
export * from './total-dso.ts';
export * from './types.ts';
