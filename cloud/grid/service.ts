import { basename, join } from 'node:path';
import { z } from 'zod';
import { DomainError } from '../errors.ts';
import {
  checkFeasibility,
  type FeasibilityReport,
  findViolations,
  loadFeederCsv,
  type Network,
  PowerFlowError,
  type PowerFlowResult,
  solvePowerFlow,
  type Violation,
} from '../network/index.ts';
import type { Registry, Site } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import type { NetworkSettings } from './settings.ts';

function addTo(m: Record<string, { p_w: number; q_var: number }>, bus: string) {
  if (!m[bus]) m[bus] = { p_w: 0, q_var: 0 };
  return m[bus];
}

/** A request the grid service cannot answer as asked (no feeder, unknown or unplaced site). */
export class GridError extends DomainError {}

const sitePower = z.object({ p_w: z.number().finite(), q_var: z.number().finite().default(0) }).strict();

/**
 * Proposed site setpoints per interval. Each site's `p_w` is its net power at the point of common
 * coupling, positive = export (the meter sign convention), added to the feeder's base case at the
 * site's bus; `q_var` positive = delivered.
 */
export const siteScheduleSchema = z
  .object({
    intervals: z
      .array(
        z
          .object({
            start: z.number().int(),
            sites: z.record(z.string(), sitePower),
          })
          .strict(),
      )
      .min(1)
      .max(288),
  })
  .strict();
export type SiteSchedule = z.input<typeof siteScheduleSchema>;

export interface Placement {
  /** site id → bus id */
  buses: Map<string, string>;
  /** Sites not on this feeder or without a valid node, with the reason. */
  unplaced: { site: string; reason: string }[];
}

/**
 * The DSO's network view inside the cloud: the configured feeder, sites placed on its buses through
 * the registry's `feeder`/`node` fields, and the feasibility check the cloud runs before it sends
 * dispatches (delegating to cloud/network checkFeasibility).
 */
export class GridService {
  private constructor(
    readonly network: Network | null,
    readonly feederId: string | null,
    private readonly deps: { registry: Registry; store: TimeSeriesStore; settings: NetworkSettings },
  ) {}

  static async open(deps: {
    registry: Registry;
    store: TimeSeriesStore;
    settings: NetworkSettings;
  }): Promise<GridService> {
    const f = deps.settings.feeder;
    if (!f) return new GridService(null, null, deps);
    const network = await loadFeederCsv({
      buses: join(f.dir, 'buses.csv'),
      branches: join(f.dir, 'branches.csv'),
      base_kv: f.baseKv,
      ...(f.slackVoltagePu !== undefined ? { slack_voltage_pu: f.slackVoltagePu } : {}),
      ...(f.vminPu !== undefined ? { default_vmin_pu: f.vminPu } : {}),
      ...(f.vmaxPu !== undefined ? { default_vmax_pu: f.vmaxPu } : {}),
    });
    return GridService.forNetwork(network, f.id ?? basename(f.dir), deps);
  }

  /** A grid service over an already-built feeder model (e.g. a synthetic one). */
  static forNetwork(
    network: Network,
    feederId: string,
    deps: { registry: Registry; store: TimeSeriesStore; settings: NetworkSettings },
  ): GridService {
    // Fail at start, not at the first dispatch, if the feeder has no power-flow solution.
    solvePowerFlow(network);
    return new GridService(network, feederId, deps);
  }

  private requireNetwork(): Network {
    if (!this.network)
      throw new GridError('conflict', 'no feeder configured (cloud config network.feeder: dir and baseKv)');
    return this.network;
  }

  /** Where each site sits: its registry node, if it names a bus of this feeder. */
  async placement(sites?: Site[]): Promise<Placement> {
    const net = this.requireNetwork();
    const buses = new Set(net.buses.map((b) => b.id));
    const out: Placement = { buses: new Map(), unplaced: [] };
    for (const s of sites ?? (await this.deps.registry.listSites())) {
      if (s.feeder !== null && s.feeder !== this.feederId)
        out.unplaced.push({ site: s.id, reason: `on feeder ${s.feeder}, not ${this.feederId}` });
      else if (s.node === null) out.unplaced.push({ site: s.id, reason: 'no network node assigned' });
      else if (!buses.has(s.node))
        out.unplaced.push({ site: s.id, reason: `node ${s.node} is not a bus of feeder ${this.feederId}` });
      else out.buses.set(s.id, s.node);
    }
    return out;
  }

