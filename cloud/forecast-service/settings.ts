import { z } from 'zod';
import { assertTimeZone } from '../forecast/timezone.ts';

const timeZone = z.string().refine((tz) => {
  try {
    assertTimeZone(tz);
    return true;
  } catch {
    return false;
  }
}, 'unknown IANA time zone (e.g. Europe/Berlin)');

const location = z
  .object({
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    elevation: z.number().optional(),
  })
  .strict();

/** Per-site overrides (the registry does not hold locations or PV orientation). */
const siteSettings = location
  .partial()
  .extend({
    timeZone: timeZone.optional(),
    /** PV AC capacity in W; default: sum of the site's inverter nameplate w_max. */
    capacityW: z.number().positive().optional(),
    tilt: z.number().min(0).max(90).optional(),
    azimuth: z.number().min(0).max(360).optional(),
  })
  .strict();

/**
 * `forecast:` in the cloud config. Forecasts are made on a fixed 15-minute grid for every site and
 * group, every `everyMinutes`, aligned to the wall clock.
 */
export const forecastSettingsSchema = z
  .object({
    /** false: no scheduled runs (the API still serves stored forecasts; runNow() still works). */
    enabled: z.boolean().default(true),
    everyMinutes: z.number().int().min(1).max(1440).default(60),
    horizonHours: z.number().int().min(1).max(168).default(24),
    /** Time zone of the distribution area (calendar effects); sites may override. */
    timeZone: timeZone.default('UTC'),
    /** Local dates that behave like Sundays for the load model. */
    holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)).default([]),
    /** Location of the area for PV (sites may override); without one, PV forecasts are skipped. */
    location: location.optional(),
    sites: z.record(z.string(), siteSettings).default({}),
    /** Stored forecasts older than this are deleted after each run. */
    retainDays: z.number().int().min(1).default(30),
    /**
     * Continuous scoring: each run first scores the stored forecasts whose horizon has ended
     * against the stored actuals; a site whose model does worse than the better persistence
     * baseline over the last `windowDays` (at least `minIntervals` scored intervals) is flagged and,
     * with `fallback`, served that baseline instead until the model is better again.
     */
    scoring: z
      .object({
        windowDays: z.number().int().min(1).max(90).default(7),
        minIntervals: z.number().int().min(1).default(288),
        fallback: z.boolean().default(true),
        /** Scores older than this are deleted after each run. */
        retainDays: z.number().int().min(1).default(400),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ForecastSettings = z.infer<typeof forecastSettingsSchema>;
