import assert from 'node:assert/strict';
import { GridService } from '../grid/service.ts';
import { networkSettingsSchema } from '../grid/settings.ts';
import { syntheticFeeder } from '../network/synthetic.ts';
import { openSqlite } from '../storage/registry/db.ts';
import { Registry } from '../storage/registry/registry.ts';
import { SqliteTimeSeries } from '../storage/timeseries/sqlite.ts';
import { allocate } from './allocate.ts';
import { networkCheckFromGrid } from './cloud-hooks.ts';
import { checkDispatchFeasibility } from './feasibility.ts';
import { DEFAULT_STATE_OPTIONS, type GroupState } from './state.ts';

const NOW = Date.UTC(2026, 5, 1, 12);

function group(nodes: (string | null)[]): GroupState {
  return {
    at: NOW,
    sites: nodes.map((node, i) => ({
      id: `s${i}`,
      status: 'online',
      mode: 'default',
      node,
      feeder: null,
      limits: {},
      meterW: 0,
      meterTs: NOW,
      meterFresh: true,
      meterIds: ['m1'],
      devices: [
        {
          site: `s${i}`,
          id: 'bat1',
          kind: 'battery',
          controls: ['battery_power'],
          w: 0,
          ts: NOW,
          fresh: true,
          socPct: 50,
          whCapacity: 20_000,
          wMax: 0,
          chargeMaxW: 5000,
          dischargeMaxW: 5000,
        },
      ],
    })),
  };
}

/** The cloud's own network check (cloud-hooks → grid service) over a synthetic feeder, sites placed by the registry. */
async function networkCheck(feeder: ReturnType<typeof syntheticFeeder>, nodes: (string | null)[]) {
  const registry = new Registry(openSqlite(':memory:'));
  await registry.init();
  for (const [i, node] of nodes.entries()) {
    await registry.createSite(`s${i}`);
    await registry.patchSite(`s${i}`, { node });
  }
  const store = new SqliteTimeSeries({ path: ':memory:' });
  const grid = GridService.forNetwork(feeder, 'synthetic', {
    registry,
    store,
    settings: networkSettingsSchema.parse({}),
  });
  const check = networkCheckFromGrid(grid);
  assert.ok(check);
  return check;
}

describe('dispatch feasibility with the network model (cloud/network power flow)', () => {
  const window = { start: NOW, end: NOW + 3_600_000 };

  it('accepts a move the feeder can carry and refuses one that overloads a branch, with the branch named', async () => {
    const roomy = await networkCheck(syntheticFeeder({ buses: 8, total_load_w: 2000, rating_va: 1e6 }), [
      'b3',
      'b6',
    ]);
    const ok = await checkDispatchFeasibility(group(['b3', 'b6']), DEFAULT_STATE_OPTIONS, {
      ...window,
      targetMeterW: 8000,
      network: roomy,
    });
    assert.equal(ok.feasible, true, ok.reasons.join());
    assert.deepEqual([ok.checks.network.checked, ok.checks.network.feasible], [true, true]);

    const tight = await networkCheck(syntheticFeeder({ buses: 8, total_load_w: 2000, rating_va: 5000 }), [
      'b3',
      'b6',
    ]);
    const no = await checkDispatchFeasibility(group(['b3', 'b6']), DEFAULT_STATE_OPTIONS, {
      ...window,
      targetMeterW: 8000,
      network: tight,
    });
    assert.equal(no.feasible, false);
    assert.equal(no.achievableDeltaW, 0);
    assert.ok(
      no.reasons.some((r) => /^network limits: branch \S+ loaded \d+ %/.test(r)),
      no.reasons.join(),
    );
  });

  it('names sites it cannot place (no node, or a node the feeder does not have) and checks the rest', async () => {
    const feeder = syntheticFeeder({ buses: 8, total_load_w: 2000, rating_va: 1e6 });
    const r = await checkDispatchFeasibility(group(['b3', null]), DEFAULT_STATE_OPTIONS, {
      ...window,
      targetMeterW: 4000,
      network: await networkCheck(feeder, ['b3', null]),
    });
    assert.equal(r.feasible, true);
    assert.match(
      r.checks.network.reasons.join(),
      /not checked \(not placed on the feeder\): s1 \(no network node assigned\)/,
    );
    const bad = await checkDispatchFeasibility(group(['nowhere']), DEFAULT_STATE_OPTIONS, {
      ...window,
      targetMeterW: 1000,
      network: await networkCheck(feeder, ['nowhere']),
    });
    assert.match(bad.checks.network.reasons.join(), /s0 \(node nowhere is not a bus of feeder synthetic\)/);
  });

  it('bounds the move by state of charge over the window: 2 h of 5 kW from 40 % of 20 kWh is 4 kW', async () => {
    const r = await checkDispatchFeasibility(group([null]), DEFAULT_STATE_OPTIONS, {
      start: NOW,
      end: NOW + 2 * 3_600_000,
      targetMeterW: 5000,
    });
    assert.equal(r.feasible, false);
    assert.equal(r.checks.deviceLimits.upW, 5000);
    assert.equal(r.checks.stateOfCharge.upW, 4000);
    assert.equal(r.shortfallW, 1000);
    assert.match(r.reasons[0], /state of charge: .* needs 10\.0 kWh/);
    // The allocation LP meets what is reachable and states the rest.
    const a = await allocate([{ id: 'b', baselineW: 0, minW: -5000, maxW: 4000 }], 5000);
    assert.deepEqual([a.setpoints.get('b'), a.shortfallW], [4000, 1000]);
  });
});
