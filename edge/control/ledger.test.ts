import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Ack, CommandType } from '../../protocols/mqtt/payloads.ts';
import type { Applied, DeviceDriver, Reading, Setpoint } from '../drivers/types.ts';
import { Controller } from './controller.ts';
import { CommandLedger, ledgerPathFor } from './ledger.ts';

class Inverter implements DeviceDriver {
  readonly id = 'pv';
  readonly kind = 'inverter' as const;
  readonly protocol = 'sunspec-tcp' as const;
  readonly identity = {};
  readonly revertS = 60;
  readonly nameplate = { w_max: 6000, var_max: 3000 };
  readonly controls: CommandType[] = ['active_power_limit', 'reactive_power'];
  readonly writes: Setpoint[] = [];
  async open() {}
  async poll(): Promise<Reading> {
    return { ts: Date.now(), values: {}, quality: {} };
  }
  async apply(sp: Setpoint): Promise<Applied> {
    this.writes.push(sp);
    return 'w' in sp ? { w: sp.w } : 'var' in sp ? { var: sp.var } : {};
  }
  async close() {}
}

/** The controller settings every case here runs with (uplink loss after 60 s, no deadband). */
const SETTINGS = {
  enabled: true,
  cycleMs: 1000,
  uplinkLossS: 60,
  defaultMode: 'self_consumption',
  socReservePct: 10,
  deadbandW: 0,
} as const;

