import assert from 'node:assert/strict';
import { startMarketCloud } from '../../../test-support/market/market-cloud.ts';
import { daSellOffer, pv, radialFeeder12kV } from '../../../test-support/market/market-scenario.ts';
import { CLEARING } from '../model/money.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import { Ledger } from './ledger.ts';
import { type BusPriceComponents, expectedSurplus, SettlementMismatch } from './surplus.ts';

/**
 * Settlement that can fail. A three-bus case settled by hand: the expected statement of every account
 * and the congestion and loss surpluses are worked out below from prices x quantities, without the
 * settlement code; then one wrong price, one wrong quantity and one wrong loss line each stop the
 * period close with SETTLEMENT_MISMATCH, and nothing is swept to the DGO.
 *
 * Hour 0, radial feeder 0 (substation, interface at 40 $/MWh) - 1 - 2, line 1-2 congested:
 *   bus 0: dlmp 40 = energy 40
 *   bus 1: dlmp 42 = energy 40 + loss 2
 *   bus 2: dlmp 55 = energy 40 + loss 3 + congestion 12
 *   gen G at bus 2 injects 300 kWh     -> paid 300 kWh x 55 = $16.50 = 1650 c
 *   load L1 at bus 1 withdraws 500 kWh -> pays 500 kWh x 42 = $21.00 = 2100 c
 *   load L2 at bus 2 withdraws 400 kWh -> pays 400 kWh x 55 = $22.00 = 2200 c
 *   losses 20 kWh, import = 500 + 400 - 300 + 20 = 620 kWh -> ISO paid 620 kWh x 40 = $24.80 = 2480 c
 *   clearing account: 2100 + 2200 - 1650 - 2480 = 170 c
 *   congestion surplus = 12 x (400 - 300) kWh = $1.20 = 120 c
 *   loss surplus = 42 x 500 kWh + 43 x (400 - 300) kWh - 40 x 620 kWh = 21 + 4.30 - 24.80 = $0.50 = 50 c
 */
const PRICES: Record<string, BusPriceComponents> = {
  '0': { dlmp: 40, energy: 40, loss: 0, congestion: 0, voltage: 0 },
  '1': { dlmp: 42, energy: 40, loss: 2, congestion: 0, voltage: 0 },
  '2': { dlmp: 55, energy: 40, loss: 3, congestion: 12, voltage: 0 },
};
const QUANTITIES = {
  priceAt: (bus: string) => PRICES[bus],
  refPricePerMWh: 40,
  importWh: 620e3,
  atDlmp: [
    ['2', -300e3],
    ['1', 500e3],
    ['2', 400e3],
  ] as const,
};

/** The hour as settlement books it, with an optional wrong price or quantity. */
function bookHour(o: { genPrice?: number; l2Wh?: number; lossCents?: number } = {}) {
  const l = new Ledger();
  l.energy(0, 'gen', 300e3, o.genPrice ?? 55, 'da_energy', 'G');
  l.energy(0, 'lse1', -500e3, 42, 'da_energy', 'L1');
  l.energy(0, 'lse2', -(o.l2Wh ?? 400e3), 55, 'da_energy', 'L2');
  l.energy(0, 'iso', 620e3, 40, 'da_energy', 'interface');
  l.transfer(0, CLEARING, 'dgo', o.lossCents ?? 50, 'loss_surplus');
  return l;
}

describe('settlement that can fail: surpluses by definition (hand-computed three-bus hour)', () => {
  it('derives the congestion and loss surplus from prices x quantities', () => {
    const e = expectedSurplus(QUANTITIES);
    assert.ok(Math.abs(e.congestionCents - 120) < 1e-9, String(e.congestionCents));
    assert.ok(Math.abs(e.lossCents - 50) < 1e-9, String(e.lossCents));
  });

  it('closes the hour with the hand-computed statement of every account', () => {
    const l = bookHour();
    const paid = l.closePeriod(0, 'dgo', expectedSurplus(QUANTITIES));
    assert.equal(paid, 120, 'the congestion surplus, after the 50 c loss surplus');
    assert.deepEqual(Object.fromEntries(l.balances(0)), {
      gen: 1650,
      lse1: -2100,
      lse2: -2200,
      iso: 2480,
      dgo: 170,
      [CLEARING]: 0,
    });
    assert.deepEqual(
      l.entries.filter((x) => x.to === 'dgo').map((x) => [x.kind, x.cents]),
      [
        ['loss_surplus', 50],
        ['congestion_surplus', 120],
      ],
    );
    const [check] = l.surplusChecks;
    assert.equal(check.heldCents, 170);
    assert.equal(check.lines, 4);
    assert.equal(check.toleranceCents, 2); // 4 lines rounded once each: at most 4 x 0.5 c
  });

  it('refuses to close when a price is wrong: the generator paid 56 instead of its bus’s 55', () => {
    const l = bookHour({ genPrice: 56 }); // 300 kWh x 1 $/MWh = 30 c too much
    assert.throws(
      () => l.closePeriod(0, 'dgo', expectedSurplus(QUANTITIES)),
      (err: unknown) => {
        assert.ok(err instanceof SettlementMismatch);
        assert.equal(err.code, 'SETTLEMENT_MISMATCH');
        assert.equal(err.check.heldCents, 140);
        assert.match(err.message, /holds 140 c but .* is 170\.00 c/);
        return true;
      },
    );
    // Nothing swept: the clearing account still holds what the wrong line left, no congestion line.
    assert.equal(l.balances(0).get(CLEARING), 90);
    assert.ok(l.entries.every((x) => x.kind !== 'congestion_surplus'));
  });

  it('refuses to close when a quantity is wrong: L2 billed 390 kWh of its 400', () => {
    const l = bookHour({ l2Wh: 390e3 }); // 10 kWh x 55 = 55 c short
    assert.throws(() => l.closePeriod(0, 'dgo', expectedSurplus(QUANTITIES)), SettlementMismatch);
  });

  it('refuses a loss line that is not the definition’s loss surplus, though the account is whole', () => {
    const l = bookHour({ lossCents: 80 });
    assert.throws(() => l.closePeriod(0, 'dgo', expectedSurplus(QUANTITIES)), /SETTLEMENT_MISMATCH/);
  });

  it('tolerates rounding only: 3 c off on four lines (tolerance 2 c) is refused, 2 c is not', () => {
    const off = (c: number) => ({ congestionCents: 120 + c, lossCents: 50 });
    assert.doesNotThrow(() => bookHour().closePeriod(0, 'dgo', off(2)));
    assert.throws(() => bookHour().closePeriod(0, 'dgo', off(3)), SettlementMismatch);
  });
});

