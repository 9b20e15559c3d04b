/**
 * External-broker mode: the cloud acknowledges a message to Mosquitto only once it is stored, so a
 * kill -9 of the cloud between receipt and commit loses nothing (Mosquitto keeps it in the cloud's
 * persistent session and redelivers it). Real processes: Debian's mosquitto started from the printed
 * config and ACL, `gridlayer cloud --config` as a child process, telemetry from mosquitto_pub.
 *
 * ingest.flushIntervalMs is set to 8 s, so after the first commit the next batches wait in the
 * cloud's write buffer for seconds: the kill -9 lands in that window for sure. Before the fix the cloud
 * acknowledged on receipt and those batches were gone.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteTimeSeries } from '../cloud/storage/timeseries/sqlite.ts';
import { telemetry } from '../test-support/cloud/test-cloud.ts';
import { type RunningMosquitto, startMosquitto } from '../test-support/mosquitto.ts';
import { type ManagedProcess, startProcess } from '../test-support/process.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'gridlayer.js');
const printed = (args: string[]) =>
  execFileSync(process.execPath, [BIN, 'cloud', ...args], { encoding: 'utf8', timeout: 30_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The test reads the store the running cloud writes: opening it checks the layout in a write
 * transaction, which the cloud's writer can hold for a moment (SQLITE_BUSY). Retry that, only that.
 */
async function openStore(path: string): Promise<SqliteTimeSeries> {
  for (let i = 0; ; i++) {
    try {
      return new SqliteTimeSeries({ path, synchronous: 'normal' });
    } catch (err) {
      if (i >= 50 || !/database is locked/.test(String(err))) throw err;
      await sleep(100);
    }
  }
}

