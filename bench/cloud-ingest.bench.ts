/**
 * Cloud ingest benchmark (bounded to a few minutes):
 *  1. sustained ingest from N gateways through the embedded broker into the embedded SQLite store,
 *  2. the same into InfluxDB 1.x (real influxd),
 *  3. Mosquitto relaying the same load to one QoS-1 subscriber (the reference for the ratio),
 *  4. the cloud in external-broker mode behind that Mosquitto,
 *  5. fan-in: 10,000 gateways connected at one message per 5 s, CPU and memory of the cloud process.
 * Load comes from a separate process (bench/support/mqtt-load.ts) so it is not charged to the cloud.
 * "Ingest" counts messages the broker acknowledged, which in embedded mode means stored.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import pino from 'pino';
import { hashSecret } from '../cloud/auth/secrets.ts';
import { parseCloudConfig } from '../cloud/config.ts';
import { type CloudService, startCloud } from '../cloud/service.ts';
import { allSitesFilter } from '../protocols/mqtt/topics.ts';
import { startInfluxDB } from '../test-support/influxdb.ts';
import { startMosquitto } from '../test-support/mosquitto.ts';
import { report } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_GATEWAYS ?? 50);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 15_000);
const FANIN = Number(process.env.BENCH_FANIN ?? 10_000);
const FANIN_MS = Number(process.env.BENCH_FANIN_DURATION_MS ?? 30_000);
const DEVICES = 3;
/** Comma-separated subset of embedded,influx,mosquitto,fanin (default: all) for quicker iteration. */
const STAGES = new Set((process.env.BENCH_STAGES ?? 'embedded,influx,mosquitto,fanin').split(','));
/** Ingest settings to try instead of the defaults, as JSON (e.g. '{"flushIntervalMs":0}'). */
const INGEST = process.env.BENCH_INGEST ? JSON.parse(process.env.BENCH_INGEST) : undefined;
const POINTS_PER_MSG = DEVICES * 6;
/** A directory: each stage's main-thread CPU profile over its steady window goes there (.cpuprofile). */
const PROFILE_DIR = process.env.BENCH_PROFILE;
const PASSWORD = 'bench-password-0123456789';

interface LoadResult {
  acksPerSec: number;
  acks: number;
  connected: number;
  failures: number;
  elapsed: number;
}

