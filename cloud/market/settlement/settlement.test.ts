import assert from 'node:assert/strict';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { energyCents, formatCents } from '../model/money.ts';
import { simulateMarket } from '../simulate/simulate.ts';
import { tenOfTenBaseline } from './baseline.ts';
import { CLEARING, chargeFees, checkBooks, Ledger } from './ledger.ts';
import { SettlementMismatch } from './surplus.ts';

describe('settlement and M&V', () => {
  it('rounds each line once and formats money', () => {
    assert.equal(energyCents(1500, 33.333), 5); // 1.5 kWh at 33.333 $/MWh = 4.99995 c
    assert.equal(energyCents(-1500, 33.333), -5);
    assert.equal(formatCents(-123456), '-$1,234.56');
  });

  it('books no line where an account pays itself (the utility trading its own DER owes itself wheeling)', () => {
    const l = new Ledger();
    const fees = { dmo: { kind: 'transaction' as const, centsPerMWh: 5000 }, wheelingCentsPerMWh: 800 };
    chargeFees(l, 0, 'utility', 2000, 2000, fees, 'dso', 'utility', false);
    assert.deepEqual(
      l.entries.map((e) => [e.from, e.to, e.cents, e.kind]),
      [['utility', 'dso', 10, 'dmo_fee']],
    );
  });

  it('balances a two-settlement period with congestion surplus to the cent', () => {
    const l = new Ledger();
    // DA: generator behind congestion sells 700 kW at 60, load buys 1.2 MW at 60, ISO sells 500 kW at 40.
    l.energy(0, 'gen', 700e3, 60, 'da_energy');
    l.energy(0, 'lse', -1.2e6, 60, 'da_energy');
    l.energy(0, 'iso', 500e3, 40, 'da_energy');
    // RT: generator 10 kW short for 5 minutes at 75 $/MWh, the ISO covers it at 41.37.
    l.energy(0, 'gen', -10e3 / 12, 75, 'rt_deviation');
    l.energy(0, 'iso', 10e3 / 12, 41.37, 'rt_deviation');
    chargeFees(
      l,
      0,
      'gen',
      700e3,
      0,
      { dmo: { kind: 'transaction', centsPerMWh: 100 }, wheelingCentsPerMWh: 500 },
      'dmo',
      'util',
      true,
    );
    chargeFees(
      l,
      0,
      'lse',
      1.2e6,
      1.2e6,
      { dmo: { kind: 'transaction', centsPerMWh: 100 }, wheelingCentsPerMWh: 500 },
      'dmo',
      'util',
      true,
    );
    // Congestion rent = (60 - 40) $/MWh x 0.5 MW = $10; RT: 10/12 kWh x (75 - 41.37) = 2.80 c.
    const surplus = l.closePeriod(0, 'util', { congestionCents: 1000 + 2.8025, lossCents: 0 });
    assert.equal(surplus, 1000 + 3);
    const [check] = checkBooks(l);
    assert.deepEqual(check, { period: 0, sumCents: 0, clearingCents: 0, surplusCents: 1003, balanced: true });
    assert.equal(l.balances(0).get('dmo'), 70 + 120);
    assert.equal(l.balances(0).get(CLEARING), 0);
  });

  it('computes the 10-of-10 baseline with day-of adjustment on a constructed case', () => {
    const flat = (w: number) => Array(24).fill(w);
    // Days 1..12 before the event: the 10 most recent (days 3..12) average 1000 W; older days are 5000 W.
    const history = [
      { day: 1, hourlyW: flat(5000) },
      { day: 2, hourlyW: flat(5000) },
      ...Array.from({ length: 10 }, (_, i) => ({ day: 3 + i, hourlyW: flat(i % 2 ? 900 : 1100) })),
    ];
    // Event 14:00-16:00; adjustment window 10:00-12:00 reads 1100 W (ratio 1.1); event hours 600 W.
    const ev = flat(1100).map((w, h) => (h >= 14 && h < 16 ? 600 : w));
    const r = tenOfTenBaseline(history, { day: 13, hourlyW: ev }, { start: 14, end: 16 });
    assert.deepEqual(r.usedDays, [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
    assert.ok(Math.abs(r.adjustment - 1.1) < 1e-12);
    assert.deepEqual(
      r.reductionW.map((w) => Math.round(w)),
      [500, 500],
    );
    // The adjustment is capped at +20%.
    const hot = flat(2000).map((w, h) => (h >= 14 && h < 16 ? 600 : w));
    const capped = tenOfTenBaseline(history, { day: 13, hourlyW: hot }, { start: 14, end: 16 });
    assert.equal(capped.adjustment, 1.2);
    assert.throws(
      () => tenOfTenBaseline(history.slice(5), { day: 13, hourlyW: ev }, { start: 14, end: 16 }),
      /needs 10/,
    );
  });

  it('keeps the books of a simulated nodal day balanced to the cent in every period', async () => {
    const r = await simulateMarket({
      model: 4,
      sites: 6,
      days: 1,
      seed: 9,
      iso: new WholesaleMarket({ seed: 9 }),
    });
    assert.equal(r.books.periods, 24);
    assert.equal(r.books.balanced, true);
    assert.equal(r.books.max_abs_sum_cents, 0);
    assert.equal(r.books.max_abs_clearing_cents, 0);
    const total = r.participants.reduce((s, p) => s + p.net_cents, 0);
    assert.equal(total, 0, 'all accounts together net to zero');
  });

  it('the simulated day’s books check can fail: the ISO paid 1.5 x the LMP for the area’s import stops the first hour', async () => {
    const energy = Ledger.prototype.energy;
    let hits = 0;
    Ledger.prototype.energy = function (this: Ledger, period, account, wh, price, kind, ref, cp) {
      const hit = kind === 'da_energy' && ref === 'interface';
      if (hit) hits++;
      return energy.call(this, period, account, wh, hit ? price * 1.5 : price, kind, ref, cp);
    };
    try {
      await assert.rejects(
        simulateMarket({ model: 4, sites: 6, days: 1, seed: 9, iso: new WholesaleMarket({ seed: 9 }) }),
        (err: unknown) => {
          assert.ok(err instanceof SettlementMismatch, String(err));
          assert.equal(err.check.period, 0, 'the first hour does not close');
          // Hour 0 holds ~600 rounded lines (DA and twelve RT intervals): the tolerance is their half-cents.
          const off = Math.abs(
            err.check.heldCents - err.check.expected.congestionCents - err.check.expected.lossCents,
          );
          assert.ok(off > err.check.toleranceCents, JSON.stringify(err.check));
          return true;
        },
      );
      assert.equal(hits, 1, 'the wrong price was booked once, in the first hour');
    } finally {
      Ledger.prototype.energy = energy;
    }
  });

  it('simulates model 1 with the fleet’s ISO ancillary offers: awarded, screened, paid, books balanced', async () => {
    const r = await simulateMarket({
      model: 1,
      sites: 12,
      days: 1,
      seed: 9,
      iso: new WholesaleMarket({ seed: 9 }),
    });
    assert.equal(r.books.balanced, true);
    assert.equal(r.books.max_abs_sum_cents, 0);
    const regUp = r.ancillary.find((a) => a.product === 'reg_up');
    assert.ok(regUp && regUp.awarded_mwh > 0, JSON.stringify(r.ancillary));
    assert.ok(regUp.held_mwh <= regUp.awarded_mwh);
    assert.ok(regUp.paid_cents > 0);
    const iso = r.participants.find((p) => p.account === 'iso')!;
    const paid = r.ancillary.reduce((s, a) => s + a.paid_cents, 0);
    assert.equal(iso.by_kind.ancillary, -paid, 'the ISO pays every ancillary cent the aggregators receive');
  });
});
