/**
 * Cloud ingest benchmark (a few minutes). Throughput and fan-in are measured against anchors in the
 * same run, interleaved (the target order rotates each round), BENCH_RUNS rounds (default 3), min and
 * median reported with the machine's load average beside each run:
 *  1. throughput: N gateways flat out (QoS 1, 8 in flight each) into
 *     - the cloud (embedded broker → SQLite, synchronous=full): counted = messages stored in the window,
 *     - Mosquitto relaying to mosquitto_sub (C client, QoS 1, keeps up): counted = messages that arrived,
 *     - bare aedes (same version, no hooks, nobody subscribed): counted = PUBACKs,
 *     ratios cloud / Mosquitto (messages/s) and cloud / bare aedes (CPU per message) per round;
 *  2. the cloud into InfluxDB 1.x (real influxd), once;
 *  3. the cloud in external-broker mode behind Mosquitto, once;
 *  4. fan-in: 10,000 gateways at one message per 5 s, the cloud vs bare aedes (CPU per message, RSS).
 * Load comes from a separate process (bench/support/mqtt-load.ts) so it is not charged to the target.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import pino from 'pino';
import { hashSecret } from '../cloud/auth/secrets.ts';
import * as configModule from '../cloud/config.ts';
import type { CloudService } from '../cloud/service.ts';
import * as serviceModule from '../cloud/service.ts';
import { allSitesFilter, siteTopic } from '../protocols/mqtt/topics.ts';
import { startInfluxDB } from '../test-support/influxdb.ts';
import { startMosquitto } from '../test-support/mosquitto.ts';
import { report } from './report.ts';
import { benchPort } from './support/ports.ts';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_GATEWAYS ?? 50);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 15_000);
const FANIN = Number(process.env.BENCH_FANIN ?? 10_000);
const FANIN_MS = Number(process.env.BENCH_FANIN_DURATION_MS ?? 30_000);
const DEVICES = 3;
/** Comma-separated subset of throughput,influx,external,fanin (default: all) for quicker iteration. */
const STAGES = new Set((process.env.BENCH_STAGES ?? 'throughput,influx,external,fanin').split(','));
/** Interleaved rounds of the compared stages (throughput, fan-in). */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
/** Comma-separated targets of the throughput stage (default: all three). */
/**
 * A checkout of an earlier revision (e.g. `git worktree add /tmp/base <rev>`, node_modules linked):
 * its cloud runs as the extra target `baseline` in the same rounds, for before/after in one run.
 */
const BASELINE_DIR = process.env.BENCH_BASELINE_DIR;
const TARGETS = (
  process.env.BENCH_TARGETS ?? `cloud,mosquitto,aedes${BASELINE_DIR ? ',baseline' : ''}`
).split(',') as Target[];

type CloudModules = {
  startCloud: typeof serviceModule.startCloud;
  parseCloudConfig: typeof configModule.parseCloudConfig;
};
const current: CloudModules = {
  startCloud: serviceModule.startCloud,
  parseCloudConfig: configModule.parseCloudConfig,
};
const baseline: CloudModules | undefined = BASELINE_DIR
  ? {
      startCloud: (await import(join(BASELINE_DIR, 'cloud/service.ts'))).startCloud,
      parseCloudConfig: (await import(join(BASELINE_DIR, 'cloud/config.ts'))).parseCloudConfig,
    }
  : undefined;
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
  let peak = process.memoryUsage.rss();
  // memoryUsage.rss(): memoryUsage() walks the heap spaces too, charged to the target measured.
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 250);
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

