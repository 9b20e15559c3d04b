import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  batteryBounds,
  type ControlSettings,
  decide,
  type RemoteSetpoints,
  type Snapshot,
} from './decide.ts';

const base: ControlSettings = {
  defaultMode: 'self_consumption',
  socReservePct: 10,
  deadbandW: 50,
  exportMaxW: 3000,
  importMaxW: 6000,
};

const snap = (over: Partial<Snapshot> = {}): Snapshot => ({
  ts: 0,
  meterW: 0,
  pv: [{ id: 'pv', w: 5000, wMax: 8000 }],
  batteries: [{ id: 'bat', w: 0, socPct: 50, chargeMaxW: 5000, dischargeMaxW: 4000 }],
  ...over,
});
const none: RemoteSetpoints = { battery: {}, pvLimit: {} };

describe('control decision', () => {
  it('self-consumption: charges the battery with the export and discharges for the import', () => {
    assert.equal(decide(snap({ meterW: 2000 }), none, base).battery.bat, -2000);
    assert.equal(decide(snap({ meterW: -1500 }), none, base).battery.bat, 1500);
    assert.equal(decide(snap({ meterW: 20 }), none, base).battery.bat, 0, 'inside the deadband: hold');
    assert.equal(decide(snap({ meterW: 2000 }), none, base).mode, 'default');
  });

  it('never discharges below the SoC reserve nor charges a full battery', () => {
    const low = snap({
      meterW: -3000,
      batteries: [{ id: 'bat', w: 0, socPct: 9, chargeMaxW: 5000, dischargeMaxW: 4000 }],
    });
    assert.equal(decide(low, none, base).battery.bat, 0);
    const full = snap({
      meterW: 3000,
      batteries: [{ id: 'bat', w: 0, socPct: 100, chargeMaxW: 5000, dischargeMaxW: 4000 }],
    });
    const d = decide(full, none, base);
    assert.equal(d.battery.bat, 0);
    assert.ok(d.pvLimit.pv <= 5000, 'the export limit curtails PV instead');
  });

  it('curtails PV to keep the export limit and says why', () => {
    const d = decide(snap({ meterW: 4000, batteries: [] }), none, base);
    assert.equal(d.pvLimit.pv, 4000);
    assert.match(d.notes.pv.join(), /export limit 3000 W/);
  });

  it('clips a remote discharge that would break the export limit', () => {
    const d = decide(snap({ meterW: 1000 }), { battery: { bat: 4000 }, pvLimit: {} }, base);
    // 1000 W export + 4000 W discharge = 5000 W > 3000 W: discharge cut to 2000 W.
    assert.equal(d.battery.bat, 2000);
    assert.equal(d.mode, 'remote');
  });

  it('holds batteries at 0 W when the meter is stale and limits are set', () => {
    const d = decide(snap({ meterW: undefined }), { battery: { bat: 4000 }, pvLimit: {} }, base);
    assert.equal(d.battery.bat, 0);
  });

  const battery = fc.record({
    id: fc.constantFrom('b1', 'b2'),
    w: fc.option(fc.integer({ min: -20000, max: 20000 }), { nil: undefined }),
    socPct: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
    chargeMaxW: fc.integer({ min: 0, max: 10000 }),
    dischargeMaxW: fc.integer({ min: 0, max: 10000 }),
  });
  const pv = fc.record({
    id: fc.constantFrom('p1', 'p2'),
    w: fc.option(fc.integer({ min: 0, max: 20000 }), { nil: undefined }),
    wMax: fc.integer({ min: 1, max: 20000 }),
  });
  const anyNumber = fc.oneof(
    fc.double({ noNaN: false }),
    fc.integer({ min: -1e9, max: 1e9 }),
    fc.constantFrom(Number.POSITIVE_INFINITY, Number.NaN, -0),
  );
  const cmd = fc.record({
    battery: fc.dictionary(fc.constantFrom('b1', 'b2'), anyNumber),
    pvLimit: fc.dictionary(fc.constantFrom('p1', 'p2'), anyNumber),
  });
  const settings = fc.record({
    defaultMode: fc.constantFrom('self_consumption' as const, 'idle' as const),
    socReservePct: fc.integer({ min: 0, max: 50 }),
    deadbandW: fc.integer({ min: 0, max: 200 }),
    exportMaxW: fc.option(fc.integer({ min: 0, max: 20000 }), { nil: undefined }),
    importMaxW: fc.option(fc.integer({ min: 0, max: 20000 }), { nil: undefined }),
  });
  const uniq = <T extends { id: string }>(xs: T[]) =>
    xs.filter((x, i) => xs.findIndex((y) => y.id === x.id) === i);

  it('property: no sequence of commands pushes a write past a device or site limit', () => {
    fc.assert(
      fc.property(
        settings,
        fc.array(
          fc.record({
            meterW: fc.option(fc.integer({ min: -30000, max: 30000 }), { nil: undefined }),
            batteries: fc.array(battery, { maxLength: 2 }).map(uniq),
            pv: fc.array(pv, { maxLength: 2 }).map(uniq),
            remote: cmd,
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (s, steps) => {
          for (const st of steps) {
            const sn: Snapshot = { ts: 0, meterW: st.meterW, batteries: st.batteries, pv: st.pv };
            const d = decide(sn, st.remote as RemoteSetpoints, s);
            for (const b of st.batteries) {
              const [lo, hi] = batteryBounds(b, s);
              const x = d.battery[b.id];
              assert.ok(Number.isFinite(x), `battery ${b.id} target ${x}`);
              assert.ok(x >= lo && x <= hi, `battery ${x} outside ${lo}..${hi}`);
            }
            for (const p of st.pv) {
              const x = d.pvLimit[p.id];
              assert.ok(Number.isFinite(x) && x >= 0 && x <= p.wMax, `pv limit ${x} outside 0..${p.wMax}`);
            }
            if (st.meterW === undefined && (s.exportMaxW !== undefined || s.importMaxW !== undefined)) {
              for (const b of st.batteries) assert.equal(d.battery[b.id], 0, 'meter stale: safe state');
            }
            if (st.meterW !== undefined) {
              let m = st.meterW;
              for (const b of st.batteries) m += d.battery[b.id] - (b.w ?? 0);
              for (const p of st.pv) m += Math.min(p.w ?? 0, d.pvLimit[p.id]) - (p.w ?? 0);
              // Export above the limit only when there is nothing left to curtail or charge.
              if (s.exportMaxW !== undefined && m > s.exportMaxW + 1) {
                for (const p of st.pv)
                  assert.equal(Math.min(p.w ?? 0, d.pvLimit[p.id]), 0, 'PV not fully curtailed');
                for (const b of st.batteries) assert.equal(d.battery[b.id], batteryBounds(b, s)[0]);
              }
              // The remote/default wishes never add import beyond the limit when batteries could help.
              if (s.importMaxW !== undefined && m < -s.importMaxW - 1) {
                for (const b of st.batteries) {
                  const before = b.w ?? 0;
                  assert.ok(
                    d.battery[b.id] >= Math.min(before, batteryBounds(b, s)[1]) ||
                      d.battery[b.id] === batteryBounds(b, s)[1],
                  );
                }
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