describe('hardware in the loop: external Mosquitto, the cloud acknowledges only what is stored', function () {
  this.timeout(90_000);
  const users = { 'gridlayer-cloud': 'cloud-secret-1', 'site-x': 'secret-x-123' };
  let broker: RunningMosquitto;
  let dir: string;
  let cloud: ManagedProcess | undefined;

  const startCloud = async () => {
    const p = startProcess(process.execPath, [BIN, 'cloud', '--config', join(dir, 'cloud.yaml')], {
      cwd: dir,
    });
    for (let i = 0; i < 300 && !/gridlayer cloud started/.test(p.output()); i++) {
      if (p.child.exitCode !== null) throw new Error(`cloud exited:\n${p.output()}`);
      await sleep(50);
    }
    assert.match(p.output(), /gridlayer cloud started/);
    return p;
  };

  before(async () => {
    broker = await startMosquitto({
      users,
      acl: printed(['--print-mosquitto-acl', 'gridlayer-cloud']),
      conf: ({ port, passwordFile, aclFile }) =>
        printed([
          ...['--print-mosquitto-conf', '--mosquitto-port', String(port)],
          ...['--mosquitto-passwd', passwordFile, '--mosquitto-acl-file', aclFile],
        ]),
    });
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-extack-'));
    writeConfig(8000);
  });
  const writeConfig = (flushIntervalMs: number) =>
    writeFileSync(
      join(dir, 'cloud.yaml'),
      [
        'logLevel: info',
        `broker: { mode: external, url: "${broker.url}", username: gridlayer-cloud, password: ${users['gridlayer-cloud']} }`,
        'api: { port: 0 }',
        'storage: { timeseries: { backend: sqlite, path: ts.db }, registry: { backend: sqlite, path: registry.db } }',
        `ingest: { flushIntervalMs: ${flushIntervalMs} }`,
        '',
      ].join('\n'),
    );
  after(async () => {
    await cloud?.stop('SIGKILL');
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of the cloud with batches received but not committed: after a restart all 6 are stored once', async () => {
    cloud = await startCloud();
    const t0 = Date.now() - 60_000;
    const pub = (seq: number) =>
      run('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(broker.port), '-V', 'mqttv311', '-q', '1'],
        ...['-u', 'site-x', '-P', users['site-x'], '-i', 'site-x'],
        ...[
          '-t',
          'gridlayer/v1/sites/site-x/telemetry',
          '-m',
          telemetry('site-x', seq, t0 + seq * 1000, seq * 100),
        ],
      ]);
    // Batch 1 is committed at once; 2..6 then wait in the write buffer for the 8 s commit spacing.
    await pub(1);
    await sleep(500);
    for (let seq = 2; seq <= 6; seq++) await pub(seq); // exit 0: Mosquitto has it
    await sleep(1000); // the cloud has received them (loopback, milliseconds)
    await cloud.stop('SIGKILL');
    cloud = undefined;

    // Restarted on the same data: Mosquitto redelivers what the killed cloud never acknowledged.
    cloud = await startCloud();
    const store = () => openStore(join(dir, 'ts.db'));
    let counts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s = await store();
      const b = await s.range({ sites: ['site-x'], points: ['w'], from: t0, to: t0 + 10_000, bucketMs: 1 });
      await s.close();
      counts = b.map((x) => x.count);
      if (counts.length >= 6) break;
      await sleep(100);
    }
    await cloud.stop('SIGTERM');
    cloud = undefined;
    const s = await store();
    const b = await s.range({ sites: ['site-x'], points: ['w'], from: t0, to: t0 + 10_000, bucketMs: 1 });
    await s.close();
    // One value per batch, each stored exactly once: w = 100·seq at t0 + 1000·seq.
    assert.deepEqual(
      b.map((x) => [x.t - t0, x.mean, x.count]),
      [1, 2, 3, 4, 5, 6].map((seq) => [seq * 1000, seq * 100, 1]),
    );
  });

  it('a registry write that fails (the database refuses it for a while): the cloud reconnects and the redelivered status is applied', async () => {
    // Before the fix the cloud ended its broker connection on the first failed write and never came
    // back: every later message of every site waited in Mosquitto for good.
    writeConfig(20);
    cloud = await startCloud();
    const pubTo = (topic: string, message: string) =>
      run('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(broker.port), '-V', 'mqttv311', '-q', '1'],
        ...['-u', 'site-x', '-P', users['site-x'], '-i', 'site-x-status'],
        ...['-t', topic, '-m', message],
      ]);
    const registry = new Database(join(dir, 'registry.db'));
    const lastSeen = () =>
      (
        registry.prepare('SELECT last_seen FROM sites WHERE id = ?').get('site-x') as
          | { last_seen: number }
          | undefined
      )?.last_seen;
    const ts = Date.now() - 1000;
    // The registry refuses every update of a site's row (as a full disk or an I/O error would) for 4 s.
    registry.exec(
      "CREATE TRIGGER refuse_updates BEFORE UPDATE ON sites BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END",
    );
    await pubTo(
      'gridlayer/v1/sites/site-x/status',
      JSON.stringify({ v: 1, site: 'site-x', state: 'online', ts }),
    );
    for (let i = 0; i < 100 && !/ingest unavailable/.test(cloud.output()); i++) await sleep(100);
    await sleep(3000);
    assert.notEqual(lastSeen(), ts);
    registry.exec('DROP TRIGGER refuse_updates');
    let seen: number | undefined;
    for (let i = 0; i < 300 && seen !== ts; i++) {
      seen = lastSeen();
      if (seen !== ts) await sleep(100);
    }
    assert.equal(seen, ts, `the redelivered status was not applied:\n${cloud.output().slice(-3000)}`);
    assert.match(cloud.output(), /ingest unavailable; message left unacknowledged, reconnecting/);
    // And ingest goes on: a batch published after the recovery is stored.
    const t1 = Date.now() - 30_000;
    await pubTo('gridlayer/v1/sites/site-x/telemetry', telemetry('site-x', 9001, t1, 4242));
    const s = await openStore(join(dir, 'ts.db'));
    let got: number | undefined;
    for (let i = 0; i < 200 && got === undefined; i++) {
      const b = await s.range({ sites: ['site-x'], points: ['w'], from: t1, to: t1 + 1, bucketMs: 1 });
      got = b[0]?.mean;
      if (got === undefined) await sleep(100);
    }
    await s.close();
    registry.close();
    assert.equal(got, 4242);
    await cloud.stop('SIGTERM');
    cloud = undefined;
  });

  it('a burst of 3,000 batches from one gateway (mosquitto_pub -l) is stored in full: Mosquitto drops none', async () => {
    // Mosquitto's default queue limit (1000 per client) dropped what waited for the cloud, after
    // acknowledging it to the gateway: 1,020–2,081 of 5,000 stored before the printed config lifted it.
    writeConfig(20);
    cloud = await startCloud();
    const n = 3000;
    const t0 = Date.now() - 7_200_000;
    const lines = Array.from({ length: n }, (_, i) => telemetry('site-x', 100 + i, t0 + i * 10, i)).join(
      '\n',
    );
    const pub = spawn('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(broker.port), '-V', 'mqttv311', '-q', '1'],
      ...['-u', 'site-x', '-P', users['site-x'], '-i', 'site-x-burst', '-l'],
      ...['-t', 'gridlayer/v1/sites/site-x/telemetry'],
    ]);
    pub.stdin.end(`${lines}\n`);
    const code = await new Promise((r) => pub.once('exit', r));
    assert.equal(code, 0);
    const s = await openStore(join(dir, 'ts.db'));
    let stored = 0;
    for (let i = 0; i < 300 && stored < n; i++) {
      const b = await s.range({
        sites: ['site-x'],
        points: ['w'],
        from: t0,
        to: t0 + n * 10,
        bucketMs: 3_600_000,
      });
      stored = b.reduce((a, x) => a + x.count, 0);
      if (stored < n) await sleep(100);
    }
    await s.close();
    assert.equal(stored, n);
    await cloud.stop('SIGTERM');
    cloud = undefined;
  });
});
