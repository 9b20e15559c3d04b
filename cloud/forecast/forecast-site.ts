/** One entry point for a site forecast, whatever the kind. */
import { forecastLoad, type LoadOptions } from './load-model.ts';
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
  if (options.kind === 'load') {
    const opts: LoadOptions = { timeZone, holidays: options.holidays, temperature: options.temperature };
    return forecastLoad(history, issueTime, steps, opts);
  }
  if (!options.site) throw new Error('a PV forecast needs the site location (latitude, longitude)');
  return forecastPv(history, issueTime, steps, {
    timeZone,
    site: options.site,
    weather: options.weather,
    shading: options.shading,
  });
}
