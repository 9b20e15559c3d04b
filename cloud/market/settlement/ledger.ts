import { type Cents, CLEARING, energyCents, roundCents, sumCents } from '../model/money.ts';
import type { Books, LedgerEntry } from '../model/records.ts';
import { checkSurplus, type SurplusCheck, type SurplusExpectation } from './surplus.ts';

export { CLEARING };

/**
 * Settlement as a double-entry ledger in integer cents.
 *
 * Every energy or service position is settled against the DMO's market clearing account: a seller
 * is paid from it, a buyer pays into it, the ISO is paid for the area's import (or pays for its
 * export). What remains in the clearing account after a period must be the congestion and loss
 * surplus by definition (surplus.ts, prices x quantities by bus), to the rounding of its lines; only
 * then is it paid to the DGO/utility that owns the network, so the clearing account ends every period
 * at zero. A mismatch is a SettlementMismatch (SETTLEMENT_MISMATCH): the period does not close. Fees (DMO revenue model, wheeling) are separate double entries. Each
 * line is rounded to the cent once, when it is created.
 */

export type RevenueModel =
  | { readonly kind: 'subscription'; readonly centsPerParticipantPerDay: number }
  | { readonly kind: 'transaction'; readonly centsPerMWh: number }
  | { readonly kind: 'network_use'; readonly centsPerMWh: number };

export interface FeeConfig {
  /** How the DMO is paid. */
  readonly dmo: RevenueModel;
  /** Wheeling charge to the utility per MWh withdrawn by participants (cents). */
  readonly wheelingCentsPerMWh: number;
}

export class Ledger implements Books {
  readonly entries: LedgerEntry[] = [];
  /** The surplus check of every closed period. */
  readonly surplusChecks: SurplusCheck[] = [];

  /** Records a position worth `energyWh` at `price` from the account's point of view: positive energy = sold to the market. */
  energy(
    period: number,
    account: string,
    energyWh: number,
    price: number,
    kind: LedgerEntry['kind'],
    ref?: string,
    counterparty: string = CLEARING,
  ): Cents {
    const c = energyCents(energyWh, price); // > 0: the counterparty owes the account
    this.transfer(period, counterparty, account, c, kind, ref);
    return c;
  }

  /** Books `cents` from `from` to `to` (negative amounts reverse the direction). */
  transfer(
    period: number,
    from: string,
    to: string,
    cents: Cents,
    kind: LedgerEntry['kind'],
    ref?: string,
  ): void {
    if (!Number.isInteger(cents)) throw new RangeError(`ledger amounts are integer cents, got ${cents}`);
    // A self-payment moves nothing (e.g. the utility trading its own DER in model 6 owes itself wheeling).
    if (cents === 0 || from === to) return;
    this.entries.push(
      cents > 0
        ? { period, from, to, cents, kind, ...(ref ? { ref } : {}) }
        : { period, from: to, to: from, cents: -cents, kind, ...(ref ? { ref } : {}) },
    );
  }

  /** Net position of every account in a period (received minus paid), cents. */
  balances(period?: number): Map<string, Cents> {
    const m = new Map<string, Cents>();
    for (const e of this.entries) {
      if (period !== undefined && e.period !== period) continue;
      m.set(e.from, (m.get(e.from) ?? 0) - e.cents);
      m.set(e.to, (m.get(e.to) ?? 0) + e.cents);
    }
    return m;
  }

  /**
   * Closes a period: checks what is left in the clearing account against the period's congestion and
   * loss surplus by definition (`expected`, from surplus.ts `expectedSurplus`), throws
   * SettlementMismatch beyond rounding, and only then pays the rest (the congestion surplus, within
   * the tolerance of its definition) to the network owner. Returns the amount paid.
   */
  closePeriod(period: number, networkOwner: string, expected: SurplusExpectation): Cents {
    this.surplusChecks.push(checkSurplus(this.entries, period, networkOwner, expected));
    const residual = this.balances(period).get(CLEARING) ?? 0;
    this.transfer(period, CLEARING, networkOwner, residual, 'congestion_surplus');
    return residual;
  }