/** Runs the load generator; `onSteady` fires once every gateway is connected (measurement starts). */
function runLoad(cfg: Record<string, unknown>, onSteady: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // 10,000 sites do not fit in an environment variable: the config goes through a file.
    const file = join(tmpdir(), `gridlayer-load-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support/mqtt-load.ts')], {
      env: { ...process.env, GRIDLAYER_LOAD_FILE: file },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    let result: LoadResult | undefined;
    child.stdout.on('data', (d) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (msg.event === 'connected') onSteady();
        if (msg.event === 'done') result = msg;
        i = buf.indexOf('\n');
      }
    });
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

/** CPU (in cores) and peak RSS of this process over a window. */
function selfMeter(label = 'cloud') {
  const stopProfile = PROFILE_DIR ? profile(label) : undefined;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  return () => {
    clearInterval(timer);
    stopProfile?.();
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - t0) / 1e3;
    return { cpuCores: round((c.user + c.system) / wall, 3), rssMB: round(peak / 2 ** 20, 1) };
  };
}

/** Starts a CPU profile of the main thread; the returned function ends it and writes it to PROFILE_DIR. */
function profile(label: string) {
  const session = new Session();
  session.connect();
  const started = session.post('Profiler.enable').then(() => session.post('Profiler.start'));
  return () => {
    void started
      .then(() => session.post('Profiler.stop'))
      .then(({ profile: p }) => {
        writeFileSync(join(PROFILE_DIR as string, `${label}.cpuprofile`), JSON.stringify(p));
        session.disconnect();
      });
  };
}

/** CPU (in cores) of another process over a window, from /proc (clock ticks of 10 ms). */
function procMeter(pid: number) {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const rss = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const k0 = ticks();
  const t0 = Date.now();
  return () => ({
    cpuCores: round((ticks() - k0) / 100 / ((Date.now() - t0) / 1000), 3),
    rssMB: round(rss(), 1),
  });
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

async function provisionSites(cloud: CloudService, n: number, prefix: string) {
  const hash = hashSecret(PASSWORD);
  const now = Date.now();
  await cloud.registry.db.tx(async (db) => {
    for (let i = 0; i < n; i++) {
      const id = `${prefix}${i}`;
      await db.run(
        'INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        [id, now, now],
      );
      await db.run(
        'INSERT INTO site_credentials (site_id, secret_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (site_id) DO NOTHING',
        [id, hash, now],
      );
    }
  });
  return Array.from({ length: n }, (_, i) => ({ site: `${prefix}${i}`, password: PASSWORD }));
}

async function cloudOn(dir: string, storage: Record<string, unknown>, broker?: Record<string, unknown>) {
  return startCloud(
    parseCloudConfig(
      {
        logLevel: 'silent',
        broker: broker ?? { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 } },
        api: { host: '127.0.0.1', port: 0 },
        storage: { timeseries: storage, registry: { backend: 'sqlite', path: 'registry.db' } },
        ...(INGEST ? { ingest: INGEST } : {}),
      },
      dir,
    ),
    { logger: pino({ level: 'silent' }) },
  );
}

async function embeddedThroughput(
  label: string,
  dir: string,
  storage: Record<string, unknown>,
  otherPid?: number,
) {
  const cloud = await cloudOn(dir, storage);
  const sites = await provisionSites(cloud, N, 'gw');
  let meter: (() => { cpuCores: number; rssMB: number }) | undefined;
  let other: (() => { cpuCores: number; rssMB: number }) | undefined;
  const p0 = { v: 0, commits: Promise.resolve(0) };
  const load = await runLoad(
    {
      host: '127.0.0.1',
      port: cloud.broker.tcp,
      sites,
      mode: 'throughput',
      durationMs: DURATION_MS,
      window: 8,
      intervalMs: 0,
      rampPerSec: 500,
      devicesPerMsg: DEVICES,
    },
    () => {
      meter = selfMeter(label);
      if (otherPid) other = procMeter(otherPid);
      p0.v = pointsStored(cloud);
      p0.commits = commits(cloud);
    },
  );
  const m = meter?.();
  const o = other?.();
  const points = pointsStored(cloud) - p0.v;
  const commitsPerSec = ((await commits(cloud)) - (await p0.commits)) / load.elapsed;
  await cloud.stop();
  const r = {
    [`${label}_msgs_per_s`]: round(load.acksPerSec),
    [`${label}_points_per_s`]: round(points / load.elapsed),
    [`${label}_cloud_cpu_cores`]: m?.cpuCores,
    [`${label}_cloud_rss_mb`]: m?.rssMB,
    [`${label}_commits_per_s`]: round(commitsPerSec),
    ...(o ? { [`${label}_server_cpu_cores`]: o.cpuCores } : {}),
  };
  console.log(r);
  return r;
}

/** Group commits done so far (the write-duration histogram's count). */
async function commits(cloud: CloudService): Promise<number> {
  const m = await cloud.metrics.writeSeconds.get();
  return m.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

function pointsStored(cloud: CloudService): number {
  const v = (cloud.metrics.points as unknown as { hashMap: Record<string, { value: number }> }).hashMap;
  return Object.values(v).reduce((a, b) => a + b.value, 0);
}

const figures: Record<string, unknown> = {
  method:
    'one load-generator process (raw MQTT 3.1.1, QoS 1, window 8 per gateway, same for every target); ' +
    'embedded = PUBACKs/s seen by the generator, each sent after the batch is committed (fsync); ' +
    'mosquitto relay = messages/s delivered to one QoS-1 subscriber (mqtt.js, PUBACKs each) in the ' +
    'bench process; CPU from /proc or process.cpuUsage over the steady window',
  gateways: N,
  points_per_msg: POINTS_PER_MSG,
  window_s: DURATION_MS / 1000,
};
const tmp = mkdtempSync(join(tmpdir(), 'gridlayer-bench-'));
try {
  // 1. embedded broker → SQLite
  if (STAGES.has('embedded'))
    Object.assign(
      figures,
      await embeddedThroughput('embedded_sqlite', join(tmp, 'a'), {
        backend: 'sqlite',
        path: 'ts.db',
        synchronous: 'full',
      }),
    );

  // 2. embedded broker → InfluxDB 1.x
  if (STAGES.has('influx')) {
    const influx = await startInfluxDB();
    try {
      Object.assign(
        figures,
        await embeddedThroughput(
          'embedded_influx',
          join(tmp, 'b'),
          { backend: 'influxdb', apiVersion: 1, url: influx.url, database: 'bench' },
          influx.process.child.pid,
        ),
      );
    } finally {
      await influx.stop();
    }
  }

  // 3. Mosquitto relaying the same load to one QoS-1 subscriber; 4. the cloud behind Mosquitto.
  if (STAGES.has('mosquitto')) {
    const mosq = await startMosquitto();
    try {
      const sub = await mqtt.connectAsync(mosq.url, { clientId: 'bench-sub', protocolVersion: 4 });
      let relayed = 0;
      sub.on('message', () => relayed++);
      await sub.subscribeAsync(allSitesFilter('telemetry'), { qos: 1 });
      let r0 = 0;
      let mm: (() => { cpuCores: number; rssMB: number }) | undefined;
      const sites = Array.from({ length: N }, (_, i) => ({ site: `gw${i}` }));
      const load = await runLoad(
        {
          host: '127.0.0.1',
          port: mosq.port,
          sites,
          mode: 'throughput',
          durationMs: DURATION_MS,
          window: 8,
          intervalMs: 0,
          rampPerSec: 500,
          devicesPerMsg: DEVICES,
        },
        () => {
          r0 = relayed;
          mm = procMeter(mosq.process.child.pid as number);
        },
      );
      const m = mm?.();
      figures.mosquitto_relay_msgs_per_s = round((relayed - r0) / load.elapsed);
      figures.mosquitto_accepted_msgs_per_s = round(load.acksPerSec);
      figures.mosquitto_cpu_cores = m?.cpuCores;
      await sub.endAsync();
      console.log({
        mosquitto_relay_msgs_per_s: figures.mosquitto_relay_msgs_per_s,
        mosquitto_cpu_cores: m?.cpuCores,
      });

      const cloud = await cloudOn(
        join(tmp, 'c'),
        { backend: 'sqlite', path: 'ts.db', synchronous: 'full' },
        { mode: 'external', url: mosq.url, clientId: 'bench-cloud' },
      );
      let p0 = 0;
      let cm: (() => { cpuCores: number; rssMB: number }) | undefined;
      const load2 = await runLoad(
        {
          host: '127.0.0.1',
          port: mosq.port,
          sites,
          mode: 'throughput',
          durationMs: DURATION_MS,
          window: 8,
          intervalMs: 0,
          rampPerSec: 500,
          devicesPerMsg: DEVICES,
        },
        () => {
          p0 = pointsStored(cloud);
          cm = selfMeter();
        },
      );
      const c = cm?.();
      figures.external_mosquitto_sqlite_points_per_s = round((pointsStored(cloud) - p0) / load2.elapsed);
      figures.external_mosquitto_sqlite_msgs_per_s = round(
        (pointsStored(cloud) - p0) / load2.elapsed / POINTS_PER_MSG,
      );
      figures.external_mosquitto_cloud_cpu_cores = c?.cpuCores;
      await cloud.stop();
    } finally {
      await mosq.stop();
    }
  }
  figures.ratio_embedded_sqlite_vs_mosquitto_relay = round(
    (figures.embedded_sqlite_msgs_per_s as number) / (figures.mosquitto_relay_msgs_per_s as number),
    2,
  );

  // 5. fan-in: many gateways, one message per 5 s each.
  if (STAGES.has('fanin')) {
    const cloud = await cloudOn(join(tmp, 'd'), { backend: 'sqlite', path: 'ts.db', synchronous: 'full' });
    const sites = await provisionSites(cloud, FANIN, 'site');
    let meter: (() => { cpuCores: number; rssMB: number }) | undefined;
    let p0 = 0;
    let c0 = Promise.resolve(0);
    const load = await runLoad(
      {
        host: '127.0.0.1',
        port: cloud.broker.tcp,
        sites,
        mode: 'fanin',
        durationMs: FANIN_MS,
        window: 1,
        intervalMs: 5000,
        rampPerSec: 1000,
        devicesPerMsg: 1,
      },
      () => {
        // Let the first round of messages after the ramp settle before measuring.
        p0 = pointsStored(cloud);
        c0 = commits(cloud);
        meter = selfMeter('fanin');
      },
    );
    const m = meter?.();
    Object.assign(figures, {
      fanin_gateways_connected: load.connected,
      fanin_login_failures: load.failures,
      fanin_msgs_per_s: round(load.acksPerSec),
      fanin_points_per_s: round((pointsStored(cloud) - p0) / load.elapsed),
      fanin_cloud_cpu_cores: m?.cpuCores,
      fanin_cloud_rss_mb: m?.rssMB,
      fanin_commits_per_s: round(((await commits(cloud)) - (await c0)) / load.elapsed),
    });
    await cloud.stop();
  }
  report('cloud-ingest', figures);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
