import type { BidPriceLimits, TdAward, TdBid } from './td-interface.ts';

/**
 * The wholesale counterpart of a distribution market, as the cloud sees it: the ISO/TSO that clears
 * the day ahead with the DSO's (or the aggregators') consolidated T-D curve, and publishes interface
 * LMPs. The cloud only depends on this interface; the composition roots (CLI, tests) inject an
 * implementation — today the simulated ISO in sim-devices/iso, later a gateway to a real ISO.
 */
export interface WholesaleGateway {
  /** Clears the day with the submitted hourly curves; returns the interface award and LMP per hour. */
  clearDayAhead(bid: TdBid): Promise<TdAward>;
  /** Prices a day-ahead curve point may have; points outside are refused. */
  readonly bidPriceLimits: BidPriceLimits;
  /** Forecast interface LMP ($/MWh) for an hour, before the ISO clears. */
  forecastLmp(intervalStart: number): number;
  /** Real-time interface LMP ($/MWh) of a 5-minute interval given the area's actual import (W). */
  realTimeLmp(intervalStart: number, dsoImportW: number): number;
}
