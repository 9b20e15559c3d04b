import type { Logger } from 'pino';
import { aggregate, type Forecast, type ForecastKind, forecastSite } from '../forecast/index.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import type { ForecastSettings } from './settings.ts';
import { STEP_MS, siteHistory } from './site-series.ts';
import { type ForecastStatus, ForecastStore, type StoredForecast } from './store.ts';

const DAY_MS = 86_400_000;
/** The load model looks at 70 days, PV at 45 (docs/forecasting.md); read the longer window once. */
const HISTORY_DAYS = 70;
const KINDS: ForecastKind[] = ['load', 'pv'];

export interface RunSummary {
  issuedAt: number;
  sites: { id: string; kind: ForecastKind; status: ForecastStatus['status']; reason: string | null }[];
  groups: { id: string; kind: ForecastKind; status: ForecastStatus['status']; reason: string | null }[];
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
    const { registry, store, settings, log } = this.deps;
    const issuedAt = Math.ceil(t / STEP_MS) * STEP_MS;
    const horizonMs = settings.horizonHours * 3_600_000;
    const summary: RunSummary = { issuedAt, sites: [], groups: [] };
    const made = new Map<string, Forecast>(); // `${kind}/${site}`
    const note = async (s: Omit<ForecastStatus, 'at'>, to: RunSummary['sites']) => {
      await this.store.setStatus({ ...s, at: issuedAt });
      to.push({ id: s.id, kind: s.kind, status: s.status, reason: s.reason });
    };

    for (const site of await registry.listSites()) {
      const devices = await registry.listDevices(site.id);
      const hist = await siteHistory(store, site.id, devices, issuedAt - HISTORY_DAYS * DAY_MS, issuedAt);
      const own = settings.sites[site.id] ?? {};
      const timeZone = own.timeZone ?? settings.timeZone;
      for (const kind of KINDS) {
        const subject = { subject: 'site' as const, id: site.id, kind };
        const series = hist[kind];
        if (!series) {
          await note(
            { ...subject, status: 'no_data', reason: hist.reasons[kind] ?? 'no data' },
            summary.sites,
          );
          continue;
        }
        const latitude = own.latitude ?? settings.location?.latitude;
        const longitude = own.longitude ?? settings.location?.longitude;
        if (kind === 'pv' && (latitude === undefined || longitude === undefined)) {
          const reason = 'no location: set forecast.location or forecast.sites.<id>.latitude/longitude';
          await note({ ...subject, status: 'no_data', reason }, summary.sites);
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
            horizonMs,
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
          made.set(`${kind}/${site.id}`, f);
          await this.store.save({
            ...subject,
            issuedAt: f.issuedAt,
            modelVersion: f.modelVersion,
            start: f.start,
            stepMs: f.stepMs,
            mean: [...f.mean],
            p10: [...f.p10],
            p50: [...f.p50],
            p90: [...f.p90],
            members: null,
            details: { ...f.details, timeZone, unknownDevices: hist.unknownDevices },
          });
          await note({ ...subject, status: 'ok', reason: null }, summary.sites);
        } catch (err) {
          const insufficient = isInsufficient(err);
          if (!insufficient) log.error({ err, site: site.id, kind }, 'site forecast failed');
          await note(
            {
              ...subject,
              status: insufficient ? 'insufficient_history' : 'error',
              reason: (err as Error).message,
            },
            summary.sites,
          );
        }
        // Forecasting is CPU-bound: let the API and the broker breathe between sites.
        await new Promise((r) => setImmediate(r));
      }
    }

    for (const group of await registry.listGroups()) {
      for (const kind of KINDS) {
        const subject = { subject: 'group' as const, id: group.id, kind };
        const members = group.sites.filter((s) => made.has(`${kind}/${s}`));
        const missing = group.sites.filter((s) => !made.has(`${kind}/${s}`));
        if (!members.length) {
          const reason = group.sites.length
            ? `no member site has a ${kind} forecast (${group.sites.length} site(s); see their forecast status)`
            : 'the group has no sites';
          await note({ ...subject, status: 'insufficient_history', reason }, summary.groups);
          continue;
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
        await note(
          {
            ...subject,
            status: 'ok',
            reason: missing.length ? `partial: no ${kind} forecast for ${missing.join(', ')}` : null,
          },
          summary.groups,
        );
      }
    }
    const pruned = await this.store.prune(issuedAt - settings.retainDays * DAY_MS);
    log.info(
      {
        issuedAt: new Date(issuedAt).toISOString(),
        ok: summary.sites.filter((s) => s.status === 'ok').length,
        sites: summary.sites.length,
        groups: summary.groups.length,
        pruned,
      },
      'forecast run done',
    );
    return summary;
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
