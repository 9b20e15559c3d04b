import type { Logger } from 'pino';
import { MarketServiceError } from '../model/errors.ts';
import { MarketRefusal } from '../model/rules.ts';
import type { MarketSettings } from '../model/settings.ts';
import { HOUR_MS } from '../model/time.ts';
import type { MarketCaller } from './context.ts';
import type { MarketService } from './service.ts';

/**
 * Settles completed hours from metered telemetry while the cloud runs: every `pollMs` it looks, on
 * the market clock, for hours that ended at least `delayMs` ago, lie within `lookbackMs`, are
 * covered by a stored day-ahead run (something to settle against) and have no stored metered (MT)
 * run yet, and settles them oldest first through MarketService.settleMetered as the DMO, audited as
 * a system actor. The stored MT runs are the only record of what is settled, so a restart catches
 * up and a manual re-run through the API (which replaces the hour's run) is not redone.
 *
 * A failing hour is logged and retried after a back-off (one poll, doubling up to an hour) while
 * later hours go on: each hour settles from its own schedules, prices and telemetry, so one bad
 * hour must not hold the others. An hour still unsettled when it leaves the look-back is given up
 * with a warning (the API can still settle it).
 */

export type MeteredSettlementSettings = MarketSettings['meteredSettlement'];

/** The scheduler as a market caller: acts as the model's DMO; audited as this system actor. */
export const METERED_SCHEDULER: MarketCaller = {
  userId: 'system',
  auditActor: 'system:metered-settlement',
  system: 'DMO',
};

export interface TickResult {
  /** Hour starts settled in this tick, in the order they were settled. */
  readonly settled: number[];
  /** Hour starts that failed in this tick (retried after a back-off). */
  readonly failed: number[];
}

export interface MeteredSchedulerDeps {
  readonly market: MarketService;
  readonly settings: MeteredSettlementSettings;
  readonly log: Logger;
  /** Settles one hour; default: the market's settleMetered as the scheduler. Tests wrap it. */
  readonly settle?: (hourStart: number) => Promise<{ runId: string; balanced: boolean }>;
}

const MAX_BACKOFF_MS = HOUR_MS;
const iso = (t: number) => new Date(t).toISOString();

