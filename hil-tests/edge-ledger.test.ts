import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { type RunningMosquitto, startMosquitto } from '../test-support/mosquitto.ts';
import { freePort } from '../test-support/ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from '../test-support/process.ts';
import { hilDir, readRegister, waitUntil } from './harness.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'gridlayer.js');
const SITE = 'site-lg';
const gridlayer = (args: string[]) => startProcess(process.execPath, [BIN, ...args]);

/** One counter of the edge's Prometheus text (0 when absent). */
async function edgeCounter(port: number, status: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`gridlayer_edge_commands_total{status="${status}"} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * The edge as its own process, against a real Mosquitto; the test plays the cloud with Debian's
 * mosquitto_pub / mosquitto_sub. The same command id delivered again after the edge was killed
 * (a broker session's redelivery, or the cloud re-sending an open command) must get the stored answer,
 * not a second application; a command that expired while the edge was down is refused as expired.
 */
describe('hardware in the loop: edge acknowledgements survive a kill -9 of the edge', function () {
  this.timeout(60_000);
  const tmp = hilDir();
  let broker: RunningMosquitto;
  let sim: ManagedProcess;
  let edge: ManagedProcess | undefined;
  let sub: ManagedProcess;
  let modbusPort = 0;
  let httpPort = 0;
  const cfg = join(tmp.dir, 'edge.yaml');
  /** Every message the "cloud" saw: topic and parsed payload. */
  const seen: Array<{ topic: string; json: any }> = [];
  let subOut = '';

  const pub = (c: Record<string, unknown>) =>
    execFileSync('/usr/bin/mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'cloud', '-P', 'cloud-secret'],
      ...['-q', '1', '-t', siteTopic(SITE, 'commands'), '-m', JSON.stringify(c)],
    ]);
  const acksOf = (id: string) =>
    seen.filter((m) => m.topic.endsWith('/acks') && m.json.commandId === id).map((m) => m.json);
  const startEdge = async () => {
    edge = gridlayer(['edge', '--config', cfg]);
    await waitForPort(httpPort, edge, 30_000);
  };

  before(async () => {
    broker = await startMosquitto({
      users: { 'gw-lg': 'gw-secret', cloud: 'cloud-secret' },
      acl: `user gw-lg\ntopic write gridlayer/v1/sites/${SITE}/#\ntopic read gridlayer/v1/sites/${SITE}/commands\n\nuser cloud\ntopic readwrite gridlayer/v1/sites/#\n`,
    });
    modbusPort = await freePort();
    httpPort = await freePort();
    sim = gridlayer(['sim', 'site', '--modbus-port', String(modbusPort), '--seed', '3']);
    await waitForPort(modbusPort, sim, 30_000);
    sub = startProcess('/usr/bin/mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'cloud', '-P', 'cloud-secret'],
      ...['-q', '1', '-v', '-t', siteTopic(SITE, 'acks'), '-t', siteTopic(SITE, 'status')],
    ]);
    sub.child.stdout?.on('data', (d: Buffer) => {
      subOut += d.toString();
      let nl = subOut.indexOf('\n');
      while (nl >= 0) {
        const line = subOut.slice(0, nl);
        subOut = subOut.slice(nl + 1);
        const sp = line.indexOf(' ');
        if (sp > 0) seen.push({ topic: line.slice(0, sp), json: JSON.parse(line.slice(sp + 1)) });
        nl = subOut.indexOf('\n');
      }
    });
    writeFileSync(
      cfg,
      [
        `site: ${SITE}`,
        `uplink: ${JSON.stringify({
          url: broker.url,
          username: 'gw-lg',
          password: 'gw-secret',
          clientId: 'gw-site-lg',
          batchMs: 500,
          reconnectMs: 300,
        })}`,
        `buffer: { path: ${join(tmp.dir, 'buffer.db')} }`,
        `http: { port: ${httpPort} }`,
        'log: { level: warn }',
        'control: { cycleMs: 300, uplinkLossS: 60, deadbandW: 0 }',
        'devices:',
        `  - { id: pv, protocol: modbus-tcp, host: 127.0.0.1, port: ${modbusPort}, unit: 1, pollMs: 300 }`,
        `  - { id: battery, protocol: modbus-tcp, host: 127.0.0.1, port: ${modbusPort}, unit: 2, pollMs: 300 }`,
        `  - { id: meter, protocol: modbus-tcp, host: 127.0.0.1, port: ${modbusPort}, unit: 3, pollMs: 300 }`,
        '',
      ].join('\n'),
    );
    await startEdge();
    await waitUntil('edge online', () =>
      seen.some((m) => m.topic.endsWith('/status') && m.json.state === 'online'),
    );
  });
  after(async () => {
    await edge?.stop();
    await sub?.stop();
    await sim?.stop();
    await broker?.stop();
    tmp.cleanup();
  });

  it('a command delivered again after a restart gets the stored ack and is not re-applied; an expired one is refused', async () => {
    const now = Date.now();
    const c1 = {
      v: 1,
      id: 'cmd-ledger-0001',
      site: SITE,
      device: 'battery',
      type: 'battery_power',
      w: -1500,
      issuedAt: now,
      expiresAt: now + 120_000,
    };
    pub(c1);
    const [first] = await waitUntil('first ack', () => (acksOf(c1.id).length ? acksOf(c1.id) : undefined));
    assert.equal(first.status, 'applied');
    assert.equal(first.applied.w, -1500);
    assert.equal(await readRegister(modbusPort, 2, 704, 'WSet'), -1500);

    // kill -9: no graceful stop, nothing flushed on the way out.
    await edge?.stop('SIGKILL');
    // While it is down: the same command again (the redelivery), and one that expires before it is back.
    pub(c1);
    const c2 = { ...c1, id: 'cmd-ledger-0002', w: -3000, issuedAt: Date.now(), expiresAt: Date.now() + 1000 };
    pub(c2);
    await new Promise((r) => setTimeout(r, 1500));
    await startEdge();

    const again = await waitUntil('the repeated ack', () => acksOf(c1.id)[1]);
    // The stored answer, byte for byte: same time stamp as the first, so nothing was applied again.
    assert.deepEqual(again, first);
    const [expired] = await waitUntil('the expired command answered', () =>
      acksOf(c2.id).length ? acksOf(c2.id) : undefined,
    );
    assert.equal(expired.status, 'expired');
    assert.equal(acksOf(c2.id).length, 1);
    // The restarted agent does not follow the setpoint its predecessor held: it says so.
    const lapsed = await waitUntil(
      'a status reporting the lapse',
      () => seen.find((m) => m.topic.endsWith('/status') && m.json.lapsed?.length)?.json.lapsed,
    );
    assert.deepEqual(
      lapsed.map((l: { commandId: string }) => l.commandId),
      [c1.id],
    );
    assert.match(lapsed[0].reason, /restarted/);
    // Counts of the new process: nothing applied, one duplicate, one refused as expired.
    await waitUntil('edge metrics', async () =>
      (await edgeCounter(httpPort, 'duplicate')) >= 1 ? 1 : undefined,
    );
    assert.equal(await edgeCounter(httpPort, 'applied'), 0);
    assert.equal(await edgeCounter(httpPort, 'duplicate'), 1);
    assert.equal(await edgeCounter(httpPort, 'expired'), 1);
    // The device runs the default mode, neither command's value: wait until the new process has
    // written its own setpoint, then read the register.
    const wset = await waitUntil('a default-mode write', async () => {
      const w = await readRegister(modbusPort, 2, 704, 'WSet');
      return w !== undefined && w !== -1500 ? w : undefined;
    });
    assert.notEqual(wset, -3000);
  });
});
