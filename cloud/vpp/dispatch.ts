/**
 * VPP dispatch: accepts a target for a group over a window, checks it, then runs a closed loop that
 * every `loopMs` re-reads measured output and re-allocates (allocate.ts, HiGHS) so the group's meters
 * track the target.
 *
 * Target: `meter_power` = the sum of the sites' meters (export +) in W; `change` = that sum's
 * baseline plus w. Baseline method (recorded with the dispatch): the mean measured meter power over
 * the `baselineMinutes` before start (Σ over sites of each meter's sample mean); a site without
 * samples in that window counts with its latest value.
 *
 * Loop, per tick: U = measured meters − measured output of the controllable devices (what the loop
 * does not steer: load, uncontrolled PV), per site at one instant (coherent.ts: never a meter sample
 * paired with device samples from either side of a setpoint change); the devices must together
 * deliver R = target − U. A device
 * is left out — its measured output then belongs to U, its share goes to the others — when its
 * telemetry is stale, a command to it is refused/fails/never acknowledged, or it keeps deviating from
 * its setpoint for `settleMs` (under-delivery: it is then held at what it demonstrably delivers).
 * Commands carry an expiry of `commandTtlS` (a little beyond the loop period) and are renewed before
 * they lapse; after the end nothing is renewed, so the edges return to default mode on their own.
 *
 * Every dispatch is kept in the registry database (store.ts), saved after each loop step. On start
 * the manager loads them: an open dispatch whose window is still running resumes (its setpoints are
 * sent afresh at the next tick: what was in flight before the restart is unknown), one whose window
 * ended meanwhile is closed as completed with the reason recorded.
 */
import { z } from 'zod';
import type { CommandPipeline } from '../commands/pipeline.ts';
import { DomainError, type ErrorCode } from '../errors.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { allocate, type DeviceFlexibility } from './allocate.ts';
import { type CoherentSite, coherentUncontrolled } from './coherent.ts';
import { checkDispatchFeasibility, type Feasibility, type NetworkCheck } from './feasibility.ts';
import {
  batteryRange,
  type DeviceState,
  type GroupState,
  isBattery,
  isCurtailablePv,
  rangeOfSites,
  readGroupState,
  type StateOptions,
} from './state.ts';
import { DispatchStore } from './store.ts';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const when = z.union([z.number().int().min(946684800000), z.string()]).transform((v, ctx) => {
  const t = typeof v === 'number' ? v : Date.parse(v);
  if (Number.isNaN(t)) ctx.addIssue({ code: 'custom', message: 'epoch ms or ISO 8601 time' });
  return t;
});

export const dispatchRequestSchema = z
  .object({
    group: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    target: z.discriminatedUnion('kind', [
      /** Aggregate power at the sites' meters, W, export positive. */
      z.object({ kind: z.literal('meter_power'), w: finite }),
      /** Change of that aggregate against the baseline, W (+ = more export). */
      z.object({ kind: z.literal('change'), w: finite }),
    ]),
    /** Epoch ms or ISO 8601; omitted = now. */
    start: when.optional(),
    end: when,
    /** Accept a target the group can only partly meet (shortfall stated) instead of refusing it. */
    allowPartial: z.boolean().default(false),
    /** Width of the performance intervals (s). */
    intervalSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict();
export type DispatchRequest = z.input<typeof dispatchRequestSchema>;

export interface DispatchOptions extends StateOptions {
  loopMs: number;
  commandTtlS: number;
  baselineMinutes: number;
  /** How long a device may deviate from its setpoint before it counts as under-delivering. */
  settleMs: number;
  /** A setpoint change smaller than this is not sent (W). */
  deadbandW: number;
  /** Tolerance for deviation: max(toleranceW, tolerancePct of the device rating). */
  toleranceW: number;
  tolerancePct: number;
  /** Wear/opportunity cost per kWh moved, so batteries go before PV curtailment. */
  batteryCostPerKwh: number;
  pvCurtailCostPerKwh: number;
  maxWindowHours: number;
}

export const DEFAULT_DISPATCH_OPTIONS: DispatchOptions = {
  staleMs: 15_000,
  socMinPct: 10,
  socMaxPct: 100,
  loopMs: 4000,
  commandTtlS: 10,
  baselineMinutes: 5,
  settleMs: 12_000,
  deadbandW: 50,
  toleranceW: 200,
  tolerancePct: 5,
  batteryCostPerKwh: 0.02,
  pvCurtailCostPerKwh: 0.2,
  maxWindowHours: 24,
};

/** A dispatch the manager refuses; an infeasible one carries the feasibility that says why. */
export class DispatchRefused extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly feasibility?: Feasibility,
  ) {
    super(code, message);
  }
}

