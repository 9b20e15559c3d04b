import type { Logger } from 'pino';
import { gateClosure } from '../model/bids.ts';
import { DAY_MS, RT_INTERVAL_MS } from '../model/time.ts';
import type { MarketCaller } from './context.ts';
import type { MarketService } from './service.ts';

/**
 * The demo's DMO (market.demo.autoClear, nodal models): every `pollMs` it clears, on the market
 * clock, each day ahead whose gate has closed since it started and of which no DA run is stored;
 * once the first of them has cleared, every real-time interval as its gate closes, from the first one
 * whose gate was still open then (the demo does not replay the past). It acts through the market
 * service as the DMO actor's first user, audited as system:demo-clearing, so every clearing is the
 * same one an operator would run through POST /market/clearing/da and /rt. A failing day ahead is
 * logged and retried on the next poll. Not part of a production configuration.
 */
export class DemoClearing {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** The next RT interval to clear; set once the first day ahead has cleared. */
  #nextRt: number | undefined;
  readonly #caller: MarketCaller;
  /** Gates that closed before this are not the demo's (it does not clear the past). */
  readonly #since: number;

  constructor(
    readonly market: MarketService,
    dmoUser: string,
    readonly log: Logger,
    readonly pollMs = 5000,
  ) {
    this.#caller = { userId: dmoUser, auditActor: 'system:demo-clearing' };
    this.#since = market.now();
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#running = this.tick()
        .catch((err) => this.log.warn({ err }, 'demo clearing failed; retrying'))
        .finally(() => {
          if (this.#stopped) return;
          this.#timer = setTimeout(loop, this.pollMs);
          this.#timer.unref();
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass: the due day-ahead clearings, then the due real-time intervals (at most 12 per pass). */
  async tick(): Promise<void> {
    const m = this.market;
    const today = Math.floor(m.now() / DAY_MS) * DAY_MS;
    // Yesterday too: a start shortly before midnight has its gate close after it.
    let cleared = false;
    for (const dayStart of [today - DAY_MS, today, today + DAY_MS]) {
      const closes = gateClosure('DA', dayStart, m.gates);
      if (closes < this.#since || m.now() < closes) continue;
      if ((await m.store.runs({ market: 'DA', from: dayStart, to: dayStart + 1 })).length) {
        cleared = true;
        continue;
      }
      const r = await m.runDayAhead(this.#caller, { dayStart });
      cleared = true;
      this.log.info(
        { dayStart: new Date(dayStart).toISOString(), runId: r.runId },
        'demo: day ahead cleared',
      );
    }
    // With the RT scheduler on (market.realtime.auto) real time runs on its clock, not here.
    if (m.settings.realtime?.auto) return;
    // Real time goes on top of the first day-ahead schedule: it starts with the first interval whose
    // gate is still open when that schedule exists.
    if (this.#nextRt === undefined) {
      if (!cleared) return;
      this.#nextRt =
        Math.ceil((m.now() + m.gates.rtGateBeforeIntervalMs + 1) / RT_INTERVAL_MS) * RT_INTERVAL_MS;
    }
    let next: number = this.#nextRt;
    for (let n = 0; n < 12 && m.now() >= gateClosure('RT', next, m.gates); n++) {
      const at = new Date(next).toISOString();
      try {
        const r = await m.runRealTime(this.#caller, { intervalStart: next });
        this.log.info({ intervalStart: at, runId: r.runId }, 'demo: RT interval cleared');
      } catch (err) {
        // One interval that cannot clear must not hold the ones after it.
        this.log.warn({ err, intervalStart: at }, 'demo: RT interval not cleared; going on with the next');
      }
      next += RT_INTERVAL_MS;
      this.#nextRt = next;
    }
  }
}

/** Starts the demo's clearing when market.demo.autoClear is set (nodal models with a DMO user). */
export function startDemoClearing(market: MarketService, log: Logger): DemoClearing | undefined {
  const demo = market.settings.demo;
  if (!demo?.autoClear) return undefined;
  const l = log.child({ component: 'demo-clearing' });
  if (market.config.marketForm !== 'nodal') {
    l.warn({ model: market.config.model }, 'demo clearing off: only the nodal models (3, 4) clear DA and RT');
    return undefined;
  }
  const dmo = market.config.roles.DMO;
  const user = market.settings.actors.find((a) => a.id === dmo)?.users[0];
  if (!user) {
    l.warn({ dmo }, 'demo clearing off: no cloud user acts for the DMO');
    return undefined;
  }
  const d = new DemoClearing(market, user, l);
  d.start();
  return d;
}
