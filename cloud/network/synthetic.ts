import { seededRandom as mulberry32 } from '../random.ts';
import { buildNetwork, type Network, type NetworkInput } from './model.ts';

/**
 * Deterministic synthetic radial feeder for benchmarks and tests: a main trunk with branching
 * laterals (each new bus hangs mostly off the previous one, sometimes off an earlier bus), random
 * line sections and loads, sized so that the base case stays in a realistic voltage range
 * whatever the bus count.
 */
export interface SyntheticOptions {
  buses: number;
  seed?: number;
  base_kv?: number;
  /** Total feeder load in W (spread over the buses); default 4 MW. */
  total_load_w?: number;
  /** Thermal rating of every branch in VA; default unrated. */
  rating_va?: number;
}

export function syntheticFeeder(opts: SyntheticOptions): Network {
  const n = opts.buses;
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError('a feeder needs at least 2 buses');
  const rand = mulberry32(opts.seed ?? 1);
  const parent: number[] = [-1];
  const depth: number[] = [0];
  for (let i = 1; i < n; i++) {
    // Mostly extend the newest line; sometimes start a lateral from an earlier bus.
    const p = rand() < 0.75 ? i - 1 : Math.floor(rand() * i);
    parent.push(p);
    depth.push(depth[p] + 1);
  }
  const maxDepth = Math.max(...depth);
  const totalLoad = opts.total_load_w ?? 4e6;
  const weights = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 0.2 + rand()));
  const wSum = weights.reduce((a, b) => a + b, 0);
  // Section impedance shrinks with depth so that the end-of-feeder voltage drop stays ~5-8%.
  const zScale = 8 / maxDepth;
  const input: NetworkInput = {
    name: `synthetic-${n}`,
    base_voltage_v: (opts.base_kv ?? 12.47) * 1000,
    buses: Array.from({ length: n }, (_, i) => ({
      id: `b${i}`,
      type: i === 0 ? 'slack' : 'pq',
      vmin_pu: 0.9,
      vmax_pu: 1.1,
    })),
    branches: Array.from({ length: n - 1 }, (_, k) => {
      const i = k + 1;
      const r = (0.2 + 0.6 * rand()) * zScale;
      return {
        from_bus: `b${parent[i]}`,
        to_bus: `b${i}`,
        r_ohm: r,
        x_ohm: r * (0.6 + 0.8 * rand()),
        ...(opts.rating_va !== undefined ? { rating_va: opts.rating_va } : {}),
      };
    }),
    loads: weights
      .map((w, i) => ({ bus: `b${i}`, p_w: (totalLoad * w) / wSum, q_var: (0.4 * totalLoad * w) / wSum }))
      .filter((l) => l.p_w > 0),
  };
  return buildNetwork(input);
}
