import { z } from 'zod';

/**
 * A retail tariff as data. A tariff (`id`) has versions, each valid over [validFrom, validTo); a
 * bill that spans a change uses each version for its own part. Every rate is stated as published:
 * energy in $/kWh, demand in $/kW, fixed charges in $ per day or per month, and the DLMP in the
 * market's $/MWh. Amounts on a bill are integer cents, each line rounded once (market/model/money.ts).
 *
 * Clock: periods, seasons and billing months are read in the tariff's IANA `timezone` (utilities
 * publish local hours); an interval belongs to the period its start falls in.
 */

const hour = z.number().int().min(0).max(24);
const month = z.number().int().min(1).max(12);
const money = z.number().finite();
const rateId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

/** When a window applies: months (1–12), day type, and local hours [from, to) (from > to wraps midnight). */
export const windowSchema = z
  .object({
    months: z.array(month).min(1).optional(),
    days: z.enum(['all', 'weekday', 'weekend']).default('all'),
    from: hour,
    to: hour,
  })
  .refine((w) => w.from !== w.to, { message: 'a window needs from ≠ to (use 0–24 for the whole day)' });
export type TouWindow = z.infer<typeof windowSchema>;

export const periodSchema = z.object({
  id: rateId,
  /** Import energy rate ($/kWh). */
  ratePerKwh: money,
  /** Where the period applies; the first period (in order) whose window matches names the interval. */
  windows: z.array(windowSchema).default([]),
});

/** Time-of-use energy: the first matching period, else `defaultPeriod` (a flat rate is a TOU with none). */
export const touEnergySchema = z.object({
  kind: z.literal('tou'),
  periods: z.array(periodSchema).min(1),
  defaultPeriod: rateId,
});

/** Real-time pricing: the site's DLMP each interval, times `multiplier`, plus an adder, then floor/cap. */
export const dlmpEnergySchema = z
  .object({
    kind: z.literal('dlmp'),
    multiplier: z.number().positive().default(1),
    adderPerKwh: money.default(0),
    floorPerKwh: money.optional(),
    capPerKwh: money.optional(),
  })
  .refine((d) => d.floorPerKwh === undefined || d.capPerKwh === undefined || d.floorPerKwh <= d.capPerKwh, {
    message: 'floorPerKwh must not exceed capPerKwh',
  });

export const demandChargeSchema = z.object({
  id: rateId,
  /** $/kW of the billing month's highest demand interval (mean import power). */
  ratePerKw: z.number().nonnegative(),
  /** Only intervals in these windows count toward the peak (e.g. on-peak demand); absent: all. */
  windows: z.array(windowSchema).min(1).optional(),
});

export const fixedChargeSchema = z.object({
  id: rateId,
  per: z.enum(['day', 'month']),
  amount: money,
});

/**
 * Export credit: `retail` = net metering (each exported kWh credited at the import rate of its
 * interval); `flat` = net billing at a fixed $/kWh; `dlmp` = the interval's DLMP (floored at 0 unless
 * `allowNegative`). Import and export are the interval's net meter energy split by sign.
 */
export const exportSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('retail') }),
  z.object({ kind: z.literal('flat'), creditPerKwh: z.number().nonnegative() }),
  z.object({ kind: z.literal('dlmp'), allowNegative: z.boolean().default(false) }),
]);

export const VOLTAGE_LEVELS = ['LV', 'MV', 'HV'] as const;
export type VoltageLevel = (typeof VOLTAGE_LEVELS)[number];

/** Network-use (wheeling) charge on imported energy, by the site's connection voltage level. */
export const networkSchema = z.object({
  perKwh: z.partialRecord(z.enum(VOLTAGE_LEVELS), z.number().nonnegative()),
});

/**
 * Critical-peak pricing: during an event, imported energy pays `adderPerKwh` on top of the energy
 * rate. An event counts only when it was notified at least `minNoticeMinutes` before it started.
 */
export const cppSchema = z.object({
  adderPerKwh: z.number().nonnegative(),
  minNoticeMinutes: z.number().int().nonnegative().default(0),
});

