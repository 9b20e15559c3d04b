import assert from 'node:assert/strict';
import { flexibilityEnvelope } from './envelope.ts';

const HOUR = 3_600_000;
const battery = {
  energyCapacity: 10_000,
  soc: 0.5,
  minSoc: 0.1,
  maxSoc: 0.9,
  maxCharge: 5_000,
  maxDischarge: 5_000,
  chargeEfficiency: 1,
  dischargeEfficiency: 1,
};

describe('DER availability envelope', () => {
  it('gives an idle battery its power limits while its energy lasts', () => {
    const env = flexibilityEnvelope({ start: 0, stepMs: HOUR, steps: 3, batteries: [battery] });
    assert.equal(env[0].up, 4_000); // (0.5 − 0.1) × 10 kWh in one hour
    assert.equal(env[0].down, 4_000); // (0.9 − 0.5) × 10 kWh
    assert.equal(env[0].upEnergy, 4_000);
    assert.equal(env[2].storedEnergy, 5_000, 'idle baseline keeps the state of charge');
  });

  it('follows a self-consumption baseline: surplus PV fills the battery, shrinking down-flex', () => {
    const env = flexibilityEnvelope({
      start: 0,
      stepMs: HOUR,
      steps: 3,
      load: [500, 500, 500],
      pv: [3_500, 3_500, 0],
      batteries: [battery],
      baseline: 'self-consumption',
    });
    assert.equal(env[0].baselineBattery, -3_000);
    assert.equal(env[0].baselineNet, 0);
    assert.equal(env[0].down, 4_000 - 3_000, 'headroom left beyond the baseline charge');
    assert.equal(env[0].up, 4_000 + 3_000, 'stopping the charge also counts as up');
    assert.equal(env[1].storedEnergy, 8_000);
    assert.equal(env[1].baselineBattery, -1_000, 'only 1 kWh of room left below maxSoc');
    assert.equal(env[1].down, 0);
    assert.equal(env[1].up, 6_000, 'discharge limit 5 kW plus the 1 kW baseline charge');
    assert.equal(env[2].baselineBattery, 500);
  });

  it('adds flexible loads in their hours and clips to the connection limits', () => {
    const env = flexibilityEnvelope({
      start: Date.UTC(2024, 0, 1, 0),
      stepMs: HOUR,
      steps: 24,
      timeZone: 'UTC',
      load: new Array(24).fill(1_000),
      pv: new Array(24).fill(0),
      flexibleLoads: [{ name: 'heat pump', maxReduce: 800, maxIncrease: 2_000, availableHours: [22, 6] }],
      importLimit: 2_500,
    });
    assert.equal(env[23].up, 800);
    assert.equal(env[12].up, 0);
    assert.equal(env[2].down, 1_500, 'import limit 2.5 kW minus 1 kW baseline import');
  });

  it('rejects an impossible state of charge', () => {
    assert.throws(
      () => flexibilityEnvelope({ start: 0, stepMs: HOUR, steps: 1, batteries: [{ ...battery, soc: 1.5 }] }),
      /soc/,
    );
  });
});
