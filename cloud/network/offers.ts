import { z } from 'zod';

/**
 * A flexibility offer at a bus, relative to the base case (the bus's loads and fixed DERs).
 *
 * - `up`: the resource can raise its net injection (generate more or consume less) by up to
 *   `quantity_w`, and asks `price_per_mwh` for it. Cleared where the DLMP is above the price.
 * - `down`: the resource can lower its net injection (generate less or consume more) by up to
 *   `quantity_w`, and is willing to pay `price_per_mwh` for that energy (a bid; curtailing PV that
 *   wants 20 $/MWh for curtailment bids -20). Cleared where the DLMP is below the price.
 *
 * With this reading the DLMP is one nodal price for both directions and the clearing is
 * consistent with it: the marginal offer at a bus sets that bus's price.
 */
export interface Offer {
  readonly id: string;
  readonly bus: string;
  readonly direction: 'up' | 'down';
  readonly quantity_w: number;
  readonly price_per_mwh: number;
}

export const OfferSchema = z.object({
  id: z.string().min(1),
  bus: z.string().min(1),
  direction: z.enum(['up', 'down']),
  quantity_w: z.number().positive(),
  price_per_mwh: z.number(),
});
