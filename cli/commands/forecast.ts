import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import type { BacktestResult } from '../../cloud/forecast/backtest.ts';
import {
  backtest,
  backtestIntraday,
  type IntradayBacktestResult,
  type NwpRun,
  parseNwpJson,
  parseSeriesCsv,
  type RegularSeries,
  toRegular,
} from '../../cloud/forecast/index.ts';
import { medianStep, parseDuration } from '../../cloud/forecast/series.ts';
import { assertTimeZone, parseLocalDate } from '../../cloud/forecast/timezone.ts';

const RESOLUTIONS: Record<string, number> = { '5m': 300_000, '15m': 900_000, '1h': 3_600_000 };

const Options = z
  .object({
    input: z.string().min(1),
    kind: z.enum(['load', 'pv'], { error: '--kind must be load or pv' }),
    timezone: z.string().default('UTC'),
    lat: z.coerce.number().min(-90).max(90).optional(),
    lon: z.coerce.number().min(-180).max(180).optional(),
    capacityKw: z.coerce.number().positive().optional(),
    tilt: z.coerce.number().min(0).max(90).optional(),
    azimuth: z.coerce.number().min(0).max(360).optional(),
    elevation: z.coerce.number().min(-500).max(9000).optional(),
    resolution: z.enum(['5m', '15m', '1h'], { error: '--resolution must be 5m, 15m or 1h' }).optional(),
    horizon: z.string().default('24h'),
    testDays: z.coerce.number().int().min(1).max(3660).default(30),
    holidays: z.string().optional(),
    temperature: z.string().optional(),
    weather: z.string().optional(),
    json: z.boolean().default(false),
    intraday: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    if (o.kind === 'pv' && (o.lat === undefined || o.lon === undefined)) {
      ctx.addIssue({ code: 'custom', message: '--kind pv needs --lat and --lon (and --capacity-kw)' });
    }
    if (o.kind === 'pv' && o.capacityKw === undefined) {
      ctx.addIssue({ code: 'custom', message: '--kind pv needs --capacity-kw' });
    }
    if ((o.tilt === undefined) !== (o.azimuth === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: '--tilt and --azimuth go together (omit both to let the model find the orientation)',
      });
    }
  });

type Opts = z.infer<typeof Options>;

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Chooses the grid: the requested resolution, or the data's own when it is one of 5m/15m/1h. */
function chooseStep(t: number[], requested: string | undefined, source: string): number {
  const dataStep = medianStep(t);
  if (requested) {
    const step = RESOLUTIONS[requested];
    if (Number.isFinite(dataStep) && dataStep > step) {
      throw new Error(
        `${source}: data resolution is ${dataStep / 60_000} min, coarser than --resolution ${requested}`,
      );
    }
    return step;
  }
  if (!Number.isFinite(dataStep))
    throw new Error(`${source}: need at least two rows to infer the resolution`);
  const fit = Object.values(RESOLUTIONS).find((s) => s >= dataStep);
  if (fit === undefined)
    throw new Error(`${source}: data resolution ${dataStep / 60_000} min is coarser than 1h`);
  return fit;
}

function loadSeries(path: string, column: string, step: number | undefined, requested?: string) {
  const parsed = parseSeriesCsv(readText(path, 'file'), column, path);
  const stepMs = step ?? chooseStep(parsed.t, requested, path);
  return { parsed, series: toRegular(parsed, stepMs) };
}

function readHolidays(arg: string | undefined): string[] {
  if (!arg) return [];
  const text = existsSync(arg) ? readText(arg, 'holiday file') : arg;
  const dates = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith('#'));
  for (const d of dates) parseLocalDate(d);
  return dates;
}

/**
 * --weather: a CSV series (timestamp,ghi or timestamp,cloud_cover), or NWP point-forecast JSON
 * (one run or an array of runs, each with its issued_at; see cloud/forecast/nwp.ts), from which each
 * day-ahead forecast takes only the runs issued by its issue time.
 */