describe('edge command ledger: lapses and answers that outlive the process', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-ledger-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sits next to the buffer file', () => {
    assert.equal(ledgerPathFor('/var/lib/gridlayer/buffer.db'), '/var/lib/gridlayer/buffer-commands.db');
    assert.equal(ledgerPathFor('/data/site-a'), '/data/site-a-commands.db');
    assert.equal(ledgerPathFor(':memory:'), ':memory:');
  });

  it('records setpoints dropped early as lapses (not expired ones), clears them on a newer command, and lapses what a restart dropped', async () => {
    const path = join(dir, 'buffer-commands.db');
    let t = Date.now(); // the ledger prunes by the wall clock
    let up: { connected: boolean; lastDisconnectMs?: number } = { connected: true };
    const pv = new Inverter();
    const acks: Array<{ ack: Ack; repeat: boolean }> = [];
    const make = (ledger: CommandLedger) =>
      new Controller({
        site: 's1',
        settings: SETTINGS,
        drivers: () => [pv],
        latest: () => ({ reading: { ts: t, values: { w: 3000 }, quality: {} }, atMs: t, pollMs: 1000 }),
        uplink: () => up,
        sendAck: (ack, repeat) => acks.push({ ack, repeat: !!repeat }),
        ledger,
        log: pino({ level: 'silent' }),
        now: () => t,
      });
    const cmd = (id: string, fields: Record<string, unknown>, ttlMs: number) =>
      JSON.stringify({ v: 1, id, site: 's1', device: 'pv', issuedAt: t, expiresAt: t + ttlMs, ...fields });

    let ledger = new CommandLedger(path);
    let ctl = make(ledger);
    await ctl.handleCommand(cmd('cmd-limit-1', { type: 'active_power_limit', w: 2500 }, 600_000));
    await ctl.handleCommand(cmd('cmd-var-01', { type: 'reactive_power', var: 1000 }, 600_000));
    await ctl.handleCommand(cmd('cmd-short-1', { type: 'reactive_power', var: 500 }, 5_000));
    assert.deepEqual(
      acks.map((a) => a.ack.status),
      ['applied', 'applied', 'applied'],
    );
    // The short one expires normally: that is no lapse.
    t += 6_000;
    await ctl.cycle();
    assert.deepEqual(ctl.lapses(), []);

    // A new constant-var command, then the uplink goes for more than uplinkLossS (60 s).
    await ctl.handleCommand(cmd('cmd-var-02', { type: 'reactive_power', var: 800 }, 600_000));
    up = { connected: false, lastDisconnectMs: t };
    t += 61_000;
    const lostAt = t;
    await ctl.cycle();
    assert.equal(ctl.mode, 'default');
    assert.deepEqual(
      ctl
        .lapses()
        .map((l) => [l.commandId, l.at, l.reason])
        .sort(),
      [
        ['cmd-limit-1', lostAt, 'uplink lost for more than 60 s: default mode'],
        ['cmd-var-02', lostAt, 'uplink lost for more than 60 s: default mode'],
      ],
    );

    // Back online: the cloud re-asserts the limit (a new command): that lapse is settled, the other stays.
    up = { connected: true };
    t += 1_000;
    await ctl.handleCommand(cmd('cmd-limit-2', { type: 'active_power_limit', w: 2500 }, 300_000));
    assert.deepEqual(
      ctl.lapses().map((l) => l.commandId),
      ['cmd-var-02'],
    );
    const answered = acks.find((a) => a.ack.commandId === 'cmd-limit-2')?.ack;
    assert.equal(answered?.status, 'applied');

    // The agent restarts (a new process over the same file): the held limit lapses; answers remain.
    ctl.stop();
    ledger.close();
    t += 1_000;
    const writesBefore = pv.writes.length;
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    assert.deepEqual(
      ctl
        .lapses()
        .map((l) => [l.commandId, l.reason])
        .sort(),
      [
        ['cmd-limit-2', 'edge agent restarted: default mode'],
        ['cmd-var-02', 'uplink lost for more than 60 s: default mode'],
      ],
    );
    await ctl.handleCommand(cmd('cmd-limit-2', { type: 'active_power_limit', w: 2500 }, 300_000));
    assert.deepEqual(acks.at(-1), { ack: answered, repeat: true });
    assert.equal(
      pv.writes.slice(writesBefore).filter((w) => w.type === 'active_power_limit' && w.w === 2500).length,
      0,
    );
    ledger.close();
  });

  it('keeps an answer the broker never took until it is marked delivered, across a restart', () => {
    const path = join(dir, 'delivery.db');
    const now = Date.now();
    const ack = (commandId: string): Ack => ({
      v: 1,
      site: 'site-1',
      ts: now,
      commandId,
      status: 'applied',
      applied: { w: 100 },
    });
    let ledger = new CommandLedger(path);
    ledger.recordAck(ack('cmd-a'), now + 60_000, now);
    ledger.recordAck(ack('cmd-b'), now + 60_000, now);
    ledger.recordAck(ack('cmd-c'), now + 60_000, now);
    ledger.markDelivered('cmd-b');
    assert.deepEqual(
      ledger.undelivered().map((a) => a.commandId),
      ['cmd-a', 'cmd-c'],
    );
    // kill -9 between recording and the PUBACK: a new process over the same file still has them.
    ledger.close();
    ledger = new CommandLedger(path);
    assert.deepEqual(ledger.undelivered(), [ack('cmd-a'), ack('cmd-c')]);
    ledger.markDelivered('cmd-a');
    ledger.markDelivered('cmd-c');
    assert.deepEqual(ledger.undelivered(), []);
    ledger.close();
    // A PUBACK arriving after the ledger closed (agent stopping) is ignored, not a crash.
    ledger.markDelivered('cmd-a');
  });

  it('reads the devices back for a command the agent died writing: taken is a lapse, not taken is refused or expired', async () => {
    const path = join(dir, 'inflight.db');
    let t = Date.now();
    /** A var setpoint register; `die` makes the next write hang forever before or after it lands. */
    class Frozen extends Inverter {
      varSet = 0;
      die: 'before' | 'after' | undefined;
      override async apply(sp: Setpoint): Promise<Applied> {
        if (sp.type === 'reactive_power' && this.die === 'before') return new Promise(() => {});
        const got = await super.apply(sp);
        if (sp.type === 'reactive_power') this.varSet = sp.var;
        if (sp.type === 'reactive_power' && this.die === 'after') return new Promise(() => {});
        return got;
      }
    }
    const pv = new Frozen();
    const noReadBack = Object.assign(new Frozen(), { id: 'pv2', die: 'after' as Frozen['die'] });
    (pv as DeviceDriver).holds = async (sp) => sp.type === 'reactive_power' && pv.varSet === sp.var;
    let open: DeviceDriver[] = [pv, noReadBack];
    const acks: Ack[] = [];
    let lapseCalls = 0;
    const make = (ledger: CommandLedger) =>
      new Controller({
        site: 's1',
        settings: SETTINGS,
        drivers: () => open,
        latest: () => undefined,
        uplink: () => ({ connected: true }),
        sendAck: (ack) => acks.push(ack),
        onLapse: () => lapseCalls++,
        ledger,
        log: pino({ level: 'silent' }),
        now: () => t,
      });
    const cmd = (id: string, device: string, v: number, ttlMs: number) =>
      JSON.stringify({
        v: 1,
        id,
        site: 's1',
        device,
        issuedAt: t,
        expiresAt: t + ttlMs,
        type: 'reactive_power',
        var: v,
      });
    // Three commands, each left hanging mid-write by the "death" of the process (never awaited).
    let ledger = new CommandLedger(path);
    let ctl = make(ledger);
    pv.die = 'after';
    void ctl.handleCommand(cmd('cmd-took-it', 'pv', 618, 3_000));
    await new Promise((r) => setImmediate(r));
    assert.equal(pv.varSet, 618, 'the write landed before the process died');
    ledger.close();
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    pv.die = 'before';
    void ctl.handleCommand(cmd('cmd-never-got', 'pv', 700, 600_000));
    void ctl.handleCommand(cmd('cmd-no-readback', 'pv2', 300, 600_000));
    await new Promise((r) => setImmediate(r));
    assert.equal(pv.varSet, 618, 'the second write never landed');
    ledger.close();

    // The restart comes after the first command's expiry; the devices are not open yet.
    t += 5_000;
    pv.die = undefined;
    noReadBack.die = undefined;
    open = [];
    const writesBefore = pv.writes.length;
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    await ctl.cycle();
    assert.equal(acks.length, 0, 'nothing is said before the devices can be read');
    assert.deepEqual(ctl.lapses(), []);
    open = [pv, noReadBack];
    await ctl.cycle();
    assert.deepEqual(
      ctl
        .lapses()
        .map((l) => [l.commandId, l.reason])
        .sort(),
      [
        [
          'cmd-no-readback',
          'the agent restarted while writing it; pv2 cannot be read back: whether it was taken is unknown: default mode',
        ],
        ['cmd-took-it', 'the agent restarted while writing it; read back, pv held it: default mode'],
      ],
    );
    assert.equal(lapseCalls, 2);
    assert.deepEqual(
      acks.map((a) => [a.commandId, a.status, a.reason]),
      [['cmd-never-got', 'refused', 'the agent restarted before the device took it: nothing applied']],
    );
    // Default mode for real: the device is told to drop the var setpoint the dead process left there,
    // and nothing of the commands is written again.
    assert.deepEqual(
      pv.writes.slice(writesBefore).filter((w) => w.type !== 'active_power_limit'),
      [{ type: 'reactive_default' }],
    );
    // Settled once: a second cycle and a second restart add nothing.
    await ctl.cycle();
    ledger.close();
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    await ctl.cycle();
    assert.equal(acks.length, 1);
    assert.equal(lapseCalls, 2);
    assert.deepEqual(ledger.inflight(), []);

    // Not taken and already past its expiry: expired, not refused.
    pv.die = 'before';
    void ctl.handleCommand(cmd('cmd-late', 'pv', 900, 1_000));
    await new Promise((r) => setImmediate(r));
    ledger.close();
    t += 2_000;
    pv.die = undefined;
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    await ctl.cycle();
    assert.deepEqual(
      acks.slice(1).map((a) => [a.commandId, a.status]),
      [['cmd-late', 'expired']],
    );
    ledger.close();
  });

  it('a copy of a command the last process died writing (the broker delivers it again) is never written a second time', async () => {
    const path = join(dir, 'redelivered.db');
    const t = Date.now();
    class Frozen extends Inverter {
      varSet = 0;
      die = false;
      override async apply(sp: Setpoint): Promise<Applied> {
        const got = await super.apply(sp);
        if (sp.type === 'reactive_power') this.varSet = sp.var;
        if (sp.type === 'reactive_power' && this.die) return new Promise(() => {});
        return got;
      }
    }
    const pv = new Frozen();
    (pv as DeviceDriver).holds = async (sp) => sp.type === 'reactive_power' && pv.varSet === sp.var;
    let open: DeviceDriver[] = [pv];
    const acks: Ack[] = [];
    const duplicates: string[] = [];
    const make = (ledger: CommandLedger) =>
      new Controller({
        site: 's1',
        settings: SETTINGS,
        drivers: () => open,
        latest: () => undefined,
        uplink: () => ({ connected: true }),
        sendAck: (ack) => acks.push(ack),
        onDuplicate: (id) => duplicates.push(id),
        ledger,
        log: pino({ level: 'silent' }),
        now: () => t,
      });
    const payload = JSON.stringify({
      v: 1,
      id: 'cmd-var-508',
      site: 's1',
      device: 'pv',
      issuedAt: t,
      expiresAt: t + 600_000,
      type: 'reactive_power',
      var: 508,
    });
    const varWrites = () => pv.writes.filter((w) => w.type === 'reactive_power').length;
    let ledger = new CommandLedger(path);
    let ctl = make(ledger);
    pv.die = true;
    void ctl.handleCommand(payload);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(varWrites(), 1);
    ledger.close();

    // Restarted; the copy arrives before the devices are open (the read-back has not run yet).
    pv.die = false;
    open = [];
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    open = [pv];
    await ctl.handleCommand(payload);
    assert.equal(varWrites(), 1, 'not written again while its outcome is open');
    assert.equal(acks.length, 0);
    await ctl.cycle();
    assert.deepEqual(
      ctl.lapses().map((l) => l.commandId),
      ['cmd-var-508'],
    );
    assert.equal(varWrites(), 1, 'the read-back wrote nothing of it');
    // A copy after the read-back, and another after a second restart: still nothing written or acked.
    await ctl.handleCommand(payload);
    ledger.close();
    ledger = new CommandLedger(path);
    ctl = make(ledger);
    await ctl.cycle();
    await ctl.handleCommand(payload);
    assert.equal(varWrites(), 1);
    assert.equal(acks.length, 0);
    assert.deepEqual(duplicates, ['cmd-var-508', 'cmd-var-508', 'cmd-var-508']);
    ledger.close();
  });

  it('after a restart, a constant var setpoint the last process held is ended on the device, not left to its revert timer', async () => {
    const path = join(dir, 'held-reactive.db');
    const t = Date.now();
    const pv = new Inverter();
    let open: DeviceDriver[] = [pv];
    const make = (ledger: CommandLedger) =>
      new Controller({
        site: 's1',
        settings: SETTINGS,
        drivers: () => open,
        latest: () => undefined,
        uplink: () => ({ connected: true }),
        sendAck: () => undefined,
        ledger,
        log: pino({ level: 'silent' }),
        now: () => t,
      });
    let ledger = new CommandLedger(path);
    const ctl = make(ledger);
    await ctl.handleCommand(
      JSON.stringify({
        v: 1,
        id: 'cmd-held-var',
        site: 's1',
        device: 'pv',
        issuedAt: t,
        expiresAt: t + 600_000,
        type: 'reactive_power',
        var: 1000,
      }),
    );
    ledger.close();
    const before = pv.writes.length;
    open = []; // the device is not open yet when the new process starts
    ledger = new CommandLedger(path);
    const next = make(ledger);
    await next.cycle();
    assert.deepEqual(pv.writes.slice(before), []);
    open = [pv];
    await next.cycle();
    await next.cycle();
    const reactive = (w: Setpoint) => w.type !== 'active_power_limit';
    assert.deepEqual(pv.writes.slice(before).filter(reactive), [{ type: 'reactive_default' }]);
    assert.deepEqual(
      next.lapses().map((l) => [l.commandId, l.reason]),
      [['cmd-held-var', 'edge agent restarted: default mode']],
    );
    ledger.close();
  });
});