  periods(): number[] {
    return [...new Set(this.entries.map((e) => e.period))].sort((a, b) => a - b);
  }
}

/** DMO and wheeling fees of one participant in one period. */
export function chargeFees(
  ledger: Ledger,
  period: number,
  participant: string,
  tradedWh: number,
  withdrawnWh: number,
  fees: FeeConfig,
  dmo: string,
  utility: string,
  firstPeriodOfDay: boolean,
): void {
  const m = fees.dmo;
  if (m.kind === 'subscription') {
    if (firstPeriodOfDay)
      ledger.transfer(period, participant, dmo, roundCents(m.centsPerParticipantPerDay), 'dmo_fee');
  } else if (m.kind === 'transaction') {
    ledger.transfer(
      period,
      participant,
      dmo,
      roundCents((Math.abs(tradedWh) / 1e6) * m.centsPerMWh),
      'dmo_fee',
    );
  } else {
    ledger.transfer(
      period,
      participant,
      dmo,
      roundCents((Math.max(0, withdrawnWh) / 1e6) * m.centsPerMWh),
      'dmo_fee',
    );
  }
  ledger.transfer(
    period,
    participant,
    utility,
    roundCents((Math.max(0, withdrawnWh) / 1e6) * fees.wheelingCentsPerMWh),
    'network_use',
  );
}

/** `chargeFees` for every participant of a period, from their traded and withdrawn energy (Wh). */
export function chargeFeesAll(
  ledger: Ledger,
  period: number,
  participants: Iterable<string>,
  tradedWh: ReadonlyMap<string, number>,
  withdrawnWh: ReadonlyMap<string, number>,
  fees: FeeConfig,
  dmo: string,
  utility: string,
  firstPeriodOfDay: boolean,
): void {
  for (const p of participants)
    chargeFees(
      ledger,
      period,
      p,
      tradedWh.get(p) ?? 0,
      withdrawnWh.get(p) ?? 0,
      fees,
      dmo,
      utility,
      firstPeriodOfDay,
    );
}

export interface BooksCheck {
  readonly period: number;
  /** Sum over all accounts of their net positions: zero for a balanced period. */
  readonly sumCents: Cents;
  readonly clearingCents: Cents;
  readonly surplusCents: Cents;
  readonly balanced: boolean;
}

/** The books balance: every period's positions sum to zero and the clearing account is empty. */
export function checkBooks(ledger: Ledger): BooksCheck[] {
  return ledger.periods().map((p) => {
    const b = ledger.balances(p);
    const total = sumCents(b.values());
    const clearing = b.get(CLEARING) ?? 0;
    const surplus = sumCents(
      ledger.entries
        .filter((e) => e.period === p && e.kind === 'congestion_surplus')
        .map((e) => (e.from === CLEARING ? e.cents : -e.cents)),
    );
    return {
      period: p,
      sumCents: total,
      clearingCents: clearing,
      surplusCents: surplus,
      balanced: total === 0 && clearing === 0,
    };
  });
}

/** Totals per account over all periods, with per-kind breakdown. */
export function totalsByAccount(ledger: Ledger): Map<string, { net: Cents; byKind: Record<string, Cents> }> {
  const m = new Map<string, { net: Cents; byKind: Record<string, Cents> }>();
  const add = (acct: string, kind: string, c: Cents) => {
    let e = m.get(acct);
    if (!e) {
      e = { net: 0, byKind: {} };
      m.set(acct, e);
    }
    e.net += c;
    e.byKind[kind] = (e.byKind[kind] ?? 0) + c;
  };
  for (const e of ledger.entries) {
    add(e.from, e.kind, -e.cents);
    add(e.to, e.kind, e.cents);
  }
  return m;
}
