import assert from 'node:assert/strict';
import { loadIeee33 } from '../../../test-support/network/feeders.ts';
import { compileFeeder } from './feeder.ts';
import { clearRealTime, type RealTimeInput } from './realtime.ts';

/**
 * A fixed injection in a real-time interval (a DA grid-service call) is physics like less load, but
 * was scheduled and settled day ahead: it must not come back as a load deviation.
 */
describe('real-time interval: fixed injections', function () {
  this.timeout(60000);

  it('clears a fixed injection as less load without booking it as a load deviation', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const loads = new Map(net.loads.map((l) => [l.bus, l.p_w]));
    const call = 200e3; // W into the grid at bus 18
    const base: RealTimeInput = {
      feeder: compileFeeder(net),
      intervalStart: Date.UTC(2030, 5, 3),
      interfacePrice: 45,
      loadForecastW: loads,
      resources: [{ id: 'g18', bus: '18', sell: [[{ quantity_w: 100e3, price_per_mwh: 200 }]], buy: [] }],
      daScheduleW: new Map(),
      daLoadW: loads,
      lossIterations: 2,
    };
    const fixed = await clearRealTime({ ...base, fixedInjectionW: new Map([['18', call]]) });
    const lessLoad = await clearRealTime({
      ...base,
      loadForecastW: new Map([...loads].map(([bus, w]) => [bus, bus === '18' ? w - call : w])),
    });
    // Same physics: same import, losses and prices.
    assert.ok(Math.abs(fixed.clearing.interfaceImportW[0] - lessLoad.clearing.interfaceImportW[0]) < 1e-3);
    assert.ok(Math.abs(fixed.lossW! - lessLoad.lossW!) < 1e-3);
    for (const [bus, bp] of fixed.clearing.prices[0])
      assert.ok(Math.abs(bp.dlmp - lessLoad.clearing.prices[0].get(bus)!.dlmp) < 1e-6, bus);
    // The import is below the loads by the call (and above by the losses).
    const load = [...loads.values()].reduce((s, w) => s + w, 0);
    assert.ok(Math.abs(fixed.clearing.interfaceImportW[0] - (load - call + fixed.lossW!)) < 500);
    // Loads as forecast day ahead: no load deviation; as less load, the call would be one.
    assert.ok([...fixed.loadDeviationW.values()].every((w) => w === 0));
    assert.equal(lessLoad.loadDeviationW.get('18'), -call);
  });
});
