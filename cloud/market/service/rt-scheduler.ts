import type { Logger } from 'pino';
import { MarketServiceError } from '../model/errors.ts';
import type { ResourceLink } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import { MarketRefusal } from '../model/rules.ts';
import type { MarketSettings } from '../model/settings.ts';
import type { MarketCaller } from './context.ts';
import { rtIntervalMs } from './nodal.ts';
import type { MarketService } from './service.ts';

/**
 * The real-time market on its own clock (`market.realtime.auto`, nodal models 3 and 4). At the start
 * of each real-time interval (`market.realtime.intervalMs`, 5 minutes by default, on the market
 * clock) it builds the interval's inputs from the 5-minute forecasts blended with the latest
 * telemetry (`blendRealTimeInputs`) and clears the interval through MarketService.runRealTime as the
 * DMO (audited as system:rt-scheduler): the same clearing as POST /market/clearing/rt — losses priced,
 * deviations from the day-ahead position settled at the RT DLMPs, the DGO's feasibility screen, and
 * the awards sent as commands through the command pipeline, each checked by the control rules and
 * expiring at the interval's end.
 *
 * Intervals never overlap: one runs at a time, and the next is looked at only once it is over. An
 * interval that cannot be cleared by its deadline (`deadlineFraction` of its length after its start)
 * is skipped and logged: when the scheduler only gets to it after the deadline (a clearing before it
 * overran, the process was busy) it is not started; when its clearing finishes after the deadline the
 * market refuses it with RT_LATE and nothing is stored or sent. The last outcome and the next
 * interval are in `state()`, shown by GET /market as `realtime`.
 */

export type RealTimeSchedulerSettings = MarketSettings['realtime'];

/** The scheduler as a market caller: acts as the model's DMO; audited as this system actor. */
export const RT_SCHEDULER: MarketCaller = {
  userId: 'system',
  auditActor: 'system:rt-scheduler',
  system: 'DMO',
};

/** Latest telemetry of a device (fleet-live.ts): power (W, device sign convention) and SoC (%). */
export type LiveDevice = { w?: number; soc?: number; ts: number } | undefined;

export interface RealTimeSources {
  /** Latest values of one device of a site. */
  device(site: string, device: string): LiveDevice;
  /** Latest site power: PV, battery (W, device convention), meter (W, + = export), SoC (%). */
  site(
    site: string,
  ): { pv_w: number | null; battery_w: number | null; grid_w: number | null; soc_pct: number | null } | null;
  /** Forecast mean power (W) of the site's load (consumption +) or PV over the interval; undefined: none. */
  forecast(site: string, kind: 'load' | 'pv', intervalStart: number): Promise<number | undefined>;
}

export interface RealTimeInputs {
  /** Non-participating load per bus (W, consumption +). */
  readonly loadForecastW: Record<string, number>;
  /** Measured state of charge per storage resource (Wh). */
  readonly socWh: Record<string, number>;
  /** Available power per PV resource (W). */
  readonly availableW: Record<string, number>;
  /** How many linked sites had a forecast, live telemetry, or neither (their load is left out). */
  readonly sites: {
    readonly total: number;
    readonly forecast: number;
    readonly live: number;
    readonly none: number;
  };
}

/** `w` × forecast + (1 − `w`) × live; either alone when the other is missing; undefined when both are. */
export function blend(forecast: number | undefined, live: number | undefined, w: number): number | undefined {
  if (forecast === undefined) return live;
  if (live === undefined) return forecast;
  return w * forecast + (1 - w) * live;
}

/**
 * The interval's inputs from forecasts and the latest telemetry, over the sites linked to market
 * resources (a site's bus is its first linked resource's):
 * - load per bus: the site's consumption, blended from its load forecast and its live load (PV +
 *   battery − meter export, the sign convention of protocols/canonical); live values older than
 *   `staleMs` count as missing;
 * - state of charge of each battery resource: the live SoC (%) of its device (of the site when the
 *   link names no device) × its registered energy; none live → the market's registered soc0;
 * - available power of each PV resource: its PV forecast blended with its device's live output.
 */
