/** One entry point for a site forecast, whatever the kind. */
import { forecastLoad, type LoadOptions } from './load-model.ts';
import { type NwpRun, nwpSeries, nwpWeather } from './nwp.ts';
import { forecastPv, type PvSite, type WeatherInput } from './pv-model.ts';
import type { RegularSeries } from './series.ts';
import { assertTimeZone, localDayStart, localTime } from './timezone.ts';
import type { Forecast, ForecastKind } from './types.ts';

export interface ForecastSiteOptions {
  kind: ForecastKind;
  /** UTC epoch ms; only history strictly before it is used. Default: next local midnight after the data. */
  issueTime?: number;
  /** Horizon in ms (default 24 h). */
  horizonMs?: number;
  /** IANA time zone of the site (default UTC). */
  timeZone?: string;
  /** load: local dates (YYYY-MM-DD) that behave like Sundays */
  holidays?: Iterable<string | number>;
  /** load: temperature °C on the history grid, covering the horizon */
  temperature?: RegularSeries;
  /** pv: location and (optionally) capacity and orientation */
  site?: PvSite;
  /** pv: optional weather forecast */
  weather?: WeatherInput;
  /** pv: learn obstruction shading per sun-position bin (default true) */
  shading?: boolean;
  /**
   * NWP point-forecast runs (parseNwpJson). Only runs issued at or before the issue time are used:
   * PV takes their GHI (or cloud cover) unless `weather` is given, load their temperature unless
   * `temperature` is given.
   */
  nwp?: NwpRun[];
}

/** Forecast one site's load or PV for the horizon after issueTime, with P10/P50/P90. */
export function forecastSite(history: RegularSeries, options: ForecastSiteOptions): Forecast {
  const timeZone = options.timeZone ?? 'UTC';
  assertTimeZone(timeZone);
  const stepMs = history.stepMs;
  let issueTime = options.issueTime;
  if (issueTime === undefined) {
    const last = history.start + history.values.length * stepMs;
    issueTime = localDayStart(timeZone, localTime(timeZone, last - 1).day + 1);
  }
  // Forecast intervals stay on the history's grid.
  issueTime = history.start + Math.ceil((issueTime - history.start) / stepMs) * stepMs;
  const steps = Math.round((options.horizonMs ?? 86_400_000) / stepMs);
  if (steps < 1) throw new Error('horizon shorter than one interval');
  const end = issueTime + steps * stepMs;
  // The models look back at most 70 days: NWP values further back would never be read.
  const nwpFrom = Math.max(history.start, issueTime - 71 * 86_400_000);
  if (options.kind === 'load') {
    const temperature =
      options.temperature ??
      (options.nwp?.some((r) => r.temperature && r.issuedAt <= (issueTime as number))
        ? nwpSeries(options.nwp, 'temperature', issueTime, nwpFrom, end, stepMs)
        : undefined);
    const opts: LoadOptions = { timeZone, holidays: options.holidays, temperature };
    return forecastLoad(history, issueTime, steps, opts);
  }
  if (!options.site) throw new Error('a PV forecast needs the site location (latitude, longitude)');
  return forecastPv(history, issueTime, steps, {
    timeZone,
    site: options.site,
    weather: options.weather ?? (options.nwp && nwpWeather(options.nwp, issueTime, nwpFrom, end, stepMs)),
    shading: options.shading,
  });
}
