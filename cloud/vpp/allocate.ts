/**
 * VPP allocation: splits a group's power target into per-device setpoints with an LP (HiGHS).
 *
 * Each device moves from its baseline by up_i or down_i within what it can do now. The LP meets
 * Σ(up_i − down_i) = target at the least wear cost, then spreads the move so that no device uses a
 * larger share of its headroom than it must (minimise the common headroom fraction z). A target the
 * group cannot reach is met as far as possible and the shortfall reported, never silently.
 *
 * Powers use the device sign convention: positive = delivered into the site bus.
 */
import { getHighs } from '../lp/highs.ts';

export interface DeviceFlexibility {
  id: string;
  /** Power the device would deliver without the dispatch (W). */
  baselineW: number;
  /** Lowest and highest power it can deliver now (W), e.g. −charge max … +discharge max. */
  minW: number;
  maxW: number;
  /** Wear or opportunity cost of moving it, per kWh of change. Default 0. */
  costPerKwh?: number;
}

export interface Allocation {
  /** Setpoint per device id (W). */
  setpoints: Map<string, number>;
  /** Σ(setpoint − baseline): equals the target unless the group falls short. */
  deliveredDeltaW: number;
  /** Target minus what could be allocated (W); 0 when the target is reachable. */
  shortfallW: number;
  /** Largest fraction of its headroom any device uses (0..1). */
  headroomUsed: number;
}

/** Penalty per W of shortfall, far above any wear cost so the LP only falls short when it must. */
const SHORTFALL_PENALTY = 1e6;

export async function allocate(
  devices: readonly DeviceFlexibility[],
  targetDeltaW: number,
): Promise<Allocation> {
  if (!Number.isFinite(targetDeltaW)) throw new RangeError('target must be a finite number of watts');
  for (const d of devices) {
    if (![d.baselineW, d.minW, d.maxW].every(Number.isFinite) || d.minW > d.maxW) {
      throw new RangeError(`device ${d.id}: limits must be finite with minW ≤ maxW`);
    }
  }
  if (devices.length === 0) {
    return { setpoints: new Map(), deliveredDeltaW: 0, shortfallW: targetDeltaW, headroomUsed: 0 };
  }
  const rooms = devices.map((d) => {
    const base = Math.min(d.maxW, Math.max(d.minW, d.baselineW));
    return { base, up: d.maxW - base, down: base - d.minW };
  });
  // Scale to kW so the LP is well conditioned.
  const k = 1 / 1000;
  const totalRoom = rooms.reduce((s, r) => s + r.up + r.down, 0) * k;
  // The spreading term must never outweigh a real cost difference: keep it tiny against the costs.
  const minCost = Math.min(...devices.map((d) => d.costPerKwh ?? 0).filter((c) => c > 0), 1);
  const spreadWeight = (minCost * 1e-3) / Math.max(1, totalRoom);

  const obj: string[] = [];
  const cons: string[] = [];
  const bounds: string[] = [];
  const balance: string[] = [];
  devices.forEach((d, i) => {
    const c = (d.costPerKwh ?? 0) + 1e-6; // tiny cost: never move a device for nothing
    obj.push(`+ ${c} u${i} + ${c} d${i}`);
    balance.push(`+ u${i} - d${i}`);
    bounds.push(`0 <= u${i} <= ${rooms[i].up * k}`, `0 <= d${i} <= ${rooms[i].down * k}`);
    if (rooms[i].up > 0) cons.push(`su${i}: u${i} - ${rooms[i].up * k} z <= 0`);
    if (rooms[i].down > 0) cons.push(`sd${i}: d${i} - ${rooms[i].down * k} z <= 0`);
  });
  obj.push(`+ ${spreadWeight * totalRoom} z + ${SHORTFALL_PENALTY} sp + ${SHORTFALL_PENALTY} sn`);
  const lp = [
    'Minimize',
    ` obj: ${obj.join(' ')}`,
    'Subject To',
    ` target: ${balance.join(' ')} + sp - sn = ${targetDeltaW * k}`,
    ...cons.map((c) => ` ${c}`),
    'Bounds',
    ...bounds.map((b) => ` ${b}`),
    ' 0 <= z <= 1',
    ' sp >= 0',
    ' sn >= 0',
    'End',
  ].join('\n');

  const highs = await getHighs();
  const sol = highs.solve(lp, { output_flag: false } as never);
  if (sol.Status !== 'Optimal') throw new Error(`VPP allocation LP: ${sol.Status}`);
  const col = (name: string) => (sol.Columns[name]?.Primal ?? 0) / k;
  const setpoints = new Map<string, number>();
  let delivered = 0;
  devices.forEach((d, i) => {
    const delta = col(`u${i}`) - col(`d${i}`);
    setpoints.set(d.id, Math.round(rooms[i].base + delta));
    delivered += delta;
  });
  return {
    setpoints,
    deliveredDeltaW: Math.round(delivered),
    shortfallW: Math.round(col('sp') - col('sn')),
    headroomUsed: sol.Columns.z?.Primal ?? 0,
  };
}
