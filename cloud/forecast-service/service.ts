import type { Logger } from 'pino';
import {
  aggregate,
  emptySums,
  type Forecast,
  type ForecastKind,
  forecastIntraday,
  forecastSite,
  type RegularSeries,
  scoreForecast,
} from '../forecast/index.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import {
  type Assessment,
  assess,
  fallbackForecast,
  type ScoreReport,
  scoreReport,
  sumSeries,
} from './scores.ts';
import type { ForecastSettings } from './settings.ts';
import { STEP_MS, siteHistory } from './site-series.ts';
import { type ForecastStatus, ForecastStore, type StoredForecast, type Subject } from './store.ts';

const DAY_MS = 86_400_000;
/** The load model looks at 70 days, PV at 45 (docs/forecasting.md); read the longer window once. */
const HISTORY_DAYS = 70;
const KINDS: ForecastKind[] = ['load', 'pv'];

export interface RunSummary {
  issuedAt: number;
  sites: { id: string; kind: ForecastKind; status: ForecastStatus['status']; reason: string | null }[];
  groups: { id: string; kind: ForecastKind; status: ForecastStatus['status']; reason: string | null }[];
  /** Stored forecasts scored in this run (their horizon had ended). */
  scored: number;
  /** Sites served a persistence baseline because their model did worse than it. */
  fallbacks: { id: string; kind: ForecastKind; baseline: string; skill: number }[];
}

type Group = Awaited<ReturnType<Registry['listGroups']>>[number];

/** What one run carries from the sites to the groups. */
interface RunState {
  issuedAt: number;
  horizonMs: number;
  summary: RunSummary;
  inGroups: Set<string>;
  memberHistory: Map<string, Partial<Record<ForecastKind, RegularSeries>>>;
  made: Map<string, Forecast>; // `${kind}/${site}`
}

/** The model's own "not enough data" errors, told apart from bugs. */
const isInsufficient = (err: unknown) => /too little .*history/i.test((err as Error)?.message ?? '');

/**
 * Produces load and PV forecasts for every site and group from stored telemetry on a wall-clock
 * schedule, stores them in the registry database and serves the latest. The models stay pure in
 * cloud/forecast/; this module only reads, calls and writes.
 */
