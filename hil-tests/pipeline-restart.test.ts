import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { type ManagedProcess, startProcess } from '../test-support/process.ts';
import { HilCloud, hilDir, waitUntil } from './harness.ts';

const SITE = 'site-pr';
interface CommandRec {
  id: string;
  status: string;
  reason: string | null;
  applied: { w?: number } | null;
}

/**
 * The command pipeline's open commands after kill -9 of the cloud: nothing is held in memory, so the
 * restarted cloud closes the ones that expired meanwhile and re-publishes the others (also one whose
 * first publish never happened: the crash came between storing and publishing it) when the gateway
 * announces itself. The gateway here is Debian's mosquitto_sub / mosquitto_pub.
 */
describe('hardware in the loop: open commands of the pipeline survive kill -9 of the cloud', function () {
  this.timeout(60_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let gw = { username: '', password: '' };
  let sub: ManagedProcess | undefined;

  before(async () => {
    await cloud.start();
    ({ gateway: gw } = await cloud.ok<{ gateway: { username: string; password: string } }>('POST', '/sites', {
      id: SITE,
    }));
    // The devices the commands address (what an edge's capabilities message would register).
    execFileSync('/usr/bin/mosquitto_pub', [
      ...auth(),
      ...['-i', `gw-${SITE}`, '-q', '1', '-t', siteTopic(SITE, 'capabilities')],
      '-m',
      JSON.stringify({
        v: 1,
        site: SITE,
        ts: Date.now(),
        devices: [
          {
            id: 'bat',
            kind: 'battery',
            protocol: 'sunspec-tcp',
            nameplate: { w_max: 5000 },
            controls: ['battery_power'],
          },
          {
            id: 'pv',
            kind: 'inverter',
            protocol: 'sunspec-tcp',
            nameplate: { w_max: 8000 },
            controls: ['active_power_limit'],
          },
        ],
      }),
    ]);
    await waitUntil('devices registered', async () =>
      (await cloud.ok<unknown[]>('GET', `/sites/${SITE}/devices`)).length === 2 ? true : undefined,
    );
  });
  after(async () => {
    await sub?.stop();
    await cloud.stop();
    tmp.cleanup();
  });
  function auth() {
    return ['-h', '127.0.0.1', '-p', String(cloud.mqttPort), '-u', gw.username, '-P', gw.password];
  }
  const send = (body: Record<string, unknown>) =>
    cloud.ok<CommandRec>('POST', `/sites/${SITE}/commands`, body);
  const get = (id: string) => cloud.ok<CommandRec>('GET', `/commands/${id}`);

  it('expired ones are closed, open ones (sent or never published) go out again once the gateway is online', async () => {
    // No gateway listens: the broker has no session to queue them in.
    const open = await send({ type: 'battery_power', device: 'bat', w: -1200, ttlSeconds: 60 });
    const short = await send({ type: 'active_power_limit', device: 'pv', w: 3000, ttlSeconds: 2 });
    assert.deepEqual([open.status, short.status], ['sent', 'sent']);
    await cloud.proc?.stop('SIGKILL');
    // The crash came after this one was stored and before it was published.
    const now = Date.now();
    const pendingId = 'cmd_crashpending1';
    const db = new Database(join(tmp.dir, 'data', 'registry.db'));
    const body = {
      v: 1,
      id: pendingId,
      site: SITE,
      device: 'pv',
      type: 'active_power_limit',
      w: 2500,
      issuedAt: now,
      expiresAt: now + 60_000,
    };
    db.prepare(
      `INSERT INTO commands (id, site_id, device_id, type, body, issued_at, expires_at, issued_by, status, status_at)
       VALUES (?, ?, 'pv', 'active_power_limit', ?, ?, ?, 'user:ops', 'pending', ?)`,
    ).run(pendingId, SITE, JSON.stringify(body), now, now + 60_000, now);
    db.close();
    await new Promise((r) => setTimeout(r, 2200)); // `short` expires while the cloud is down
    await cloud.start();

    const expired = await waitUntil('the short one closed as expired', async () => {
      const c = await get(short.id);
      return c.status === 'expired' ? c : undefined;
    });
    assert.equal(expired.reason, 'no acknowledgement before expiry');

    // The gateway comes online (fresh session): it receives exactly the two open commands.
    const got: Array<{ id: string }> = [];
    sub = startProcess('/usr/bin/mosquitto_sub', [
      ...auth(),
      ...['-i', `gw-${SITE}`, '-q', '1', '-t', siteTopic(SITE, 'commands')],
    ]);
    sub.child.stdout?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) got.push(JSON.parse(line));
    });
    await new Promise((r) => setTimeout(r, 500)); // subscribed
    // Another client id for the status: the subscriber keeps its own connection.
    execFileSync('/usr/bin/mosquitto_pub', [
      ...auth(),
      ...['-i', `gw-${SITE}-status`, '-q', '1', '-t', siteTopic(SITE, 'status')],
      '-m',
      JSON.stringify({ v: 1, site: SITE, state: 'online', ts: Date.now() }),
    ]);
    await waitUntil('two commands re-published', () => (got.length >= 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(got.map((c) => c.id).sort(), [open.id, pendingId].sort());
    assert.equal((await get(pendingId)).status, 'sent');
    // Acknowledged after the restart: the record goes on as if nothing had happened.
    execFileSync('/usr/bin/mosquitto_pub', [
      ...auth(),
      ...['-i', `gw-${SITE}-status`, '-q', '1', '-t', siteTopic(SITE, 'acks')],
      '-m',
      JSON.stringify({
        v: 1,
        site: SITE,
        commandId: open.id,
        ts: Date.now(),
        status: 'applied',
        applied: { w: -1200 },
      }),
    ]);
    const acked = await cloud.ok<CommandRec>('GET', `/commands/${open.id}?waitMs=5000`);
    assert.equal(acked.status, 'acknowledged');
    assert.equal(acked.applied?.w, -1200);
  });
});