export type DeviceDispatchState = 'ok' | 'under-delivering' | 'excluded';

interface DeviceRun {
  site: string;
  id: string;
  kind: string;
  state: DeviceDispatchState;
  reason?: string;
  setpointW?: number;
  measuredW?: number;
  /** Natural PV output while not curtailed by us (W). */
  pvAvailableW?: number;
  limited?: boolean;
  lastCommand?: { id: string; w: number; sentAt: number; expiresAt: number; status: string };
  deviatingSince?: number;
  /** Excluded for a missing ack, its telemetry then went stale too: the site was unreachable. */
  wentStale?: boolean;
  ratingW: number;
}

export interface PerformanceInterval {
  start: number;
  end: number;
  baselineW: number;
  /** Mean of the target and of the measured meter total over the loop's samples (W, export +). */
  targetW: number;
  deliveredW: number;
  errorW: number;
  /** |error| relative to the requested change against the baseline, % (null when that is 0). */
  errorPct: number | null;
  samples: number;
}

export interface Dispatch {
  id: string;
  group: string;
  sites: string[];
  target: { kind: 'meter_power' | 'change'; w: number };
  start: number;
  end: number;
  allowPartial: boolean;
  intervalMs: number;
  requestedBy: string;
  createdAt: number;
  status: 'scheduled' | 'active' | 'completed' | 'cancelled';
  /** Why the dispatch ended other than by its loop reaching the end (e.g. the cloud was down then). */
  endedReason?: string;
  /** When the loop last resumed this dispatch after a restart of the cloud. */
  resumedAt?: number;
  baseline: { method: string; w: number; from: number; to: number; sitesFromLatest: string[] };
  /** Target of the meter total (W, export +). */
  targetMeterW: number;
  feasibility: Feasibility;
  progress: {
    ticks: number;
    lastTickAt: number | null;
    measuredW: number | null;
    uncontrolledW: number | null;
    allocatedW: number | null;
    shortfallW: number | null;
    firstCommandAt: number | null;
    commandsSent: number;
    commandErrors: number;
    /** Wall time of the latest loop step (state read to commands stored and published), ms. */
    lastTickMs?: number;
  };
  devices: DeviceRun[];
  intervals: PerformanceInterval[];
}

/** The answer of a dry run: what a dispatch request would target and whether it would be accepted. */
export interface DispatchPreview {
  group: string;
  sites: string[];
  start: number;
  end: number;
  target: { kind: 'meter_power' | 'change'; w: number };
  allowPartial: boolean;
  baselineW: number;
  targetMeterW: number;
  /** False: POST /dispatches would refuse it with `refusal` (422). */
  accepted: boolean;
  refusal?: string;
  feasibility: Feasibility;
}

export interface DispatchDeps {
  registry: Registry;
  store: TimeSeriesStore;
  commands: CommandPipeline;
  network?: NetworkCheck;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  now?: () => number;
  /** Timer for the loop; injectable for tests. */
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (h: unknown) => void;
  /** Called after a dispatch changed (stored): the live events of the operator app. */
  onChange?: (d: Dispatch) => void;
}

const NOT_ACKNOWLEDGED = 'command not acknowledged before expiry';

/** A command one device needs in this loop step. */
interface Order {
  r: DeviceRun;
  type: 'battery_power' | 'active_power_limit';
  w: number;
  /** The setpoint moved (not a mere renewal). */
  changed: boolean;
}

