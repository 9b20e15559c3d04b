import { z } from 'zod';
import { type GridService, siteScheduleSchema } from '../grid/service.ts';
import type { MarketService } from '../market/index.ts';
import { powerFlowJson } from '../network/index.ts';
import { DomainError } from './errors.ts';
import { type AnyRouteDef, route } from './route.ts';

/**
 * Network feasibility and power flow for the grid operator (permission network:operate). In the
 * independent market models (4, 6) a user who acts for the DMO and not the DGO is refused
 * (INFORMATION_SEPARATION: the market's `requireView`): the DMO sees no network state beyond what the
 * DGO publishes.
 */
export function networkRoutes(d: {
  grid?: GridService;
  market?: Pick<MarketService, 'requireView'> | undefined;
}): AnyRouteDef[] {
  const grid = (userId: string, what: string) => {
    d.market?.requireView(userId, 'network', what);
    if (!d.grid) throw new DomainError('unavailable', 'the grid service is not running in this cloud');
    return d.grid;
  };
  return [
    route({
      method: 'post',
      path: '/network/feasibility',
      summary:
        'Check proposed site setpoints (net export at the PCC, W, per interval) against feeder voltage and thermal limits',
      tag: 'network',
      permission: 'network:operate',
      body: siteScheduleSchema,
      handler: async ({ body, principal }) =>
        grid(principal.user.id, 'feasibility of site schedules').checkSchedule(body),
    }),
    route({
      method: 'get',
      path: '/network/powerflow',
      summary: 'Power flow of the feeder now: base case plus the latest metered site exports at their buses',
      tag: 'network',
      permission: 'network:operate',
      response: z.object({
        feeder: z.string(),
        at: z.number(),
        converged: z.boolean(),
        error: z.string().optional(),
        result: z.unknown(),
        violations: z.unknown(),
        sites: z.array(z.unknown()),
        unmeasured: z.array(z.unknown()),
      }),
      handler: async ({ principal }) => {
        const g = grid(principal.user.id, 'the power flow, voltages and loadings');
        const r = await g.currentPowerFlow();
        return {
          feeder: g.feederId as string,
          at: r.at,
          converged: r.powerflow !== null,
          ...(r.error ? { error: r.error } : {}),
          result: r.powerflow ? powerFlowJson(r.powerflow) : null,
          violations: r.powerflow ? g.violations(r.powerflow) : [],
          sites: r.sites,
          unmeasured: r.unmeasured,
        };
      },
    }),
  ];
}
