import { z } from 'zod';

/**
 * What a DSO and the ISO exchange at the transmission-distribution (T-D) interface in the layered
 * "Total DSO" market: the DSO's consolidated bid curve and ancillary offers up, the ISO's awards and
 * LMPs down. Powers in W (positive import = the distribution area draws from transmission), prices
 * $/MWh, times UTC epoch ms.
 */

export const AncillaryProductSchema = z.enum(['reg_up', 'reg_down', 'reserve']);
export type AncillaryProductName = z.infer<typeof AncillaryProductSchema>;

const point = z.object({ price_per_mwh: z.number().finite(), import_w: z.number().finite() });
const step = z.object({ quantity_w: z.number().finite().positive(), price_per_mwh: z.number().finite() });

export const TdHourBidSchema = z
  .object({
    interval_start: z.number().int(),
    /** Net import at each price; prices ascending, import non-increasing (the area buys less when dear). */
    points: z.array(point).min(1),
    ancillary: z.array(z.object({ product: AncillaryProductSchema, steps: z.array(step) })).default([]),
  })
  .superRefine((h, ctx) => {
    for (let i = 1; i < h.points.length; i++) {
      if (h.points[i].price_per_mwh <= h.points[i - 1].price_per_mwh) {
        ctx.addIssue({ code: 'custom', message: `point ${i}: prices must ascend`, path: ['points', i] });
      }
      if (h.points[i].import_w > h.points[i - 1].import_w + 1e-6) {
        ctx.addIssue({
          code: 'custom',
          message: `point ${i}: import must not rise with price`,
          path: ['points', i],
        });
      }
    }
  });

/**
 * The ISO's limits on bid prices, $/MWh (CAISO: -150 / 1,000): curve points outside them are
 * refused, so a DSO samples its curve only inside them.
 */
export interface BidPriceLimits {
  readonly floorPerMWh: number;
  readonly capPerMWh: number;
}

export const TdBidSchema = z.object({
  dso: z.string().min(1),
  interface_id: z.string().min(1),
  hours: z.array(TdHourBidSchema).min(1),
});
export type TdBid = z.input<typeof TdBidSchema>;

export interface TdHourAward {
  readonly interval_start: number;
  readonly import_w: number;
  readonly lmp_per_mwh: number;
  readonly ancillary: Partial<Record<AncillaryProductName, { award_w: number; price_per_mwh: number }>>;
}

export interface TdAward {
  readonly dso: string;
  readonly interface_id: string;
  readonly hours: TdHourAward[];
}
