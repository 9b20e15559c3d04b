import { MarketServiceError } from '../model/errors.ts';
import { CLEARING } from '../model/money.ts';
import type { LedgerEntry } from '../model/records.ts';

/**
 * The congestion and loss surpluses of one settlement period from their definitions, and the check
 * that the clearing account holds exactly that before it is emptied.
 *
 * Every position settles against the DMO's clearing account (ledger.ts). With prices by bus
 * (DLMP = energy + loss + congestion + voltage components) what the account holds after a period is,
 * by definition, with W_b the energy withdrawn net at bus b (withdrawal − injection, Wh), I the
 * interface import (Wh) and λ_ref the interface price:
 *
 *   congestion surplus = Σ_b (congestion_b + voltage_b) · W_b          (positions settled at the DLMP)
 *   loss surplus       = Σ_b (energy_b + loss_b) · W_b − λ_ref · I      (every position)
 *
 * Grid-service energy is paid at energy + loss only (it carries no congestion component), so it
 * enters the loss term, not the congestion term. With one price for everyone (the wholesale and P2P
 * models) both are zero when the period's energy balances (Σ W = I). Ancillary and bilateral
 * transfers through the clearing account pass through: they contribute nothing by definition.
 *
 * These figures come from the quantities and the published bus prices, never from the ledger lines,
 * so a line booked at a wrong price or for a wrong quantity leaves the account holding something
 * else, and `Ledger.closePeriod` refuses to sweep it (SETTLEMENT_MISMATCH) instead of paying it to
 * the DGO as surplus.
 *
 * Tolerance: each ledger line is rounded to the cent once (half a cent at most), so the account may
 * differ from the definition by at most half a cent per line that touches it; the check allows
 * ⌈n / 2⌉ cents for n such lines (1 cent at least), and nothing more.
 */

export interface BusPriceComponents {
  readonly dlmp: number;
  readonly energy: number;
  readonly loss: number;
  readonly congestion: number;
  readonly voltage: number;
}

export interface SurplusQuantities {
  /** Price of bus b in the period ($/MWh); a single-price market passes the same price for every bus. */
  readonly priceAt: (bus: string) => BusPriceComponents;
  /** Interface price λ_ref ($/MWh). */
  readonly refPricePerMWh: number;
  /** Interface import in the period (Wh, + = into the area). */
  readonly importWh: number;
  /** Net withdrawals settled at their bus's DLMP (Wh, + = withdrawn from the grid; a bus may repeat). */
  readonly atDlmp: Iterable<readonly [string, number]>;
  /** Net withdrawals settled at energy + loss only (grid-service energy, Wh). */
  readonly atEnergyAndLoss?: Iterable<readonly [string, number]>;
}

/** A period's surpluses by definition (cents, unrounded). */
export interface SurplusExpectation {
  readonly congestionCents: number;
  readonly lossCents: number;
}

export const NO_SURPLUS: SurplusExpectation = { congestionCents: 0, lossCents: 0 };

/** Two parts of one settlement period (e.g. its day-ahead hour and its real-time intervals). */
export const addSurplus = (a: SurplusExpectation, b: SurplusExpectation): SurplusExpectation => ({
  congestionCents: a.congestionCents + b.congestionCents,
  lossCents: a.lossCents + b.lossCents,
});

export function expectedSurplus(q: SurplusQuantities): SurplusExpectation {
  let congestion = 0;
  let loss = 0;
  for (const [bus, wh] of q.atDlmp) {
    const p = q.priceAt(bus);
    congestion += (wh / 1e6) * (p.congestion + p.voltage);
    loss += (wh / 1e6) * (p.energy + p.loss);
  }
  for (const [bus, wh] of q.atEnergyAndLoss ?? []) {
    const p = q.priceAt(bus);
    loss += (wh / 1e6) * (p.energy + p.loss);
  }
  loss -= (q.importWh / 1e6) * q.refPricePerMWh;
  return { congestionCents: congestion * 100, lossCents: loss * 100 };
}

/** Uniform price: every bus at `price` with no loss, congestion or voltage component. */
export const uniformPrice =
  (price: number) =>
  (_bus: string): BusPriceComponents => ({ dlmp: price, energy: price, loss: 0, congestion: 0, voltage: 0 });

export interface SurplusCheck {
  readonly period: number;
  /** What the clearing account held before any surplus line (cents). */
  readonly heldCents: number;
  readonly expected: SurplusExpectation;
  /** Surplus lines already booked to the network owner (loss_surplus) before the close. */
  readonly bookedLossCents: number;
  readonly toleranceCents: number;
  /** Ledger lines touching the clearing account (each rounded once). */
  readonly lines: number;
}

/**
 * The settlement of a period does not match the definition of its surpluses: a price or quantity
 * was booked wrong. The period is not closed; nothing is swept.
 */
export class SettlementMismatch extends MarketServiceError {
  constructor(readonly check: SurplusCheck) {
    const exp = check.expected.congestionCents + check.expected.lossCents;
    super(
      'SETTLEMENT_MISMATCH',
      `period ${new Date(check.period).toISOString()}: the clearing account holds ${check.heldCents} c ` +
        `but congestion (${check.expected.congestionCents.toFixed(2)} c) + loss (${check.expected.lossCents.toFixed(2)} c) ` +
        `surplus by definition is ${exp.toFixed(2)} c (tolerance ${check.toleranceCents} c for ${check.lines} rounded lines); ` +
        'a price or quantity was settled wrong, the period is not closed',
    );
  }
}

/**
 * Checks the period's clearing account against the definition; throws SettlementMismatch beyond the
 * rounding tolerance (the whole account, and the loss line when one was booked). Returns the check.
 */
export function checkSurplus(
  entries: readonly LedgerEntry[],
  period: number,
  networkOwner: string,
  expected: SurplusExpectation,
): SurplusCheck {
  let balance = 0;
  let lines = 0;
  let bookedLoss = 0;
  let lossLines = 0;
  for (const e of entries) {
    if (e.period !== period || (e.from !== CLEARING && e.to !== CLEARING)) continue;
    const signed = e.to === CLEARING ? e.cents : -e.cents;
    if (e.kind === 'loss_surplus' && e.from === CLEARING && e.to === networkOwner) {
      bookedLoss += e.cents;
      lossLines++;
      continue;
    }
    if (e.kind === 'congestion_surplus') continue;
    balance += signed;
    lines++;
  }
  // Zero-cent lines are never booked: a period whose positions all rounded away has no line at all.
  const toleranceCents = Math.max(1, Math.ceil(lines / 2));
  const check: SurplusCheck = {
    period,
    heldCents: balance,
    expected,
    bookedLossCents: bookedLoss,
    toleranceCents,
    lines,
  };
  const exp = expected.congestionCents + expected.lossCents;
  if (!(Math.abs(balance - exp) <= toleranceCents)) throw new SettlementMismatch(check);
  // A loss line booked from its own computation must be the definition's loss, to its rounding.
  if (lossLines > 0 && !(Math.abs(bookedLoss - expected.lossCents) <= toleranceCents + lossLines))
    throw new SettlementMismatch(check);
  return check;
}