let seq = 0;
const newDispatchId = () =>
  `dsp_${Date.now().toString(36)}${(seq++ % 1296).toString(36).padStart(2, '0')}${Math.random().toString(36).slice(2, 6)}`;

/** Mean measured meter power over [from, to) per site, summed; latest value where there is no history. */
export async function meterBaseline(
  store: TimeSeriesStore,
  g: GroupState,
  from: number,
  to: number,
): Promise<{ w: number; sitesFromLatest: string[] }> {
  const meterIds = [...new Set(g.sites.flatMap((s) => s.meterIds))];
  // One query for the whole group; a bucket as wide as the window gives at most two per series.
  const buckets =
    meterIds.length && to > from
      ? await rangeOfSites(store, {
          sites: g.sites.map((s) => s.id),
          devices: meterIds,
          points: ['w'],
          from,
          to,
          bucketMs: Math.max(1000, to - from),
        })
      : [];
  const per = new Map<string, { sum: number; n: number }>();
  for (const b of buckets) {
    const key = `${b.site}\u0000${b.device}`;
    const p = per.get(key) ?? { sum: 0, n: 0 };
    p.sum += b.mean * b.count;
    p.n += b.count;
    per.set(key, p);
  }
  let w = 0;
  const fromLatest: string[] = [];
  for (const s of g.sites) {
    const means = s.meterIds.map((m) => per.get(`${s.id}\u0000${m}`)).filter((p) => p !== undefined);
    if (means.length === 0) {
      fromLatest.push(s.id);
      w += s.meterW ?? 0;
    } else w += means.reduce((a, p) => a + p.sum / p.n, 0);
  }
  return { w, sitesFromLatest: fromLatest };
}

export class DispatchManager {
  private dispatches = new Map<string, Dispatch>();
  private timer: unknown;
  private running = false;
  readonly opts: DispatchOptions;
  private readonly store: DispatchStore<Dispatch>;

  constructor(
    private deps: DispatchDeps,
    opts: Partial<DispatchOptions> = {},
  ) {
    this.opts = { ...DEFAULT_DISPATCH_OPTIONS, ...opts };
    this.store = new DispatchStore(deps.registry.db);
  }

  /** Saves a dispatch; a failed save is logged, the loop goes on (the next step saves again). */
  private async persist(d: Dispatch): Promise<void> {
    this.deps.onChange?.(d);
    await this.store
      .save(d)
      .catch((err) => this.deps.log?.warn({ err, id: d.id }, 'dispatch not saved to the registry'));
  }

  /** Loads the stored dispatches: resumes the open ones, closes those whose window ended meanwhile. */
  private async resume(): Promise<void> {
    const now = this.now();
    for (const d of await this.store.load()) {
      this.dispatches.set(d.id, d);
      if (d.status !== 'scheduled' && d.status !== 'active') continue;
      if (now >= d.end) {
        const last = d.progress.lastTickAt;
        d.status = 'completed';
        d.endedReason = `window ended at ${new Date(d.end).toISOString()} while the cloud was not running (last loop step ${last ? new Date(last).toISOString() : 'none'})`;
        await this.deps.registry.audit('system', 'dispatch.complete', d.id, {
          intervals: d.intervals.length,
          reason: d.endedReason,
        });
        await this.persist(d);
        continue;
      }
      // The acknowledgement waiters of the old process are gone: every device gets a fresh setpoint.
      for (const r of d.devices) {
        r.lastCommand = undefined;
        r.deviatingSince = undefined;
      }
      d.resumedAt = now;
      await this.deps.registry.audit('system', 'dispatch.resume', d.id, {
        status: d.status,
        lastTickAt: d.progress.lastTickAt,
      });
      await this.persist(d);
      this.deps.log?.info({ id: d.id, status: d.status }, 'dispatch resumed after restart');
    }
  }

  private now() {
    return this.deps.now?.() ?? Date.now();
  }

  /** Loads the stored dispatches (resolves once they are resumed or closed), then starts the loop. */
  async start(): Promise<void> {
    await this.resume();
    const si = this.deps.setInterval ?? ((fn, ms) => setInterval(fn, ms).unref());
    this.timer = si(() => void this.tick(), this.opts.loopMs);
  }