export class ForecastService {
  readonly store: ForecastStore;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RunSummary> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: {
      registry: Registry;
      store: TimeSeriesStore;
      settings: ForecastSettings;
      log: Logger;
    },
  ) {
    this.store = new ForecastStore(deps.registry.db);
  }

  /** Starts the schedule: runs at every multiple of everyMinutes on the wall clock. */
  start(): void {
    if (!this.deps.settings.enabled) return;
    const every = this.deps.settings.everyMinutes * 60_000;
    const arm = () => {
      if (this.stopped) return;
      const now = Date.now();
      this.timer = setTimeout(
        () => {
          this.runNow()
            .catch((err) => this.deps.log.error({ err }, 'scheduled forecast run failed'))
            .finally(arm);
        },
        Math.ceil((now + 1) / every) * every - now,
      );
      this.timer.unref();
    };
    arm();
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * One run now (also what the schedule calls). Runs never overlap: a call during a run waits for
   * it and then runs again. `issueTime` defaults to now, rounded up to the 15-minute grid.
   */
  runNow(opts: { issueTime?: number } = {}): Promise<RunSummary> {
    const prev = this.running?.catch(() => undefined) ?? Promise.resolve();
    const run = prev.then(() => this.run(opts.issueTime ?? Date.now()));
    this.running = run;
    return run;
  }

  private async run(t: number): Promise<RunSummary> {
    const { registry, settings, log } = this.deps;
    const issuedAt = Math.ceil(t / STEP_MS) * STEP_MS;
    const summary: RunSummary = { issuedAt, sites: [], groups: [], scored: 0, fallbacks: [] };
    const groups = await registry.listGroups();
    const r: RunState = {
      issuedAt,
      horizonMs: settings.horizonHours * 3_600_000,
      summary,
      // Group actuals are the sum of their members': keep member histories for scoring the groups.
      inGroups: new Set(groups.flatMap((g) => g.sites)),
      memberHistory: new Map(),
      made: new Map(),
    };
    for (const site of await registry.listSites()) await this.runSite(r, site.id);
    for (const group of groups) for (const kind of KINDS) await this.runGroup(r, group, kind);
    const pruned = await this.store.prune(issuedAt - settings.retainDays * DAY_MS);
    await this.store.pruneScores(issuedAt - settings.scoring.retainDays * DAY_MS);
    log.info(
      {
        issuedAt: new Date(issuedAt).toISOString(),
        ok: summary.sites.filter((s) => s.status === 'ok').length,
        sites: summary.sites.length,
        groups: summary.groups.length,
        scored: summary.scored,
        fallbacks: summary.fallbacks.length,
        pruned,
      },
      'forecast run done',
    );
    return summary;
  }

  private async note(r: RunState, s: Omit<ForecastStatus, 'at'>, to: RunSummary['sites']): Promise<void> {
    await this.store.setStatus({ ...s, at: r.issuedAt });
    to.push({ id: s.id, kind: s.kind, status: s.status, reason: s.reason });
  }

  /** Scores, forecasts and stores both kinds for one site, noting each outcome. */
  private async runSite(r: RunState, siteId: string): Promise<void> {
    const { registry, store, settings } = this.deps;
    const { issuedAt, summary } = r;
    const devices = await registry.listDevices(siteId);
    const hist = await siteHistory(store, siteId, devices, issuedAt - HISTORY_DAYS * DAY_MS, issuedAt);
    const own = settings.sites[siteId] ?? {};
    const timeZone = own.timeZone ?? settings.timeZone;
    if (r.inGroups.has(siteId))
      r.memberHistory.set(siteId, { load: hist.load ?? undefined, pv: hist.pv ?? undefined });
    for (const kind of KINDS) {
      const subject = { subject: 'site' as const, id: siteId, kind };
      const series = hist[kind];
      summary.scored += await this.scoreDue('site', siteId, kind, issuedAt, series, timeZone);
      if (!series) {
        await this.note(
          r,
          { ...subject, status: 'no_data', reason: hist.reasons[kind] ?? 'no data' },
          summary.sites,
        );
        continue;
      }
      const latitude = own.latitude ?? settings.location?.latitude;
      const longitude = own.longitude ?? settings.location?.longitude;
      if (kind === 'pv' && (latitude === undefined || longitude === undefined)) {
        const reason = 'no location: set forecast.location or forecast.sites.<id>.latitude/longitude';
        await this.note(r, { ...subject, status: 'no_data', reason }, summary.sites);
        continue;
      }
      const capacity =
        own.capacityW ??
        (devices
          .filter((d) => d.kind === 'inverter')
          .reduce((s, d) => s + (d.nameplate.w_max ?? Number.NaN), 0) ||
          undefined);
      try {
        const f = forecastSite(series, {
          kind,
          issueTime: issuedAt,
          horizonMs: r.horizonMs,
          timeZone,
          holidays: settings.holidays,
          ...(kind === 'pv'
            ? {
                site: {
                  latitude: latitude as number,
                  longitude: longitude as number,
                  elevation: own.elevation ?? settings.location?.elevation,
                  capacity: Number.isFinite(capacity) ? capacity : undefined,
                  tilt: own.tilt,
                  azimuth: own.azimuth,
                },
              }
            : {}),
        });
        const details = { ...f.details, timeZone, unknownDevices: hist.unknownDevices };
        const reason = await this.serveSiteForecast(r, subject, f, series, timeZone, details);
        await this.note(r, { ...subject, status: 'ok', reason }, summary.sites);
      } catch (err) {
        const insufficient = isInsufficient(err);
        if (!insufficient) this.deps.log.error({ err, site: siteId, kind }, 'site forecast failed');
        await this.note(
          r,
          {
            ...subject,
            status: insufficient ? 'insufficient_history' : 'error',
            reason: (err as Error).message,
          },
          summary.sites,
        );
      }
      // Forecasting is CPU-bound: let the API and the broker breathe between sites.
      await new Promise((res) => setImmediate(res));
    }
  }

  /**
   * Stores the site's forecast — or, where scoring flags the model as worse than a persistence
   * baseline and fallback is on, that baseline — and returns the status reason (null when the model is served).
   */
  private async serveSiteForecast(
    r: RunState,
    subject: { subject: 'site'; id: string; kind: ForecastKind },
    f: Forecast,
    series: RegularSeries,
    timeZone: string,
    details: Record<string, unknown>,
  ): Promise<string | null> {
    const { settings } = this.deps;
    const { id, kind } = subject;
    const verdict = await this.assessment('site', id, kind, r.issuedAt, f.modelVersion);
    const served =
      settings.scoring.fallback && verdict.flagged && verdict.betterBaseline
        ? fallbackForecast(f, series, timeZone, verdict)
        : f;
    r.made.set(`${kind}/${id}`, served);
    await this.store.save({
      ...subject,
      issuedAt: f.issuedAt,
      modelVersion: served.modelVersion,
      start: f.start,
      stepMs: f.stepMs,
      mean: [...served.mean],
      p10: [...served.p10],
      p50: [...served.p50],
      p90: [...served.p90],
      members: null,
      details: { ...details, ...served.details },
    });
    if (served === f) return null;
    r.summary.fallbacks.push({
      id,
      kind,
      baseline: verdict.betterBaseline as string,
      skill: verdict.skill as number,
    });
    return `model ${f.modelVersion} skill ${(verdict.skill as number).toFixed(3)} vs ${verdict.betterBaseline} over ${verdict.windowDays} d: serving ${verdict.betterBaseline}`;
  }

  /** Scores the group's due forecasts and stores the aggregate of its members' forecasts of this run. */
  private async runGroup(r: RunState, group: Group, kind: ForecastKind): Promise<void> {
    const { settings } = this.deps;
    const { issuedAt, summary, made } = r;
    const subject = { subject: 'group' as const, id: group.id, kind };
    summary.scored += await this.scoreDue('group', group.id, kind, issuedAt, null, settings.timeZone, (f) =>
      sumSeries(
        ((f.details.sites as string[] | undefined) ?? group.sites).map((s) => r.memberHistory.get(s)?.[kind]),
        issuedAt - HISTORY_DAYS * DAY_MS,
        issuedAt,
        STEP_MS,
      ),
    );
    const members = group.sites.filter((s) => made.has(`${kind}/${s}`));
    const missing = group.sites.filter((s) => !made.has(`${kind}/${s}`));
    if (!members.length) {
      const reason = group.sites.length
        ? `no member site has a ${kind} forecast (${group.sites.length} site(s); see their forecast status)`
        : 'the group has no sites';
      await this.note(r, { ...subject, status: 'insufficient_history', reason }, summary.groups);
      return;
    }
    const g = aggregate(members.map((s) => made.get(`${kind}/${s}`) as Forecast));
    await this.store.save({
      ...subject,
      issuedAt: g.issuedAt,
      modelVersion: g.modelVersion,
      start: g.start,
      stepMs: g.stepMs,
      mean: g.mean,
      p10: g.p10,
      p50: g.p50,
      p90: g.p90,
      members: g.members,
      details: { correlation: g.correlation, sites: members, missing },
    });
    await this.note(
      r,
      {
        ...subject,
        status: 'ok',
        reason: missing.length ? `partial: no ${kind} forecast for ${missing.join(', ')}` : null,
      },
      summary.groups,
    );
  }

  /**
   * Scores the subject's stored forecasts whose horizon has ended by `now` against the actuals
   * (`actual`, or `actualFor(forecast)` for groups); returns how many. The model is scored, also
   * where a baseline was served in its place (its forecast is kept in details.model).
   */
  private async scoreDue(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    now: number,
    actual: RegularSeries | null,
    timeZone: string,
    actualFor?: (f: StoredForecast) => RegularSeries | null,
  ): Promise<number> {
    // Scoring needs a week of actuals before the forecast for the weekly baseline.
    const due = await this.store.dueForScoring(subject, id, kind, now, (HISTORY_DAYS - 8) * DAY_MS);
    for (const f of due) {
      const shadow = f.details.model as
        | (Pick<StoredForecast, 'modelVersion' | 'p10' | 'p50' | 'p90'> & object)
        | undefined;
      const fallback = f.details.fallback as { baseline?: 'persistence_1d' | 'persistence_7d' } | undefined;
      const scored = shadow ? { ...f, ...shadow } : f;
      const series = actualFor ? actualFor(f) : actual;
      const tz = typeof f.details.timeZone === 'string' ? f.details.timeZone : timeZone;
      await this.store.saveScore({
        subject,
        id,
        kind,
        issuedAt: f.issuedAt,
        modelVersion: scored.modelVersion,
        served: shadow && fallback?.baseline ? fallback.baseline : 'model',
        sums: series ? scoreForecast(scored, series, tz) : emptySums(),
      });
    }
    return due.length;
  }

  /** Whether the model is doing worse than persistence for the subject over the scoring window. */
  async assessment(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    now: number,
    modelVersion?: string,
  ): Promise<Assessment> {
    return (await this.scores(subject, id, kind, { now, modelVersion })).assessment;
  }

  /**
   * Scores of forecasts issued in the `days` (default: scoring.windowDays) before `now`, per model
   * version, and the assessment of `modelVersion` (default: the latest scored one).
   */
  async scores(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    opts: { now?: number; days?: number; modelVersion?: string } = {},
  ): Promise<ScoreReport> {
    const { scoring } = this.deps.settings;
    const to = opts.now ?? Date.now();
    const days = opts.days ?? scoring.windowDays;
    const from = to - days * DAY_MS;
    const groups = await this.store.scoreGroups(subject, id, kind, from, to);
    const report = scoreReport(groups);
    // The flag always looks at the configured window, whatever window was asked for.
    const flagGroups =
      days === scoring.windowDays
        ? groups
        : await this.store.scoreGroups(subject, id, kind, to - scoring.windowDays * DAY_MS, to);
    return {
      subject,
      id,
      kind,
      windowDays: days,
      from,
      to,
      models: report,
      assessment: assess(flagGroups, opts.modelVersion, scoring.windowDays, scoring.minIntervals),
    };
  }

  /**
   * An intraday update (5-minute intervals, up to 6 h) of the site's stored day-ahead forecast with
   * the telemetry of the last two hours, computed on request: its first interval is the one in
   * progress at `now`. Undefined when no stored forecast covers the horizon.
   */
  async intraday(
    site: string,
    kind: ForecastKind,
    opts: { now?: number; horizonMs?: number } = {},
  ): Promise<{ forecast: Forecast; base: StoredForecast } | undefined> {
    const step = 5 * 60_000;
    const issue = Math.floor((opts.now ?? Date.now()) / step) * step;
    const horizonMs = opts.horizonMs ?? 6 * 3_600_000;
    const stored = await this.store.recent('site', site, kind, issue, 4);
    const base = stored.find(
      (f) => f.start <= issue && f.start + f.p50.length * f.stepMs >= issue + horizonMs,
    );
    if (!base) return undefined;
    // The stored forecast on the 5-minute grid: a quarter hour's mean power holds for its thirds.
    const k = base.stepMs / step;
    const fine = (a: number[]) => a.flatMap((v) => new Array<number>(k).fill(v));
    const devices = await this.deps.registry.listDevices(site);
    const hist = await siteHistory(this.deps.store, site, devices, issue - 2 * 3_600_000, issue, step);
    const capacity = devices
      .filter((d) => d.kind === 'inverter')
      .reduce((acc, d) => acc + (d.nameplate.w_max ?? Number.NaN), 0);
    const forecast = forecastIntraday(
      hist[kind] ?? { start: issue, stepMs: step, values: new Float64Array(0) },
      {
        kind,
        modelVersion: base.modelVersion,
        issuedAt: base.issuedAt,
        start: base.start,
        stepMs: step,
        mean: fine(base.mean),
        p10: fine(base.p10),
        p50: fine(base.p50),
        p90: fine(base.p90),
        details: {},
      },
      {
        kind,
        issueTime: issue,
        horizonMs,
        capacity: Number.isFinite(capacity) && capacity > 0 ? capacity : undefined,
      },
    );
    return { forecast, base };
  }

  /** Latest stored forecast, or the status explaining why there is none. */
  async latest(
    subject: 'site' | 'group',
    id: string,
    kind: ForecastKind,
  ): Promise<
    { forecast: StoredForecast; status?: ForecastStatus } | { forecast?: undefined; status?: ForecastStatus }
  > {
    const [forecast, status] = await Promise.all([
      this.store.latest(subject, id, kind),
      this.store.status(subject, id, kind),
    ]);
    return { forecast, status };
  }
}
