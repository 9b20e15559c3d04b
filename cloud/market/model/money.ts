/**
 * Money in the market is kept in integer cents (JS numbers holding integers; exact up to 2^53 cents,
 * i.e. ~90 trillion dollars). Prices are $/MWh (floats, as bid); power is W and energy Wh (SI).
 *
 * Each settlement line is rounded to the cent exactly once, here, half away from zero. Everything
 * after that (ledger sums, balances, fees on cents) is integer arithmetic, so the books balance to
 * the cent by construction and any rounding shows up in one named place (the clearing account's
 * residual, which is the congestion/loss surplus).
 */

export type Cents = number;

/** The DMO's market clearing account: every position settles against it (settlement/ledger.ts). */
export const CLEARING = 'dmo:clearing';

/** Value of `energyWh` at `pricePerMWh`, in cents, rounded once. */
export function energyCents(energyWh: number, pricePerMWh: number): Cents {
  return roundCents((energyWh / 1e6) * pricePerMWh * 100);
}

/** Value of a constant power `w` held for `hours` at `pricePerMWh`, in cents. */
export function powerCents(w: number, hours: number, pricePerMWh: number): Cents {
  return energyCents(w * hours, pricePerMWh);
}

export function roundCents(x: number): Cents {
  if (!Number.isFinite(x)) throw new RangeError(`money amount is not finite: ${x}`);
  const r = Math.sign(x) * Math.round(Math.abs(x));
  return r === 0 ? 0 : r; // no -0 in the books
}

export function formatCents(c: Cents): string {
  const sign = c < 0 ? '-' : '';
  const a = Math.abs(c);
  return `${sign}$${Math.floor(a / 100).toLocaleString('en-US')}.${String(a % 100).padStart(2, '0')}`;
}

export function sumCents(values: Iterable<Cents>): Cents {
  let s = 0;
  for (const v of values) {
    if (!Number.isInteger(v)) throw new RangeError(`not an integer number of cents: ${v}`);
    s += v;
  }
  return s;
}
