/**
 * The fault-injection suite (docs/fault-injection.md): a real fleet under seeded kill -9 / SIGSTOP /
 * restart faults, then every acknowledged sample and every command counted end to end.
 * GRIDLAYER_FAULT_SEED replays a run; GRIDLAYER_FAULT_EXTRA adds freely drawn faults.
 */
import assert from 'node:assert/strict';
import { faultSeed } from '../test-support/fault-schedule.ts';
import { countCommands, countSamples, FaultFleet } from './fault-fleet.ts';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be an integer >= 0, got ${raw}`);
  return n;
}

export function describeFaultInjection(broker: 'embedded' | 'mosquitto'): void {
  describe(`fault injection (${broker} broker): kill -9, SIGSTOP and restarts of every part, counted end to end`, function () {
    this.timeout(300_000);
    const seed = faultSeed();
    const fleet = new FaultFleet({
      seed,
      broker,
      sites: ['site-fa', 'site-fb'],
      extraFaults: envInt('GRIDLAYER_FAULT_EXTRA', 0),
      killBroker: process.env.GRIDLAYER_FAULT_BROKER_KILL9 === '1',
    });
    /** Printed with every failure: the seed to replay it and what happened when. */
    const context = () => `seed ${seed} (GRIDLAYER_FAULT_SEED=${seed} replays this plan)\n${fleet.log}`;

    before(async () => {
      console.log(`    fault injection (${broker}): GRIDLAYER_FAULT_SEED=${seed}`);
      await fleet.start();
      const plan = fleet.makePlan();
      for (const f of plan.faults)
        fleet.log.log(
          `planned: +${f.atMs} ms ${f.kind} ${f.target} for ${f.outageMs} ms${f.killAfterMs !== undefined ? `, SIGKILL ${f.killAfterMs} ms after SIGCONT` : ''}`,
        );
      await fleet.run();
      await fleet.heal();
      await fleet.quiesce();
    });
    after(async () => {
      await fleet.stop();
    });

    it('relays decoded every MQTT packet (the ground truth is complete)', () => {
      assert.deepEqual(fleet.mqtt.decodeErrors, [], context());
      assert.ok(fleet.mqtt.acked.size > 0, `no telemetry acknowledged at all\n${context()}`);
    });

    for (const site of ['site-fa', 'site-fb']) {
      it(`${site}: zero acknowledged samples lost, zero duplicated in storage`, async () => {
        // The cloud may still be writing what an external broker delivered: the counts must converge.
        let counts = await countSamples(fleet, site, fleet.startedAt);
        for (let i = 0; i < 20 && counts.lost > 0; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          counts = await countSamples(fleet, site, fleet.startedAt);
        }
        const summary = `${site}: ${counts.acknowledged} acknowledged values in ${counts.batches} batches, lost ${counts.lost}, duplicated ${counts.duplicated}, wrong value ${counts.wrongValue}; ${counts.examples.join('; ')}`;
        console.log(`      ${summary}`);
        assert.ok(counts.acknowledged > 0, `${summary}\n${context()}`);
        assert.equal(counts.lost, 0, `acknowledged samples lost: ${summary}\n${context()}`);
        assert.equal(counts.duplicated, 0, `samples duplicated in storage: ${summary}\n${context()}`);
        assert.equal(counts.wrongValue, 0, `stored values differ: ${summary}\n${context()}`);
      });
    }

    it('commands: each applied at most once, never after its expiry, and the cloud says what happened', async () => {
      const c = await countCommands(fleet);
      const summary = `${c.issued} commands: ${c.acknowledged} acknowledged, ${c.expired} expired, ${c.refused} refused, ${c.open} still open; applied twice ${c.appliedTwice}, applied late ${c.appliedLate}, acknowledged but not applied ${c.acknowledgedNotApplied}, applied but reported expired ${c.appliedButExpired}, applied but unknown to the cloud ${c.appliedUnknown} (${fleet.attempted.length} posted, ${fleet.skippedCommands} not posted while the cloud was down)`;
      console.log(`      ${summary}`);
      const why = `${summary}\n${c.problems.join('\n')}\n${context()}`;
      assert.ok(c.issued >= 5, `too few commands issued to mean anything: ${why}`);
      assert.equal(c.appliedTwice, 0, `applied twice: ${why}`);
      assert.equal(c.appliedLate, 0, `applied after expiry: ${why}`);
      assert.equal(c.open, 0, `commands without a final status: ${why}`);
      assert.equal(c.acknowledgedNotApplied, 0, `acknowledged but not applied: ${why}`);
      assert.equal(c.appliedButExpired, 0, `applied but reported expired: ${why}`);
      assert.equal(c.appliedUnknown, 0, `applied but unknown to the cloud: ${why}`);
    });
  });
}
