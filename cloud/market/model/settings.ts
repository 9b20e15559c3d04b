import { z } from 'zod';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from './time.ts';

/**
 * The `market:` key of the cloud config: which organizational model runs, which organizations
 * (actors) exist and which cloud users act for each, gate closures, fees and the feeder model.
 */

/** Price offsets ($/MWh around the forecast) at which the Total-DSO T-D curve is sampled (clearing/total-dso.ts). */
export const DEFAULT_CURVE_OFFSETS = [-200, -80, -40, -20, -10, -5, 5, 10, 20, 40, 80, 200];

const ACTOR_KINDS = [
  'iso',
  'utility',
  'independent_dso',
  'aggregator',
  'producer',
  'consumer',
  'retailer',
] as const;

export const marketActorSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    kind: z.enum(ACTOR_KINDS),
    name: z.string().optional(),
    /** Cloud user ids that act for this organization (a user may act for several). */
    users: z.array(z.string()).default([]),
  })
  .strict();

const revenueModel = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('subscription'), centsPerParticipantPerDay: z.number().nonnegative() }).strict(),
  z.object({ kind: z.literal('transaction'), centsPerMWh: z.number().nonnegative() }).strict(),
  z.object({ kind: z.literal('network_use'), centsPerMWh: z.number().nonnegative() }).strict(),
]);

/** Default actors: the bootstrap operator acts for the independent DSO (DMO in model 4) and the utility (DGO). */
export const DEFAULT_MARKET_ACTORS = [
  { id: 'iso', kind: 'iso' as const, users: [] },
  { id: 'utility', kind: 'utility' as const, users: ['admin'] },
  { id: 'dso', kind: 'independent_dso' as const, users: ['admin'] },
];

