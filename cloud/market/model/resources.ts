import { z } from 'zod';

/**
 * DER resources as the market sees them: where they connect, what they can do (registered
 * capability), who owns them, who represents them, and how far the utility's interconnection process
 * got. Only `certified` resources may bid or be dispatched.
 */

export type ResourceKind = 'pv' | 'battery' | 'flex_load' | 'generator' | 'ev';
/** applied: known to the utility, not yet registered; registered: in the DER registry; certified: interconnection approved. */
export type ResourceStatus = 'applied' | 'registered' | 'certified' | 'suspended';

export const ResourceSchema = z
  .object({
    id: z.string().min(1),
    owner: z.string().min(1),
    /** Aggregator that represents the resource in the market, if any. */
    aggregator: z.string().min(1).optional(),
    kind: z.enum(['pv', 'battery', 'flex_load', 'generator', 'ev']),
    /** Network bus the resource connects to. */
    bus: z.string().min(1),
    /** Registered capability: most it may inject (W, >= 0). */
    max_inject_w: z.number().finite().nonnegative(),
    /** Registered capability: most it may withdraw (W, >= 0). */
    max_withdraw_w: z.number().finite().nonnegative(),
    /** Storage: usable energy (Wh), initial state of charge (Wh), one-way efficiency. */
    energy_wh: z.number().finite().positive().optional(),
    soc0_wh: z.number().finite().nonnegative().optional(),
    efficiency: z.number().gt(0).lte(1).optional(),
    status: z.enum(['applied', 'registered', 'certified', 'suspended']),
  })
  .refine((r) => r.soc0_wh === undefined || (r.energy_wh !== undefined && r.soc0_wh <= r.energy_wh), {
    message: 'soc0_wh needs energy_wh and must not exceed it',
  });

export type Resource = z.infer<typeof ResourceSchema>;

export function isStorage(r: Resource): boolean {
  return r.energy_wh !== undefined;
}

export class ResourceRegistry {
  readonly #items = new Map<string, Resource>();

  constructor(resources: Iterable<Resource> = []) {
    for (const r of resources) this.add(r);
  }

  add(input: Resource): Resource {
    const r = ResourceSchema.parse(input);
    if (this.#items.has(r.id)) throw new RangeError(`resource "${r.id}" is already registered`);
    this.#items.set(r.id, Object.freeze(r));
    return r;
  }

  get(id: string): Resource | undefined {
    return this.#items.get(id);
  }

  /** The utility certifies interconnection; only then may the resource bid or be dispatched. */
  setStatus(id: string, status: ResourceStatus): Resource {
    const r = this.#items.get(id);
    if (!r) throw new RangeError(`unknown resource "${id}"`);
    const next = Object.freeze({ ...r, status });
    this.#items.set(id, next);
    return next;
  }

  all(): Resource[] {
    return [...this.#items.values()];
  }

  get size(): number {
    return this.#items.size;
  }
}
