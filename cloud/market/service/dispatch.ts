import { controlSender } from '../../control-rules.ts';
import type { Network } from '../../network/index.ts';
import type { CommandRecord } from '../../storage/registry/registry.ts';
import { screenAwards } from '../forms/centralized.ts';
import type { DispatchRecord, ResourceLink } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import type { MarketConfig } from '../model/roles.ts';
import { checkControl } from '../model/rules.ts';

/**
 * Real-time awards to the field. The DGO screens the interval's awards with the exact power flow
 * first (cloud/network checkFeasibility via `screenAwards`) and curtails DER behind violations; what
 * survives becomes one command per resource through the command pipeline, expiring at the end of
 * the interval so a lost gateway never keeps running a stale award:
 * - battery → `battery_power` (positive = discharge, same sign as the market's net injection);
 * - pv / generator → `active_power_limit` at the awarded injection (never below 0);
 * - flex_load / ev → no command type for them on the wire yet: recorded as skipped.
 */

export type SendCommand = (site: string, request: unknown, actor: string) => Promise<CommandRecord>;

export interface FieldDispatchInput {
  readonly runId: string;
  readonly intervalStart: number;
  readonly intervalEnd: number;
  readonly now: number;
  /** Net award per resource (W, + = into the grid). */
  readonly awardsW: ReadonlyMap<string, number>;
  readonly config: MarketConfig;
  readonly registry: ResourceRegistry;
  readonly links: ReadonlyMap<string, ResourceLink>;
  /** The DGO's network model; null = no screen (copper plate). */
  readonly network: Network | null;
  /** Non-participating load per bus for the screen (W). */
  readonly loadsW: ReadonlyMap<string, number>;
  readonly by: 'DERM' | 'DGO_EMERGENCY' | 'SELF';
  /** Who issues the commands (audit actor of the command pipeline); per resource for self-dispatch. */
  readonly actor: string | ((resource: string) => string);
  readonly maxTtlSeconds: number;
  readonly send: SendCommand;
}

export interface FieldDispatchResult {
  readonly records: DispatchRecord[];
  /** null when no network model is configured. */
  readonly screen: { feasible: boolean; violationsBefore: number; iterations: number } | null;
}

export async function dispatchToField(inp: FieldDispatchInput): Promise<FieldDispatchResult> {
  const ids = [...inp.awardsW.keys()].filter((id) => inp.registry.get(id));
  let screened = new Map(inp.awardsW);
  let screen: FieldDispatchResult['screen'] = null;
  if (inp.network && ids.length) {
    const s = screenAwards(
      inp.network,
      ids.map((id) => ({ id, bus: inp.registry.get(id)!.bus })),
      inp.awardsW,
      inp.loadsW,
      inp.intervalStart,
    );
    screened = s.awardsW;
    screen = { feasible: s.feasible, violationsBefore: s.violationsBefore, iterations: s.iterations };
  }
  const ttl = Math.min(inp.maxTtlSeconds, Math.max(1, Math.ceil((inp.intervalEnd - inp.now) / 1000)));
  const records: DispatchRecord[] = [];
  for (const id of ids) {
    const r = inp.registry.get(id)!;
    const link = inp.links.get(id) ?? {};
    const awardW = inp.awardsW.get(id)!;
    const w = screened.get(id) ?? awardW;
    const curtailed = Math.abs(w - awardW) > 1e-6;
    const base = {
      runId: inp.runId,
      resource: id,
      site: link.site ?? null,
      device: link.device ?? null,
      intervalStart: inp.intervalStart,
      awardW,
      screenedW: w,
    };
    const skip = (reason: string) =>
      records.push({ ...base, commandType: null, commandId: null, status: 'skipped', reason });
    const actor = typeof inp.actor === 'function' ? inp.actor(id) : inp.actor;
    const sender = controlSender({ actor });
    const org = sender.path === 'market' ? sender.org : '';
    // The same rules as every other control path (the pipeline asks them again on send).
    const rule = checkControl(inp.config, inp.registry, {
      resource: id,
      as: inp.by,
      sender: `the market acting for "${org}"`,
      actsFor: [org],
    });
    if (rule) {
      skip(`${rule.code}: ${rule.reason}`);
      continue;
    }
    if (!link.site) {
      skip('resource is not linked to a registry site');
      continue;
    }
    const type =
      r.kind === 'battery'
        ? 'battery_power'
        : r.kind === 'pv' || r.kind === 'generator'
          ? 'active_power_limit'
          : null;
    if (!type) {
      skip(`no field command for a ${r.kind} resource yet`);
      continue;
    }
    const request = {
      type,
      w: type === 'battery_power' ? w : Math.max(0, w),
      ttlSeconds: ttl,
      ...(link.device ? { device: link.device } : {}),
    };
    try {
      const cmd = await inp.send(link.site, request, actor);
      records.push({
        ...base,
        commandType: type,
        commandId: cmd.id,
        status: cmd.status === 'failed' ? 'failed' : curtailed ? 'curtailed-sent' : 'sent',
        reason:
          cmd.status === 'failed' ? cmd.reason : curtailed ? 'curtailed by the DGO feasibility screen' : null,
      });
    } catch (err) {
      records.push({
        ...base,
        commandType: type,
        commandId: null,
        status: 'failed',
        reason: (err as Error).message,
      });
    }
  }
  return { records, screen };
}