  /**
   * Checks proposed site setpoints against the feeder's voltage and thermal limits in every
   * interval. Throws GridError(422) naming any site that cannot be placed on the feeder.
   */
  async checkSchedule(
    schedule: SiteSchedule,
  ): Promise<FeasibilityReport & { buses: Record<string, string> }> {
    const net = this.requireNetwork();
    const parsed = siteScheduleSchema.parse(schedule);
    const ids = [...new Set(parsed.intervals.flatMap((iv) => Object.keys(iv.sites)))];
    const sites = await this.deps.registry.listSites(ids);
    const unknown = ids.filter((id) => !sites.some((s) => s.id === id));
    if (unknown.length) throw new GridError('unprocessable', `unknown site(s): ${unknown.join(', ')}`);
    const place = await this.placement(sites);
    if (place.unplaced.length)
      throw new GridError(
        'unprocessable',
        `site(s) not placed on feeder ${this.feederId}: ${place.unplaced.map((u) => `${u.site} (${u.reason})`).join('; ')}`,
      );
    const report = checkFeasibility(net, {
      intervals: parsed.intervals.map((iv) => {
        const injections: Record<string, { p_w: number; q_var: number }> = {};
        for (const [site, p] of Object.entries(iv.sites)) {
          const bus = place.buses.get(site) as string;
          const acc = addTo(injections, bus);
          acc.p_w += p.p_w;
          acc.q_var += p.q_var;
        }
        return { start: iv.start, injections };
      }),
    });
    return { ...report, buses: Object.fromEntries(place.buses) };
  }

  /**
   * Power flow of the feeder now: its base case plus each placed site's latest metered net export
   * (meter `w`/`var` at the PCC, fresher than staleAfterSeconds) injected at its bus.
   */
  async currentPowerFlow(now = Date.now()): Promise<{
    at: number;
    powerflow: PowerFlowResult | null;
    error?: string;
    sites: { site: string; bus: string; p_w: number; q_var: number; ts: number }[];
    unmeasured: { site: string; reason: string }[];
  }> {
    const net = this.requireNetwork();
    const place = await this.placement();
    const staleMs = this.deps.settings.staleAfterSeconds * 1000;
    const injections: Record<string, { p_w: number; q_var: number }> = {};
    const sites: { site: string; bus: string; p_w: number; q_var: number; ts: number }[] = [];
    const unmeasured = [...place.unplaced];
    for (const [site, bus] of place.buses) {
      const meters = new Set(
        (await this.deps.registry.listDevices(site)).filter((d) => d.kind === 'meter').map((d) => d.id),
      );
      const latest = (await this.deps.store.latest(site)).filter(
        (l) => meters.has(l.device) && now - l.ts <= staleMs && l.quality !== 'invalid',
      );
      const w = latest.filter((l) => l.point === 'w');
      if (!w.length) {
        unmeasured.push({ site, reason: meters.size ? 'no fresh meter reading' : 'no meter' });
        continue;
      }
      const p_w = w.reduce((s, l) => s + l.value, 0);
      const q_var = latest.filter((l) => l.point === 'var').reduce((s, l) => s + l.value, 0);
      const acc = addTo(injections, bus);
      acc.p_w += p_w;
      acc.q_var += q_var;
      sites.push({ site, bus, p_w, q_var, ts: Math.min(...w.map((l) => l.ts)) });
    }
    try {
      return { at: now, powerflow: solvePowerFlow(net, { injections }), sites, unmeasured };
    } catch (err) {
      if (err instanceof PowerFlowError)
        return { at: now, powerflow: null, error: err.message, sites, unmeasured };
      throw err;
    }
  }

  /** Limit violations in a power flow of this feeder. */
  violations(pf: PowerFlowResult): Violation[] {
    return findViolations(this.requireNetwork(), pf);
  }
}
