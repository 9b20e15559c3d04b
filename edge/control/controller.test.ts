import assert from 'node:assert/strict';
import fc from 'fast-check';
import pino from 'pino';
import type { Ack, CommandType } from '../../protocols/mqtt/payloads.ts';
import type { Applied, DeviceDriver, Reading, Setpoint } from '../drivers/types.ts';
import { Controller } from './controller.ts';

/** An in-memory device that records every setpoint the controller writes. */
class RecordingDevice implements DeviceDriver {
  readonly protocol = 'sunspec-tcp' as const;
  readonly identity = {};
  readonly revertS = 60;
  readonly writes: Setpoint[] = [];
  constructor(
    readonly id: string,
    readonly kind: 'inverter' | 'battery' | 'meter',
    readonly nameplate: DeviceDriver['nameplate'],
    readonly controls: CommandType[],
  ) {}
  async open() {}
  async poll(): Promise<Reading> {
    return { ts: Date.now(), values: {}, quality: {} };
  }
  async apply(sp: Setpoint): Promise<Applied> {
    this.writes.push(sp);
    return 'w' in sp ? { w: sp.w } : {};
  }
  async close() {}
}

describe('controller: commands to writes', () => {
  it('property: whatever commands arrive, every write stays inside nameplate and site limits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            device: fc.constantFrom('bat', 'pv', undefined, 'meter'),
            type: fc.constantFrom('battery_power', 'active_power_limit'),
            w: fc.oneof(fc.integer({ min: -1e7, max: 1e7 }), fc.double(), fc.constant('x')),
            ttl: fc.integer({ min: -5000, max: 60_000 }),
            meterW: fc.integer({ min: -20000, max: 20000 }),
            soc: fc.double({ min: 0, max: 100, noNaN: true }),
          }),
          { minLength: 1, maxLength: 15 },
        ),
        async (steps) => {
          const bat = new RecordingDevice('bat', 'battery', { w_charge_max: 3000, w_discharge_max: 2500 }, [
            'battery_power',
          ]);
          const pv = new RecordingDevice('pv', 'inverter', { w_max: 6000 }, ['active_power_limit']);
          const meter = new RecordingDevice('meter', 'meter', {}, []);
          const readings: Record<string, Reading> = {};
          const acks: Ack[] = [];
          const ctl = new Controller({
            site: 's1',
            settings: {
              enabled: true,
              cycleMs: 1000,
              uplinkLossS: 60,
              defaultMode: 'self_consumption',
              socReservePct: 10,
              deadbandW: 0,
              exportMaxW: 2000,
              importMaxW: 5000,
            },
            drivers: () => [bat, pv, meter],
            latest: (id) =>
              readings[id] ? { reading: readings[id], atMs: Date.now(), pollMs: 1000 } : undefined,
            uplink: () => ({ connected: true }),
            sendAck: (a) => acks.push(a),
            log: pino({ level: 'silent' }),
          });
          let n = 0;
          for (const s of steps) {
            const now = Date.now();
            readings.meter = { ts: now, values: { w: s.meterW }, quality: {} };
            readings.bat = { ts: now, values: { w: 0, soc_pct: s.soc }, quality: {} };
            readings.pv = { ts: now, values: { w: 3000 }, quality: {} };
            await ctl.handleCommand(
              JSON.stringify({
                v: 1,
                id: `cmd-prop-${String(n++).padStart(4, '0')}`,
                site: 's1',
                device: s.device,
                issuedAt: now,
                expiresAt: now + s.ttl,
                type: s.type,
                w: s.w,
              }),
            );
            await ctl.cycle();
            const last = bat.writes.at(-1);
            if (last && last.type === 'battery_power') {
              assert.ok(last.w >= -3000 && last.w <= 2500, `battery write ${last.w}`);
              if (s.soc <= 10) assert.ok(last.w <= 0, 'no discharge below reserve');
              // Site: 0 W battery before and 3000 W of PV, so the predicted meter moves by the battery
              // write and by any PV curtailment in effect (the controller may curtail PV instead).
              const pvLimit = pv.writes.findLast((w) => w.type === 'active_power_limit') as
                | { w: number }
                | undefined;
              const pvDelta = Math.min(3000, pvLimit?.w ?? 3000) - 3000;
              const exported = s.meterW + last.w + pvDelta;
              assert.ok(exported <= Math.max(2000, s.meterW), `export ${exported}`);
            }
            for (const w of pv.writes)
              if (w.type === 'active_power_limit') assert.ok(w.w >= 0 && w.w <= 6000);
          }
          assert.equal(acks.length <= steps.length, true);
          for (const a of acks) assert.ok(['applied', 'refused', 'expired'].includes(a.status));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('controller: a command delivered more than once', () => {
  /** A PV inverter whose writes take a while, so a second copy can arrive mid-write. */
  class SlowInverter extends RecordingDevice {
    override async apply(sp: Setpoint): Promise<Applied> {
      this.writes.push(sp);
      await new Promise((r) => setTimeout(r, 30));
      return sp.type === 'reactive_power' ? { var: sp.var } : 'w' in sp ? { w: sp.w } : {};
    }
  }

  function setup(now: () => number) {
    const pv = new SlowInverter('pv', 'inverter', { w_max: 6000, var_max: 3000 }, [
      'reactive_power',
      'active_power_limit',
    ]);
    const acks: Array<{ ack: Ack; repeat: boolean }> = [];
    const duplicates: string[] = [];
    const ctl = new Controller({
      site: 's1',
      settings: {
        enabled: true,
        cycleMs: 1000,
        uplinkLossS: 60,
        defaultMode: 'self_consumption',
        socReservePct: 10,
        deadbandW: 0,
      },
      drivers: () => [pv],
      latest: (id) =>
        id === 'pv'
          ? { reading: { ts: now(), values: { w: 3000 }, quality: {} }, atMs: now(), pollMs: 1000 }
          : undefined,
      uplink: () => ({ connected: true }),
      sendAck: (ack, repeat) => acks.push({ ack, repeat: !!repeat }),
      onDuplicate: (id) => duplicates.push(id),
      log: pino({ level: 'silent' }),
      now,
    });
    return { pv, acks, ctl, duplicates };
  }

  it('writes once and answers the same ack, also after the command has expired meanwhile', async () => {
    let t = Date.now();
    const { pv, acks, ctl, duplicates } = setup(() => t);
    const cmd = JSON.stringify({
      v: 1,
      id: 'cmd-dup-q',
      site: 's1',
      device: 'pv',
      issuedAt: t,
      expiresAt: t + 10_000,
      type: 'reactive_power',
      var: 1200,
    });
    // Broker redelivery and the cloud's re-send arriving while the first write is still going on.
    await Promise.all([ctl.handleCommand(cmd), ctl.handleCommand(cmd)]);
    assert.equal(pv.writes.length, 1);
    assert.deepEqual(
      acks.map((a) => [a.ack.status, a.repeat]),
      [['applied', false]],
    );
    t += 60_000; // long expired: still the first answer, not a conflicting "expired"
    await ctl.handleCommand(cmd);
    assert.equal(pv.writes.length, 1);
    assert.equal(acks.length, 2);
    assert.deepEqual(acks[1], { ack: acks[0].ack, repeat: true });
    assert.deepEqual(duplicates, ['cmd-dup-q', 'cmd-dup-q']);
  });

  it('a setpoint held by the control cycle is acknowledged once however often it arrives', async () => {
    const t = Date.now();
    const { pv, acks, ctl } = setup(() => t);
    const cmd = JSON.stringify({
      v: 1,
      id: 'cmd-dup-w',
      site: 's1',
      device: 'pv',
      issuedAt: t,
      expiresAt: t + 10_000,
      type: 'active_power_limit',
      w: 2500,
    });
    await Promise.all([ctl.handleCommand(cmd), ctl.handleCommand(cmd)]);
    await ctl.cycle();
    await ctl.handleCommand(cmd);
    const limits = pv.writes.filter((w) => w.type === 'active_power_limit');
    assert.deepEqual(limits, [{ type: 'active_power_limit', w: 2500 }]);
    assert.deepEqual(
      acks.map((a) => [a.ack.commandId, a.ack.status, a.repeat]),
      [
        ['cmd-dup-w', 'applied', false],
        ['cmd-dup-w', 'applied', true],
      ],
    );
  });
});
