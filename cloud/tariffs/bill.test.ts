import assert from 'node:assert/strict';
import { computeBill, type MeterInterval } from './bill.ts';
import { PGE_E_TOU_C } from './fixtures/pge-e-tou-c.ts';
import { type TariffVersion, type TariffVersionInput, tariffVersionInputSchema } from './schema.ts';

/**
 * Bills against hand-computed bills. Every expected amount is worked out in the comment next to it
 * from the tariff's published rates and the load profile; none is computed with the code under test.
 */

const H = 3_600_000;
const M5 = 300_000;
const JUL1 = Date.UTC(2026, 6, 1); // a Wednesday
const DAY = 24 * H;

const version = (tariff: string, n: number, v: TariffVersionInput): TariffVersion => ({
  ...tariffVersionInputSchema.parse(v),
  tariff,
  version: n,
});

/** 5-minute intervals over [from, to) at `importW(t)` W imported (negative = export): wh = −W × 5/60 h. */
function profile(from: number, to: number, importW: (t: number) => number): MeterInterval[] {
  const out: MeterInterval[] = [];
  for (let t = from; t < to; t += M5) out.push({ start: t, wh: (-importW(t) * 5) / 60, measured: true });
  return out;
}

const TOU = {
  kind: 'tou' as const,
  periods: [
    { id: 'peak', ratePerKwh: 0.4, windows: [{ from: 16, to: 21 }] },
    { id: 'off', ratePerKwh: 0.2 },
  ],
  defaultPeriod: 'off',
};
const base = { name: 'test', timezone: 'UTC', validFrom: JUL1 - 30 * DAY };

const amounts = (b: ReturnType<typeof computeBill>) => b.lines.map((l) => [l.kind, l.id, l.amountCents]);

