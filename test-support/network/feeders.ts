import { fileURLToPath } from 'node:url';
import { loadFeederCsv } from '../../cloud/network/csv.ts';
import { buildNetwork, type Network, type NetworkInput } from '../../cloud/network/model.ts';

/** Paths of the shipped IEEE 33-bus CSV files, for tests and examples. */
export const IEEE33 = {
  buses: fileURLToPath(new URL('../../cloud/network/feeders/ieee33/buses.csv', import.meta.url)),
  branches: fileURLToPath(new URL('../../cloud/network/feeders/ieee33/branches.csv', import.meta.url)),
  offers: fileURLToPath(new URL('../../cloud/network/feeders/ieee33/offers.csv', import.meta.url)),
  base_kv: 12.66,
};

export function loadIeee33(
  opts: { default_vmin_pu?: number; default_vmax_pu?: number } = {},
): Promise<Network> {
  return loadFeederCsv({ buses: IEEE33.buses, branches: IEEE33.branches, base_kv: IEEE33.base_kv, ...opts });
}

/** Copies a network with changes (networks are frozen). */
export function modify(net: Network, change: Partial<NetworkInput>): Network {
  return buildNetwork({
    name: net.name,
    base_voltage_v: net.base_voltage_v,
    slack_voltage_pu: net.slack_voltage_pu,
    buses: net.buses.map((b) => ({ ...b })),
    branches: net.branches.map((b) => ({ ...b })),
    loads: net.loads.map((l) => ({ ...l })),
    ders: net.ders.map((d) => ({ ...d })),
    ...change,
  });
}

/**
 * A chain feeder: slack bus "0" then buses "1".."n" in a line, each section with the given
 * impedance, each bus with the given load (W, var).
 */
export function chain(opts: {
  sections: number;
  r_ohm: number;
  x_ohm: number;
  load_w: number;
  load_var: number;
  base_kv?: number;
  vmin_pu?: number;
  vmax_pu?: number;
  ratings?: Record<string, number>;
}): Network {
  const n = opts.sections;
  return buildNetwork({
    base_voltage_v: (opts.base_kv ?? 12.47) * 1000,
    buses: Array.from({ length: n + 1 }, (_, i) => ({
      id: String(i),
      type: i === 0 ? ('slack' as const) : ('pq' as const),
      vmin_pu: opts.vmin_pu ?? 0.9,
      vmax_pu: opts.vmax_pu ?? 1.1,
    })),
    branches: Array.from({ length: n }, (_, i) => {
      const id = `${i}-${i + 1}`;
      const rating = opts.ratings?.[id];
      return {
        from_bus: String(i),
        to_bus: String(i + 1),
        r_ohm: opts.r_ohm,
        x_ohm: opts.x_ohm,
        ...(rating !== undefined ? { rating_va: rating } : {}),
      };
    }),
    loads: Array.from({ length: n }, (_, i) => ({
      bus: String(i + 1),
      p_w: opts.load_w,
      q_var: opts.load_var,
    })),
  });
}
