/**
 * Tariff bill benchmark: one site's bill for a whole year of 5-minute intervals (105,120) under the
 * PG&E E-TOU-C fixture plus a monthly demand charge and a daily fixed charge, in the America/Los_Angeles
 * zone (the local calendar is the cost). The bill engine is synchronous: this is how long a year's
 * bill holds the API's event loop. Several runs, min and median.
 */
import { computeBill, type MeterInterval } from '../cloud/tariffs/bill.ts';
import { PGE_E_TOU_C } from '../cloud/tariffs/fixtures/pge-e-tou-c.ts';
import { tariffVersionInputSchema } from '../cloud/tariffs/schema.ts';
import { report, timeMs } from './report.ts';

const RUNS = 5;
const v = {
  ...tariffVersionInputSchema.parse({
    ...PGE_E_TOU_C,
    demand: [{ id: 'max', ratePerKw: 10 }],
    fixed: [{ id: 'daily', per: 'day', amount: 0.4 }],
  }),
  tariff: 'pge-e-tou-c',
  version: 1,
};
const from = Date.UTC(2026, 0, 1, 8);
const to = from + 365 * 86_400_000;
const intervals: MeterInterval[] = [];
for (let t = from; t < to; t += 300_000) intervals.push({ start: t, wh: -100 - (t % 7), measured: true });
const times: number[] = [];
for (let i = 0; i < RUNS; i++)
  times.push(await timeMs(() => computeBill({ site: 's', from, to, versions: [v], intervals })));
times.sort((a, b) => a - b);
report('tariffs', {
  intervals: intervals.length,
  yearBillMsMin: Math.round(times[0]),
  yearBillMsMedian: Math.round(times[Math.floor(RUNS / 2)]),
});