describe('tariffs: bills against hand-computed bills', () => {
  it('splits energy at a TOU boundary (15:00–17:00 at 3 kW across the 16:00 peak start)', () => {
    const v = version('t', 1, { ...base, energy: TOU });
    const from = JUL1 + 15 * H;
    const b = computeBill({
      site: 's',
      from,
      to: from + 2 * H,
      versions: [v],
      intervals: profile(from, from + 2 * H, () => 3000),
    });
    // 3 kW = 250 Wh per 5 minutes. 15:00–16:00 off-peak: 3 kWh × $0.20 = $0.60 = 60¢.
    // 16:00–17:00 peak: 3 kWh × $0.40 = $1.20 = 120¢. Total 180¢.
    assert.deepEqual(amounts(b), [
      ['energy', 'peak', 120],
      ['energy', 'off', 60],
    ]);
    assert.equal(b.totalCents, 180);
    assert.deepEqual(
      b.lines.map((l) => l.quantity),
      [3, 3],
    );
  });

  it('uses each version for its part when a bill spans a version change', () => {
    const noon = JUL1 + 12 * H;
    const flat = (rate: number) => ({
      kind: 'tou' as const,
      periods: [{ id: 'flat', ratePerKwh: rate }],
      defaultPeriod: 'flat',
    });
    const v1 = version('t', 1, {
      ...base,
      validTo: noon,
      energy: flat(0.1),
      fixed: [{ id: 'daily', per: 'day', amount: 0.48 }],
    });
    const v2 = version('t', 2, {
      ...base,
      validFrom: noon,
      energy: flat(0.3),
      fixed: [{ id: 'daily', per: 'day', amount: 0.48 }],
    });
    const from = JUL1 + 10 * H;
    const b = computeBill({
      site: 's',
      from,
      to: from + 4 * H,
      versions: [v2, v1],
      intervals: profile(from, from + 4 * H, () => 1200),
    });
    // 1.2 kW = 100 Wh per 5 minutes = 1.2 kWh per hour.
    // v1, 10:00–12:00: 2.4 kWh × $0.10 = 24¢; fixed 2 h / 24 h × $0.48 = $0.04 = 4¢.
    // v2, 12:00–14:00: 2.4 kWh × $0.30 = 72¢; fixed 4¢. Total 24 + 4 + 72 + 4 = 104¢.
    assert.deepEqual(b.versions, [1, 2]);
    assert.deepEqual(
      b.lines.map((l) => [l.version, l.kind, l.amountCents]),
      [
        [1, 'energy', 24],
        [1, 'fixed', 4],
        [2, 'energy', 72],
        [2, 'fixed', 4],
      ],
    );
    assert.equal(b.totalCents, 104);
  });

  it('adds the CPP adder during a notified event and not during one notified too late', () => {
    const v = version('t', 1, { ...base, energy: TOU, cpp: { adderPerKwh: 0.9, minNoticeMinutes: 60 } });
    const from = JUL1 + 16 * H;
    const b = computeBill({
      site: 's',
      from,
      to: from + 4 * H,
      versions: [v],
      intervals: profile(from, from + 4 * H, () => 3000),
      cppEvents: [
        { id: 'ev1', start: JUL1 + 17 * H, end: JUL1 + 18 * H, notifiedAt: JUL1 + 15 * H }, // 120 min notice
        { id: 'ev2', start: JUL1 + 19 * H, end: JUL1 + 19.5 * H, notifiedAt: JUL1 + 18.75 * H }, // 15 min
      ],
    });
    // Energy 16:00–20:00, all peak: 4 h × 3 kW = 12 kWh × $0.40 = $4.80 = 480¢.
    // CPP ev1 17:00–18:00: 3 kWh × $0.90 = $2.70 = 270¢. ev2: 15 min notice < 60, not billed.
    assert.deepEqual(amounts(b), [
      ['energy', 'peak', 480],
      ['cpp', 'ev1', 270],
    ]);
    assert.equal(b.totalCents, 750);
    assert.equal(b.notes.length, 1);
    assert.match(b.notes[0], /not billed: notified 15 min before it began, the tariff needs 60/);
  });

  it('charges demand on the billing month’s highest 15-minute mean import, overall and on-peak', () => {
    const v = version('t', 1, {
      ...base,
      energy: { kind: 'tou', periods: [{ id: 'flat', ratePerKwh: 0.1 }], defaultPeriod: 'flat' },
      demand: [
        { id: 'max', ratePerKw: 10 },
        { id: 'on-peak', ratePerKw: 5, windows: [{ from: 16, to: 21 }] },
      ],
      fixed: [{ id: 'monthly', per: 'month', amount: 10 }],
    });
    const from = JUL1;
    const to = Date.UTC(2026, 7, 1); // the whole of July: 31 days = 744 h
    const at = (d: number, h: number, m = 0) => Date.UTC(2026, 6, d, h, m);
    const load = (t: number) => {
      if (t >= at(10, 12) && t < at(10, 12, 15)) return 6000; // 15 minutes at 6 kW (the peak)
      if (t >= at(20, 17) && t < at(20, 17, 15)) return 4000; // 15 minutes at 4 kW on-peak
      if (t === at(11, 13)) return 13000; // 5 minutes at 13 kW: its 15-minute block averages (13+1+1)/3 = 5 kW
      return 1000;
    };
    const b = computeBill({ site: 's', from, to, versions: [v], intervals: profile(from, to, load) });
    // Energy: 1 kW × 744 h = 744 kWh, plus 5 kW × 0.25 h = 1.25, 3 kW × 0.25 h = 0.75 and
    // 12 kW × 1/12 h = 1 kWh above it: 747 kWh × $0.10 = $74.70 = 7470¢.
    // Demand max: 6 kW × $10 = $60 = 6000¢ (the 13 kW spike is 5 kW over its 15-minute interval).
    // Demand on-peak (16–21 h): 4 kW × $5 = $20 = 2000¢. Fixed: one whole month × $10 = 1000¢.
    assert.deepEqual(amounts(b), [
      ['energy', 'flat', 7470],
      ['demand', 'max', 6000],
      ['demand', 'on-peak', 2000],
      ['fixed', 'monthly', 1000],
    ]);
    assert.equal(b.totalCents, 16470);
    const peak = b.lines.find((l) => l.id === 'max')!;
    assert.equal(peak.quantity, 6);
    assert.equal(peak.fraction, 1);
    assert.match(peak.description, /peak 6 kW at 2026-07-10T12:00:00.000Z/);
  });

  it('prorates a demand charge by the share of the billing month a bill covers', () => {
    const v = version('t', 1, {
      ...base,
      energy: { kind: 'tou', periods: [{ id: 'flat', ratePerKwh: 0 }], defaultPeriod: 'flat' },
      demand: [{ id: 'max', ratePerKw: 31 }],
    });
    const from = JUL1;
    const to = JUL1 + 10 * DAY;
    const b = computeBill({ site: 's', from, to, versions: [v], intervals: profile(from, to, () => 2000) });
    // Peak 2 kW × $31/kW × 10/31 of July = $20 = 2000¢.
    assert.equal(b.lines.find((l) => l.kind === 'demand')!.amountCents, 2000);
  });

  describe('export credit (10:00–12:00 exporting 6 kW, 16:00–17:00 importing 3 kW)', () => {
    const from = JUL1 + 10 * H;
    const to = JUL1 + 17 * H;
    const load = (t: number) => (t < JUL1 + 12 * H ? -6000 : t >= JUL1 + 16 * H ? 3000 : 0);
    const intervals = profile(from, to, load);
    // Exports: 2 h × 6 kW = 12 kWh (off-peak hours). Imports: 1 h × 3 kW = 3 kWh (peak).
    // Energy: 3 kWh × $0.40 = 120¢.

    it('net billing at a flat credit, with an LV network charge', () => {
      const v = version('t', 1, {
        ...base,
        energy: TOU,
        export: { kind: 'flat', creditPerKwh: 0.05 },
        network: { perKwh: { LV: 0.02, MV: 0.01 } },
      });
      const b = computeBill({ site: 's', from, to, versions: [v], intervals, voltageLevel: 'LV' });
      // Export 12 kWh × $0.05 = −60¢. Network LV: 3 kWh × $0.02 = 6¢. Total 120 − 60 + 6 = 66¢.
      assert.deepEqual(amounts(b), [
        ['energy', 'peak', 120],
        ['energy', 'off', 0],
        ['export', 'flat', -60],
        ['network', 'LV', 6],
      ]);
      assert.equal(b.totalCents, 66);
      assert.equal(b.exportKwh, 12);
      assert.equal(b.importKwh, 3);
    });

    it('net metering credits exports at the import rate of their period', () => {
      const v = version('t', 1, { ...base, energy: TOU, export: { kind: 'retail' } });
      const b = computeBill({ site: 's', from, to, versions: [v], intervals });
      // Export 12 kWh at the off-peak $0.20 = −240¢. Total 120 − 240 = −120¢ (a credit).
      assert.equal(b.lines.find((l) => l.kind === 'export')!.amountCents, -240);
      assert.equal(b.totalCents, -120);
    });

    it('DLMP export credit', () => {
      const v = version('t', 1, { ...base, energy: TOU, export: { kind: 'dlmp' } });
      const b = computeBill({ site: 's', from, to, versions: [v], intervals, dlmpAt: () => 30 });
      // $30/MWh = $0.03/kWh: 12 kWh × $0.03 = −36¢. Total 120 − 36 = 84¢.
      assert.equal(b.lines.find((l) => l.kind === 'export')!.amountCents, -36);
      assert.equal(b.totalCents, 84);
    });

    it('refuses a network charge without the site’s voltage level in the tariff', () => {
      const v = version('t', 1, { ...base, energy: TOU, network: { perKwh: { MV: 0.01 } } });
      assert.throws(
        () => computeBill({ site: 's', from, to, versions: [v], intervals, voltageLevel: 'LV' }),
        /network charges for MV; the site's voltage level is LV/,
      );
    });
  });

  it('passes the DLMP through with an adder, floor and cap', () => {
    const v = version('t', 1, {
      ...base,
      energy: { kind: 'dlmp', adderPerKwh: 0.05, floorPerKwh: 0.06, capPerKwh: 0.25 },
    });
    const from = JUL1 + 10 * H;
    const dlmp = (t: number) => (t < from + H ? -20 : t < from + 2 * H ? 100 : 500);
    const b = computeBill({
      site: 's',
      from,
      to: from + 3 * H,
      versions: [v],
      intervals: profile(from, from + 3 * H, () => 2400),
      dlmpAt: dlmp,
    });
    // 2.4 kW = 2.4 kWh per hour. Hour 1: −$0.02 + $0.05 = $0.03 → floor $0.06. Hour 2: $0.10 + $0.05
    // = $0.15. Hour 3: $0.50 + $0.05 = $0.55 → cap $0.25. 2.4 × (0.06 + 0.15 + 0.25) = $1.104 → 110¢.
    assert.deepEqual(amounts(b), [['energy', 'dlmp', 110]]);
    assert.throws(
      () =>
        computeBill({
          site: 's',
          from,
          to: from + 3 * H,
          versions: [v],
          intervals: [],
          dlmpAt: (t) => (t < from + H ? 50 : undefined),
        }),
      /passes the DLMP through, but 24 interval\(s\) have no DLMP/,
    );
  });

  it('reads periods in the tariff’s time zone (16:00 in Los Angeles in July is 23:00 UTC)', () => {
    const v = version('t', 1, { ...base, timezone: 'America/Los_Angeles', energy: TOU });
    const from = Date.UTC(2026, 6, 15, 22); // 15:00 PDT
    const b = computeBill({
      site: 's',
      from,
      to: from + 2 * H,
      versions: [v],
      intervals: profile(from, from + 2 * H, () => 3000),
    });
    // 15:00–16:00 PDT off-peak 3 kWh × $0.20 = 60¢; 16:00–17:00 PDT peak 3 kWh × $0.40 = 120¢.
    assert.deepEqual(amounts(b), [
      ['energy', 'peak', 120],
      ['energy', 'off', 60],
    ]);
  });

  it('charges a fixed daily charge once for a 23-hour local day (DST starts in Los Angeles on 2026-03-08)', () => {
    const v = version('t', 1, {
      ...base,
      validFrom: Date.UTC(2026, 0, 1),
      timezone: 'America/Los_Angeles',
      energy: TOU,
      fixed: [{ id: 'daily', per: 'day', amount: 0.48 }],
    });
    const from = Date.UTC(2026, 2, 8, 8); // 00:00 PST
    const to = Date.UTC(2026, 2, 9, 7); // 00:00 PDT the next day: 23 hours later
    const b = computeBill({ site: 's', from, to, versions: [v], intervals: profile(from, to, () => 0) });
    // One whole local day × $0.48 = 48¢ (a 24-hour reading would give 23/24 × 48 = 46¢).
    assert.deepEqual(
      amounts(b).filter((l) => l[0] === 'fixed'),
      [['fixed', 'daily', 48]],
    );
    assert.equal(b.lines.find((l) => l.kind === 'fixed')!.quantity, 1);
  });

  it('counts unmeasured intervals and refuses a period no version covers', () => {
    const v = version('t', 1, { ...base, validFrom: JUL1, validTo: JUL1 + H, energy: TOU });
    const b = computeBill({
      site: 's',
      from: JUL1,
      to: JUL1 + H,
      versions: [v],
      intervals: profile(JUL1, JUL1 + 30 * 60_000, () => 1200),
    });
    // 6 of 12 intervals measured at 100 Wh: 0.6 kWh × $0.20 = 12¢; 6 unmeasured.
    assert.equal(b.totalCents, 12);
    assert.equal(b.unmeasuredIntervals, 6);
    assert.throws(
      () => computeBill({ site: 's', from: JUL1, to: JUL1 + 2 * H, versions: [v], intervals: [] }),
      /no version of tariff t is valid at 2026-07-01T01:00:00.000Z/,
    );
  });

  it('refuses malformed tariffs with a reason', () => {
    const bad = (patch: object) => tariffVersionInputSchema.safeParse({ ...base, energy: TOU, ...patch });
    const msg = (r: ReturnType<typeof bad>) =>
      r.success ? '' : r.error.issues.map((i) => i.message).join('; ');
    assert.match(
      msg(bad({ energy: { ...TOU, defaultPeriod: 'nope' } })),
      /defaultPeriod nope is not one of the periods \(peak, off\)/,
    );
    assert.match(msg(bad({ timezone: 'Mars/Olympus' })), /unknown IANA time zone/);
    assert.match(msg(bad({ validTo: base.validFrom })), /validTo must be after validFrom/);
    assert.match(
      msg(bad({ energy: { kind: 'dlmp', floorPerKwh: 0.3, capPerKwh: 0.1 } })),
      /floorPerKwh must not exceed capPerKwh/,
    );
    assert.match(msg(bad({ validFrom: base.validFrom + 1 })), /5-minute boundary/);
    assert.match(
      msg(bad({ energy: { kind: 'dlmp' }, export: { kind: 'retail' } })),
      /retail \(net metering\) export credit needs TOU/,
    );
  });
});

describe('tariffs: the PG&E E-TOU-C fixture', () => {
  it('bills a July day in Los Angeles at 2 kW: 19 off-peak and 5 peak hours', () => {
    const v = version('pge-e-tou-c', 1, PGE_E_TOU_C);
    const from = Date.UTC(2026, 6, 15, 7); // 2026-07-15 00:00 PDT (UTC−7)
    const to = from + DAY;
    const b = computeBill({ site: 's', from, to, versions: [v], intervals: profile(from, to, () => 2000) });
    // Off-peak 00–16 h and 21–24 h = 19 h × 2 kW = 38 kWh × $0.3547 = $13.4786 → 1348¢.
    // Peak 16–21 h = 5 h × 2 kW = 10 kWh × $0.4547 = $4.547 → 455¢. Total 1803¢.
    const e = Object.fromEntries(b.lines.map((l) => [l.id, [l.quantity, l.amountCents]]));
    assert.deepEqual(e['summer-off-peak'][1], 1348);
    assert.deepEqual(e['summer-peak'][1], 455);
    assert.ok(Math.abs(e['summer-off-peak'][0] - 38) < 1e-9 && Math.abs(e['summer-peak'][0] - 10) < 1e-9);
    assert.equal(b.totalCents, 1803);
  });
});
