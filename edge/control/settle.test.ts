import assert from 'node:assert/strict';
import pino from 'pino';
import type { CommandType } from '../../protocols/mqtt/payloads.ts';
import type { Applied, DeviceDriver, Reading, Setpoint } from '../drivers/types.ts';
import { Controller } from './controller.ts';
import { type ControlSettings, decide, type Snapshot } from './decide.ts';

/**
 * A site whose battery follows its setpoint `effectMs` after the write; PV minus load is a constant
 * 4000 W, so the meter (export +) reads 4000 + battery. Self-consumption settles at -4000 W (charge).
 */
class LaggingSite {
  private changes: Array<{ at: number; w: number }> = [{ at: -Infinity, w: 0 }];
  constructor(private readonly effectMs = 50) {}
  write(at: number, w: number): void {
    this.changes.push({ at: at + this.effectMs, w });
  }
  batteryAt(t: number): number {
    return this.changes.filter((c) => c.at <= t).at(-1)?.w ?? 0;
  }
  meterAt(t: number): number {
    return 4000 + this.batteryAt(t);
  }
}

const settings: ControlSettings = { defaultMode: 'self_consumption', socReservePct: 10, deadbandW: 50 };
const CYCLE = 500;
// Poll phases inside each cycle: battery first, meter 50 ms later; the write's effect (at +55 ms)
// lands between them, so the latest battery reading predates the last write and the meter does not.
const BAT_POLL = 20;
const MTR_POLL = 70;

/** Runs decide() in closed loop on the lagging snapshots; returns the battery target of each cycle. */
function runDecideLoop(withTimes: boolean, cycles = 12): number[] {
  const site = new LaggingSite();
  let last: { w: number; settledAt: number } | undefined;
  const targets: number[] = [];
  for (let k = 1; k <= cycles; k++) {
    const t = k * CYCLE;
    const batAt = t - CYCLE + BAT_POLL;
    const mtrAt = t - CYCLE + MTR_POLL;
    const snap: Snapshot = {
      ts: t,
      meterW: site.meterAt(mtrAt),
      pv: [],
      batteries: [
        {
          id: 'bat',
          w: site.batteryAt(batAt),
          socPct: 50,
          chargeMaxW: 5000,
          dischargeMaxW: 5000,
          ...(withTimes && { sampledAt: batAt }),
          ...(withTimes && last && { lastSetpoint: last }),
        },
      ],
      ...(withTimes && { meterSampledAt: mtrAt }),
    };
    const w = decide(snap, { battery: {}, pvLimit: {} }, settings).battery.bat;
    targets.push(w);
    if (!last || Math.abs(last.w - w) >= settings.deadbandW) {
      site.write(t, w);
      last = { w, settledAt: t + 5 + 250 }; // acknowledged after 5 ms, plus the response time
    }
  }
  return targets;
}

describe('self-consumption with readings polled one device after another', () => {
  it('reproduces the swing when the snapshot pairs an old battery power with a new meter power', () => {
    const targets = runDecideLoop(false);
    const tail = targets.slice(-6);
    const swings = tail.slice(1).filter((w, i) => Math.abs(w - tail[i]) > 1000).length;
    assert.equal(swings, 5, `no settling without sample times: ${targets.join(', ')}`);
  });

  it('holds the last setpoint until every reading shows it, then settles at the self-consumption target', () => {
    const targets = runDecideLoop(true);
    // Cycle 1 asks -4000 W; cycle 2 still sees the battery's old reading and holds; then it stays.
    assert.deepEqual(targets, new Array(12).fill(-4000), targets.join(', '));
  });

  it('the hold keeps the safety stages: a state of charge at the reserve still stops discharge', () => {
    const snap: Snapshot = {
      ts: 1000,
      meterW: -3000,
      meterSampledAt: 990,
      pv: [],
      batteries: [
        {
          id: 'bat',
          w: 0,
          socPct: 10,
          chargeMaxW: 5000,
          dischargeMaxW: 5000,
          sampledAt: 950,
          lastSetpoint: { w: 3000, settledAt: 980 },
        },
      ],
    };
    assert.equal(decide(snap, { battery: {}, pvLimit: {} }, settings).battery.bat, 0);
    // Same hold with a remote setpoint: the remote value wins, immediately.
    const remote = decide(snap, { battery: { bat: -1200 }, pvLimit: {} }, settings);
    assert.equal(remote.battery.bat, -1200);
  });
});

/** A driver whose writes go to the lagging site. */
class Device implements DeviceDriver {
  readonly protocol = 'sunspec-tcp' as const;
  readonly identity = {};
  readonly revertS = 60;
  constructor(
    readonly id: string,
    readonly kind: 'battery' | 'meter',
    readonly nameplate: DeviceDriver['nameplate'],
    readonly controls: CommandType[],
    private readonly onWrite: (w: number) => void = () => {},
  ) {}
  async open() {}
  async poll(): Promise<Reading> {
    return { ts: 0, values: {}, quality: {} };
  }
  async apply(sp: Setpoint): Promise<Applied> {
    if (sp.type === 'battery_power') this.onWrite(sp.w);
    return 'w' in sp ? { w: sp.w } : {};
  }
  async close() {}
}

describe('controller: self-consumption waits for readings sampled after its write', () => {
  it('settles on a site whose setpoint changes land between the battery and the meter poll', async () => {
    let t = 0;
    const site = new LaggingSite();
    const bat = new Device(
      'bat',
      'battery',
      { w_charge_max: 5000, w_discharge_max: 5000 },
      ['battery_power'],
      (w) => site.write(t, w),
    );
    const meter = new Device('meter', 'meter', {}, []);
    const latest = (id: string) => {
      // The latest completed poll of each device, one cycle behind in phase as in runDecideLoop.
      const at = t - CYCLE + (id === 'bat' ? BAT_POLL : MTR_POLL);
      const w = id === 'bat' ? site.batteryAt(at) : site.meterAt(at);
      const values = id === 'bat' ? { w, soc_pct: 50 } : { w };
      return { reading: { ts: at, values, quality: {} }, atMs: at + 10, sampledAtMs: at, pollMs: CYCLE };
    };
    const ctl = new Controller({
      site: 's1',
      settings: {
        enabled: true,
        cycleMs: CYCLE,
        uplinkLossS: 60,
        defaultMode: 'self_consumption',
        socReservePct: 10,
        deadbandW: 50,
        setpointSettleMs: 250,
      },
      drivers: () => [bat, meter],
      latest,
      uplink: () => ({ connected: true }),
      sendAck: () => {},
      log: pino({ level: 'silent' }),
      now: () => t,
    });
    const seen: number[] = [];
    for (let k = 1; k <= 12; k++) {
      t = k * CYCLE;
      await ctl.cycle();
      seen.push(site.batteryAt(t + CYCLE - 1));
    }
    assert.deepEqual(seen, new Array(12).fill(-4000), seen.join(', '));
  });
});
