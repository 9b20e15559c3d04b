import { GRID_SERVICES, type Product } from '../model/bids.ts';
import type { AwardRecord } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';

/**
 * Day-ahead DSO grid-service calls (grid-services.ts) in real time. The DA clearing schedules a
 * resource's call on top of its energy award (sharing its SoC and capability); the real-time market
 * re-clears energy only, so the call is a fixed injection at the resource's bus there, and what goes
 * to the field is the real-time energy award plus the call (metered settlement expects the same sum,
 * metered-run.ts).
 */

/** Net DA grid-service call per resource (W, + = into the grid) among `daAwards` of one hour. */
export function serviceCallsW(daAwards: readonly AwardRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of daAwards)
    if (GRID_SERVICES.includes(a.product as Product))
      out.set(a.resource, (out.get(a.resource) ?? 0) + a.awardW);
  return out;
}

/** The calls summed per bus of their resources (W, + = into the grid): the RT fixed injections. */
export function callsByBus(
  calls: ReadonlyMap<string, number>,
  registry: ResourceRegistry,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, w] of calls) {
    const bus = registry.get(id)?.bus;
    if (bus !== undefined) out.set(bus, (out.get(bus) ?? 0) + w);
  }
  return out;
}

/** Field dispatch per resource: real-time energy award plus the DA call. */
export function withCalls(awardsW: ReadonlyMap<string, number>, calls: ReadonlyMap<string, number>) {
  const out = new Map(awardsW);
  for (const [id, w] of calls) out.set(id, (out.get(id) ?? 0) + w);
  return out;
}
