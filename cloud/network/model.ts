/**
 * Distribution network model: buses, branches, loads and DERs of one feeder (local distribution area).
 *
 * Balanced single-phase-equivalent model: every power is the three-phase total, impedances are
 * positive-sequence per-phase ohms and voltages are per unit of the line-to-line base. A later
 * three-phase unbalanced model adds a `phases` set to buses/branches/loads and replaces the scalar
 * impedance by a 3x3 matrix; nothing here assumes a bus has exactly one voltage beyond the solvers.
 *
 * Units: SI (W, var, VA, ohm, V). Sign convention (canonical for the whole product): a DER's
 * `p_w`/`q_var` is positive when it delivers power INTO the grid; a load's `p_w`/`q_var` is positive
 * when it consumes.
 */

export type BusType = 'slack' | 'pq';

export interface Bus {
  readonly id: string;
  /** `slack`: the substation / T-D interface bus that holds voltage and balances the feeder. */
  readonly type: BusType;
  readonly vmin_pu: number;
  readonly vmax_pu: number;
}

export interface Branch {
  readonly id: string;
  readonly from_bus: string;
  readonly to_bus: string;
  readonly r_ohm: number;
  readonly x_ohm: number;
  /** Thermal rating as apparent power (VA); absent = unrated. */
  readonly rating_va?: number;
  /** false = open switch / out of service: the branch carries no power. */
  readonly in_service: boolean;
}

export interface Load {
  readonly id: string;
  readonly bus: string;
  /** Consumption, positive = drawn from the grid. */
  readonly p_w: number;
  readonly q_var: number;
}

export interface Der {
  readonly id: string;
  readonly bus: string;
  /** Fixed output, positive = injected into the grid. */
  readonly p_w: number;
  readonly q_var: number;
}

export interface Network {
  readonly name: string;
  /** Line-to-line base voltage of the feeder in volts. */
  readonly base_voltage_v: number;
  /** Voltage magnitude held at the slack bus, per unit. */
  readonly slack_voltage_pu: number;
  readonly buses: readonly Bus[];
  readonly branches: readonly Branch[];
  readonly loads: readonly Load[];
  readonly ders: readonly Der[];
}

/** Per-unit base power used inside the solvers (1 MVA: a per-unit power reads as MW). */
export const BASE_POWER_VA = 1e6;

export const DEFAULT_VMIN_PU = 0.95;
export const DEFAULT_VMAX_PU = 1.05;

/** A network that is inconsistent (unknown bus, two slack buses, a loop, an island …). */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

export interface NetworkInput {
  name?: string;
  base_voltage_v: number;
  slack_voltage_pu?: number;
  buses: Array<{ id: string; type: BusType; vmin_pu?: number; vmax_pu?: number }>;
  branches: Array<{
    id?: string;
    from_bus: string;
    to_bus: string;
    r_ohm: number;
    x_ohm: number;
    rating_va?: number;
    in_service?: boolean;
  }>;
  loads?: Array<{ id?: string; bus: string; p_w: number; q_var: number }>;
  ders?: Array<{ id?: string; bus: string; p_w: number; q_var: number }>;
}

/**
 * Checks and freezes a network. Throws NetworkError naming the offending element: every element
 * must reference a known bus, there must be exactly one slack bus, impedances and ratings must be
 * physical, and limits ordered. Topology (radiality, islands) is checked by the solvers, since an
 * operator may legitimately store a meshed model with tie switches closed.
 */
