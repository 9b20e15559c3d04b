/**
 * The cloud's VPP service: VPPs are registry groups (kind `vpp`) whose members are chosen by the
 * operator, by feeder or network node, or as an aggregator's portfolio; this service adds their live
 * aggregate, flexibility envelope and dispatch.
 */
import { z } from 'zod';
import type { CommandPipeline } from '../commands/pipeline.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { type DispatchDeps, DispatchManager, type DispatchOptions } from './dispatch.ts';
import { groupEnvelope, type SiteForecastProvider } from './envelope.ts';
import type { NetworkCheck } from './feasibility.ts';
import { aggregateState } from './state.ts';

/** Config block `vpp:` of the cloud config (all optional). */
export const vppConfigSchema = z
  .object({
    loopMs: z.number().int().min(50).optional(),
    commandTtlS: z.number().int().min(1).optional(),
    staleMs: z.number().int().min(100).optional(),
    baselineMinutes: z.number().min(0).optional(),
    settleMs: z.number().int().min(0).optional(),
    socMinPct: z.number().min(0).max(100).optional(),
    socMaxPct: z.number().min(0).max(100).optional(),
  })
  .strict();
export type VppConfig = z.infer<typeof vppConfigSchema>;

export const vppSelectionSchema = z.union([
  z.object({ by: z.literal('sites'), sites: z.array(z.string()).max(100_000) }),
  z.object({ by: z.literal('feeder'), feeder: z.string().min(1).max(100) }),
  z.object({ by: z.literal('node'), node: z.string().min(1).max(100) }),
  /** The sites in scope of an aggregator user (its site and group scopes). */
  z.object({ by: z.literal('aggregator'), user: z.string().min(1).max(64) }),
]);
export type VppSelection = z.infer<typeof vppSelectionSchema>;

export interface VppServiceDeps {
  registry: Registry;
  store: TimeSeriesStore;
  commands: CommandPipeline;
  network?: NetworkCheck;
  forecast?: SiteForecastProvider;
  log?: DispatchDeps['log'];
  now?: () => number;
  setInterval?: DispatchDeps['setInterval'];
  clearInterval?: DispatchDeps['clearInterval'];
  onChange?: DispatchDeps['onChange'];
}

export class VppService {
  readonly dispatch: DispatchManager;

  constructor(
    private deps: VppServiceDeps,
    opts: Partial<DispatchOptions> = {},
  ) {
    this.dispatch = new DispatchManager(deps, opts);
  }

  /** Resolves once the stored dispatches are loaded (resumed, or closed when their window ended). */
  start(): Promise<void> {
    return this.dispatch.start();
  }

  stop() {
    this.dispatch.stop();
  }

  private now() {
    return this.deps.now?.() ?? Date.now();
  }

  /** Resolves a member selection to site ids (snapshot at creation; PUT /groups/{id}/sites edits it). */
  async resolveSelection(sel: VppSelection): Promise<string[]> {
    const { registry } = this.deps;
    if (sel.by === 'sites') return [...new Set(sel.sites)];
    if (sel.by === 'aggregator') {
      const u = await registry.getUser(sel.user);
      if (!u) throw new Error(`unknown user ${sel.user}`);
      if (u.role !== 'aggregator') throw new Error(`user ${sel.user} is not an aggregator`);
      if (u.scopes.some((s) => s.kind === 'all')) return (await registry.listSites()).map((s) => s.id);
      const fromGroups = await registry.sitesOfGroups(
        u.scopes.filter((s) => s.kind === 'group').map((s) => s.target),
      );
      return [
        ...new Set([...fromGroups, ...u.scopes.filter((s) => s.kind === 'site').map((s) => s.target)]),
      ].sort();
    }
    const all = await registry.listSites();
    return all
      .filter((s) => (sel.by === 'feeder' ? s.feeder === sel.feeder : s.node === sel.node))
      .map((s) => s.id);
  }

  async aggregate(sites: string[]) {
    return aggregateState(await this.dispatch.state(sites, this.now()));
  }

  async envelope(sites: string[], q: { stepMs: number; steps: number; start?: number }) {
    const now = this.now();
    const g = await this.dispatch.state(sites, now);
    const start = q.start ?? Math.ceil(now / q.stepMs) * q.stepMs;
    return groupEnvelope(g, this.dispatch.opts, {
      start,
      stepMs: q.stepMs,
      steps: q.steps,
      forecast: this.deps.forecast,
    });
  }
}