export class MeteredScheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<TickResult> | undefined;
  #stopped = false;
  readonly #failures = new Map<number, { attempts: number; retryAt: number }>();
  readonly #settle: (hourStart: number) => Promise<{ runId: string; balanced: boolean }>;

  constructor(readonly deps: MeteredSchedulerDeps) {
    this.#settle =
      deps.settle ?? ((hourStart) => deps.market.settleMetered(METERED_SCHEDULER, { hourStart }));
  }

  /** Catches up now, then ticks every pollMs (wall-clock timer; what is due is judged on the market clock). */
  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.tick()
        .catch((err) => this.deps.log.error({ err }, 'metered settlement tick failed'))
        .finally(() => {
          if (this.#stopped) return;
          this.#timer = setTimeout(loop, this.deps.settings.pollMs);
          this.#timer.unref();
        });
    };
    loop();
  }

  /** Stops the timer; an hour being settled finishes, no further hour starts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** One pass now. Passes never overlap: a call during a pass waits for it, then runs its own. */
  tick(): Promise<TickResult> {
    const prev = this.#running?.catch(() => undefined) ?? Promise.resolve();
    const run = prev.then(() => this.#tick());
    this.#running = run;
    return run;
  }

  /** Hours due for settlement at `now` (ascending): see the module comment. */
  async dueHours(now: number): Promise<number[]> {
    const { delayMs, lookbackMs } = this.deps.settings;
    const last = Math.floor((now - delayMs - HOUR_MS) / HOUR_MS) * HOUR_MS;
    const first = Math.ceil((now - lookbackMs) / HOUR_MS) * HOUR_MS;
    if (last < first) return [];
    const db = this.deps.market.store.db;
    // Only the columns needed: run summaries (meter reports, curves) are large.
    const da = await db.all<{ interval_start: number; interval_end: number }>(
      "SELECT interval_start, interval_end FROM market_runs WHERE market = 'DA' AND interval_end > ? AND interval_start <= ?",
      [first, last],
    );
    const settled = new Set(
      (
        await db.all<{ interval_start: number }>(
          "SELECT interval_start FROM market_runs WHERE market = 'MT' AND interval_start >= ? AND interval_start <= ?",
          [first, last],
        )
      ).map((r) => Number(r.interval_start)),
    );
    const due = new Set<number>();
    for (const r of da) {
      const from = Math.max(first, Math.ceil(Number(r.interval_start) / HOUR_MS) * HOUR_MS);
      const to = Math.min(last, Number(r.interval_end) - HOUR_MS);
      for (let h = from; h <= to; h += HOUR_MS) if (!settled.has(h)) due.add(h);
    }
    return [...due].sort((a, b) => a - b);
  }

  async #isSettled(hourStart: number): Promise<boolean> {
    const rows = await this.deps.market.store.db.all(
      "SELECT id FROM market_runs WHERE market = 'MT' AND interval_start = ?",
      [hourStart],
    );
    return rows.length > 0;
  }

  async #tick(): Promise<TickResult> {
    const out: TickResult = { settled: [], failed: [] };
    if (this.#stopped) return out;
    const { log, settings } = this.deps;
    const now = this.deps.market.now();
    const due = await this.dueHours(now);
    const dueSet = new Set(due);
    for (const [h, f] of this.#failures)
      if (!dueSet.has(h)) {
        // Settled meanwhile (e.g. through the API), or out of the look-back window.
        if (h < now - settings.lookbackMs)
          log.warn(
            { hourStart: iso(h), attempts: f.attempts },
            'metered settlement: hour left the look-back unsettled; settle it through the API',
          );
        this.#failures.delete(h);
      }
    for (const h of due) {
      if (this.#stopped) break;
      const f = this.#failures.get(h);
      if (f && f.retryAt > now) continue;
      // Settled by the API since the pass began: not redone.
      if (await this.#isSettled(h)) continue;
      try {
        const r = await this.#settle(h);
        this.#failures.delete(h);
        out.settled.push(h);
        if (r.balanced) log.info({ hourStart: iso(h), runId: r.runId }, 'metered settlement: hour settled');
        else log.error({ hourStart: iso(h), runId: r.runId }, 'metered settlement: books do not balance');
      } catch (err) {
        const attempts = (f?.attempts ?? 0) + 1;
        const retryAt = now + Math.min(MAX_BACKOFF_MS, settings.pollMs * 2 ** (attempts - 1));
        this.#failures.set(h, { attempts, retryAt });
        out.failed.push(h);
        const refusal = err instanceof MarketRefusal || err instanceof MarketServiceError;
        log[refusal ? 'warn' : 'error'](
          { err, hourStart: iso(h), attempts, retryAt: iso(retryAt) },
          'metered settlement of an hour failed: later hours go on, this one is retried',
        );
      }
    }
    return out;
  }
}

/**
 * The cloud's scheduler for its market, started; undefined when `meteredSettlement.auto` is off or
 * the model does not settle metered hours (settleMetered covers the nodal models only).
 */
export function startMeteredScheduler(market: MarketService, log: Logger): MeteredScheduler | undefined {
  const settings = market.settings.meteredSettlement;
  if (!settings.auto) return undefined;
  if (market.config.marketForm !== 'nodal') {
    log.info(
      { model: market.config.model },
      'metered settlement scheduler off: this model does not settle metered hours',
    );
    return undefined;
  }
  const s = new MeteredScheduler({ market, settings, log: log.child({ component: 'metered-settlement' }) });
  s.start();
  log.info(
    { delayMs: settings.delayMs, lookbackMs: settings.lookbackMs },
    'metered settlement scheduler started',
  );
  return s;
}
