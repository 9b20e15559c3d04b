/**
 * Forecasting entry points for the cloud: pure functions of history and inputs, no I/O.
 * The cloud's scheduler will call forecastSite() per site from stored telemetry and aggregate()
 * per group, and store the results with their issue time and model version.
 */
export { aggregate, DEFAULT_CORRELATION, type GroupForecast } from './aggregate.ts';
export { type BacktestOptions, type BacktestResult, backtest } from './backtest.ts';
export { parseSeriesCsv } from './csv.ts';
export {
  type BatterySpec,
  type EnvelopeInput,
  type EnvelopeInterval,
  type FlexibleLoadSpec,
  flexibilityEnvelope,
} from './envelope.ts';
export { type ForecastSiteOptions, forecastSite } from './forecast-site.ts';
export {
  backtestIntraday,
  forecastIntraday,
  INTRADAY_MODEL_VERSION,
  type IntradayBacktestResult,
  type IntradayOptions,
} from './intraday.ts';
export { LOAD_MODEL_VERSION } from './load-model.ts';
export { type NwpRun, nwpSeries, nwpWeather, parseNwpJson } from './nwp.ts';
export { PV_MODEL_VERSION, type PvSite, type WeatherInput } from './pv-model.ts';
export {
  addSums,
  type Baseline,
  emptySums,
  persistenceForecast,
  type ScoreMetrics,
  type ScoreSums,
  scoreForecast,
  scoreMetrics,
} from './scoring.ts';
export { type RegularSeries, toRegular } from './series.ts';
export { solarPosition } from './solar-position.ts';
export type { Forecast, ForecastKind } from './types.ts';
