import { roundCents } from '../model/money.ts';
import { HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import { type FeeConfig, Ledger } from './ledger.ts';
import { expectedSurplus } from './surplus.ts';

/**
 * The metered leg of the two-settlement system, per 5-minute settlement period.
 *
 * Day-ahead quantities were settled at DA prices when the DA market cleared; the real-time run
 * settled (RT schedule - DA schedule) at the RT DLMP. This leg settles what the meter says against
 * the latest schedule: (metered - RT schedule, or DA schedule without an RT run) at the same RT DLMP
 * (the DA DLMP of the hour when no RT run priced the interval). The RT run and this leg together are
 * exactly (metered - DA) at RT prices: two-settlement.
 *
 * The area's own imbalance is the mirror image at the T-D interface: the ISO settles minus the sum
 * of the participants' imbalances at the interface price (non-participating load is a forecast, not
 * metered here). Fees true up on metered quantities: transaction fee on |imbalance|; network-use and
 * wheeling on the metered withdrawal beyond the scheduled one (negative = refund). The rest of the
 * clearing account must be Σ (DLMP − interface price) × net withdrawal by bus (settlement/surplus.ts)
 * to the rounding of its lines; only then is it paid to the DGO, and a mismatch stops the close.
 */

export interface MeteredPosition {
  readonly resource: string;
  readonly account: string;
  readonly bus: string;
  /** Net schedule the imbalance is measured against, per period (W, + = into the grid). */
  readonly scheduleW: readonly number[];
  /** Delivered net energy per period (Wh), or null when unmeasured (settled at schedule). */
  readonly deliveredWh: readonly (number | null)[];
}

export interface MeteredSettlementInput {
  readonly hourStart: number;
  readonly positions: readonly MeteredPosition[];
  /** Settlement price at a bus for a period ($/MWh). */
  readonly priceAt: (bus: string, period: number) => number;
  readonly interfacePriceAt: (period: number) => number;
  readonly iso: string;
  readonly dgo: string;
  readonly dmo: string;
  readonly fees: FeeConfig;
}

export interface MeteredLine {
  readonly resource: string;
  readonly account: string;
  readonly period: number;
  readonly scheduleWh: number;
  readonly deliveredWh: number | null;
  readonly imbalanceWh: number;
  readonly pricePerMWh: number;
  readonly cents: number;
}

export const SETTLEMENT_PERIODS_PER_HOUR = HOUR_MS / RT_INTERVAL_MS;

export function settleMetered(inp: MeteredSettlementInput): { ledger: Ledger; lines: MeteredLine[] } {
  const ledger = new Ledger();
  const lines: MeteredLine[] = [];
  const dur = RT_INTERVAL_MS / HOUR_MS;
  for (let k = 0; k < SETTLEMENT_PERIODS_PER_HOUR; k++) {
    const period = inp.hourStart + k * RT_INTERVAL_MS;
    let areaImbalanceWh = 0;
    const atDlmp: [string, number][] = [];
    const imbalance = new Map<string, number>();
    const extraWithdrawn = new Map<string, number>();
    for (const p of inp.positions) {
      const scheduleWh = p.scheduleW[k] * dur;
      const delivered = p.deliveredWh[k];
      const imb = delivered === null ? 0 : delivered - scheduleWh;
      const price = inp.priceAt(p.bus, period);
      const cents = ledger.energy(period, p.account, imb, price, 'rt_deviation', `metered:${p.resource}`);
      lines.push({
        resource: p.resource,
        account: p.account,
        period,
        scheduleWh,
        deliveredWh: delivered,
        imbalanceWh: imb,
        pricePerMWh: price,
        cents,
      });
      areaImbalanceWh += imb;
      atDlmp.push([p.bus, -imb]);
      imbalance.set(p.account, (imbalance.get(p.account) ?? 0) + Math.abs(imb));
      if (delivered !== null)
        extraWithdrawn.set(
          p.account,
          (extraWithdrawn.get(p.account) ?? 0) + Math.max(0, -delivered) - Math.max(0, -scheduleWh),
        );
    }
    ledger.energy(
      period,
      inp.iso,
      -areaImbalanceWh,
      inp.interfacePriceAt(period),
      'rt_deviation',
      'interface',
    );
    for (const [acct, absWh] of imbalance) {
      const extra = extraWithdrawn.get(acct) ?? 0;
      const m = inp.fees.dmo;
      if (m.kind === 'transaction')
        ledger.transfer(period, acct, inp.dmo, roundCents((absWh / 1e6) * m.centsPerMWh), 'dmo_fee');
      else if (m.kind === 'network_use')
        ledger.transfer(period, acct, inp.dmo, roundCents((extra / 1e6) * m.centsPerMWh), 'dmo_fee');
      ledger.transfer(
        period,
        acct,
        inp.dgo,
        roundCents((extra / 1e6) * inp.fees.wheelingCentsPerMWh),
        'network_use',
      );
    }
    // The metered leg knows each bus's settlement price, not its components: the whole difference
    // from the interface price is reported as congestion (loss is zero at the mirrored interface).
    const ref = inp.interfacePriceAt(period);
    ledger.closePeriod(
      period,
      inp.dgo,
      expectedSurplus({
        priceAt: (bus) => {
          const dlmp = inp.priceAt(bus, period);
          return { dlmp, energy: ref, loss: 0, congestion: dlmp - ref, voltage: 0 };
        },
        refPricePerMWh: ref,
        importWh: -areaImbalanceWh,
        atDlmp,
      }),
    );
  }
  return { ledger, lines };
}
