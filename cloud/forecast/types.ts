/** What every site forecast looks like, whatever the model (the shape the cloud will store and serve). */
export type ForecastKind = 'load' | 'pv';

export interface Forecast {
  kind: ForecastKind;
  /** Model identifier and version, stored with each forecast so results stay traceable. */
  modelVersion: string;
  /** UTC epoch ms; the forecast used only data strictly before it. */
  issuedAt: number;
  /** Start of the first interval (UTC epoch ms) and the interval length. */
  start: number;
  stepMs: number;
  /** Expected value per interval (for sums across sites). Same unit as the history values. */
  mean: number[];
  p10: number[];
  p50: number[];
  p90: number[];
  /** What the fit chose (configuration, site factor, orientation …), for diagnostics. */
  details: Record<string, unknown>;
}
