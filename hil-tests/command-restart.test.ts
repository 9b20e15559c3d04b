import assert from 'node:assert/strict';
import { freePort } from '../test-support/ports.ts';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

/** One counter of the edge's Prometheus text (0 when absent). */
async function edgeCounter(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('hardware in the loop: a command for an offline gateway survives a cloud restart', function () {
  this.timeout(60_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let site: HilSite;
  let httpPort = 0;

  before(async () => {
    await cloud.start();
    httpPort = await freePort();
    site = await startSite(cloud, tmp.dir, 'site-rs', { httpPort });
    await waitUntil('site-rs devices registered', async () => {
      const d = await cloud.ok<unknown[]>('GET', '/sites/site-rs/devices');
      return d.length === 3 ? d : undefined;
    });
  });
  after(async () => {
    await site?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  const applied = () => edgeCounter(httpPort, 'gridlayer_edge_commands_total{status="applied"}');
  const commandAudit = async (id: string) =>
    (
      await cloud.ok<Array<{ action: string; detail: { id?: string } }>>(
        'GET',
        '/audit?target=site-rs&limit=1000',
      )
    )
      .filter((e) => e.detail?.id === id)
      .map((e) => e.action);

  it('sent while the edge is down, the cloud restarted on the same data: applied and acknowledged once', async () => {
    await site.edge?.stop();
    const sent = await cloud.ok<{ id: string; status: string }>('POST', '/sites/site-rs/commands', {
      type: 'battery_power',
      device: 'battery',
      w: -2500,
      ttlSeconds: 120,
    });
    assert.equal(sent.status, 'sent'); // handed to the broker, which holds it only in memory
    await cloud.stop();
    await cloud.start();
    assert.equal((await cloud.ok<{ status: string }>('GET', `/commands/${sent.id}`)).status, 'sent');

    await site.startEdge();
    const done = await cloud.ok<{ status: string; applied?: { w: number } }>(
      'GET',
      `/commands/${sent.id}?waitMs=20000`,
    );
    assert.equal(done.status, 'acknowledged', JSON.stringify(done));
    assert.equal(done.applied?.w, -2500);
    assert.equal(await readRegister(site.modbusPort, 2, 704, 'WSet'), -2500);
    // Once: the edge applied one command, the cloud recorded one acknowledgement.
    await waitUntil('edge metrics', async () => ((await applied()) >= 1 ? true : undefined));
    assert.equal(await applied(), 1);
    const actions = await commandAudit(sent.id);
    assert.equal(actions.filter((a) => a === 'command.acknowledged').length, 1);
    assert.ok(actions.includes('command.resent'), actions.join(', '));
  });

  it('without a restart, the broker session and the re-send both deliver it: still applied once', async () => {
    await site.edge?.stop();
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/site-rs/commands', {
      type: 'reactive_power',
      device: 'pv',
      var: 800,
      ttlSeconds: 120,
    });
    await site.startEdge();
    const done = await cloud.ok<{ status: string; applied?: { var: number } }>(
      'GET',
      `/commands/${sent.id}?waitMs=20000`,
    );
    assert.equal(done.status, 'acknowledged');
    assert.equal(done.applied?.var, 800);
    // The second copy gets the same ack again, counted as a duplicate, never a second write.
    const duplicates = await waitUntil('the second copy answered', async () => {
      const n = await edgeCounter(httpPort, 'gridlayer_edge_commands_total{status="duplicate"}');
      return n >= 1 ? n : undefined;
    });
    assert.ok(duplicates >= 1);
    const actions = await commandAudit(sent.id);
    assert.equal(actions.filter((a) => a === 'command.acknowledged').length, 1);
    // The edge stopped while it held the first test's battery setpoint (120 s): the new process
    // reported it lapsed, and the cloud re-asserted it once. So two applications in this process:
    // that re-assertion and this command, never a second write of this one.
    const audit = await cloud.ok<Array<{ action: string }>>('GET', '/audit?target=site-rs&limit=1000');
    assert.equal(audit.filter((e) => e.action === 'command.reasserted').length, 1);
    await waitUntil('both applications counted', async () => ((await applied()) >= 2 ? true : undefined));
    assert.equal(await applied(), 2);
  });
});
