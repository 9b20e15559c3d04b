import assert from 'node:assert/strict';
import { freePort } from '../test-support/ports.ts';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

interface CommandRec {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  issuedAt: number;
  expiresAt: number;
  issuedBy: string;
  command: { w?: number };
  applied: { w?: number } | null;
}

const UPLINK_LOSS_S = 2;

/**
 * A cloud outage longer than the edge's uplink-loss time: the edge falls back to its default mode.
 * When the cloud is back, it must learn that (the command shows `lapsed`, the site its mode) and
 * re-assert the setpoint that is still wanted, which lands on the device register again; one whose
 * expiry passed during the outage is shown expired, and nothing is sent for it.
 */
describe('hardware in the loop: cloud and edge reconcile after a cloud outage', function () {
  this.timeout(120_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let site: HilSite;
  let httpPort = 0;
  const wset = () => readRegister(site.modbusPort, 2, 704, 'WSet');
  const edgeMode = async () =>
    ((await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json()) as { mode: string }).mode;
  const command = (id: string) => cloud.ok<CommandRec>('GET', `/commands/${id}`);
  const send = async (w: number, ttlSeconds: number) => {
    const sent = await cloud.ok<CommandRec>('POST', '/sites/site-rc/commands', {
      type: 'battery_power',
      device: 'battery',
      w,
      ttlSeconds,
    });
    const done = await cloud.ok<CommandRec>('GET', `/commands/${sent.id}?waitMs=15000`);
    assert.equal(done.status, 'acknowledged', JSON.stringify(done));
    await waitUntil(`WSet ${w}`, async () => ((await wset()) === w ? true : undefined));
    return done;
  };
  /** kill -9 of the cloud (the harshest outage), then wait for the edge's own fallback. */
  const outage = async () => {
    await cloud.proc?.stop('SIGKILL');
    await waitUntil('the edge in default mode', async () =>
      (await edgeMode()) === 'default' ? 1 : undefined,
    );
  };

  before(async () => {
    await cloud.start();
    httpPort = await freePort();
    site = await startSite(cloud, tmp.dir, 'site-rc', { httpPort, uplinkLossS: UPLINK_LOSS_S });
    await waitUntil('site-rc devices registered', async () => {
      const d = await cloud.ok<unknown[]>('GET', '/sites/site-rc/devices');
      return d.length === 3 ? d : undefined;
    });
  });
  after(async () => {
    await site?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('a still-wanted setpoint: shown lapsed, re-asserted with its original expiry, applied again', async () => {
    const orig = await send(-2500, 120);
    await outage();
    // The fallback is real on the device: the default mode wrote its own setpoint.
    await waitUntil('a default-mode setpoint', async () => ((await wset()) !== -2500 ? 1 : undefined));
    await cloud.start();

    const lapsed = await waitUntil('the command shown lapsed', async () => {
      const c = await command(orig.id);
      return c.status === 'lapsed' ? c : undefined;
    });
    assert.match(lapsed.reason ?? '', /uplink lost for more than 2 s/);
    const reasserted = (lapsed.reason ?? '').match(/re-asserted as (cmd_\w+)/)?.[1];
    assert.ok(reasserted, lapsed.reason ?? '');
    const next = await cloud.ok<CommandRec>('GET', `/commands/${reasserted}?waitMs=15000`);
    assert.equal(next.status, 'acknowledged', JSON.stringify(next));
    assert.equal(next.command.w, -2500);
    assert.equal(next.applied?.w, -2500);
    assert.equal(next.expiresAt, orig.expiresAt); // the operator's end stays
    assert.ok(next.issuedAt > orig.issuedAt);
    assert.equal(next.issuedBy, orig.issuedBy);
    await waitUntil('WSet -2500 again', async () => ((await wset()) === -2500 ? true : undefined));
    await waitUntil('site mode remote', async () => {
      const s = await cloud.ok<{ mode: string }>('GET', '/sites/site-rc');
      return s.mode === 'remote' ? s : undefined;
    });
    // Exactly one re-assertion, although the edge repeats its lapse in every online status.
    const audit = await cloud.ok<Array<{ action: string; detail: { of?: string } }>>(
      'GET',
      '/audit?target=site-rc&limit=1000',
    );
    assert.equal(audit.filter((e) => e.action === 'command.reasserted').length, 1);
    assert.equal(audit.find((e) => e.action === 'command.reasserted')?.detail.of, orig.id);
  });

  it('a setpoint whose expiry passed during the outage: shown lapsed (it was applied), not re-sent', async () => {
    const orig = await send(-1800, 6);
    await outage();
    await waitUntil('its expiry passed', () => (Date.now() > orig.expiresAt + 500 ? 1 : undefined), 15_000);
    await cloud.start();
    const shown = await waitUntil('the command shown lapsed', async () => {
      const c = await command(orig.id);
      return c.status === 'lapsed' ? c : undefined;
    });
    assert.equal(shown.applied?.w, -1800, 'what the device took stays on record');
    assert.match(shown.reason ?? '', /lapsed at the site .*expired before it could be re-asserted/);
    const list = await cloud.ok<CommandRec[]>('GET', '/sites/site-rc/commands');
    assert.equal(list[0].id, orig.id, 'no newer command was issued');
    const audit = await cloud.ok<Array<{ action: string; detail: { of?: string } }>>(
      'GET',
      '/audit?target=site-rc&limit=1000',
    );
    assert.equal(audit.filter((e) => e.detail?.of === orig.id).length, 0);
  });
});