async function cloudOn(
  dir: string,
  storage: Record<string, unknown>,
  broker?: Record<string, unknown>,
  mods: CloudModules = current,
) {
  return mods.startCloud(
    mods.parseCloudConfig(
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

/** Group commits done so far (the write-duration histogram's count). */
async function commits(cloud: CloudService): Promise<number> {
  const m = await cloud.metrics.writeSeconds.get();
  return m.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

function pointsStored(cloud: CloudService): number {
  const v = (cloud.metrics.points as unknown as { hashMap: Record<string, { value: number }> }).hashMap;
  return Object.values(v).reduce((a, b) => a + b.value, 0);
}

type Target = 'cloud' | 'mosquitto' | 'aedes' | 'baseline';

/** One measured run of one target. */
interface Run {
  target: string;
  round: number;
  /** Messages/s counted for the target: stored (cloud), arrived at the subscriber (Mosquitto), PUBACKed (aedes). */
  msgsPerSec: number;
  /** PUBACKs/s the generator saw. */
  ackedPerSec: number;
  cpuCores: number;
  /** CPU of the target per counted message, µs (all its threads; Mosquitto: broker only). */
  cpuUsPerMsg: number;
  rssMB: number;
  /** The machine's 1-minute load average when the run started. */
  load1: number;
  [k: string]: unknown;
}

const throughputLoad = (port: number, sites: { site: string; password?: string }[]) => ({
  host: '127.0.0.1',
  port,
  sites,
  mode: 'throughput',
  durationMs: DURATION_MS,
  window: 8,
  intervalMs: 0,
  rampPerSec: 500,
  devicesPerMsg: DEVICES,
});

const fanInLoad = (port: number, sites: { site: string; password?: string }[]) => ({
  host: '127.0.0.1',
  port,
  sites,
  mode: 'fanin',
  durationMs: FANIN_MS,
  window: 1,
  intervalMs: 5000,
  rampPerSec: 1000,
  devicesPerMsg: 1,
});

const perMsg = (cores: number, msgsPerSec: number) => round((cores * 1e6) / msgsPerSec, 1);

/** The cloud with the embedded broker: counted = messages stored (committed) inside the window. */
async function runCloud(
  roundNo: number,
  dir: string,
  storage: Record<string, unknown>,
  fanIn = false,
  otherPid?: number,
  target: 'cloud' | 'baseline' = 'cloud',
): Promise<Run> {
  const cloud = await cloudOn(dir, storage, undefined, target === 'baseline' ? baseline : current);
  const n = fanIn ? FANIN : N;
  const sites = await provisionSites(cloud, n, fanIn ? 'site' : 'gw');
  const pointsPerMsg = fanIn ? 6 : POINTS_PER_MSG;
  let meter: ReturnType<typeof selfMeter> | undefined;
  let other: ReturnType<typeof procMeter> | undefined;
  let p0 = 0;
  let c0 = Promise.resolve(0);
  const load1 = loadavg()[0];
  const label = `${fanIn ? 'fanin' : 'throughput'}-${target}${otherPid ? '-influx' : ''}-${roundNo}`;
  const load = await runLoad((fanIn ? fanInLoad : throughputLoad)(cloud.broker.tcp as number, sites), () => {
    meter = selfMeter(label);
    if (otherPid) other = procMeter(otherPid);
    p0 = pointsStored(cloud);
    c0 = commits(cloud);
  });
  const m = meter?.() ?? { cpuCores: Number.NaN, rssMB: Number.NaN };
  const o = other?.();
  const stored = (pointsStored(cloud) - p0) / pointsPerMsg / load.elapsed;
  const commitsPerSec = ((await commits(cloud)) - (await c0)) / load.elapsed;
  await cloud.stop();
  return {
    target,
    round: roundNo,
    msgsPerSec: round(stored),
    ackedPerSec: round(load.acksPerSec),
    cpuCores: m.cpuCores,
    cpuUsPerMsg: perMsg(m.cpuCores, stored),
    rssMB: m.rssMB,
    load1: round(load1, 2),
    commitsPerSec: round(commitsPerSec),
    connected: load.connected,
    loginFailures: load.failures,
    ...(o ? { serverCpuCores: o.cpuCores } : {}),
  };
}

/** aedes as it comes (in-memory persistence, no hooks), nobody subscribed: PUBACK and no routing. */
async function runAedes(roundNo: number, fanIn = false): Promise<Run> {
  const broker = await Aedes.createBroker({ concurrency: 20_000 });
  const server: Server = createServer((s) => {
    s.setNoDelay(true);
    broker.handle(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const n = fanIn ? FANIN : N;
  const sites = Array.from({ length: n }, (_, i) => ({ site: `${fanIn ? 'site' : 'gw'}${i}` }));
  let meter: ReturnType<typeof selfMeter> | undefined;
  const load1 = loadavg()[0];
  const load = await runLoad((fanIn ? fanInLoad : throughputLoad)(port, sites), () => {
    meter = selfMeter(`${fanIn ? 'fanin' : 'throughput'}-aedes-${roundNo}`);
  });
  const m = meter?.() ?? { cpuCores: Number.NaN, rssMB: Number.NaN };
  await new Promise<void>((r) => broker.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
  return {
    target: 'aedes',
    round: roundNo,
    msgsPerSec: round(load.acksPerSec),
    ackedPerSec: round(load.acksPerSec),
    cpuCores: m.cpuCores,
    cpuUsPerMsg: perMsg(m.cpuCores, load.acksPerSec),
    rssMB: m.rssMB,
    load1: round(load1, 2),
    connected: load.connected,
  };
}

/**
 * Mosquitto relaying to mosquitto_sub (QoS 1, Mosquitto's own C client in its own process: it keeps up,
 * which `subscriberKeptUp` checks). Counted = messages that arrived at the subscriber in the window.
 */
async function runMosquitto(roundNo: number): Promise<Run> {
  // Mosquitto's defaults (20 QoS-1 messages in flight to a client, 1,000 queued) hold a fast subscriber
  // to one window per round trip and drop the rest: the relay would measure that window, not the broker.
  const mosq = await startMosquitto({
    port: await benchPort(),
    extraConfig: 'max_inflight_messages 0\nmax_queued_messages 1000000',
  });
  try {
    // One '.' per message, no newline: the subscriber's output is counted, not parsed.
    const sub = spawn('/usr/bin/mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', String(mosq.port), '-i', 'bench-sub', '-q', '1'],
      ...['-t', allSitesFilter('telemetry'), '-F', '.', '-N'],
    ]);
    let arrived = 0;
    sub.stdout.on('data', (d: Buffer) => (arrived += d.length));
    let subErr = '';
    sub.stderr.on('data', (d) => (subErr += d));
    // Subscribed once probe publishes arrive. Its stdout is block-buffered (4 KB): a probe burst fills
    // it; the counts at the window's two ends are each off by under 4,096 messages (< 1 % here).
    const probe = spawn('/usr/bin/mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1'],
      ...['-t', siteTopic('probe', 'telemetry'), '-m', '{}', '--repeat', '100000', '--repeat-delay', '0'],
    ]);
    for (let i = 0; i < 200 && !arrived; i++) await new Promise((r) => setTimeout(r, 50));
    probe.kill();
    await new Promise((r) => setTimeout(r, 300));
    if (!arrived) throw new Error(`mosquitto_sub never received: ${subErr}`);
    const sites = Array.from({ length: N }, (_, i) => ({ site: `gw${i}` }));
    let a0 = 0;
    let mm: ReturnType<typeof procMeter> | undefined;
    let sm: ReturnType<typeof procMeter> | undefined;
    const load1 = loadavg()[0];
    const load = await runLoad(throughputLoad(mosq.port, sites), () => {
      a0 = arrived;
      mm = procMeter(mosq.process.child.pid as number);
      sm = procMeter(sub.pid as number);
    });
    const m = mm?.() ?? { cpuCores: Number.NaN, rssMB: Number.NaN };
    const sc = sm?.();
    const relayed = (arrived - a0) / load.elapsed;
    sub.kill();
    return {
      target: 'mosquitto',
      round: roundNo,
      msgsPerSec: round(relayed),
      ackedPerSec: round(load.acksPerSec),
      cpuCores: m.cpuCores,
      cpuUsPerMsg: perMsg(m.cpuCores, relayed),
      rssMB: m.rssMB,
      load1: round(load1, 2),
      subscriberCpuCores: sc?.cpuCores,
      subscriberKeptUp: relayed >= 0.98 * load.acksPerSec,
    };
  } finally {
    await mosq.stop();
  }
}

function stats(xs: number[]) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { min: s[0], median, max: s[s.length - 1] };
}

/** min/median/max of each figure per target, and per-round ratios against the anchors. */
function summarize(runs: Run[], ratios: { name: string; of: Target; to: Target; field: keyof Run }[]) {
  const targets = [...new Set(runs.map((r) => r.target))];
  const out: Record<string, unknown> = {};
  for (const t of targets) {
    const rs = runs.filter((r) => r.target === t);
    out[t] = Object.fromEntries(
      (['msgsPerSec', 'cpuCores', 'cpuUsPerMsg', 'rssMB'] as const).map((f) => [
        f,
        stats(rs.map((r) => r[f])),
      ]),
    );
  }
  for (const { name, of, to, field } of ratios) {
    const per = [...new Set(runs.map((r) => r.round))].map((n) => {
      const a = runs.find((r) => r.round === n && r.target === of)?.[field] as number;
      const b = runs.find((r) => r.round === n && r.target === to)?.[field] as number;
      return round2(a / b);
    });
    out[name] = { perRound: per, ...stats(per) };
  }
  return out;
}
const round2 = (x: number) => round(x, 2);

const figures: Record<string, unknown> = {
  method:
    'one load-generator process (raw MQTT 3.1.1, QoS 1, same payloads and window for every target); ' +
    `${RUNS} interleaved rounds (target order rotates), min/median/max; cloud = messages stored ` +
    '(committed, synchronous=full) per s, each PUBACKed only after its commit; mosquitto = messages ' +
    'arrived at mosquitto_sub (QoS 1, own process); aedes = bare aedes 1.2 PUBACKs/s, nobody subscribed; ' +
    'CPU from /proc (Mosquitto) or process.cpuUsage (cloud, aedes: all threads) over the steady window',
  gateways: N,
  points_per_msg: POINTS_PER_MSG,
  window_s: DURATION_MS / 1000,
  runs: RUNS,
  ...(BASELINE_DIR ? { baseline_dir: BASELINE_DIR, baseline_rev: process.env.BENCH_BASELINE_REV } : {}),
  cpus: (await import('node:os')).cpus().length,
};
const tmp = mkdtempSync(join(tmpdir(), 'gridlayer-bench-'));
const sqlite = { backend: 'sqlite', path: 'ts.db', synchronous: 'full' };
try {
  // 1. throughput, interleaved.
  if (STAGES.has('throughput')) {
    const runs: Run[] = [];
    for (let roundNo = 0; roundNo < RUNS; roundNo++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + roundNo) % TARGETS.length]);
      for (const t of order) {
        const r =
          t === 'cloud'
            ? await runCloud(roundNo, join(tmp, `t${roundNo}`), sqlite)
            : t === 'baseline'
              ? await runCloud(roundNo, join(tmp, `b${roundNo}`), sqlite, false, undefined, 'baseline')
              : t === 'mosquitto'
                ? await runMosquitto(roundNo)
                : await runAedes(roundNo);
        console.log(JSON.stringify(r));
        runs.push(r);
      }
    }
    figures.throughput_runs = runs;
    figures.throughput = summarize(runs, [
      { name: 'ratio_cloud_vs_mosquitto_msgs', of: 'cloud', to: 'mosquitto', field: 'msgsPerSec' },
      { name: 'ratio_cloud_vs_aedes_msgs', of: 'cloud', to: 'aedes', field: 'msgsPerSec' },
      { name: 'ratio_cloud_vs_aedes_cpu_per_msg', of: 'cloud', to: 'aedes', field: 'cpuUsPerMsg' },
      ...(baseline
        ? ([
            {
              name: 'ratio_baseline_vs_mosquitto_msgs',
              of: 'baseline',
              to: 'mosquitto',
              field: 'msgsPerSec',
            },
            {
              name: 'ratio_baseline_vs_aedes_cpu_per_msg',
              of: 'baseline',
              to: 'aedes',
              field: 'cpuUsPerMsg',
            },
          ] as const)
        : []),
    ]);
    console.log(JSON.stringify(figures.throughput, null, 1));
  }

  // 2. embedded broker → InfluxDB 1.x
  if (STAGES.has('influx')) {
    const influx = await startInfluxDB();
    try {
      figures.influx = await runCloud(
        0,
        join(tmp, 'influx'),
        { backend: 'influxdb', apiVersion: 1, url: influx.url, database: 'bench' },
        false,
        influx.process.child.pid,
      );
      console.log(JSON.stringify(figures.influx));
    } finally {
      await influx.stop();
    }
  }

  // 3. the cloud behind Mosquitto (external-broker mode).
  if (STAGES.has('external')) {
    const mosq = await startMosquitto({ port: await benchPort() });
    try {
      const cloud = await cloudOn(join(tmp, 'ext'), sqlite, {
        mode: 'external',
        url: mosq.url,
        clientId: 'bench-cloud',
      });
      const sites = Array.from({ length: N }, (_, i) => ({ site: `gw${i}` }));
      let p0 = 0;
      let cm: ReturnType<typeof selfMeter> | undefined;
      const load = await runLoad(throughputLoad(mosq.port, sites), () => {
        p0 = pointsStored(cloud);
        cm = selfMeter('external');
      });
      const c = cm?.();
      const stored = (pointsStored(cloud) - p0) / load.elapsed / POINTS_PER_MSG;
      figures.external = {
        mosquitto_accepted_msgs_per_s: round(load.acksPerSec),
        stored_msgs_per_s: round(stored),
        cloud_cpu_cores: c?.cpuCores,
      };
      console.log(JSON.stringify(figures.external));
      await cloud.stop();
    } finally {
      await mosq.stop();
    }
  }

  // 4. fan-in: many gateways, one message per 5 s each; the cloud against bare aedes, interleaved.
  if (STAGES.has('fanin')) {
    const runs: Run[] = [];
    for (let roundNo = 0; roundNo < RUNS; roundNo++) {
      const all: Target[] = baseline ? ['cloud', 'aedes', 'baseline'] : ['cloud', 'aedes'];
      const order = all.map((_, i) => all[(i + roundNo) % all.length]);
      for (const t of order) {
        const r =
          t === 'aedes'
            ? await runAedes(roundNo, true)
            : await runCloud(
                roundNo,
                join(tmp, `f${t}${roundNo}`),
                sqlite,
                true,
                undefined,
                t as 'cloud' | 'baseline',
              );
        console.log(JSON.stringify(r));
        runs.push(r);
      }
    }
    figures.fanin_gateways = FANIN;
    figures.fanin_runs = runs;
    figures.fanin = summarize(runs, [
      { name: 'ratio_cloud_vs_aedes_cpu_per_msg', of: 'cloud', to: 'aedes', field: 'cpuUsPerMsg' },
      ...(baseline
        ? ([
            {
              name: 'ratio_baseline_vs_aedes_cpu_per_msg',
              of: 'baseline',
              to: 'aedes',
              field: 'cpuUsPerMsg',
            },
          ] as const)
        : []),
    ]);
    console.log(JSON.stringify(figures.fanin, null, 1));
  }
  report('cloud-ingest', figures);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