describe('settlement that can fail: a wrong price in a real market run stops it over the API', function () {
  this.timeout(60000);
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;

  it('answers SETTLEMENT_MISMATCH with the reason and stores no run, day ahead and real time; each clears when the price is right', async () => {
    const mc = await startMarketCloud({
      clock: dayStart - DAY_MS,
      market: {
        model: 4,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'dso', kind: 'independent_dso', users: ['dora'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
        ],
      },
      feeder: radialFeeder12kV,
      registrar: 'uma',
      resources: [pv('pv-a', 'sunco', '1', 20000)],
      certify: ['pv-a'],
    });
    const energy = Ledger.prototype.energy;
    try {
      const bid = await mc.t.api('POST', '/market/bids', {
        ...mc.as('alice'),
        body: daSellOffer('pv-a', noon, 20000, 10, { product: 'energy' }),
      });
      assert.equal(bid.status, 201, JSON.stringify(bid.body));
      mc.setClock(dayStart - 12 * HOUR_MS);
      // The injected bug: pv-a's award settled 5 $/MWh above its bus's DLMP.
      Ledger.prototype.energy = function (this: Ledger, period, account, wh, price, kind, ref, cp) {
        return energy.call(this, period, account, wh, ref === 'pv-a' ? price + 5 : price, kind, ref, cp);
      };
      const body = { dayStart, loadForecastW: { '2': Array(24).fill(15000) } };
      const bad = await mc.t.api<{ code: string; reason: string }>('POST', '/market/clearing/da', {
        ...mc.as('dora'),
        body,
      });
      assert.equal(bad.status, 500);
      assert.equal(bad.body.code, 'SETTLEMENT_MISMATCH');
      // 20 kWh x 5 $/MWh = 10 c paid out that no price x quantity explains.
      assert.match(bad.body.reason, /period 2030-01-02T12:00:00\.000Z: the clearing account holds/);
      const runs = await mc.t.api<unknown[]>('GET', '/market/runs', mc.as('dora'));
      assert.deepEqual(runs.body, []);
      const books = await mc.t.api<{ entries: unknown[] }>(
        'GET',
        '/market/settlements?all=true',
        mc.as('dora'),
      );
      assert.deepEqual(books.body.entries, [], 'nothing was booked, nothing swept to the DGO');
      Ledger.prototype.energy = energy;
      const good = await mc.t.api<{ balanced: boolean }>('POST', '/market/clearing/da', {
        ...mc.as('dora'),
        body,
      });
      assert.equal(good.status, 200, JSON.stringify(good.body));
      assert.equal(good.body.balanced, true);
      // Real time at 12:10: the load at bus 2 falls from 15 to 5 kW (10 kW x 5 min = 833 Wh of
      // deviation); its line booked at 3 x its bus's RT DLMP must stop the interval's close too.
      const rtStart = noon + 2 * RT_INTERVAL_MS;
      mc.setClock(rtStart - RT_INTERVAL_MS);
      Ledger.prototype.energy = function (this: Ledger, period, account, wh, price, kind, ref, cp) {
        const wrong = kind === 'rt_deviation' && ref === 'load@2';
        return energy.call(this, period, account, wh, wrong ? price * 3 : price, kind, ref, cp);
      };
      const rtBody = { intervalStart: rtStart, loadForecastW: { '2': 5000 }, dispatch: false };
      const badRt = await mc.t.api<{ code: string }>('POST', '/market/clearing/rt', {
        ...mc.as('dora'),
        body: rtBody,
      });
      assert.equal(badRt.status, 500, JSON.stringify(badRt.body));
      assert.equal(badRt.body.code, 'SETTLEMENT_MISMATCH');
      Ledger.prototype.energy = energy;
      const goodRt = await mc.t.api<{ balanced: boolean }>('POST', '/market/clearing/rt', {
        ...mc.as('dora'),
        body: rtBody,
      });
      assert.equal(goodRt.status, 200, JSON.stringify(goodRt.body));
      assert.equal(goodRt.body.balanced, true);
      const rtRuns = await mc.t.api<unknown[]>('GET', '/market/runs?market=RT', mc.as('dora'));
      assert.equal(rtRuns.body.length, 1, 'only the correct run was stored');
    } finally {
      Ledger.prototype.energy = energy;
      await mc.stop();
    }
  });
});
