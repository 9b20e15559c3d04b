import { z } from 'zod';
import type { Network } from './model.ts';
import {
  type InjectionOverrides,
  PowerFlowError,
  type PowerFlowResult,
  solvePowerFlow,
} from './powerflow.ts';

/**
 * Feasibility service: does a proposed set of setpoints or schedules (a VPP dispatch, a market
 * result) keep every bus inside its voltage band and every branch inside its rating, in every
 * interval? The cloud calls this before it sends dispatches.
 */

export type Violation =
  | { kind: 'voltage'; bus: string; v_pu: number; limit: 'min' | 'max'; limit_pu: number }
  | {
      kind: 'thermal';
      branch: string;
      from_bus: string;
      to_bus: string;
      loading_pct: number;
      rating_va: number;
    }
  | { kind: 'power_flow'; message: string };

/** One line an operator can read, naming the bus or branch and the limit. */
export function describeViolation(v: Violation): string {
  if (v.kind === 'voltage')
    return `bus ${v.bus} voltage ${v.v_pu.toFixed(4)} pu beyond its ${v.limit} of ${v.limit_pu} pu`;
  if (v.kind === 'thermal')
    return `branch ${v.branch} loaded ${v.loading_pct.toFixed(0)} % of ${(v.rating_va / 1000).toFixed(0)} kVA`;
  return `power flow: ${v.message}`;
}

const power = z.object({ p_w: z.number().finite(), q_var: z.number().finite().default(0) });

/**
 * One schedule interval. `injections` are the proposed setpoints: extra net injection per bus,
 * positive = into the grid (a battery discharging, a PV output), added to the network's base case.
 * `loads` optionally replaces the base-case consumption of the listed buses (a load forecast).
 */
export const ScheduleIntervalSchema = z.object({
  start: z.number().int(),
  injections: z.record(z.string(), power).default({}),
  loads: z.record(z.string(), power).optional(),
});
export const ScheduleSchema = z.object({ intervals: z.array(ScheduleIntervalSchema).min(1) });
export type Schedule = z.input<typeof ScheduleSchema>;

export interface IntervalFeasibility {
  readonly start: number;
  readonly feasible: boolean;
  readonly violations: Violation[];
  readonly min_voltage?: { bus: string; v_pu: number };
  readonly max_voltage?: { bus: string; v_pu: number };
  readonly max_loading?: { branch: string; loading_pct: number };
  readonly losses_w?: number;
}

export interface FeasibilityReport {
  readonly feasible: boolean;
  readonly intervals: IntervalFeasibility[];
  readonly violation_count: number;
}

/** Tolerances so that a limit met by the solver's rounding is not reported as violated. */
const VOLTAGE_TOL_PU = 1e-6;
const LOADING_TOL_PCT = 1e-3;

/** Limit violations in a solved power flow. */
export function findViolations(network: Network, pf: PowerFlowResult): Violation[] {
  const out: Violation[] = [];
  const v = new Map(pf.buses.map((b) => [b.bus, b.v_pu]));
  for (const bus of network.buses) {
    const vm = v.get(bus.id)!;
    if (vm < bus.vmin_pu - VOLTAGE_TOL_PU)
      out.push({ kind: 'voltage', bus: bus.id, v_pu: vm, limit: 'min', limit_pu: bus.vmin_pu });
    if (vm > bus.vmax_pu + VOLTAGE_TOL_PU)
      out.push({ kind: 'voltage', bus: bus.id, v_pu: vm, limit: 'max', limit_pu: bus.vmax_pu });
  }
  pf.branches.forEach((br, k) => {
    const rating = network.branches[k].rating_va;
    if (rating !== undefined && br.loading_pct !== undefined && br.loading_pct > 100 + LOADING_TOL_PCT) {
      out.push({
        kind: 'thermal',
        branch: br.id,
        from_bus: br.from_bus,
        to_bus: br.to_bus,
        loading_pct: br.loading_pct,
        rating_va: rating,
      });
    }
  });
  return out;
}

/** Power flow of one interval with its violations; a diverging power flow is itself a violation. */
export function checkInterval(
  network: Network,
  start: number,
  over: InjectionOverrides,
): IntervalFeasibility {
  let pf: PowerFlowResult;
  try {
    pf = solvePowerFlow(network, over);
  } catch (err) {
    if (err instanceof PowerFlowError) {
      return { start, feasible: false, violations: [{ kind: 'power_flow', message: err.message }] };
    }
    throw err;
  }
  const violations = findViolations(network, pf);
  let maxLoading: { branch: string; loading_pct: number } | undefined;
  for (const br of pf.branches) {
    if (br.loading_pct !== undefined && (!maxLoading || br.loading_pct > maxLoading.loading_pct)) {
      maxLoading = { branch: br.id, loading_pct: br.loading_pct };
    }
  }
  return {
    start,
    feasible: violations.length === 0,
    violations,
    min_voltage: pf.min_voltage,
    max_voltage: pf.max_voltage,
    ...(maxLoading ? { max_loading: maxLoading } : {}),
    losses_w: pf.losses_w,
  };
}

/**
 * Checks every interval of a schedule against the network's limits with the exact power flow.
 * Throws a ZodError for a malformed schedule and a RangeError for a bus the network does not have
 * (a dispatch for an unknown bus is a caller bug, not an infeasible dispatch).
 */
export function checkFeasibility(network: Network, schedule: Schedule): FeasibilityReport {
  const parsed = ScheduleSchema.parse(schedule);
  const known = new Set(network.buses.map((b) => b.id));
  parsed.intervals.forEach((iv, k) => {
    for (const bus of [...Object.keys(iv.injections), ...Object.keys(iv.loads ?? {})]) {
      if (!known.has(bus))
        throw new RangeError(`schedule interval ${k} (start ${iv.start}): unknown bus "${bus}"`);
    }
  });
  const intervals = parsed.intervals.map((iv) =>
    checkInterval(network, iv.start, { injections: iv.injections, ...(iv.loads ? { loads: iv.loads } : {}) }),
  );
  const violation_count = intervals.reduce((s, iv) => s + iv.violations.length, 0);
  return { feasible: violation_count === 0, intervals, violation_count };
}
