import type { BidPriceLimits } from '../../../protocols/market/td-interface.ts';
import type { Step } from '../model/bids.ts';
import type { CompiledFeeder } from './feeder.ts';

/**
 * What goes into an area clearing and what comes out (clearing.ts solves it; aggregation, curves,
 * losses, real time and grid services build or read these shapes without the solver).
 */

export type AncillaryProduct = 'reg_up' | 'reg_down' | 'reserve';
export const ANCILLARY_PRODUCTS: readonly AncillaryProduct[] = ['reg_up', 'reg_down', 'reserve'];

export type { BidPriceLimits };

export interface ClearingResource {
  readonly id: string;
  readonly bus: string;
  /** Per period: offer steps (inject more). Empty array = no offer. */
  readonly sell: readonly (readonly Step[])[];
  /** Per period: bid steps (withdraw more). */
  readonly buy: readonly (readonly Step[])[];
  readonly storage?: {
    readonly energyWh: number;
    readonly soc0Wh: number;
    readonly efficiency: number;
    /** Floor on the state of charge at the end of the horizon (default: the initial charge). */
    readonly endSocMinWh?: number;
  };
  readonly ancillary?: Partial<Record<AncillaryProduct, readonly (readonly Step[])[]>>;
  /**
   * Registered capability (W, both >= 0). Only read where grid-service calls are linked to the
   * resource (`serviceOf`): in those periods one row keeps its net power plus the calls within it.
   */
  readonly capability?: { readonly maxInjectW: number; readonly maxWithdrawW: number };
  /**
   * Id of the resource whose DSO grid-service call this is (grid-services.ts). Its columns join that
   * resource's state-of-charge rows (at its efficiency) and capability row, so the energy schedule
   * plus the call is feasible for the device. Unknown id: the call clears on its own.
   */
  readonly serviceOf?: string;
}

export interface ClearingInput {
  readonly feeder: CompiledFeeder | null;
  readonly periods: number;
  readonly durationH: number;
  /** Interface (ISO) price per period, $/MWh. */
  readonly interfacePrice: readonly number[];
  /** Substation transformer limit on |import|, W. */
  readonly interfaceLimitW?: number;
  /** Non-participating net load per bus per period (W, positive = consumption; forecast, not bid). */
  readonly fixedLoadW: ReadonlyMap<string, readonly number[]>;
  /** Reactive consumption per bus per period (var); default: loads at power factor 0.95. */
  readonly fixedLoadVar?: ReadonlyMap<string, readonly number[]>;
  readonly resources: readonly ClearingResource[];
  /** ISO ancillary awards to the area that resources must cover (W per period). */
  readonly ancillaryRequirementW?: Partial<Record<AncillaryProduct, readonly number[]>>;
  /** Linearized branch losses from an AC power flow (losses.ts); absent = lossless. */
  readonly losses?: BranchLossLinearization;
  /**
   * Default true: merge energy-only resources per bus (exact, see aggregate.ts) and start the simplex
   * from the price-taking basis. False: the straightforward LP, every step its own column, HiGHS's
   * own cold start (the reference the fast path is tested against).
   */
  readonly fast?: boolean;
}

/**
 * Per period and compiled bus i (its feeding branch): loss = factor * F_i + constant, where F_i is
 * the receiving-end flow into bus i (per unit MW). The parent's balance row then carries
 * (1 + factor) F_i and the constant, so marginal losses price into the DLMPs.
 */
export interface BranchLossLinearization {
  readonly factor: readonly Float64Array[];
  readonly constantMw: readonly Float64Array[];
}

export interface BusPrice {
  readonly dlmp: number;
  readonly energy: number;
  readonly loss: number;
  readonly congestion: number;
  readonly voltage: number;
}

export interface ClearingResult {
  readonly objective: number;
  readonly interfaceImportW: number[];
  /** prices[t].get(bus) */
  readonly prices: Map<string, BusPrice>[];
  readonly schedules: Map<string, { netW: number[]; socWh?: number[] }>;
  readonly ancillaryAwards: Map<string, Partial<Record<AncillaryProduct, number[]>>>;
  /** Marginal value of the ancillary requirement inside the area (scarcity-priced when all offers are taken); settlement passes the ISO price through. */
  readonly ancillaryPrice: Partial<Record<AncillaryProduct, number[]>>;
  readonly shedW: number[];
  readonly spillW: number[];
  readonly bigCounts: { cols: number; rows: number };
}