export function buildNetwork(input: NetworkInput): Network {
  const fail = (msg: string): never => {
    throw new NetworkError(msg);
  };
  if (!(input.base_voltage_v > 0) || !Number.isFinite(input.base_voltage_v)) {
    fail(`base voltage must be a positive number of volts, got ${input.base_voltage_v}`);
  }
  const slackV = input.slack_voltage_pu ?? 1;
  if (!(slackV > 0.5 && slackV < 1.5)) fail(`slack voltage ${slackV} pu is outside 0.5..1.5 pu`);

  const ids = new Set<string>();
  const buses: Bus[] = input.buses.map((b) => {
    if (b.id === '') fail('a bus has an empty id');
    if (ids.has(b.id)) fail(`bus "${b.id}" is defined twice`);
    ids.add(b.id);
    const vmin = b.vmin_pu ?? DEFAULT_VMIN_PU;
    const vmax = b.vmax_pu ?? DEFAULT_VMAX_PU;
    // vmin = vmax fixes the voltage (a slack bus as MATPOWER writes it); only vmin > vmax is nonsense.
    if (!(vmin > 0 && vmin <= vmax)) fail(`bus "${b.id}": need 0 < vmin_pu <= vmax_pu, got ${vmin}, ${vmax}`);
    return Object.freeze({ id: b.id, type: b.type, vmin_pu: vmin, vmax_pu: vmax });
  });
  const slacks = buses.filter((b) => b.type === 'slack');
  if (slacks.length !== 1) {
    fail(
      `need exactly one slack bus, found ${slacks.length}${slacks.length ? `: ${slacks.map((b) => b.id).join(', ')}` : ''}`,
    );
  }
  const known = (bus: string, what: string) => {
    if (!ids.has(bus)) fail(`${what} refers to unknown bus "${bus}"`);
  };

  const branchIds = new Set<string>();
  const branches: Branch[] = input.branches.map((br) => {
    const id = br.id ?? `${br.from_bus}-${br.to_bus}`;
    const what = `branch ${id}`;
    if (branchIds.has(id)) fail(`${what} is defined twice`);
    branchIds.add(id);
    known(br.from_bus, what);
    known(br.to_bus, what);
    if (br.from_bus === br.to_bus) fail(`${what} connects bus "${br.from_bus}" to itself`);
    if (!(br.r_ohm >= 0 && br.x_ohm >= 0)) fail(`${what}: r_ohm and x_ohm must be >= 0`);
    if (br.rating_va !== undefined && !(br.rating_va > 0)) fail(`${what}: rating must be > 0`);
    return Object.freeze({
      id,
      from_bus: br.from_bus,
      to_bus: br.to_bus,
      r_ohm: br.r_ohm,
      x_ohm: br.x_ohm,
      ...(br.rating_va !== undefined ? { rating_va: br.rating_va } : {}),
      in_service: br.in_service ?? true,
    });
  });

  const injections = <T extends { id?: string; bus: string; p_w: number; q_var: number }>(
    items: T[],
    kind: string,
  ) =>
    items.map((it, i) => {
      const id = it.id ?? `${kind}-${it.bus}${items.length > 1 ? `-${i + 1}` : ''}`;
      known(it.bus, `${kind} ${id}`);
      if (!Number.isFinite(it.p_w) || !Number.isFinite(it.q_var)) fail(`${kind} ${id}: power must be finite`);
      return Object.freeze({ id, bus: it.bus, p_w: it.p_w, q_var: it.q_var });
    });

  return Object.freeze({
    name: input.name ?? 'feeder',
    base_voltage_v: input.base_voltage_v,
    slack_voltage_pu: slackV,
    buses: Object.freeze(buses),
    branches: Object.freeze(branches),
    loads: Object.freeze(injections(input.loads ?? [], 'load')),
    ders: Object.freeze(injections(input.ders ?? [], 'der')),
  });
}

/** Returns a copy of the network with another slack voltage (the interface's voltage set point). */
export function withSlackVoltage(network: Network, slack_voltage_pu: number): Network {
  if (!(slack_voltage_pu > 0.5 && slack_voltage_pu < 1.5)) {
    throw new NetworkError(`slack voltage ${slack_voltage_pu} pu is outside 0.5..1.5 pu`);
  }
  return Object.freeze({ ...network, slack_voltage_pu });
}