export async function blendRealTimeInputs(q: {
  readonly intervalStart: number;
  readonly now: number;
  readonly staleMs: number;
  readonly forecastWeight: number;
  readonly registry: ResourceRegistry;
  readonly links: ReadonlyMap<string, ResourceLink>;
  readonly sources: RealTimeSources;
}): Promise<RealTimeInputs> {
  const { sources: src, forecastWeight: fw } = q;
  const fresh = (d: LiveDevice) => (d && q.now - d.ts <= q.staleMs ? d : undefined);
  const loadForecastW: Record<string, number> = {};
  const socWh: Record<string, number> = {};
  const availableW: Record<string, number> = {};
  const siteBus = new Map<string, string>();
  const pvOfSite = new Map<string, string[]>();
  for (const [id, link] of q.links) {
    const r = q.registry.get(id);
    if (!r || !link.site) continue;
    if (!siteBus.has(link.site)) siteBus.set(link.site, r.bus);
    if (r.kind === 'battery' && r.energy_wh !== undefined) {
      const soc = link.device ? fresh(src.device(link.site, link.device))?.soc : undefined;
      const pct = soc ?? (link.device ? undefined : (src.site(link.site)?.soc_pct ?? undefined));
      if (pct !== undefined) socWh[id] = (Math.min(100, Math.max(0, pct)) / 100) * r.energy_wh;
    } else if (r.kind === 'pv') {
      const list = pvOfSite.get(link.site) ?? [];
      list.push(id);
      pvOfSite.set(link.site, list);
    }
  }
  const sites = { total: siteBus.size, forecast: 0, live: 0, none: 0 };
  for (const [site, bus] of siteBus) {
    const p = src.site(site);
    const liveLoad = p && p.grid_w !== null ? (p.pv_w ?? 0) + (p.battery_w ?? 0) - p.grid_w : undefined;
    const fLoad = await src.forecast(site, 'load', q.intervalStart);
    if (fLoad !== undefined) sites.forecast++;
    if (liveLoad !== undefined) sites.live++;
    const load = blend(fLoad, liveLoad, fw);
    if (load === undefined) sites.none++;
    else loadForecastW[bus] = (loadForecastW[bus] ?? 0) + load;
    const pvs = pvOfSite.get(site);
    if (!pvs) continue;
    const fPv = await src.forecast(site, 'pv', q.intervalStart);
    for (const id of pvs) {
      const link = q.links.get(id)!;
      const live = link.device ? fresh(src.device(site, link.device))?.w : (p?.pv_w ?? undefined);
      // A site's PV forecast is shared by its PV resources (mostly one).
      const v = blend(fPv !== undefined ? fPv / pvs.length : undefined, live, fw);
      if (v !== undefined) availableW[id] = Math.max(0, v);
    }
  }
  return { loadForecastW, socWh, availableW, sites };
}

export interface RealTimeOutcome {
  readonly intervalStart: number;
  readonly status: 'cleared' | 'skipped' | 'failed';
  readonly reason?: string;
  readonly runId?: string;
  readonly awards?: number;
  /** Commands by dispatch status (sent, curtailed-sent, skipped, failed). */
  readonly dispatch?: Record<string, number>;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly inputs?: RealTimeInputs['sites'];
}

export interface RealTimeSchedulerDeps {
  readonly market: MarketService;
  readonly settings: RealTimeSchedulerSettings;
  readonly sources: RealTimeSources;
  readonly log: Logger;
}

const iso = (t: number) => new Date(t).toISOString();