  stop() {
    if (this.timer !== undefined)
      (this.deps.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }

  get(id: string) {
    return this.dispatches.get(id);
  }

  list(groups?: Set<string>) {
    return [...this.dispatches.values()]
      .filter((d) => !groups || groups.has(d.group))
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  state(sites: string[], now = this.now()) {
    return readGroupState(this.deps.registry, this.deps.store, sites, now, this.opts);
  }

  /**
   * What create() would decide, without registering anything: the same validation (refusals thrown
   * as there), baseline, target and feasibility, and whether the dispatch would be accepted.
   */
  async preview(input: unknown): Promise<DispatchPreview> {
    const a = await this.assess(input);
    return {
      group: a.group.id,
      sites: a.group.sites,
      start: a.start,
      end: a.req.end,
      target: a.req.target,
      allowPartial: a.req.allowPartial,
      baselineW: Math.round(a.base.w),
      targetMeterW: Math.round(a.targetMeterW),
      accepted: !a.refused,
      ...(a.refused ? { refusal: `dispatch infeasible: ${a.feas.reasons.join('; ')}` } : {}),
      feasibility: a.feas,
    };
  }

  /** Validation, clash check, baseline and feasibility: what create() and preview() share. */
  private async assess(input: unknown) {
    const p = dispatchRequestSchema.safeParse(input);
    if (!p.success)
      throw new DispatchRefused(
        'invalid',
        `invalid dispatch: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const req = p.data;
    const now = this.now();
    const start = Math.max(req.start ?? now, now);
    if (req.end <= start) throw new DispatchRefused('invalid', 'end must be after start (and after now)');
    if (req.end - start > this.opts.maxWindowHours * 3_600_000)
      throw new DispatchRefused('invalid', `the window may last at most ${this.opts.maxWindowHours} h`);
    const group = await this.deps.registry.getGroup(req.group);
    if (!group) throw new DispatchRefused('not_found', `unknown group ${req.group}`);
    const members = new Set(group.sites);
    const clash = [...this.dispatches.values()].find(
      (d) =>
        (d.status === 'scheduled' || d.status === 'active') &&
        d.start < req.end &&
        start < d.end &&
        d.sites.some((s) => members.has(s)),
    );
    if (clash)
      throw new DispatchRefused(
        'conflict',
        `conflicts with dispatch ${clash.id} on shared sites during the window`,
      );
    const g = await this.state(group.sites, now);
    const bFrom = Math.min(start, now) - this.opts.baselineMinutes * 60_000;
    const base = await meterBaseline(this.deps.store, g, bFrom, Math.min(start, now));
    const targetMeterW = req.target.kind === 'meter_power' ? req.target.w : base.w + req.target.w;
    const feas = await checkDispatchFeasibility(g, this.opts, {
      targetMeterW,
      start,
      end: req.end,
      network: this.deps.network,
    });
    const refused =
      !feas.feasible &&
      (!req.allowPartial || feas.achievableDeltaW === 0 || feas.checks.network.feasible === false);
    return { req, now, start, group, g, bFrom, base, targetMeterW, feas, refused };
  }

  /** Validates, checks feasibility and registers a dispatch; throws DispatchRefused with reasons. */
  async create(input: unknown, requestedBy: string): Promise<Dispatch> {
    const { req, now, start, group, g, bFrom, base, targetMeterW, feas, refused } = await this.assess(input);
    if (refused)
      throw new DispatchRefused('unprocessable', `dispatch infeasible: ${feas.reasons.join('; ')}`, feas);
    const d: Dispatch = {
      id: newDispatchId(),
      group: group.id,
      sites: group.sites,
      target: req.target,
      start,
      end: req.end,
      allowPartial: req.allowPartial,
      intervalMs: req.intervalSeconds * 1000,
      requestedBy,
      createdAt: now,
      status: 'scheduled',
      baseline: {
        method: `mean measured meter power (Σ of the sites' meters, export +) over the ${this.opts.baselineMinutes} min before start; sites without samples use their latest value`,
        w: Math.round(base.w),
        from: bFrom,
        to: Math.min(start, now),
        sitesFromLatest: base.sitesFromLatest,
      },
      targetMeterW: Math.round(targetMeterW),
      feasibility: feas,
      progress: {
        ticks: 0,
        lastTickAt: null,
        measuredW: null,
        uncontrolledW: null,
        allocatedW: null,
        shortfallW: null,
        firstCommandAt: null,
        commandsSent: 0,
        commandErrors: 0,
      },
      devices: [],
      intervals: [],
    };
    this.dispatches.set(d.id, d);
    await this.persist(d);
    if (start <= now) {
      // An immediate dispatch starts now, from the snapshot and baseline just taken, rather than at
      // the next loop tick: this is the dispatch latency.
      d.status = 'active';
      this.busy.add(d.id);
      void this.activated(d)
        .then(() => this.control(d, g, now))
        .then(() => this.persist(d))
        .catch((err) => this.deps.log?.warn({ err, id: d.id }, 'dispatch step failed'))
        .finally(() => this.busy.delete(d.id));
    }
    return d;
  }

  async cancel(id: string): Promise<Dispatch | undefined> {
    const d = this.dispatches.get(id);
    if (d && (d.status === 'scheduled' || d.status === 'active')) {
      d.status = 'cancelled';
      await this.persist(d);
    }
    return d;
  }

  /** One loop iteration over every open dispatch. Ticks never overlap. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const d of this.dispatches.values()) {
        if (d.status !== 'scheduled' && d.status !== 'active') continue;
        await this.step(d).catch((err) => this.deps.log?.warn({ err, id: d.id }, 'dispatch step failed'));
      }
    } finally {
      this.running = false;
    }
  }

  private busy = new Set<string>();

  private async step(d: Dispatch): Promise<void> {
    if (this.busy.has(d.id)) return;
    this.busy.add(d.id);
    try {
      const before = d.status;
      await this.stepInner(d);
      // Saved when it changed: a scheduled dispatch waiting for its start is left alone.
      if (d.status !== 'scheduled' || before !== d.status) await this.persist(d);
    } finally {
      this.busy.delete(d.id);
    }
  }

  private async stepInner(d: Dispatch): Promise<void> {
    const now = this.now();
    if (d.status === 'scheduled') {
      if (now < d.start) return;
      d.status = 'active';
      const g0 = await this.state(d.sites, now);
      const from = d.start - this.opts.baselineMinutes * 60_000;
      const base = await meterBaseline(this.deps.store, g0, from, d.start);
      d.baseline = {
        ...d.baseline,
        w: Math.round(base.w),
        from,
        to: d.start,
        sitesFromLatest: base.sitesFromLatest,
      };
      if (d.target.kind === 'change') d.targetMeterW = Math.round(base.w + d.target.w);
      await this.activated(d);
    }
    if (d.status !== 'active') return;
    if (now >= d.end) {
      d.status = 'completed';
      await this.deps.registry.audit('system', 'dispatch.complete', d.id, { intervals: d.intervals.length });
      return;
    }
    const t0 = Date.now();
    const g = await this.state(d.sites, now);
    await this.control(d, g, now, t0);
  }

  private activated(d: Dispatch) {
    return this.deps.registry.audit('system', 'dispatch.start', d.id, {
      group: d.group,
      baselineW: d.baseline.w,
      targetMeterW: d.targetMeterW,
    });
  }

  /** Per dispatch: its device runs by site and device id (d.devices stays the stored list). */
  private runIndex = new WeakMap<Dispatch, Map<string, DeviceRun>>();

  private run(d: Dispatch, dev: DeviceState): DeviceRun {
    let index = this.runIndex.get(d);
    if (!index || index.size !== d.devices.length) {
      index = new Map(d.devices.map((x) => [`${x.site}\u0000${x.id}`, x]));
      this.runIndex.set(d, index);
    }
    const key = `${dev.site}\u0000${dev.id}`;
    let r = index.get(key);
    if (!r) {
      r = {
        site: dev.site,
        id: dev.id,
        kind: dev.kind,
        state: 'ok',
        ratingW: Math.max(dev.wMax, dev.dischargeMaxW, dev.chargeMaxW),
      };
      d.devices.push(r);
      index.set(key, r);
    }
    return r;
  }

  private exclude(d: Dispatch, r: DeviceRun, reason: string) {
    if (r.state === 'excluded') return;
    r.state = 'excluded';
    r.reason = reason;
    r.setpointW = undefined;
    this.deps.log?.info(
      { dispatch: d.id, site: r.site, device: r.id, reason },
      'device left out of dispatch',
    );
    void this.deps.registry
      .audit('system', 'dispatch.exclude', d.id, { site: r.site, device: r.id, reason })
      .catch(() => undefined);
  }

  private async control(d: Dispatch, g: GroupState, now: number, stepStarted = Date.now()) {
    const o = this.opts;
    const measured = g.sites.reduce((a, s) => a + (s.meterW ?? 0), 0);
    const hoursLeft = (d.end - now) / 3_600_000;
    const flex: (DeviceFlexibility & { run: DeviceRun; dev: DeviceState; tol: number })[] = [];
    const coherentSites: CoherentSite[] = [];
    /** Per site: U from the latest values (the fallback when no coherent instant is found). */
    const latestU = new Map<string, number>();
    for (const s of g.sites) {
      const siteFlex: typeof flex = [];
      for (const dev of s.devices) {
        if (!isBattery(dev) && !isCurtailablePv(dev)) continue;
        const r = this.run(d, dev);
        r.measuredW = dev.w;
        if (!dev.fresh) {
          if (r.state !== 'excluded') this.exclude(d, r, 'stale telemetry');
          else if (r.reason === NOT_ACKNOWLEDGED) r.wentStale = true;
          continue;
        }
        if (r.state === 'excluded') {
          // Fresh again: back in. So is a device whose commands went unacknowledged because its
          // site was unreachable (its telemetry stopped as well), once the site is back: an uplink
          // outage must not leave it out for the rest of the window. It gets a new setpoint at once.
          const reachable = r.reason === NOT_ACKNOWLEDGED && r.wentStale;
          if (r.reason !== 'stale telemetry' && !reachable) continue;
          if (reachable) r.lastCommand = undefined;
          r.state = 'ok';
          r.reason = undefined;
          r.wentStale = undefined;
        }
        const w = dev.w ?? 0;
        const tol = Math.max(o.toleranceW, (o.tolerancePct / 100) * r.ratingW);
        this.watchDelivery(d, r, dev, tol, now);
        if (isBattery(dev)) {
          let { minW, maxW } = batteryRange(dev, o, hoursLeft);
          if (r.state === 'under-delivering') {
            // Held at what it demonstrably delivers in the direction it fails.
            if ((r.lastCommand?.w ?? w) > w) maxW = Math.max(minW, Math.min(maxW, w));
            else minW = Math.min(maxW, Math.max(minW, w));
          }
          siteFlex.push({
            id: `${s.id}/${dev.id}`,
            baselineW: Math.min(maxW, Math.max(minW, w)),
            minW,
            maxW,
            costPerKwh: o.batteryCostPerKwh,
            run: r,
            dev,
            tol,
          });
        } else {
          r.pvAvailableW = r.limited ? Math.max(r.pvAvailableW ?? 0, w) : Math.max(0, w);
          const avail = r.state === 'under-delivering' ? Math.max(0, w) : (r.pvAvailableW ?? 0);
          siteFlex.push({
            id: `${s.id}/${dev.id}`,
            baselineW: avail,
            minW: r.state === 'under-delivering' ? avail : 0,
            maxW: avail,
            costPerKwh: o.pvCurtailCostPerKwh,
            run: r,
            dev,
            tol,
          });
        }
      }
      // Site limits: the devices' moves may not push the meter past the import/export limit.
      const meterAtBase = (s.meterW ?? 0) + siteFlex.reduce((a, f) => a + f.baselineW - (f.dev.w ?? 0), 0);
      const upRoom = siteFlex.reduce((a, f) => a + f.maxW - f.baselineW, 0);
      const downRoom = siteFlex.reduce((a, f) => a + f.baselineW - f.minW, 0);
      const ex = s.limits.export_w_max;
      const im = s.limits.import_w_max;
      const fu = ex !== undefined && upRoom > 0 ? Math.min(1, Math.max(0, ex - meterAtBase) / upRoom) : 1;
      const fd = im !== undefined && downRoom > 0 ? Math.min(1, Math.max(0, im + meterAtBase) / downRoom) : 1;
      for (const f of siteFlex) {
        f.maxW = f.baselineW + (f.maxW - f.baselineW) * fu;
        f.minW = f.baselineW - (f.baselineW - f.minW) * fd;
      }
      flex.push(...siteFlex);
      latestU.set(s.id, (s.meterW ?? 0) - siteFlex.reduce((a, f) => a + (f.dev.w ?? 0), 0));
      coherentSites.push({
        site: s.id,
        meterIds: s.meterIds,
        meterTolW: o.toleranceW,
        devices: siteFlex.map((f) => ({ id: f.dev.id, tolW: f.tol })),
      });
    }
    // U from one instant per site (coherent.ts); a site without such an instant in the stale window
    // falls back to its latest values.
    const coherent = await coherentUncontrolled(this.deps.store, coherentSites, now - o.staleMs, now + 1);
    let uncontrolled = 0;
    for (const s of g.sites) uncontrolled += coherent.get(s.id)?.w ?? latestU.get(s.id)!;
    const required = d.targetMeterW - uncontrolled;
    const base = flex.reduce((a, f) => a + f.baselineW, 0);
    const alloc = await allocate(flex, required - base);
    d.progress.ticks++;
    d.progress.lastTickAt = now;
    d.progress.measuredW = Math.round(measured);
    d.progress.uncontrolledW = Math.round(uncontrolled);
    d.progress.allocatedW = Math.round(base + alloc.deliveredDeltaW);
    d.progress.shortfallW = alloc.shortfallW;
    this.record(d, now, measured);

    const orders: Order[] = [];
    for (const f of flex) {
      const sp = alloc.setpoints.get(f.id) ?? f.baselineW;
      f.run.setpointW = sp;
      const o = this.order(f.run, f.dev, sp, f.baselineW, now);
      if (o) orders.push(o);
    }
    await this.sendOrders(d, orders, now);
    d.progress.lastTickMs = Date.now() - stepStarted;
  }

  /** Flags a device that keeps missing its setpoint for settleMs after telemetry had time to show it. */
  private watchDelivery(d: Dispatch, r: DeviceRun, dev: DeviceState, tol: number, now: number) {
    const c = r.lastCommand;
    if (!c || r.state !== 'ok' || (dev.ts ?? 0) <= c.sentAt) return;
    const w = dev.w ?? 0;
    // A PV limit is met when output is at or under it (less sun is not under-delivery).
    const off = isCurtailablePv(dev) ? (r.limited ? w - c.w : 0) : Math.abs(w - c.w);
    if (off <= tol) {
      r.deviatingSince = undefined;
      return;
    }
    r.deviatingSince ??= now;
    if (now - r.deviatingSince >= this.opts.settleMs) {
      r.state = 'under-delivering';
      r.reason = `measured ${Math.round(w)} W against setpoint ${Math.round(c.w)} W for ${Math.round((now - r.deviatingSince) / 1000)} s`;
      void this.deps.registry
        .audit('system', 'dispatch.under-delivery', d.id, { site: r.site, device: r.id, reason: r.reason })
        .catch(() => undefined);
    }
  }

  /** The command a device needs now (changed setpoint, or renewal before it lapses), if any. */
  private order(r: DeviceRun, dev: DeviceState, sp: number, natural: number, now: number): Order | undefined {
    const o = this.opts;
    const last = r.lastCommand;
    const renewBefore = o.loopMs * 1.5;
    let type: 'battery_power' | 'active_power_limit';
    let w: number;
    let force = false;
    if (isBattery(dev)) {
      type = 'battery_power';
      w = Math.round(sp);
    } else {
      type = 'active_power_limit';
      if (sp < natural - o.deadbandW) {
        w = Math.max(0, Math.round(sp));
        r.limited = true;
      } else if (r.limited) {
        // Release the curtailment now rather than waiting for the limit to lapse.
        w = Math.round(dev.wMax || natural);
        r.limited = false;
        force = true;
      } else return undefined;
    }
    const changed = !last || Math.abs(last.w - w) >= o.deadbandW;
    const lapsing = !!last && last.expiresAt - now <= renewBefore;
    if (!force && !changed && !lapsing) return undefined;
    return { r, type, w, changed };
  }

  /** Sends a loop step's commands as one batch (stored and audited in one transaction). */
  private async sendOrders(d: Dispatch, orders: Order[], now: number): Promise<void> {
    if (!orders.length) return;
    const o = this.opts;
    let results: Awaited<ReturnType<CommandPipeline['sendMany']>>;
    try {
      results = await this.deps.commands.sendMany(
        orders.map(({ r, type, w }) => ({
          site: r.site,
          request: { type, device: r.id, w, ttlSeconds: o.commandTtlS },
        })),
        `dispatch:${d.id}`,
        d.requestedBy,
      );
    } catch (err) {
      // The batch could not be stored: none of it went out.
      for (const { r } of orders) {
        d.progress.commandErrors++;
        this.exclude(d, r, `command not accepted: ${(err as Error).message}`);
      }
      return;
    }
    orders.forEach(({ r, w, changed }, k) => {
      const rec = results[k];
      if (rec instanceof Error) {
        d.progress.commandErrors++;
        this.exclude(d, r, `command not accepted: ${rec.message}`);
        return;
      }
      const last = r.lastCommand;
      d.progress.commandsSent++;
      d.progress.firstCommandAt ??= now;
      const keep = !last || changed ? now : last.sentAt;
      r.lastCommand = { id: rec.id, w, sentAt: keep, expiresAt: rec.expiresAt, status: rec.status };
      if (rec.status === 'failed') {
        d.progress.commandErrors++;
        this.exclude(d, r, `command failed: ${rec.reason ?? 'publish failed'}`);
        return;
      }
      void this.deps.commands
        .waitFor(rec.id, o.commandTtlS * 1000 + 2000)
        // The registry closing under a waiter (cloud stopping) leaves the device as it is.
        .catch(() => undefined)
        .then((done) => {
          if (!done) return;
          if (r.lastCommand?.id === rec.id) r.lastCommand.status = done.status;
          if (done.status === 'refused' || done.status === 'failed') {
            d.progress.commandErrors++;
            this.exclude(d, r, `command ${done.status}: ${done.reason ?? ''}`.trim());
          } else if (done.status === 'expired' && d.status === 'active') {
            d.progress.commandErrors++;
            this.exclude(d, r, NOT_ACKNOWLEDGED);
          }
        });
    });
  }

  /** Adds one loop sample to the performance interval it falls in. */
  private record(d: Dispatch, now: number, measured: number) {
    const k = Math.floor((now - d.start) / d.intervalMs);
    const start = d.start + k * d.intervalMs;
    let iv = d.intervals.at(-1);
    if (!iv || iv.start !== start) {
      iv = {
        start,
        end: Math.min(start + d.intervalMs, d.end),
        baselineW: d.baseline.w,
        targetW: 0,
        deliveredW: 0,
        errorW: 0,
        errorPct: null,
        samples: 0,
      };
      d.intervals.push(iv);
    }
    const n = iv.samples;
    iv.targetW = Math.round((iv.targetW * n + d.targetMeterW) / (n + 1));
    iv.deliveredW = Math.round((iv.deliveredW * n + measured) / (n + 1));
    iv.samples = n + 1;
    iv.errorW = iv.deliveredW - iv.targetW;
    const asked = iv.targetW - iv.baselineW;
    iv.errorPct = asked !== 0 ? Math.round((Math.abs(iv.errorW) / Math.abs(asked)) * 1000) / 10 : null;
  }
}