export const marketSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    model: z
      .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(5), z.literal(6)])
      .default(4),
    /** Only where the model leaves it open (1, 2) or allows it (4, 6). */
    utilityDerMayParticipate: z.boolean().optional(),
    actors: z.array(marketActorSchema).default(DEFAULT_MARKET_ACTORS),
    gates: z
      .object({
        daGateBeforeDayMs: z
          .number()
          .int()
          .min(0)
          .default(12 * HOUR_MS),
        rtGateBeforeIntervalMs: z.number().int().min(0).default(RT_INTERVAL_MS),
      })
      .strict()
      .default({ daGateBeforeDayMs: 12 * HOUR_MS, rtGateBeforeIntervalMs: RT_INTERVAL_MS }),
    /**
     * Demo timing (what `gridlayer start` turns on; absent in production): gates relative to when the
     * cloud started instead of the wall-clock day, so a clearing and a settlement can be watched in
     * the first minutes. The day-ahead gate of the UTC day the cloud starts in closes
     * `daGateAfterStartMinutes` after the start, every later day's at the same time of its day
     * (replacing gates.daGateBeforeDayMs); RT gates stay as configured. With `autoClear` the cloud
     * clears as the DMO (the DMO actor's first user, audited as system:demo-clearing): each day ahead
     * once its gate has closed, then every real-time interval once its gate has closed
     * (market/service/demo-clearing.ts).
     */
    demo: z
      .object({
        daGateAfterStartMinutes: z.number().min(0).max(1440).default(3),
        autoClear: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** JSON file with a cloud/network NetworkInput (the LDA feeder); absent = copper plate, DGO screen off. */
    networkFile: z.string().optional(),
    /** Substation transformer limit on |import| (W). */
    interfaceLimitW: z.number().positive().optional(),
    fees: z
      .object({
        dmo: revenueModel.default({ kind: 'transaction', centsPerMWh: 100 }),
        wheelingCentsPerMWh: z.number().nonnegative().default(800),
      })
      .strict()
      .default({ dmo: { kind: 'transaction', centsPerMWh: 100 }, wheelingCentsPerMWh: 800 }),
    /** Marginal-loss re-linearizations of the DA and RT clearings (AC power flow); 0 = lossless DLMPs. */
    lossIterations: z.number().int().min(0).max(5).default(2),
    /**
     * Interface-price offsets ($/MWh around the forecast LMP) at which the DA market samples the
     * area's consolidated T-D bid curve: more points resolve the curve better, each costs one warm
     * re-solve of the day's LP (docs/markets.md has the timings).
     */
    curveOffsetsPerMWh: z
      .array(
        z
          .number()
          .finite()
          .refine((d) => d !== 0, 'the base price (offset 0) is always sampled'),
      )
      .min(1)
      .max(40)
      .default([...DEFAULT_CURVE_OFFSETS]),
    /** Peer-to-peer models (5, 6): continuous double auction per territory. */
    p2p: z
      .object({
        /** Delivery interval of the auction (orders and trades are per interval). */
        intervalMs: z.number().int().positive().default(HOUR_MS),
        /** Provider of last resort: the utility's fee over/under the LMP for imbalances ($/MWh). */
        polrFeePerMWh: z.number().nonnegative().default(20),
        /** Market territories (buses each); none = one territory `lda` over the whole network. */
        territories: z
          .array(z.object({ id: z.string().min(1), buses: z.array(z.string()).min(1) }).strict())
          .default([]),
      })
      .strict()
      .default({ intervalMs: HOUR_MS, polrFeePerMWh: 20, territories: [] }),
    /**
     * Automatic metered settlement of completed hours (metered-scheduler.ts, nodal models only):
     * an hour with a day-ahead result settles `delayMs` after it ends (telemetry arrives in seconds;
     * the delay leaves edges time to replay what they buffered through short outages); unsettled
     * hours within `lookbackMs` are caught up; the scheduler wakes every `pollMs`.
     */
    meteredSettlement: z
      .object({
        auto: z.boolean().default(true),
        delayMs: z
          .number()
          .int()
          .min(0)
          .default(15 * 60_000),
        lookbackMs: z
          .number()
          .int()
          .positive()
          .default(7 * DAY_MS),
        pollMs: z.number().int().positive().max(DAY_MS).default(60_000),
      })
      .strict()
      .default({ auto: true, delayMs: 15 * 60_000, lookbackMs: 7 * DAY_MS, pollMs: 60_000 }),
    /**
     * The real-time market on a clock (rt-scheduler.ts, nodal models only): with `auto` the cloud
     * clears every real-time interval of `intervalMs` as it begins, as the DMO, from the 5-minute
     * forecasts blended with the latest telemetry (`forecastWeight` on the forecast, the rest on the
     * live value), and sends the awards to the field. An interval not cleared within
     * `deadlineFraction` of its length is skipped (logged, nothing stored or sent). `intervalMs`
     * divides 5 minutes (the settlement period); shorter intervals are for tests and demos.
     */
    realtime: z
      .object({
        auto: z.boolean().default(false),
        intervalMs: z
          .number()
          .int()
          .min(1000)
          .max(RT_INTERVAL_MS)
          .refine((ms) => RT_INTERVAL_MS % ms === 0, 'intervalMs must divide 5 minutes (300000 ms)')
          .default(RT_INTERVAL_MS),
        forecastWeight: z.number().min(0).max(1).default(0.5),
        deadlineFraction: z.number().gt(0).lte(1).default(0.5),
      })
      .strict()
      .default({ auto: false, intervalMs: RT_INTERVAL_MS, forecastWeight: 0.5, deadlineFraction: 0.5 }),
    /** Seed of the in-process simulated ISO used as the wholesale counterpart. */
    isoSeed: z.number().int().default(1),
  })
  .strict();

export type MarketSettings = z.infer<typeof marketSettingsSchema>;
export type MarketSettingsInput = z.input<typeof marketSettingsSchema>;
export const DEFAULT_MARKET_SETTINGS: MarketSettings = marketSettingsSchema.parse({});