export class RealTimeScheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** The next interval to clear (its start); set by start(). */
  #next: number | undefined;
  #last: RealTimeOutcome | undefined;
  readonly #counts = { cleared: 0, skipped: 0, failed: 0 };
  readonly #len: number;

  constructor(readonly deps: RealTimeSchedulerDeps) {
    this.#len = rtIntervalMs(deps.market);
  }

  /** Starts with the first interval that begins after now; wakes on the market clock's boundaries. */
  start(): void {
    const now = this.deps.market.now();
    this.#next = Math.floor(now / this.#len) * this.#len + this.#len;
    this.#arm();
  }

  /** Stops the clock; an interval being cleared finishes (bounded by its deadline), no further one starts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** What GET /market shows: the interval length, the next interval, the last outcome and the counts. */
  state() {
    return {
      auto: true,
      intervalMs: this.#len,
      running: this.#running !== undefined,
      next: this.#next !== undefined ? { intervalStart: this.#next } : null,
      last: this.#last ?? null,
      counts: { ...this.#counts },
    };
  }

  #arm(): void {
    if (this.#stopped || this.#next === undefined) return;
    const wait = Math.max(0, this.#next - this.deps.market.now());
    this.#timer = setTimeout(() => {
      this.#running = this.#due().finally(() => {
        this.#running = undefined;
        this.#arm();
      });
    }, wait);
    this.#timer.unref();
  }

  /** Clears every interval due now, oldest first; ones past their deadline are skipped. */
  async #due(): Promise<void> {
    const m = this.deps.market;
    while (!this.#stopped && this.#next !== undefined && m.now() >= this.#next) {
      const start = this.#next;
      this.#next = start + this.#len;
      await this.runInterval(start);
    }
  }

  /** One interval: skipped past its deadline, else cleared and dispatched (exported for tests). */
  async runInterval(start: number): Promise<RealTimeOutcome> {
    const { market: m, settings, log, sources } = this.deps;
    const deadline = start + Math.floor(this.#len * settings.deadlineFraction);
    const startedAt = m.now();
    const done = (o: Omit<RealTimeOutcome, 'intervalStart' | 'startedAt' | 'finishedAt'>) => {
      const out: RealTimeOutcome = { intervalStart: start, startedAt, finishedAt: m.now(), ...o };
      this.#last = out;
      this.#counts[out.status]++;
      return out;
    };
    if (startedAt > deadline) {
      const reason = `reached at ${iso(startedAt)}, after the interval's deadline ${iso(deadline)}`;
      log.warn({ intervalStart: iso(start), reason }, 'RT interval skipped');
      return done({ status: 'skipped', reason });
    }
    let inputs: RealTimeInputs | undefined;
    try {
      inputs = await blendRealTimeInputs({
        intervalStart: start,
        now: startedAt,
        staleMs: Math.max(60_000, 2 * this.#len),
        forecastWeight: settings.forecastWeight,
        registry: m.resources,
        links: m.links,
        sources,
      });
      const r = await m.runRealTime(RT_SCHEDULER, {
        intervalStart: start,
        loadForecastW: inputs.loadForecastW,
        socWh: inputs.socWh,
        availableW: inputs.availableW,
        deadline,
      });
      const dispatch: Record<string, number> = {};
      for (const d of r.dispatch) dispatch[d.status] = (dispatch[d.status] ?? 0) + 1;
      log.info(
        { intervalStart: iso(start), runId: r.runId, awards: r.awards, dispatch },
        'RT interval cleared',
      );
      return done({ status: 'cleared', runId: r.runId, awards: r.awards, dispatch, inputs: inputs.sites });
    } catch (err) {
      const late = err instanceof MarketServiceError && err.code === 'RT_LATE';
      const refusal = err instanceof MarketRefusal || err instanceof MarketServiceError;
      const reason = (err as Error).message;
      if (late) log.warn({ intervalStart: iso(start), reason }, 'RT interval skipped');
      else log[refusal ? 'warn' : 'error']({ err, intervalStart: iso(start) }, 'RT interval not cleared');
      return done({
        status: late ? 'skipped' : 'failed',
        reason,
        ...(inputs ? { inputs: inputs.sites } : {}),
      });
    }
  }
}

/** The cloud's RT scheduler, started; undefined when `market.realtime.auto` is off or the model is not nodal. */
export function startRealTimeScheduler(
  market: MarketService,
  sources: RealTimeSources,
  log: Logger,
): RealTimeScheduler | undefined {
  const settings = market.settings.realtime;
  if (!settings?.auto) return undefined;
  const l = log.child({ component: 'rt-scheduler' });
  if (market.config.marketForm !== 'nodal') {
    l.warn(
      { model: market.config.model },
      'RT scheduler off: only the nodal models (3, 4) clear RT intervals',
    );
    return undefined;
  }
  const s = new RealTimeScheduler({ market, settings, sources, log: l });
  market.realtimeState = () => s.state();
  s.start();
  l.info({ intervalMs: settings.intervalMs }, 'RT scheduler started');
  return s;
}
