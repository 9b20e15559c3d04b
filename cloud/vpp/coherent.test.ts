import assert from 'node:assert/strict';
import { SqliteTimeSeries } from '../storage/timeseries/sqlite.ts';
import { coherentUncontrolled, valueAt } from './coherent.ts';

describe('VPP feedback from one instant (coherent.ts)', () => {
  it('valueAt: known only when samples at or around the instant agree within the tolerance', () => {
    const s = [
      { t: 1000, w: -5000 },
      { t: 1500, w: -5000 },
      { t: 2000, w: -1500 },
    ];
    assert.equal(valueAt(s, 1200, 100), -5000);
    assert.equal(valueAt(s, 1500, 0), -5000, 'a sample at the instant itself');
    assert.equal(valueAt(s, 1700, 100), undefined, 'changed in between');
    assert.equal(valueAt(s, 2100, 100), undefined, 'nothing after it yet');
    assert.equal(valueAt(s, 900, 100), undefined, 'nothing before it');
  });

  it('a setpoint change between the battery poll and the meter poll does not enter U', async () => {
    // Site: load 1200 W, PV 6000 W (meter = PV + battery − load, export +). Polls every 500 ms, the
    // battery 20 ms before the meter; the battery goes from −5000 W to −1500 W at t = 2020, between
    // its poll at 2010 and the meter's at 2030: the latest pair (battery −5000 W, meter 3300 W) would
    // give U = 2300 W instead of −1200 W.
    const store = new SqliteTimeSeries({ path: ':memory:' });
    const bat = (t: number) => (t < 2020 ? -5000 : -1500);
    const samples = [];
    for (let t = 0; t <= 2000; t += 500) {
      samples.push({ ts: t, device: 'pv', values: { w: 6000 } });
      samples.push({ ts: t + 10, device: 'battery', values: { w: bat(t + 10) } });
      samples.push({ ts: t + 30, device: 'meter', values: { w: 6000 + bat(t + 30) - 1200 } });
    }
    await store.writeSamples([{ site: 's1', samples }]);
    const u = await coherentUncontrolled(
      store,
      [
        {
          site: 's1',
          meterIds: ['meter'],
          meterTolW: 200,
          devices: [
            { id: 'pv', tolW: 400 },
            { id: 'battery', tolW: 250 },
          ],
        },
      ],
      0,
      3000,
    );
    const latest = 3300 - 6000 - -5000;
    assert.equal(latest, 2300, 'the latest pair is off by the whole change');
    // The newest meter sample (2030) has no battery sample after it yet; the one before (1530) is
    // bracketed by battery samples (1510, 2010) that agree.
    assert.deepEqual(u.get('s1'), { w: -1200, at: 1530 });
  });
});