function readWeather(
  path: string,
  step: number,
): { weather?: { kind: 'ghi' | 'cloud_cover'; series: RegularSeries }; nwp?: NwpRun[] } {
  const text = readText(path, 'weather file');
  if (/^\s*[[{]/.test(text)) return { nwp: parseNwpJson(text, path) };
  return { weather: readWeatherCsv(path, text, step) };
}

function readWeatherCsv(
  path: string,
  text: string,
  step: number,
): { kind: 'ghi' | 'cloud_cover'; series: RegularSeries } {
  const header = text.split(/\r?\n/, 1)[0].toLowerCase();
  const kind = header.includes('cloud_cover') ? 'cloud_cover' : header.includes('ghi') ? 'ghi' : undefined;
  if (!kind)
    throw new Error(`${path} line 1: weather header must be "timestamp,ghi" or "timestamp,cloud_cover"`);
  return { kind, series: loadSeries(path, kind, step).series };
}

export async function runBacktest(
  raw: Record<string, unknown>,
): Promise<BacktestResult | IntradayBacktestResult> {
  const parsedOpts = Options.safeParse(raw);
  if (!parsedOpts.success) throw new Error(parsedOpts.error.issues.map((i) => i.message).join('; '));
  const o: Opts = parsedOpts.data;
  assertTimeZone(o.timezone);
  const horizonMs = parseDuration(o.horizon);
  const { parsed, series } = loadSeries(o.input, 'value', undefined, o.resolution);
  if (horizonMs < series.stepMs || horizonMs > 86_400_000) {
    throw new Error(`--horizon must be between one interval and 24h, got ${o.horizon}`);
  }
  if (o.timezone === 'UTC' && !o.json) {
    process.stderr.write('note: no --timezone given; days start at 00:00 UTC\n');
  }
  const progress = process.stderr.isTTY
    ? (done: number, total: number) => process.stderr.write(`\rbacktest: ${done}/${total} days`)
    : undefined;
  try {
    const run = o.intraday
      ? (x: Parameters<typeof backtest>[1]) => backtestIntraday(series, x)
      : (x: Parameters<typeof backtest>[1]) => backtest(series, x);
    const result = run({
      kind: o.kind,
      timeZone: o.timezone,
      testDays: o.testDays,
      horizonMs,
      holidays: readHolidays(o.holidays),
      temperature: o.temperature ? loadSeries(o.temperature, 'temperature', series.stepMs).series : undefined,
      ...(o.weather ? readWeather(o.weather, series.stepMs) : {}),
      site:
        o.kind === 'pv'
          ? {
              latitude: o.lat as number,
              longitude: o.lon as number,
              capacity: o.capacityKw,
              tilt: o.tilt,
              azimuth: o.azimuth,
              elevation: o.elevation,
            }
          : undefined,
      onProgress: progress,
    });
    if (progress) process.stderr.write('\n');
    return result;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (msg.startsWith('too little')) {
      const n = parsed.line.length;
      throw new Error(
        `${o.input}: ${msg} (data rows from line ${parsed.line[0]} to line ${parsed.line[n - 1]})`,
      );
    }
    throw err;
  }
}

function printIntraday(r: IntradayBacktestResult): void {
  console.log(
    `${r.kind} intraday backtest (${r.model_version}): ${r.forecasts_issued} updates, hourly from 01:00, ${r.resolution_minutes}-min intervals, 6 h ahead`,
  );
  console.log(
    `${'lead min'.padEnd(10)} ${'MAE kW'.padStart(10)} ${'pers_5min'.padStart(10)} ${'day-ahead'.padStart(10)} ${'skill'.padStart(7)} ${'vs d-a'.padStart(7)}`,
  );
  for (const b of r.buckets)
    console.log(
      `${`${b.lead_minutes[0]}–${b.lead_minutes[1]}`.padEnd(10)} ${b.mae.toFixed(4).padStart(10)} ${b.persistence_mae.toFixed(4).padStart(10)} ${b.day_ahead_mae.toFixed(4).padStart(10)} ${b.skill.toFixed(3).padStart(7)} ${b.skill_vs_day_ahead.toFixed(3).padStart(7)}`,
    );
}

function printHuman(r: BacktestResult): void {
  const row = (name: string, s: { mae_kw: number; rmse_kw: number; nmae: number; intervals: number }) =>
    `${name.padEnd(16)} ${s.mae_kw.toFixed(4).padStart(10)} ${s.rmse_kw.toFixed(4).padStart(10)} ${s.nmae.toFixed(4).padStart(8)} ${String(s.intervals).padStart(9)}`;
  console.log(
    `${r.kind} day-ahead backtest, ${r.forecasts_issued} forecasts issued at 00:00 ${r.timezone} (${r.first_issue} … ${r.last_issue}), ${r.resolution_minutes}-min intervals`,
  );
  console.log(
    `${'method'.padEnd(16)} ${'MAE kW'.padStart(10)} ${'RMSE kW'.padStart(10)} ${'nMAE'.padStart(8)} ${'intervals'.padStart(9)}`,
  );
  console.log(row(r.model_version, r.model));
  console.log(row('persistence_1d', r.baselines.persistence_1d));
  console.log(row('persistence_7d', r.baselines.persistence_7d));
  console.log(`skill vs ${r.better_baseline}: ${r.skill.toFixed(3)}`);
  console.log(
    `pinball loss kW: P10 ${r.pinball_kw.p10.toFixed(4)}  P50 ${r.pinball_kw.p50.toFixed(4)}  P90 ${r.pinball_kw.p90.toFixed(4)}; ` +
      `P10–P90 coverage ${(100 * r.coverage_p10_p90).toFixed(1)}%`,
  );
  console.log('per month (local month of the issue day; skill vs the better baseline of that month):');
  console.log(
    `${'month'.padEnd(8)} ${'days'.padStart(4)} ${'MAE kW'.padStart(10)} ${'pers_1d'.padStart(10)} ${'pers_7d'.padStart(10)} ${'skill'.padStart(7)} ${'P10–P90'.padStart(8)}`,
  );
  for (const m of r.months) {
    console.log(
      `${m.month.padEnd(8)} ${String(m.forecasts).padStart(4)} ${m.mae_kw.toFixed(4).padStart(10)} ${m.persistence_1d_mae_kw.toFixed(4).padStart(10)} ${m.persistence_7d_mae_kw.toFixed(4).padStart(10)} ${m.skill.toFixed(3).padStart(7)} ${`${(100 * m.coverage_p10_p90).toFixed(1)}%`.padStart(8)}`,
    );
  }
}

export function register(program: Command): void {
  const forecast = program.command('forecast').description('Load, PV and DER availability forecasting');
  forecast
    .command('backtest')
    .description(
      'Day-ahead backtest of the load or PV model against persistence baselines on a CSV series ' +
        '(header timestamp,value; ISO 8601 timestamps with offset or Z; kW averaged over the interval starting at the timestamp)',
    )
    .requiredOption('--input <file.csv>', 'measured series: timestamp,value (kW)')
    .requiredOption('--kind <kind>', 'load or pv')
    .option('--timezone <IANA>', 'site time zone; days and day-ahead issue times follow it', 'UTC')
    .option('--lat <deg>', 'PV: latitude, degrees north')
    .option('--lon <deg>', 'PV: longitude, degrees east')
    .option('--capacity-kw <kW>', 'PV: AC capacity in kW')
    .option('--tilt <deg>', 'PV: array tilt (omit with --azimuth to let the model find it)')
    .option('--azimuth <deg>', 'PV: array azimuth, degrees clockwise from north (180 = south)')
    .option('--elevation <m>', 'PV: site elevation in metres')
    .option('--resolution <res>', '5m, 15m or 1h (default: the data resolution)')
    .option('--horizon <h>', 'forecast horizon, at most 24h (24h = the whole local day)', '24h')
    .option('--test-days <n>', 'score the last n days', '30')
    .option(
      '--holidays <dates|file>',
      'load: holidays as YYYY-MM-DD list (comma-separated) or a file of dates',
    )
    .option(
      '--temperature <file.csv>',
      'load: temperature CSV timestamp,temperature (°C), covering the test days',
    )
    .option(
      '--weather <file.csv>',
      'weather forecast: CSV timestamp,ghi (W/m²) or timestamp,cloud_cover (0–1 or %), or NWP JSON runs with issued_at (hourly GHI/DNI/DHI, cloud cover, temperature)',
    )
    .option(
      '--intraday',
      'score intraday updates (hourly, 5 min–6 h ahead) against 5-minute persistence instead of day-ahead',
    )
    .option('--json', 'print one JSON object')
    .action(async (opts: Record<string, unknown>) => {
      const result = await runBacktest(opts);
      if (opts.json) console.log(JSON.stringify(result));
      else if ('buckets' in result) printIntraday(result);
      else printHuman(result);
    });
}