export const tariffBodySchema = z.object({
  name: z.string().min(1).max(200),
  currency: z.literal('USD').default('USD'),
  timezone: z.string().refine(isTimeZone, 'unknown IANA time zone'),
  /** Length of a demand interval (minutes; a multiple of the 5-minute metering interval). */
  demandIntervalMinutes: z
    .number()
    .int()
    .positive()
    .max(60)
    .refine((m) => m % 5 === 0, 'a multiple of 5 minutes')
    .default(15),
  energy: z.discriminatedUnion('kind', [touEnergySchema, dlmpEnergySchema]),
  demand: z.array(demandChargeSchema).default([]),
  fixed: z.array(fixedChargeSchema).default([]),
  export: exportSchema.default({ kind: 'none' }),
  network: networkSchema.optional(),
  cpp: cppSchema.optional(),
  /** The market organization (a retailer/LSE) that sells on this tariff and settles its energy with the DMO. */
  retailer: z.string().min(1).max(64).optional(),
  /** Where the numbers come from (a published schedule, its date). */
  source: z.string().max(2000).optional(),
});

const FIVE_MIN = 5 * 60_000;
const aligned = (t: number) => t % FIVE_MIN === 0;

/** One version of a tariff as submitted: the body plus its validity. */
export const tariffVersionInputSchema = tariffBodySchema
  .extend({
    validFrom: z.number().int().refine(aligned, 'validFrom must be on a 5-minute boundary (epoch ms)'),
    validTo: z.number().int().refine(aligned, 'validTo must be on a 5-minute boundary (epoch ms)').optional(),
  })
  .superRefine((v, ctx) => {
    if (v.validTo !== undefined && v.validTo <= v.validFrom)
      ctx.addIssue({ code: 'custom', path: ['validTo'], message: 'validTo must be after validFrom' });
    if (v.energy.kind === 'tou') {
      const ids = v.energy.periods.map((p) => p.id);
      if (new Set(ids).size !== ids.length)
        ctx.addIssue({ code: 'custom', path: ['energy', 'periods'], message: 'period ids must be unique' });
      if (!ids.includes(v.energy.defaultPeriod))
        ctx.addIssue({
          code: 'custom',
          path: ['energy', 'defaultPeriod'],
          message: `defaultPeriod ${v.energy.defaultPeriod} is not one of the periods (${ids.join(', ')})`,
        });
    }
    if (v.export.kind === 'retail' && v.energy.kind !== 'tou')
      ctx.addIssue({
        code: 'custom',
        path: ['export'],
        message:
          'retail (net metering) export credit needs TOU energy rates; use dlmp export with dlmp energy',
      });
    for (const [list, key] of [
      [v.demand, 'demand'],
      [v.fixed, 'fixed'],
    ] as const) {
      const ids = list.map((x) => x.id);
      if (new Set(ids).size !== ids.length)
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} ids must be unique` });
    }
  });
export type TariffVersionInput = z.input<typeof tariffVersionInputSchema>;
export type TariffVersionBody = z.output<typeof tariffVersionInputSchema>;

/** A stored version: the tariff id and version number the store gave it. */
export interface TariffVersion extends TariffVersionBody {
  readonly tariff: string;
  readonly version: number;
}

/** A critical-peak event of a tariff: [start, end), notified at `notifiedAt`. */
export const cppEventInputSchema = z
  .object({
    start: z.number().int().refine(aligned, 'start must be on a 5-minute boundary (epoch ms)'),
    end: z.number().int().refine(aligned, 'end must be on a 5-minute boundary (epoch ms)'),
    notifiedAt: z.number().int(),
  })
  .refine((e) => e.end > e.start, { message: 'end must be after start', path: ['end'] })
  .refine((e) => e.notifiedAt <= e.start, {
    message: 'an event is notified before it starts',
    path: ['notifiedAt'],
  });
export type CppEvent = z.infer<typeof cppEventInputSchema> & { readonly id?: string };

export const tariffIdSchema = rateId;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
